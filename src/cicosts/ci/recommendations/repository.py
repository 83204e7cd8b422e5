"""Queries behind the CI recommendations. Each one aggregates one organization's jobs of a period in SQL.

A job belongs to the period in which it completed (as in the rollups). Every query reaches the jobs through
their runs, created in the period less `RUN_LIFETIME`, so the scan starts from the (org, created_at) index
of runs rather than from every job the organization ever ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, and_, case, cast, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from cicosts.ci.dashboard.repository import Scope
from cicosts.ci.pricing import PriceSource
from cicosts.kit.periods import Period
from cicosts.models import Repository, RunnerPrice, Workflow, WorkflowJob, WorkflowRun

# GitHub re-runs a run up to 30 days after it started, and a run lasts at most 35 days.
RUN_LIFETIME = timedelta(days=65)
COMPLETED = "completed"
FAILED = ("failure", "timed_out")
CANCELLED = "cancelled"
# Events whose runs `concurrency: ${{ github.workflow }}-${{ github.ref }}` groups by branch.
BRANCH_EVENTS = ("push", "pull_request")
# Jobs priced at GitHub's rate for their SKU (an organization's custom rate is its own business).
GITHUB_PRICED = (PriceSource.GITHUB_LIST, PriceSource.ORG_MAPPING)


class seconds_between(FunctionElement[int]):
    """Whole seconds from the first timestamp to the second: each backend subtracts timestamps its own way."""

    type = BigInteger()
    inherit_cache = True


@compiles(seconds_between)
def _seconds_postgresql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"CAST(EXTRACT(EPOCH FROM ({end} - {start})) AS BIGINT)"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"CAST(ROUND((julianday({end}) - julianday({start})) * 86400) AS INTEGER)"


def _int(value: Any) -> int:
    """PostgreSQL sums BIGINTs as NUMERIC; every figure here is a whole number."""
    return int(value or 0)


def _whole(value: Any) -> Any:
    """A sum as BIGINT, so that `//` divides whole numbers on PostgreSQL too."""
    return cast(value, BigInteger)


def _completed_in(scope: Scope, period: Period) -> list[ColumnElement[bool]]:
    return [
        WorkflowJob.org_id == scope.org_id,
        scope.visible(WorkflowJob.repository_id),
        WorkflowJob.status == COMPLETED,
        WorkflowJob.completed_at >= period.start,
        WorkflowJob.completed_at < period.end,
    ]


def _runs_of(period: Period) -> list[ColumnElement[bool]]:
    return [WorkflowRun.created_at >= period.start - RUN_LIFETIME, WorkflowRun.created_at < period.end]


def _jobs_in(scope: Scope, period: Period, *columns: Any) -> Any:
    """SELECT `columns` FROM the jobs completed in the period, with their run, workflow and repository."""
    return (
        select(*columns)
        .select_from(WorkflowJob)
        .join(WorkflowRun, WorkflowRun.id == WorkflowJob.run_id)
        .join(Workflow, Workflow.id == WorkflowJob.workflow_id)
        .join(Repository, Repository.id == WorkflowJob.repository_id)
        .where(
            *_completed_in(scope, period),
            WorkflowRun.org_id == scope.org_id,
            *_runs_of(period),
        )
    )


NAMES = (WorkflowJob.workflow_id, Repository.full_name, Workflow.name)


@dataclass(frozen=True)
class RerunWaste:
    workflow_id: int
    repository: str
    workflow: str
    reruns: int
    jobs: int
    minutes: int
    cost_nanos: int


def _rerun_jobs() -> ColumnElement[bool]:
    """Jobs of an attempt that failed and that ran again in a later attempt of the same run.

    "Re-run all jobs" repeats every job of the attempt; "Re-run failed jobs" only the failed ones and those
    that depend on them, so the jobs it keeps are not counted.
    """
    failed, later = aliased(WorkflowJob), aliased(WorkflowJob)
    return and_(
        exists().where(
            failed.run_id == WorkflowJob.run_id,
            failed.run_attempt == WorkflowJob.run_attempt,
            failed.conclusion.in_(FAILED),
        ),
        exists().where(
            later.run_id == WorkflowJob.run_id,
            later.run_attempt > WorkflowJob.run_attempt,
            later.name == WorkflowJob.name,
        ),
    )


async def rerun_waste(session: AsyncSession, scope: Scope, period: Period) -> list[RerunWaste]:
    statement = (
        _jobs_in(
            scope,
            period,
            *NAMES,
            func.count(func.distinct(WorkflowJob.run_id)),
            func.count(),
            func.sum(WorkflowJob.billable_minutes),
            func.sum(WorkflowJob.cost_nanos),
        )
        .where(_rerun_jobs())
        .group_by(*NAMES)
    )
    return [
        RerunWaste(row[0], row[1], row[2], *(_int(v) for v in row[3:]))
        for row in await session.execute(statement)
    ]


async def failures_before_reruns(
    session: AsyncSession, scope: Scope, period: Period
) -> list[tuple[int, str, int]]:
    """(workflow id, job name, failures) of failed jobs whose run was attempted again."""
    later = aliased(WorkflowJob)
    statement = (
        _jobs_in(scope, period, WorkflowJob.workflow_id, WorkflowJob.name, func.count())
        .where(
            WorkflowJob.conclusion.in_(FAILED),
            exists().where(later.run_id == WorkflowJob.run_id, later.run_attempt > WorkflowJob.run_attempt),
        )
        .group_by(WorkflowJob.workflow_id, WorkflowJob.name)
    )
    return [(row[0], row[1], _int(row[2])) for row in await session.execute(statement)]


@dataclass(frozen=True)
class Superseded:
    workflow_id: int
    repository: str
    workflow: str
    runs: int
    jobs: int
    minutes_after: int
    saving_nanos: int


def _superseded_at() -> Any:
    """When the next run of the same workflow, event and branch was created: where cancel-in-progress cuts."""
    newer = aliased(WorkflowRun)
    return (
        select(func.min(newer.created_at))
        .where(
            newer.org_id == WorkflowRun.org_id,
            newer.workflow_id == WorkflowRun.workflow_id,
            newer.event == WorkflowRun.event,
            newer.head_branch == WorkflowRun.head_branch,
            newer.created_at > WorkflowRun.created_at,
        )
        .scalar_subquery()
    )


async def superseded_runs(session: AsyncSession, scope: Scope, period: Period) -> list[Superseded]:
    """First attempts' jobs still billing after a newer run of their branch began, and what a cancel saves.

    A job cancelled at the cut is billed the whole minutes it ran until then; one that had not started yet
    would not have run at all. Jobs that were cancelled anyway (cancel-in-progress already at work) are
    left out, so workflows that already cancel do not show up for the seconds it takes.
    """
    runs = (
        select(WorkflowRun.id.label("run_id"), _superseded_at().label("cut"))
        .where(
            WorkflowRun.org_id == scope.org_id,
            scope.visible(WorkflowRun.repository_id),
            WorkflowRun.event.in_(BRANCH_EVENTS),
            WorkflowRun.head_branch.is_not(None),
            *_runs_of(period),
        )
        .subquery()
    )
    job = WorkflowJob
    kept = case(
        (job.started_at >= runs.c.cut, 0),
        else_=(seconds_between(job.started_at, runs.c.cut) + 59) // 60,
    )
    saving = job.cost_nanos * (job.billable_minutes - kept) // job.billable_minutes
    statement = (
        select(
            *NAMES,
            func.count(func.distinct(job.run_id)),
            func.count(),
            func.sum(job.billable_minutes - kept),
            func.sum(saving),
        )
        .select_from(job)
        .join(runs, runs.c.run_id == job.run_id)
        .join(Workflow, Workflow.id == job.workflow_id)
        .join(Repository, Repository.id == job.repository_id)
        .where(
            *_completed_in(scope, period),
            job.run_attempt == 1,
            job.completed_at > runs.c.cut,
            job.conclusion != CANCELLED,
            job.billable_minutes > 0,
            job.cost_nanos > 0,
        )
        .group_by(*NAMES)
    )
    return [
        Superseded(row[0], row[1], row[2], *(_int(v) for v in row[3:]))
        for row in await session.execute(statement)
    ]


@dataclass(frozen=True)
class RoundingWaste:
    workflow_id: int
    repository: str
    workflow: str
    runs: int
    jobs: int
    merged_minutes: int
    waste_nanos: int


async def rounding_waste(session: AsyncSession, scope: Scope, period: Period) -> list[RoundingWaste]:
    """Per run attempt and runner, jobs billed one minute each against one job of their summed seconds.

    A job of a minute or less bills exactly one minute, so its cost is the minute's price; jobs are only
    grouped with others of the same SKU and price, the ones that could run as steps of one job.
    """
    job = WorkflowJob
    groups = (
        _jobs_in(
            scope,
            period,
            job.workflow_id,
            job.run_id,
            func.count().label("jobs"),
            _whole(func.sum(seconds_between(job.started_at, job.completed_at))).label("seconds"),
            job.cost_nanos.label("minute_nanos"),
        )
        .where(job.billable_minutes == 1, job.cost_nanos > 0)
        .group_by(job.workflow_id, job.run_id, job.run_attempt, job.sku, job.cost_nanos)
        .having(func.count() > 1)
        .subquery()
    )
    merged = (groups.c.seconds + 59) // 60
    statement = (
        select(
            groups.c.workflow_id,
            Repository.full_name,
            Workflow.name,
            func.count(func.distinct(groups.c.run_id)),
            func.sum(groups.c.jobs),
            func.sum(merged),
            func.sum((groups.c.jobs - merged) * groups.c.minute_nanos),
        )
        .select_from(groups)
        .join(Workflow, Workflow.id == groups.c.workflow_id)
        .join(Repository, Repository.id == Workflow.repository_id)
        .group_by(groups.c.workflow_id, Repository.full_name, Workflow.name)
    )
    return [
        RoundingWaste(row[0], row[1], row[2], *(_int(v) for v in row[3:]))
        for row in await session.execute(statement)
    ]


@dataclass(frozen=True)
class RateEra:
    """A SKU's rate from a day on, and whether GitHub leaves it unbilled in public repositories."""

    effective_from: date
    nanos_per_minute: int
    standard: bool

    @property
    def starts_at(self) -> datetime:
        # Jobs are priced by the UTC day they completed on.
        return datetime.combine(self.effective_from, time.min, tzinfo=UTC)


