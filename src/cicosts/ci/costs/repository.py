"""Rollup queries behind /v1/costs; each is scoped by organization and its plan's visible repositories."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, case, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.ci.dashboard.repository import Scope, rollup_totals
from cicosts.kit.periods import Period
from cicosts.models import CIHourly, CIOrgHourly, LedgerHourly, Repository, Workflow


class HourlyCost(NamedTuple):
    hour: datetime
    cost: int
    runs: int
    minutes: int
    unpriced: int


async def repository_ids(session: AsyncSession, org_id: int, repo: str) -> list[int]:
    """A repository named `owner/name` or just `name`."""
    found = await session.scalars(
        select(Repository.id).where(
            Repository.org_id == org_id, or_(Repository.full_name == repo, Repository.name == repo)
        )
    )
    return list(found)


async def workflow_ids(
    session: AsyncSession, org_id: int, workflow: str, in_repositories: Sequence[int] | None
) -> list[int]:
    """Workflows named `workflow` (or with that id), in the given repositories when there are some."""
    matches = Workflow.name == workflow
    if workflow.isdigit():
        matches = or_(matches, Workflow.id == int(workflow))
    statement = select(Workflow.id).where(Workflow.org_id == org_id, matches)
    if in_repositories is not None:
        statement = statement.where(Workflow.repository_id.in_(in_repositories))
    return list(await session.scalars(statement))


def _narrowed(repositories: Sequence[int] | None, workflows: Sequence[int] | None) -> Any:
    conditions = []
    if repositories is not None:
        conditions.append(CIHourly.repository_id.in_(repositories) if repositories else false())
    if workflows is not None:
        conditions.append(CIHourly.workflow_id.in_(workflows) if workflows else false())
    return and_(*conditions)


async def hourly_costs(
    session: AsyncSession,
    scope: Scope,
    period: Period,
    repositories: Sequence[int] | None = None,
    workflows: Sequence[int] | None = None,
) -> list[HourlyCost]:
    """Cost, runs, billable minutes and unpriced jobs per hour; the organization's totals unless narrowed."""
    if repositories is None and workflows is None and not scope.hidden_repository_ids:
        table: Any = CIOrgHourly
        statement = select(
            table.hour, table.cost_nanos, table.runs, table.billable_minutes, table.unpriced_jobs
        ).where(table.org_id == scope.org_id, table.hour >= period.start, table.hour < period.end)
    else:
        statement = (
            select(
                CIHourly.hour,
                func.sum(CIHourly.cost_nanos),
                func.sum(CIHourly.runs),
                func.sum(CIHourly.billable_minutes),
                func.sum(CIHourly.unpriced_jobs),
            )
            .where(
                CIHourly.org_id == scope.org_id,
                scope.visible(CIHourly.repository_id),
                CIHourly.hour >= period.start,
                CIHourly.hour < period.end,
                _narrowed(repositories, workflows),
            )
            .group_by(CIHourly.hour)
        )
    rows = await session.execute(statement)
    return [HourlyCost(hour, int(c), int(r), int(m), int(u)) for hour, c, r, m, u in rows]


async def by_repository(session: AsyncSession, scope: Scope, period: Period, limit: int) -> list[Any]:
    totals = rollup_totals(scope, period, "repository_id")
    statement = (
        select(Repository.name, Repository.full_name, totals.c.cost, totals.c.runs, totals.c.minutes)
        .join(totals, totals.c.repository_id == Repository.id)
        .where(Repository.org_id == scope.org_id)
        .order_by(totals.c.cost.desc(), Repository.full_name)
        .limit(limit)
    )
    return list((await session.execute(statement)).all())


async def by_workflow(
    session: AsyncSession, scope: Scope, period: Period, repositories: Sequence[int] | None, limit: int
) -> list[Any]:
    totals = rollup_totals(scope, period, "workflow_id")
    statement = (
        select(
            Workflow.id,
            Workflow.name,
            Repository.full_name,
            totals.c.cost,
            totals.c.runs,
            totals.c.completed,
            totals.c.seconds,
            totals.c.minutes,
        )
        .join(totals, totals.c.workflow_id == Workflow.id)
        .join(Repository, Repository.id == Workflow.repository_id)
        .where(Workflow.org_id == scope.org_id)
        .order_by(totals.c.cost.desc(), Workflow.id)
        .limit(limit)
    )
    if repositories is not None:
        statement = statement.where(Workflow.repository_id.in_(repositories))
    return list((await session.execute(statement)).all())


async def by_runner(session: AsyncSession, scope: Scope, period: Period) -> list[Any]:
    """Per runner SKU, from the ledger; public repositories' list cost minus what they were billed.

    A ledger row names its repository by full name, which is not unique (a repository deleted and created
    again has two rows), so repositories are looked up with EXISTS rather than joined: a join would count
    the row once per repository of that name.
    """
    same_name = and_(
        Repository.org_id == LedgerHourly.org_id, Repository.full_name == LedgerHourly.sub_account
    )
    public = select(Repository.id).where(same_name, Repository.private.is_(False)).exists()
    saved = LedgerHourly.list_nanos - LedgerHourly.billed_nanos
    statement = (
        select(
            LedgerHourly.sku,
            func.sum(LedgerHourly.billed_nanos).label("cost"),
            func.sum(LedgerHourly.list_nanos).label("list_cost"),
            func.sum(LedgerHourly.quantity_micros).label("quantity_micros"),
            func.sum(LedgerHourly.record_count).label("jobs"),
            func.sum(LedgerHourly.unpriced_count).label("unpriced"),
            func.sum(case((public, saved), else_=0)).label("public_saved"),
        )
        .where(
            LedgerHourly.org_id == scope.org_id,
            LedgerHourly.source == "ci",
            LedgerHourly.hour >= period.start,
            LedgerHourly.hour < period.end,
        )
        .group_by(LedgerHourly.sku)
        .order_by(func.sum(LedgerHourly.billed_nanos).desc(), LedgerHourly.sku)
    )
    if scope.hidden_repository_ids:
        # Shown unless every repository of that name is hidden (rows naming no repository are shown).
        named = select(Repository.id).where(same_name).exists()
        visible = select(Repository.id).where(same_name, scope.visible(Repository.id)).exists()
        statement = statement.where(or_(~named, visible))
    return list((await session.execute(statement)).all())
