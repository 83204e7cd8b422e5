"""The public CI costs: series, summaries and breakdowns, in the organization's time zone."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.ci.costs import repository
from cicosts.ci.costs.repository import HourlyCost
from cicosts.ci.costs.schemas import (
    CostPoint,
    CostSeries,
    CostSummary,
    Granularity,
    PeriodCost,
    Projection,
    RepositoryCost,
    RepositoryCosts,
    RunnerCost,
    RunnerCosts,
    WorkflowCost,
    WorkflowCosts,
)
from cicosts.ci.dashboard.repository import sums_by_period
from cicosts.ci.dashboard.service import DashboardView
from cicosts.errors import BadRequest, NotFound
from cicosts.kit.date_range import DateRange
from cicosts.kit.money import change_percent, nanos_to_json_usd
from cicosts.kit.periods import (
    CalendarPeriod,
    Period,
    day_so_far,
    local_midnight,
    month_so_far,
    week_so_far,
    zone,
)
from cicosts.ledger.service import MICROS

MAX_DAILY_POINTS = 366


@dataclass(frozen=True)
class Selection:
    """Which costs a request reads: an organization as its plan shows it, over whole local days."""

    view: DashboardView
    dates: DateRange

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.view.org.time_zone)

    @property
    def period(self) -> Period:
        return self.dates.period(self.tz)


async def narrowed_to(
    session: AsyncSession, org_id: int, repo: str | None, workflow: str | None
) -> tuple[list[int] | None, list[int] | None]:
    """The repository and workflow ids a `repo`/`workflow` filter names (404 when it names nothing)."""
    repositories = None
    if repo is not None:
        repositories = await repository.repository_ids(session, org_id, repo)
        if not repositories:
            raise NotFound(f"repo: no repository named {repo!r}")
    workflows = None
    if workflow is not None:
        workflows = await repository.workflow_ids(session, org_id, workflow, repositories)
        if not workflows:
            raise NotFound(f"workflow: no workflow named {workflow!r}")
    return repositories, workflows


def bucket_start(day: date, granularity: Granularity) -> date:
    if granularity is Granularity.WEEK:
        return day - timedelta(days=day.weekday())
    if granularity is Granularity.MONTH:
        return day.replace(day=1)
    return day


def bucketed(
    hours: Iterable[HourlyCost], selection: Selection, granularity: Granularity
) -> dict[date, list[int]]:
    """Hourly rows summed into buckets labelled by their first day inside the range, zero-filled."""
    first = selection.dates.start
    buckets: dict[date, list[int]] = {}
    for day in selection.dates.dates():
        buckets.setdefault(max(bucket_start(day, granularity), first), [0, 0, 0])
    tz = selection.tz
    for row in hours:
        point = buckets[max(bucket_start(row.hour.astimezone(tz).date(), granularity), first)]
        point[0] += row.cost
        point[1] += row.runs
        point[2] += row.minutes
    return buckets


async def cost_series(
    session: AsyncSession,
    selection: Selection,
    granularity: Granularity,
    repositories: list[int] | None,
    workflows: list[int] | None,
) -> CostSeries:
    if granularity is Granularity.DAY and selection.dates.days > MAX_DAILY_POINTS:
        raise BadRequest(
            f"granularity: a range of {selection.dates.days} days is too long for day granularity "
            f"(at most {MAX_DAILY_POINTS}); use week or month"
        )
    hours = await repository.hourly_costs(
        session, selection.view.scope, selection.period, repositories, workflows
    )
    buckets = bucketed(hours, selection, granularity)
    return CostSeries(
        start_date=selection.dates.start,
        end_date=selection.dates.end,
        granularity=granularity,
        total_cost=nanos_to_json_usd(sum(row.cost for row in hours)),
        total_runs=sum(row.runs for row in hours),
        total_minutes=sum(row.minutes for row in hours),
        unpriced_jobs=sum(row.unpriced for row in hours),
        costs=[
            CostPoint(date=day, cost=nanos_to_json_usd(cost), runs=runs, minutes=minutes)
            for day, (cost, runs, minutes) in buckets.items()
        ],
    )


def same_stretch_before(period: CalendarPeriod) -> Period:
    """The previous period up to the same point, so a morning is compared with a morning."""
    elapsed = period.current.end - period.current.start
    return Period(period.previous.start, min(period.previous.start + elapsed, period.previous.end))


def projected_month_end(cost_so_far: int, month: CalendarPeriod, month_end: datetime) -> int:
    """The month so far's rate carried to its end (over at least a day, so a first hour can't explode)."""
    elapsed = max(month.current.end - month.current.start, timedelta(days=1))
    whole = month_end - month.current.start
    return cost_so_far * int(whole.total_seconds()) // int(elapsed.total_seconds())


async def cost_summary(session: AsyncSession, view: DashboardView, now: datetime) -> CostSummary:
    tz = zone(view.org.time_zone)
    calendar = [day_so_far(tz, now), week_so_far(tz, now), month_so_far(tz, now)]
    periods: list[Period] = []
    for period in calendar:
        periods += [period.current, same_stretch_before(period)]
    sums = await sums_by_period(session, view.scope, periods)
    today, week, month = (
        PeriodCost(
            cost=nanos_to_json_usd(current[0]),
            runs=current[1],
            change_pct=change_percent(current[0], before[0]),
        )
        for current, before in zip(sums[0::2], sums[1::2], strict=True)
    )
    month_sums = sums[4]
    first_of_next = (now.astimezone(tz).date().replace(day=28) + timedelta(days=4)).replace(day=1)
    projected = projected_month_end(month_sums[0], calendar[2], local_midnight(first_of_next, tz))
    return CostSummary(
        today=today,
        this_week=week,
        this_month=month,
        projected=Projection(cost=nanos_to_json_usd(projected)),
        unpriced_jobs=month_sums[2],
    )


def _percent(part: int, whole: int) -> float:
    return round(part * 100 / whole, 1) if whole else 0.0


async def costs_by_repository(session: AsyncSession, selection: Selection, limit: int) -> RepositoryCosts:
    scope = selection.view.scope
    total = (await sums_by_period(session, scope, [selection.period]))[0][0]
    rows = await repository.by_repository(session, scope, selection.period, limit)
    return RepositoryCosts(
        start_date=selection.dates.start,
        end_date=selection.dates.end,
        total_cost=nanos_to_json_usd(total),
        repositories=[
            RepositoryCost(
                name=row.name,
                full_name=row.full_name,
                org=row.full_name.split("/", 1)[0],
                cost=nanos_to_json_usd(int(row.cost)),
                runs=int(row.runs),
                minutes=int(row.minutes),
                pct_of_total=_percent(int(row.cost), total),
            )
            for row in rows
        ],
    )


async def costs_by_workflow(
    session: AsyncSession, selection: Selection, repositories: list[int] | None, limit: int
) -> WorkflowCosts:
    rows = await repository.by_workflow(session, selection.view.scope, selection.period, repositories, limit)
    return WorkflowCosts(
        start_date=selection.dates.start,
        end_date=selection.dates.end,
        workflows=[
            WorkflowCost(
                id=row.id,
                name=row.name,
                repository=row.full_name,
                cost=nanos_to_json_usd(int(row.cost)),
                runs=int(row.runs),
                minutes=int(row.minutes),
                avg_cost=nanos_to_json_usd(int(row.cost) // int(row.runs)) if row.runs else 0.0,
                avg_duration_minutes=round(int(row.seconds) / int(row.completed) / 60, 2)
                if row.completed
                else 0.0,
            )
            for row in rows
        ],
    )


async def costs_by_runner(session: AsyncSession, selection: Selection) -> RunnerCosts:
    rows = await repository.by_runner(session, selection.view.scope, selection.period)
    runners = [
        RunnerCost(
            sku=row.sku,
            cost=nanos_to_json_usd(int(row.cost)),
            list_cost=nanos_to_json_usd(int(row.list_cost)),
            minutes=int(row.quantity_micros) // MICROS,
            jobs=int(row.jobs),
            unpriced_jobs=int(row.unpriced),
            public_repository_savings=nanos_to_json_usd(int(row.public_saved)),
        )
        for row in rows
    ]
    return RunnerCosts(
        start_date=selection.dates.start,
        end_date=selection.dates.end,
        total_cost=nanos_to_json_usd(sum(int(row.cost) for row in rows)),
        public_repository_savings=nanos_to_json_usd(sum(int(row.public_saved) for row in rows)),
        runners=runners,
    )
