"""Queries for projects, their keys, and everything a project owns when it is deleted or renamed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.kit.periods import utc_now
from cicosts.ledger.rollups import RollupBuffer, contribution
from cicosts.ledger.service import LEDGER
from cicosts.models import (
    ApiKey,
    LedgerHourly,
    LLMCustomPrice,
    LLMDimensionHourly,
    LLMEvent,
    LLMHourly,
    LLMOutcome,
    LLMProject,
    Membership,
)

LLM_SOURCE = "llm"
LEDGER_KEY = ("hour", "provider", "service", "resource", "sku", "unit")
LEDGER_MEASURES = ("billed_nanos", "list_nanos", "quantity_micros", "record_count", "unpriced_count")


async def projects_of_org(session: AsyncSession, org_id: int) -> list[LLMProject]:
    return list(
        await session.scalars(select(LLMProject).where(LLMProject.org_id == org_id).order_by(LLMProject.id))
    )


async def projects_of_user(session: AsyncSession, user_id: int) -> list[LLMProject]:
    """Every project of every organization the user belongs to."""
    return list(
        await session.scalars(
            select(LLMProject)
            .join(Membership, Membership.org_id == LLMProject.org_id)
            .where(Membership.user_id == user_id)
            .order_by(LLMProject.id)
        )
    )


async def project_named(session: AsyncSession, org_id: int, name: str) -> LLMProject | None:
    statement = select(LLMProject).where(LLMProject.org_id == org_id, LLMProject.name == name)
    return await session.scalar(statement)


async def newest_key_prefixes(session: AsyncSession, project_ids: Sequence[int]) -> dict[int, str]:
    """Each project's newest active key prefix, in one query for a whole listing."""
    if not project_ids:
        return {}
    rows = await session.execute(
        select(ApiKey.project_id, ApiKey.prefix)
        .where(ApiKey.project_id.in_(project_ids), ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.id)
    )
    return {project_id: prefix for project_id, prefix in rows if project_id is not None}


async def revoke_project_keys(session: AsyncSession, project: LLMProject) -> int:
    result: Any = await session.execute(
        update(ApiKey)
        .where(
            ApiKey.org_id == project.org_id,
            ApiKey.project_id == project.id,
            ApiKey.revoked_at.is_(None),
        )
        .values(revoked_at=utc_now())
    )
    return int(result.rowcount)


async def delete_project_rows(session: AsyncSession, project: LLMProject) -> int:
    """The project's events, outcomes, custom prices and LLM rollups; the number of events deleted.

    The foreign keys cascade too, but deleting explicitly does not depend on SQLite's foreign_keys pragma.
    """
    events: Any = await session.execute(delete(LLMEvent).where(LLMEvent.project_id == project.id))
    for table in (LLMOutcome, LLMCustomPrice, LLMHourly, LLMDimensionHourly):
        await session.execute(delete(table).where(table.project_id == project.id))
    await session.execute(delete(LedgerHourly).where(*_ledger_rows_of(project.org_id, project.name)))
    return int(events.rowcount)


async def relabel_ledger(session: AsyncSession, org_id: int, old_name: str, new_name: str) -> None:
    """Move a project's ledger rows from its old name (the sub-account) to its new one.

    Merged by upsert rather than updated in place, so rows already under the new name (written by an
    ingestion that raced the rename) are added to instead of colliding with the unique key.
    """
    columns = [getattr(LedgerHourly, name) for name in (*LEDGER_KEY, *LEDGER_MEASURES)]
    rows = (await session.execute(select(*columns).where(*_ledger_rows_of(org_id, old_name)))).all()
    if not rows:
        return
    await session.execute(delete(LedgerHourly).where(*_ledger_rows_of(org_id, old_name)))
    buffer = RollupBuffer()
    for row in rows:
        values = dict(zip((*LEDGER_KEY, *LEDGER_MEASURES), row, strict=True))
        key = {name: values[name] for name in LEDGER_KEY}
        key.update(org_id=org_id, source=LLM_SOURCE, sub_account=new_name)
        buffer.add(LEDGER, None, contribution(key, {name: int(values[name]) for name in LEDGER_MEASURES}))
    await buffer.flush(session)


def _ledger_rows_of(org_id: int, project_name: str) -> tuple[Any, ...]:
    # LLM ledger rows name their project by its name (the FOCUS sub-account).
    return (
        LedgerHourly.org_id == org_id,
        LedgerHourly.source == LLM_SOURCE,
        LedgerHourly.sub_account == project_name,
    )
