"""Rollup queries for the dashboard; every one is scoped by organization."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, case, func, or_, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from cicosts.kit.periods import Period, split_at_utc_days
from cicosts.models import CIDaily, CIHourly, CIOrgHourly, Repository, Workflow, WorkflowJob, WorkflowRun
from cicosts.models.base import UTCDateTime


@dataclass(frozen=True)
class Scope:
    """Whose costs a query reads: one organization, less the repositories its plan hides (kept, not shown)."""

    org_id: int
    hidden_repository_ids: tuple[int, ...] = ()

    def visible(self, repository_id: Any) -> ColumnElement[bool]:
        if not self.hidden_repository_ids:
            return true()
        hidden: ColumnElement[bool] = repository_id.not_in(self.hidden_repository_ids)
        return hidden


def _org_hourly(scope: Scope) -> Any:
    """The organization's hourly totals; summed from its visible workflows when some are hidden."""
    if not scope.hidden_repository_ids:
        return CIOrgHourly.__table__
    return (
        select(
            CIHourly.org_id,
            CIHourly.hour,
            func.sum(CIHourly.cost_nanos).label("cost_nanos"),
            func.sum(CIHourly.runs).label("runs"),
            func.sum(CIHourly.unpriced_jobs).label("unpriced_jobs"),
        )
        .where(CIHourly.org_id == scope.org_id, scope.visible(CIHourly.repository_id))
        .group_by(CIHourly.org_id, CIHourly.hour)
        .subquery()
    )


def _in(column: Any, period: Period) -> ColumnElement[bool]:
    return and_(column >= period.start, column < period.end)


def _sums_statement(scope: Scope, count: int) -> Any:
    """(cost, runs, unpriced jobs) of `count` periods given as bound parameters s0/e0, s1/e1, ..."""
    hourly = _org_hourly(scope).c
    columns: list[Any] = []
    for i in range(count):
        start, end = bindparam(f"s{i}", type_=UTCDateTime()), bindparam(f"e{i}", type_=UTCDateTime())
        inside = and_(hourly.hour >= start, hourly.hour < end)
        columns += [
            func.coalesce(func.sum(case((inside, hourly.cost_nanos), else_=0)), 0),
            func.coalesce(func.sum(case((inside, hourly.runs), else_=0)), 0),
            func.coalesce(func.sum(case((inside, hourly.unpriced_jobs), else_=0)), 0),
        ]
    first, last = bindparam("first", type_=UTCDateTime()), bindparam("last", type_=UTCDateTime())
    return select(*columns).where(
        hourly.org_id == bindparam("org_id"), hourly.hour >= first, hourly.hour < last
    )


# Built once per number of periods: building two dozen CASE columns took longer than running them.
_SUMS: dict[int, Any] = {}


async def sums_by_period(
    session: AsyncSession, scope: Scope, periods: Sequence[Period]
) -> list[tuple[int, int, int]]:
    """(cost, runs, unpriced jobs) for each period, in one pass over the organization's hourly totals."""
    if scope.hidden_repository_ids:
        statement = _sums_statement(scope, len(periods))
    else:
        statement = _SUMS.get(len(periods))
        if statement is None:
            statement = _SUMS[len(periods)] = _sums_statement(scope, len(periods))
    parameters: dict[str, Any] = {"org_id": scope.org_id}
    for i, period in enumerate(periods):
        parameters[f"s{i}"], parameters[f"e{i}"] = period.start, period.end
    parameters["first"] = min(p.start for p in periods)
    parameters["last"] = max(p.end for p in periods)
    values = [int(v) for v in (await session.execute(statement, parameters)).one()]
    return [(values[i], values[i + 1], values[i + 2]) for i in range(0, len(values), 3)]


async def hourly_cost_and_runs(
    session: AsyncSession, scope: Scope, period: Period
) -> list[tuple[datetime, int, int]]:
    hourly = _org_hourly(scope).c
    rows = await session.execute(
        select(hourly.hour, hourly.cost_nanos, hourly.runs).where(
            hourly.org_id == scope.org_id, _in(hourly.hour, period)
        )
    )
    return [(hour, int(cost), int(runs)) for hour, cost, runs in rows]


@dataclass(frozen=True)
class WorkflowFilters:
    repo: str | None = None
    status: str | None = None
    search: str | None = None


MEASURES = (
    "cost_nanos",
    "runs",
    "completed_runs",
    "successful_runs",
    "run_seconds",
    "unpriced_jobs",
    "billable_minutes",
)
LABELS = ("cost", "runs", "completed", "successful", "seconds", "unpriced", "minutes")


def _measured(table: Any, key: str, where: ColumnElement[bool]) -> Any:
    return select(getattr(table, key).label("key"), *(getattr(table, m) for m in MEASURES)).where(where)


