"""Writes behind ingestion: a batch of events in one INSERT, outcomes upserted by trace."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.kit.upsert import insert_for
from cicosts.ledger.rollups import Rollup
from cicosts.models import LLMDimensionHourly, LLMEvent, LLMHourly, LLMOutcome

EVENTS: Table = LLMEvent.__table__  # type: ignore[assignment]
OUTCOMES: Table = LLMOutcome.__table__  # type: ignore[assignment]
LLM_HOURLY = Rollup(
    LLMHourly.__table__,  # type: ignore[arg-type]
    ("org_id", "hour", "project_id", "agent_name", "model", "provider"),
)
LLM_DIMENSION_HOURLY = Rollup(
    LLMDimensionHourly.__table__,  # type: ignore[arg-type]
    ("org_id", "hour", "project_id", "dimension", "value"),
)


async def insert_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[str | None]:
    """Insert the rows whose `event_id` the project has not stored yet; the event_ids that went in.

    (PostgreSQL inserts and sums a batch in one statement instead: `summed_in_database`.)

    ON CONFLICT DO NOTHING makes a repeated event_id a no-op, even when another batch carrying it commits
    meanwhile; RETURNING says which rows went in (rows without an event_id always do, reported as None).
    """
    if not rows:
        return set()
    statement = (
        insert_for(session, EVENTS)
        .on_conflict_do_nothing(index_elements=["project_id", "event_id"])
        .returning(EVENTS.c.event_id)
    )
    # SQLAlchemy sends the rows as multi-row INSERTs ("insertmanyvalues"), not a statement a row.
    result = await session.execute(statement, list(rows))
    return set(result.scalars())


async def upsert_outcomes(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """The latest report of how each trace ended wins (one row per trace in `rows`)."""
    if not rows:
        return
    insert = insert_for(session, OUTCOMES)
    statement = insert.on_conflict_do_update(
        index_elements=["project_id", "trace_id"],
        set_={name: insert.excluded[name] for name in ("success", "label", "reported_at")},
    )
    await session.execute(statement, list(rows))
