"""Queries of alerts and triggers, and the costs alerts read: the ledger (and cloud costs by tag).

Every query names its organization. Costs come from `ledger_hourly` narrowed by the alert's scope, never from
raw rows; a cloud tag scope reads `cloud_tag_daily`, the only place costs by tag are kept (per UTC day).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import and_, delete, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from cicosts.alerts.schemas import AlertScope
from cicosts.kit.periods import as_utc, utc_midnight_on_or_after
from cicosts.kit.upsert import insert_for
from cicosts.models import Alert, AlertTrigger, CloudTagDaily, LedgerHourly
from cicosts.models.queue import DONE, IGNORED, Job

TAG_CURRENCY = "USD"  # the ledger's currency; a tag's costs in other currencies are not added to it


@dataclass(frozen=True)
class Target:
    """The costs an alert reads: an organization, a scope, and CI repositories the plan hides (left out)."""

    org_id: int
    scope: AlertScope
    hidden_repositories: tuple[str, ...] = ()

    @property
    def by_tag(self) -> tuple[str, str] | None:
        if self.scope.tag is None:
            return None
        key, _, value = self.scope.tag.partition("=")
        return key, value


def _ledger_where(target: Target, start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [
        LedgerHourly.org_id == target.org_id,
        LedgerHourly.hour >= start,
        LedgerHourly.hour < end,
    ]
    if target.scope.source != "all":
        where.append(LedgerHourly.source == target.scope.source)
    for column, value in target.scope.filters().items():
        where.append(getattr(LedgerHourly, column) == value)
    if target.hidden_repositories and target.scope.source in ("ci", "all"):
        hidden = LedgerHourly.sub_account.in_(target.hidden_repositories)
        where.append(not_(and_(LedgerHourly.source == "ci", hidden)))
    return where


def _tag_where(
    target: Target, tag: tuple[str, str], start: datetime, end: datetime
) -> list[ColumnElement[bool]]:
    # A day's costs belong to the period its UTC midnight falls in, as a ledger hour belongs to its start.
    first, last = _days_starting_in(start, end)
    return [
        CloudTagDaily.org_id == target.org_id,
        CloudTagDaily.currency == TAG_CURRENCY,
        CloudTagDaily.tag_key == tag[0],
        CloudTagDaily.tag_value == tag[1],
        CloudTagDaily.day >= first,
        CloudTagDaily.day < last,
    ]


def _days_starting_in(start: datetime, end: datetime) -> tuple[date, date]:
    return utc_midnight_on_or_after(start).date(), utc_midnight_on_or_after(end).date()


async def total_cost(session: AsyncSession, target: Target, start: datetime, end: datetime) -> int:
    """What the target cost in the hours starting in [start, end)."""
    tag = target.by_tag
    if tag is not None:
        statement = select(func.coalesce(func.sum(CloudTagDaily.billed_nanos), 0)).where(
            *_tag_where(target, tag, start, end)
        )
    else:
        statement = select(func.coalesce(func.sum(LedgerHourly.billed_nanos), 0)).where(
            *_ledger_where(target, start, end)
        )
    return int(await session.scalar(statement) or 0)


async def costs_by_hour(
    session: AsyncSession, target: Target, start: datetime, end: datetime
) -> dict[datetime, int]:
    """Cost per hour (per UTC day, for a tag: keyed by its midnight) in [start, end)."""
    tag = target.by_tag
    if tag is not None:
        days = await session.execute(
            select(CloudTagDaily.day, func.sum(CloudTagDaily.billed_nanos))
            .where(*_tag_where(target, tag, start, end))
            .group_by(CloudTagDaily.day)
        )
        return {datetime.combine(day, time.min, tzinfo=UTC): int(cost) for day, cost in days}
    rows = await session.execute(
        select(LedgerHourly.hour, func.sum(LedgerHourly.billed_nanos))
        .where(*_ledger_where(target, start, end))
        .group_by(LedgerHourly.hour)
    )
    return {as_utc(hour): int(cost) for hour, cost in rows}


async def grouped_costs(
    session: AsyncSession,
    target: Target,
    start: datetime,
    end: datetime,
    columns: Sequence[str],
    limit: int | None = None,
) -> list[tuple[tuple[str, ...], int]]:
    """Ledger costs in [start, end) per distinct value of `columns`, largest first (the digest's tables)."""
    keys = [getattr(LedgerHourly, name) for name in columns]
    cost = func.sum(LedgerHourly.billed_nanos)
    statement = (
        select(*keys, cost)
        .where(*_ledger_where(target, start, end))
        .group_by(*keys)
        .order_by(cost.desc(), *keys)
    )
    if limit is not None:
        statement = statement.limit(limit)
    rows = await session.execute(statement)
    return [(tuple(str(v) for v in row[:-1]), int(row[-1])) for row in rows]


async def first_cost(session: AsyncSession, org_id: int) -> datetime | None:
    """The organization's first ledger hour, whatever the source: history before it says nothing."""
    first = await session.scalar(select(func.min(LedgerHourly.hour)).where(LedgerHourly.org_id == org_id))
    return as_utc(first) if first is not None else None


# --- alerts ----------------------------------------------------------------------------------------


async def alerts_of(
    session: AsyncSession, org_id: int, enabled: bool | None, limit: int, offset: int
) -> tuple[list[Alert], int]:
    where: list[ColumnElement[bool]] = [Alert.org_id == org_id]
    if enabled is not None:
        where.append(Alert.enabled.is_(enabled))
    total = await session.scalar(select(func.count()).select_from(Alert).where(*where))
    rows = await session.scalars(select(Alert).where(*where).order_by(Alert.id).limit(limit).offset(offset))
    return list(rows), int(total or 0)


async def enabled_alerts(session: AsyncSession, org_id: int) -> list[Alert]:
    return list(
        await session.scalars(
            select(Alert).where(Alert.org_id == org_id, Alert.enabled.is_(True)).order_by(Alert.id)
        )
    )


async def has_enabled_alerts(session: AsyncSession, org_id: int) -> bool:
    found = await session.scalar(
        select(Alert.id).where(Alert.org_id == org_id, Alert.enabled.is_(True)).limit(1)
    )
    return found is not None


async def organizations_with_alerts(session: AsyncSession) -> list[int]:
    return list(
        await session.scalars(
            select(Alert.org_id).where(Alert.enabled.is_(True)).group_by(Alert.org_id).order_by(Alert.org_id)
        )
    )


async def alert_of(session: AsyncSession, org_id: int, alert_id: int) -> Alert | None:
    return await session.scalar(select(Alert).where(Alert.org_id == org_id, Alert.id == alert_id))


async def last_triggered(session: AsyncSession, alert_ids: Sequence[int]) -> dict[int, datetime]:
    if not alert_ids:
        return {}
    rows = await session.execute(
        select(AlertTrigger.alert_id, func.max(AlertTrigger.triggered_at))
        .where(AlertTrigger.alert_id.in_(list(alert_ids)))
        .group_by(AlertTrigger.alert_id)
    )
    return {alert_id: as_utc(at) for alert_id, at in rows}


# --- triggers --------------------------------------------------------------------------------------


async def triggers_of(
    session: AsyncSession, org_id: int, alert_id: int, limit: int, offset: int
) -> tuple[list[AlertTrigger], int]:
    where = (AlertTrigger.org_id == org_id, AlertTrigger.alert_id == alert_id)
    total = await session.scalar(select(func.count()).select_from(AlertTrigger).where(*where))
    rows = await session.scalars(
        select(AlertTrigger)
        .where(*where)
        .order_by(AlertTrigger.triggered_at.desc(), AlertTrigger.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total or 0)


async def trigger_by_key(session: AsyncSession, alert_id: int, dedupe_key: str) -> AlertTrigger | None:
    return await session.scalar(
        select(AlertTrigger).where(AlertTrigger.alert_id == alert_id, AlertTrigger.dedupe_key == dedupe_key)
    )


async def highest_level(session: AsyncSession, alert_id: int, key_prefix: str) -> int | None:
    """The highest budget level already triggered under `key_prefix` (one period and budget)."""
    level = await session.scalar(
        select(func.max(AlertTrigger.level)).where(
            AlertTrigger.alert_id == alert_id,
            AlertTrigger.dedupe_key.startswith(key_prefix, autoescape=True),
        )
    )
    return int(level) if level is not None else None


async def insert_trigger(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """Store a trigger unless one with its (alert, dedupe key) exists; its id, or None when it did."""
    statement = (
        insert_for(session, AlertTrigger.__table__)  # type: ignore[arg-type]
        .values(**values)
        .on_conflict_do_nothing(index_elements=["alert_id", "dedupe_key"])
        .returning(AlertTrigger.id)
    )
    found = (await session.execute(statement)).scalar_one_or_none()
    return int(found) if found is not None else None


# --- jobs ------------------------------------------------------------------------------------------


async def forget_finished_jobs(session: AsyncSession, queue: str, before: datetime) -> None:
    """Evaluation jobs are many and say nothing once done: they are removed after a while."""
    await session.execute(
        delete(Job).where(
            Job.queue == queue,
            Job.status.in_((DONE, IGNORED)),
            or_(Job.finished_at < before, and_(Job.finished_at.is_(None), Job.created_at < before)),
        )
    )