def rollup_totals(scope: Scope, period: Period, key: str = "workflow_id") -> Any:
    """Sums per workflow (or `key`): whole UTC days from `ci_daily`, the partial days by the hour."""
    edges, days = split_at_utc_days(period)
    parts = []
    if edges:
        parts.append(
            _measured(
                CIHourly,
                key,
                and_(
                    CIHourly.org_id == scope.org_id,
                    scope.visible(CIHourly.repository_id),
                    or_(*(_in(CIHourly.hour, e) for e in edges)),
                ),
            )
        )
    if days:
        parts.append(
            _measured(
                CIDaily,
                key,
                and_(
                    CIDaily.org_id == scope.org_id,
                    scope.visible(CIDaily.repository_id),
                    CIDaily.day >= days[0],
                    CIDaily.day < days[1],
                ),
            )
        )
    rows = union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()
    return (
        select(
            rows.c.key.label(key),
            *(func.sum(rows.c[m]).label(label) for m, label in zip(MEASURES, LABELS, strict=True)),
        )
        .group_by(rows.c.key)
        .subquery()
    )


def workflow_totals(scope: Scope, period: Period) -> Any:
    return rollup_totals(scope, period, "workflow_id")


def _filtered(statement: Any, filters: WorkflowFilters) -> Any:
    if filters.repo:
        statement = statement.where(
            (Repository.full_name == filters.repo) | (Repository.name == filters.repo)
        )
    if filters.status:
        statement = statement.where(Workflow.last_run_status == filters.status)
    if filters.search:
        statement = statement.where(func.lower(Workflow.name).contains(filters.search.lower()))
    return statement


async def workflow_page(
    session: AsyncSession,
    scope: Scope,
    period: Period,
    filters: WorkflowFilters,
    order_by: Any,
    offset: int,
    limit: int,
) -> tuple[list[Row[Any]], int]:
    totals = workflow_totals(scope, period)
    base = (
        select(
            Workflow.id,
            Workflow.name,
            Repository.full_name,
            Workflow.last_run_at,
            Workflow.last_run_status,
            totals.c.cost,
            totals.c.runs,
            totals.c.completed,
            totals.c.successful,
            totals.c.seconds,
            totals.c.unpriced,
            func.count().over().label("total"),  # the page and the count in one pass
        )
        .join(totals, totals.c.workflow_id == Workflow.id)
        .join(Repository, Repository.id == Workflow.repository_id)
        .where(Workflow.org_id == scope.org_id)
    )
    base = _filtered(base, filters)
    rows = list((await session.execute(base.order_by(*order_by(totals)).offset(offset).limit(limit))).all())
    if rows:
        return rows, int(rows[0].total)
    if offset == 0:
        return rows, 0
    return rows, int(await session.scalar(select(func.count()).select_from(base.subquery())) or 0)


async def repository_names(session: AsyncSession, org_id: int) -> list[str]:
    return list(
        (
            await session.scalars(
                select(Repository.full_name).where(Repository.org_id == org_id).order_by(Repository.full_name)
            )
        ).all()
    )


async def recent_runs(session: AsyncSession, scope: Scope, limit: int) -> list[tuple[WorkflowRun, str]]:
    rows = await session.execute(
        select(WorkflowRun, Repository.full_name)
        .join(Repository, Repository.id == WorkflowRun.repository_id)
        .where(WorkflowRun.org_id == scope.org_id, scope.visible(WorkflowRun.repository_id))
        .order_by(WorkflowRun.created_at.desc(), WorkflowRun.id.desc())
        .limit(limit)
    )
    return [(run, full_name) for run, full_name in rows]


async def active_workflow_totals(
    session: AsyncSession, scope: Scope, period: Period
) -> tuple[int, int, int, int]:
    """(workflows with activity, cost, runs, unpriced jobs) in the period."""
    totals = workflow_totals(scope, period)
    row = (
        await session.execute(
            select(
                func.count(totals.c.workflow_id),
                func.coalesce(func.sum(totals.c.cost), 0),
                func.coalesce(func.sum(totals.c.runs), 0),
                func.coalesce(func.sum(totals.c.unpriced), 0),
            )
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


async def run_with_jobs(
    session: AsyncSession, scope: Scope, run_id: int
) -> tuple[WorkflowRun, str, list[WorkflowJob]] | None:
    """The run with its jobs; None when it is another organization's or in a repository the plan hides."""
    found = (
        await session.execute(
            select(WorkflowRun, Repository.full_name)
            .join(Repository, Repository.id == WorkflowRun.repository_id)
            .where(
                WorkflowRun.org_id == scope.org_id,
                WorkflowRun.id == run_id,
                scope.visible(WorkflowRun.repository_id),
            )
        )
    ).first()
    if found is None:
        return None
    jobs = await session.scalars(
        select(WorkflowJob)
        .where(WorkflowJob.org_id == scope.org_id, WorkflowJob.run_id == run_id)
        .order_by(WorkflowJob.run_attempt, WorkflowJob.id)
    )
    return found[0], found[1], list(jobs)
