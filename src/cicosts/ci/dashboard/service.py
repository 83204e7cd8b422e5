"""Dashboard figures for one organization. Calendar periods follow the organization's time zone."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import func, literal
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.ci.dashboard import repository
from cicosts.ci.dashboard.repository import Scope, WorkflowFilters
from cicosts.ci.dashboard.schemas import (
    AmountChange,
    AttemptCost,
    DashboardSummary,
    RecentRun,
    RunDetail,
    RunJob,
    TopWorkflow,
    TrendPoint,
    WorkflowList,
    WorkflowRow,
    WorkflowsSummary,
)
from cicosts.config import Settings
from cicosts.errors import NotFound
from cicosts.kit.money import change_percent, nanos_to_decimal, nanos_to_json_usd
from cicosts.kit.periods import (
    day_so_far,
    last_days,
    local_dates,
    month_so_far,
    week_so_far,
    zone,
)
from cicosts.models import Organization, Workflow, WorkflowJob
from cicosts.plans import service as plans


@dataclass(frozen=True)
class DashboardView:
    """An organization as its plan lets its members see it: history capped, hidden repositories left out."""

    org: Organization
    scope: Scope
    max_days: int | None = None

    def days(self, requested: int) -> int:
        return min(requested, self.max_days) if self.max_days is not None else requested


async def view_of(session: AsyncSession, org: Organization, settings: Settings) -> DashboardView:
    hidden = await plans.hidden_repository_ids(session, org, settings)
    return DashboardView(org, Scope(org.id, tuple(hidden)), plans.plan_of(org, settings).max_history_days)


SortField = Literal["name", "cost", "runs", "last_run", "avg_duration", "success_rate"]
SortOrder = Literal["asc", "desc"]


def _average_usd(nanos: int, count: int) -> float:
    return nanos_to_json_usd(nanos // count) if count else 0.0


async def summary(session: AsyncSession, view: DashboardView, days: int, now: datetime) -> DashboardSummary:
    days = view.days(days)
    tz = zone(view.org.time_zone)
    window = last_days(days, tz, now)
    calendar = [day_so_far(tz, now), week_so_far(tz, now), month_so_far(tz, now)]
    periods = [window, window.previous()]
    for period in calendar:
        periods += [period.current, period.previous]
    sums = await repository.sums_by_period(session, view.scope, periods)
    (cost, runs, unpriced), (previous_cost, _, _) = sums[0], sums[1]
    changes = [
        AmountChange(amount=nanos_to_json_usd(current[0]), change=change_percent(current[0], previous[0]))
        for current, previous in zip(sums[2::2], sums[3::2], strict=True)
    ]
    return DashboardSummary(
        total_cost=nanos_to_json_usd(cost),
        trend_percent=change_percent(cost, previous_cost),
        total_runs=runs,
        avg_cost_per_run=_average_usd(cost, runs),
        period_days=days,
        unpriced_jobs=unpriced,
        today=changes[0],
        week=changes[1],
        month=changes[2],
    )


async def trends(session: AsyncSession, view: DashboardView, days: int, now: datetime) -> list[TrendPoint]:
    days = view.days(days)
    tz = zone(view.org.time_zone)
    window = last_days(days, tz, now)
    by_date: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for hour, cost, runs in await repository.hourly_cost_and_runs(session, view.scope, window):
        point = by_date[hour.astimezone(tz).date()]
        point[0] += cost
        point[1] += runs
    return [
        TrendPoint(date=day, cost=nanos_to_json_usd(by_date[day][0]), runs=by_date[day][1])
        for day in local_dates(window, tz)
    ]


def order_by(sort_by: SortField, sort_order: SortOrder) -> Any:
    def build(totals: Any) -> list[Any]:
        completed = func.nullif(totals.c.completed, 0)
        key = {
            "name": func.lower(Workflow.name),
            "cost": totals.c.cost,
            "runs": totals.c.runs,
            "last_run": Workflow.last_run_at,
            "avg_duration": func.coalesce(totals.c.seconds * literal(1.0) / completed, 0),
            "success_rate": func.coalesce(totals.c.successful * literal(1.0) / completed, -1),
        }[sort_by]
        direction = key.asc() if sort_order == "asc" else key.desc()
        return [direction, Workflow.id.asc()]

    return build


def _workflow_row(row: Any) -> WorkflowRow:
    completed = int(row.completed)
    return WorkflowRow(
        id=row.id,
        name=row.name,
        repo=row.full_name,
        last_run_time=row.last_run_at,
        run_count=int(row.runs),
        total_cost=nanos_to_json_usd(int(row.cost)),
        avg_duration=round(int(row.seconds) / completed, 1) if completed else 0.0,
        success_rate=round(int(row.successful) * 100 / completed, 1) if completed else None,
        unpriced_jobs=int(row.unpriced),
    )


async def workflows(
    session: AsyncSession,
    view: DashboardView,
    *,
    days: int,
    now: datetime,
    filters: WorkflowFilters,
    sort_by: SortField,
    sort_order: SortOrder,
    page: int,
    per_page: int,
) -> WorkflowList:
    window = last_days(view.days(days), zone(view.org.time_zone), now)
    rows, total = await repository.workflow_page(
        session,
        view.scope,
        window,
        filters,
        order_by(sort_by, sort_order),
        (page - 1) * per_page,
        per_page,
    )
    return WorkflowList(
        workflows=[_workflow_row(row) for row in rows],
        total=total,
        page=page,
        per_page=per_page,
        repositories=await repository.repository_names(session, view.org.id),
    )


async def top_workflows(
    session: AsyncSession, view: DashboardView, days: int, limit: int, now: datetime
) -> list[TopWorkflow]:
    window = last_days(view.days(days), zone(view.org.time_zone), now)
    rows, _ = await repository.workflow_page(
        session, view.scope, window, WorkflowFilters(), order_by("cost", "desc"), 0, limit
    )
    return [
        TopWorkflow(
            name=row.name,
            repo=row.repo,
            runs=row.run_count,
            cost=row.total_cost,
            avg_duration=row.avg_duration,
        )
        for row in map(_workflow_row, rows)
    ]


async def workflows_summary(
    session: AsyncSession, view: DashboardView, days: int, now: datetime
) -> WorkflowsSummary:
    window = last_days(view.days(days), zone(view.org.time_zone), now)
    count, cost, runs, unpriced = await repository.active_workflow_totals(session, view.scope, window)
    return WorkflowsSummary(
        total_workflows=count,
        total_runs=runs,
        total_cost=nanos_to_json_usd(cost),
        avg_cost_per_run=_average_usd(cost, runs),
        unpriced_jobs=unpriced,
    )


async def recent_runs(session: AsyncSession, view: DashboardView, limit: int) -> list[RecentRun]:
    result = []
    for run, repo_name in await repository.recent_runs(session, view.scope, limit):
        duration = None
        if run.completed_at is not None and run.run_started_at is not None:
            duration = max((run.completed_at - run.run_started_at).total_seconds(), 0.0)
        result.append(
            RecentRun(
                id=run.id,
                workflow=run.name,
                repo=repo_name,
                status=run.conclusion or run.status,
                cost=nanos_to_json_usd(run.cost_nanos),
                duration=duration,
                time=run.created_at,
            )
        )
    return result


def _attempts(jobs: list[WorkflowJob]) -> list[AttemptCost]:
    by_attempt: dict[int, list[WorkflowJob]] = defaultdict(list)
    for job in jobs:
        if job.status == "completed":
            by_attempt[job.run_attempt].append(job)
    return [
        AttemptCost(
            attempt=attempt,
            jobs=len(group),
            billable_minutes=sum(j.billable_minutes for j in group),
            cost=nanos_to_json_usd(sum(j.cost_nanos for j in group)),
            list_cost=nanos_to_json_usd(sum(j.list_cost_nanos for j in group)),
            unpriced_jobs=sum(j.unpriced for j in group),
        )
        for attempt, group in sorted(by_attempt.items())
    ]


def _run_job(job: WorkflowJob) -> RunJob:
    return RunJob(
        id=job.github_job_id,
        name=job.name,
        attempt=job.run_attempt,
        status=job.status,
        conclusion=job.conclusion,
        labels=job.labels,
        sku=job.sku,
        billable_minutes=job.billable_minutes,
        unit_price=float(nanos_to_decimal(job.unit_price_nanos))
        if job.unit_price_nanos is not None
        else None,
        cost=nanos_to_json_usd(job.cost_nanos),
        list_cost=nanos_to_json_usd(job.list_cost_nanos),
        price_source=job.price_source,
        unpriced=job.unpriced,
    )


async def run_detail(session: AsyncSession, view: DashboardView, run_id: int) -> RunDetail:
    """A run in a repository the plan hides is not found, like an unknown one."""
    found = await repository.run_with_jobs(session, view.scope, run_id)
    if found is None:
        raise NotFound(f"Run {run_id} not found")
    run, repo_name, jobs = found
    return RunDetail(
        id=run.id,
        github_run_id=run.github_run_id,
        workflow=run.name,
        repo=repo_name,
        event=run.event,
        branch=run.head_branch,
        actor=run.actor_login,
        run_number=run.run_number,
        run_attempt=run.run_attempt,
        status=run.status,
        conclusion=run.conclusion,
        created_at=run.created_at,
        started_at=run.run_started_at,
        completed_at=run.completed_at,
        billable_minutes=run.billable_minutes,
        cost=nanos_to_json_usd(run.cost_nanos),
        list_cost=nanos_to_json_usd(run.list_cost_nanos),
        unpriced_jobs=run.unpriced_jobs,
        attempts=_attempts(jobs),
        jobs=[_run_job(job) for job in jobs],
    )
