"""Writes behind ingestion: a batch of events in one INSERT, outcomes upserted by trace."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.kit.json_text import json_text
from cicosts.kit.upsert import dialect_name, insert_for
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

    ON CONFLICT DO NOTHING makes a repeated event_id a no-op, even when another batch carrying it commits
    meanwhile; RETURNING says which rows went in (rows without an event_id always do, reported as None).
    """
    if not rows:
        return set()
    if dialect_name(session) == "postgresql":
        return await _insert_from_json(session, rows)
    statement = (
        insert_for(session, EVENTS)
        .on_conflict_do_nothing(index_elements=["project_id", "event_id"])
        .returning(EVENTS.c.event_id)
    )
    # SQLAlchemy sends the rows as multi-row INSERTs ("insertmanyvalues"), not a statement a row.
    result = await session.execute(statement, list(rows))
    return set(result.scalars())


async def _insert_from_json(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[str | None]:
    """PostgreSQL: the batch as one JSON document, turned into rows of `llm_events` by the database.

    A 1,000-row VALUES list has 32,000 parameters that PostgreSQL parses and plans on every batch (65 ms
    measured). One array per column takes half the time, but encoding 32,000 array elements costs the API
    12 ms a batch; pydantic-core writes the document in 3 ms, and PostgreSQL reads it about as fast as arrays.
    """
    columns = tuple(rows[0])
    document = json_text(rows)  # datetimes as ISO 8601 with their offset; nested metadata and tags as JSON
    result = await session.execute(_from_json_statement(session, columns), {"rows": document})
    return set(result.scalars())


_FROM_JSON: dict[tuple[str, ...], TextClause] = {}


def _from_json_statement(session: AsyncSession, columns: tuple[str, ...]) -> TextClause:
    statement = _FROM_JSON.get(columns)
    if statement is None:
        quote = session.get_bind().dialect.identifier_preparer.quote
        names = ", ".join(quote(name) for name in columns)
        statement = text(
            f"INSERT INTO {EVENTS.name} ({names})"  # noqa: S608 - our own column names
            f" SELECT {names} FROM json_populate_recordset(NULL::{EVENTS.name}, CAST(:rows AS json))"
            " ON CONFLICT (project_id, event_id) DO NOTHING RETURNING event_id"
        )
        _FROM_JSON[columns] = statement
    return statement


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