async def runner_rates(session: AsyncSession) -> dict[str, list[RateEra]]:
    """Every SKU's price history, oldest first (GitHub's list prices; a few dozen rows)."""
    rows = await session.execute(
        select(
            RunnerPrice.sku, RunnerPrice.effective_from, RunnerPrice.nanos_per_minute, RunnerPrice.standard
        ).order_by(RunnerPrice.sku, RunnerPrice.effective_from)
    )
    rates: dict[str, list[RateEra]] = {}
    for sku, effective_from, nanos, standard in rows:
        rates.setdefault(sku, []).append(RateEra(effective_from, int(nanos), bool(standard)))
    return rates


def _minute_price(eras: Sequence[RateEra]) -> Any:
    """The reference runner's price of one minute of the job, at the rate of the day the job completed."""

    def in_repository(era: RateEra) -> Any:
        public = 0 if era.standard else era.nanos_per_minute
        return case(
            (Repository.private.is_(True), literal(era.nanos_per_minute, BigInteger)),
            else_=literal(public, BigInteger),
        )

    whens = [
        (WorkflowJob.completed_at < following.starts_at, in_repository(era))
        for era, following in pairwise(eras)
    ]
    last = in_repository(eras[-1])
    return case(*whens, else_=last) if whens else last


@dataclass(frozen=True)
class RunnerMinutes:
    """Jobs of one workflow on one SKU that each billed `minutes`."""

    workflow_id: int
    repository: str
    workflow: str
    sku: str
    minutes: int
    jobs: int
    cost_nanos: int
    reference_nanos: int


async def runner_minutes(
    session: AsyncSession, scope: Scope, period: Period, skus: Sequence[str], reference: Sequence[RateEra]
) -> list[RunnerMinutes]:
    """A histogram of billed minutes per workflow and SKU, with what they cost on the reference runner."""
    job = WorkflowJob
    columns = (*NAMES, job.sku, job.billable_minutes)
    statement = (
        _jobs_in(
            scope,
            period,
            *columns,
            func.count(),
            func.sum(job.cost_nanos),
            func.sum(job.billable_minutes * _minute_price(reference)),
        )
        .where(
            job.sku.in_(skus),
            job.price_source.in_(GITHUB_PRICED),
            job.cost_nanos > 0,
            job.completed_at >= reference[0].starts_at,
        )
        .group_by(*columns)
    )
    return [
        RunnerMinutes(row[0], row[1], row[2], row[3], int(row[4]), *(_int(v) for v in row[5:]))
        for row in await session.execute(statement)
    ]


@dataclass(frozen=True)
class PublicSavings:
    repository: str
    jobs: int
    minutes: int
    saved_nanos: int


async def public_repository_savings(
    session: AsyncSession, scope: Scope, period: Period
) -> list[PublicSavings]:
    """What standard runners would have cost in each public repository, had GitHub billed them."""
    job = WorkflowJob
    statement = (
        _jobs_in(
            scope,
            period,
            Repository.full_name,
            func.count(),
            func.sum(job.billable_minutes),
            func.sum(job.list_cost_nanos - job.cost_nanos),
        )
        .where(job.price_source == PriceSource.PUBLIC_REPO_FREE)
        .group_by(Repository.id, Repository.full_name)
    )
    return [PublicSavings(row[0], *(_int(v) for v in row[1:])) for row in await session.execute(statement)]
