"""Dashboard latency at scale; prints one JSON document on stdout (progress goes to stderr).

One organization (the demo's 8 repositories and 25 workflows) gets N jobs in N/10 runs over a year, written
directly in bulk (COPY on PostgreSQL) together with the rollups ingestion would have written for them
(`ci_hourly`, `ledger_hourly`, and `ci_daily` and `ci_org_hourly` summed from `ci_hourly`): each job and run
is priced with the real pricing code and contributes exactly what `cicosts.ci.deliveries.contributions` says
(a sample is checked against those functions, and the rollup totals against the raw rows). Then every
dashboard endpoint is called in-process (httpx ASGI transport) by a member of the organization, and its
latency percentiles are reported.

    .venv/bin/python bench/dashboard.py --jobs 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

import asyncpg
import httpx
from sqlalchemy import JSON, Column, MetaData, Table, Text, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from cicosts.app import create_app
from cicosts.ci.deliveries.contributions import (
    COMPLETED,
    UNKNOWN_SKU,
    job_ci_contribution,
    job_ledger_contribution,
    run_contribution,
)
from cicosts.ci.deliveries.repository import load_price_book
from cicosts.ci.pricing import JobPrice, PriceBook, billable_minutes, price_job
from cicosts.ci.runners import OrgRunnerRule, RunnerMatch, match_runner
from cicosts.ci.simulation import WorkflowSpec
from cicosts.config import Settings
from cicosts.db import create_engine, create_sessionmaker, transaction
from cicosts.demo import DEMO_ACCOUNT, demo_workflows
from cicosts.identity.tokens import create_access_token
from cicosts.kit.gc import tune_gc_for_serving
from cicosts.kit.periods import floor_hour, utc_now
from cicosts.ledger.rollups import Contribution
from cicosts.ledger.service import MICROS
from cicosts.models import (
    CIDaily,
    CIHourly,
    CIOrgHourly,
    LedgerHourly,
    Membership,
    Organization,
    Repository,
    RunnerMapping,
    User,
    Workflow,
    WorkflowJob,
    WorkflowRun,
)
from common import (
    asyncpg_params,
    bench_settings,
    database_version,
    default_database_url,
    emit,
    fresh_database,
    is_sqlite,
    latency_summary_ms,
    log,
    machine,
)

TARGET_P95_MS = 15.0
BATCH_JOBS = 200_000
CONTRIBUTION_SAMPLE = 500
TIME_ZONE = "America/New_York"
RUNNER_MAPPINGS = (("linux-8-core", "linux_8_core"), ("gpu-runner", "linux_4_core_gpu"))
GITHUB_ID_BASE = 8_000_000_000
FAILURE_RATE, CANCEL_RATE = 0.10, 0.04
WEEKEND_SHARE = 0.3
ONE_DAY = timedelta(days=1)
T = TypeVar("T")


class RunRow(NamedTuple):
    """One `workflow_runs` row, in column order."""

    id: int
    org_id: int
    repository_id: int
    workflow_id: int
    github_run_id: int
    name: str
    path: str
    event: str
    head_branch: str
    head_sha: str
    actor_login: str
    run_number: int
    run_attempt: int
    status: str
    conclusion: str | None
    html_url: str
    created_at: datetime
    run_started_at: datetime
    completed_at: datetime | None
    described: bool
    billable_minutes: int
    cost_nanos: int
    list_cost_nanos: int
    unpriced_jobs: int
    updated_at: datetime


class JobRow(NamedTuple):
    """One `workflow_jobs` row, in column order (labels as JSON text)."""

    id: int
    org_id: int
    repository_id: int
    workflow_id: int
    run_id: int
    github_job_id: int
    github_run_id: int
    run_attempt: int
    name: str
    head_branch: str
    labels: str
    runner_name: str
    runner_group_name: str
    status: str
    conclusion: str | None
    created_at: datetime
    started_at: datetime
    completed_at: datetime | None
    billable_minutes: int
    sku: str | None
    unit_price_nanos: int | None
    cost_nanos: int
    list_cost_nanos: int
    price_source: str | None
    unpriced: bool
    updated_at: datetime


CI_KEY = ("org_id", "hour", "repository_id", "workflow_id")
CI_JOB_MEASURES = ("cost_nanos", "list_cost_nanos", "billable_minutes", "jobs", "unpriced_jobs")
CI_RUN_MEASURES = ("runs", "completed_runs", "successful_runs", "run_seconds")
CI_MEASURES = CI_JOB_MEASURES + CI_RUN_MEASURES
LEDGER_KEY = ("org_id", "hour", "source", "provider", "service", "sub_account", "resource", "sku", "unit")
LEDGER_MEASURES = ("billed_nanos", "list_nanos", "quantity_micros", "record_count", "unpriced_count")

ENDPOINTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("/api/v1/dashboard/summary", {"days": "window"}),
    ("/api/v1/dashboard/trends", {"days": "window"}),
    ("/api/v1/dashboard/top-workflows", {"days": "window", "limit": 5}),
    ("/api/v1/dashboard/recent-runs", {"limit": 10}),
    ("/api/v1/dashboard/workflows", {"days": "window", "page": 1, "per_page": 20}),
    ("/api/v1/dashboard/workflows/summary", {"days": "window"}),
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--database-url", default=default_database_url())
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, help="default: jobs / 10")
    parser.add_argument("--days", type=int, default=365, help="days of history loaded, ending now")
    parser.add_argument("--window", type=int, default=30, help="the endpoints' `days` parameter")
    parser.add_argument("--requests", type=int, default=200, help="measured requests per endpoint")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests per endpoint first")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-load", action="store_true", help="measure the data an earlier run loaded")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="time limit of the measuring")
    parser.add_argument("--allow-reset", action="store_true", help="empty a database not named *bench*")
    args = parser.parse_args()
    args.runs = args.runs or max(args.jobs // 10, 1)
    if args.jobs < args.runs or min(args.runs, args.days, args.window, args.requests) < 1:
        parser.error("need --jobs >= --runs >= 1 and positive --days, --window and --requests")
    return args


# --- the organization and its catalogue ---------------------------------------------------------------


@dataclass(frozen=True)
class JobPlan:
    name: str
    labels_json: str
    log_mean_minutes: float
    runner_group: str
    match: RunnerMatch


@dataclass
class WorkflowPlan:
    id: int
    repository_id: int
    repository_full_name: str
    private: bool
    name: str
    path: str
    runs_per_day: float
    jobs: list[JobPlan]
    last_run_at: datetime | None = None
    last_run_status: str | None = None


@dataclass(frozen=True)
class Catalogue:
    org_id: int
    user_id: int
    workflows: list[WorkflowPlan]
    prices: PriceBook


def job_plans(spec: WorkflowSpec, rules: dict[str, OrgRunnerRule]) -> list[JobPlan]:
    return [
        JobPlan(
            name=job.name,
            labels_json=json.dumps(list(job.labels)),
            log_mean_minutes=math.log(job.mean_minutes),
            runner_group=job.runner_group,
            match=match_runner(list(job.labels), job.runner_group, rules, {}),
        )
        for job in spec.jobs
    ]


async def add_repository(session: AsyncSession, org_id: int, spec: WorkflowSpec) -> Repository:
    data = spec.repo.payload()
    repository = Repository(
        github_repository_id=spec.repo.id,
        org_id=org_id,
        name=data["name"],
        full_name=data["full_name"],
        private=spec.repo.private,
    )
    session.add(repository)
    await session.flush()
    return repository


async def create_catalogue(session: AsyncSession) -> Catalogue:
    """The organization, a member, its runner mappings, repositories and workflows (through the ORM)."""
    org = Organization(
        github_account_id=DEMO_ACCOUNT.id, login=DEMO_ACCOUNT.login, name="Acme (bench)", time_zone=TIME_ZONE
    )
    user = User(github_id=70_000_001, github_login="bench-member", name="Bench Member")
    session.add_all([org, user])
    await session.flush()
    session.add(Membership(org_id=org.id, user_id=user.id, role="member"))
    for label, sku in RUNNER_MAPPINGS:
        session.add(RunnerMapping(org_id=org.id, match_kind="label", match_value=label, sku=sku))
    rules = {label: OrgRunnerRule(sku, None) for label, sku in RUNNER_MAPPINGS}
    repositories: dict[int, Repository] = {}
    plans = []
    for spec in demo_workflows():
        if spec.repo.id not in repositories:
            repositories[spec.repo.id] = await add_repository(session, org.id, spec)
        repository = repositories[spec.repo.id]
        workflow = Workflow(
            org_id=org.id,
            repository_id=repository.id,
            name=spec.name,
            path=spec.path,
            github_workflow_id=spec.id,
        )
        session.add(workflow)
        await session.flush()
        plans.append(
            WorkflowPlan(
                id=workflow.id,
                repository_id=repository.id,
                repository_full_name=repository.full_name,
                private=repository.private,
                name=spec.name,
                path=spec.path,
                runs_per_day=spec.runs_per_day,
                jobs=job_plans(spec, rules),
            )
        )
    return Catalogue(org.id, user.id, plans, await load_price_book(session))


# --- what each job and run adds to the rollups (as cicosts.ci.deliveries.contributions says) ----------

Key = tuple[Any, ...]
Measures = tuple[int, ...]


def job_rollups(job: JobRow, workflow: WorkflowPlan) -> tuple[Key, Measures, Key, Measures] | None:
    """(ci_hourly key, measures, ledger_hourly key, measures) of a job; nothing until it has completed."""
    if job.status != COMPLETED or job.completed_at is None:
        return None
    hour = floor_hour(job.completed_at)
    unpriced = int(job.unpriced)
    ledger_key = (job.org_id, hour, "ci", "GitHub", "GitHub Actions", workflow.repository_full_name)
    return (
        (job.org_id, hour, job.repository_id, job.workflow_id),
        (job.cost_nanos, job.list_cost_nanos, job.billable_minutes, 1, unpriced),
        (*ledger_key, workflow.name, job.sku or UNKNOWN_SKU, "minutes"),
        (job.cost_nanos, job.list_cost_nanos, job.billable_minutes * MICROS, 1, unpriced),
    )


def run_rollups(run: RunRow) -> tuple[Key, Measures]:
    """(ci_hourly key, measures) of a run: counted once, in the hour it was created."""
    completed = run.status == COMPLETED
    seconds = 0
    if completed and run.completed_at is not None:
        seconds = max(int((run.completed_at - run.run_started_at).total_seconds()), 0)
    return (
        (run.org_id, floor_hour(run.created_at), run.repository_id, run.workflow_id),
        (1, int(completed), int(completed and run.conclusion == "success"), seconds),
    )


def named(contribution: Contribution | None, keys: Sequence[str], measures: Sequence[str]) -> Any:
    if contribution is None:
        return None
    key = dict(contribution.key)
    if set(key) != set(keys) or set(contribution.measures) != set(measures):
        raise AssertionError(
            f"ingestion's rollup columns changed: {sorted(key)}, {sorted(contribution.measures)}"
        )
    return tuple(key[name] for name in keys), tuple(contribution.measures[name] for name in measures)


def check_against_ingestion(jobs: Sequence[JobRow], runs: Sequence[RunRow], catalogue: Catalogue) -> None:
    """What this loader adds to the rollups must be what ingestion's own contribution functions add."""
    plans = {plan.id: plan for plan in catalogue.workflows}
    for row in jobs:
        plan = plans[row.workflow_id]
        job = WorkflowJob(**row._asdict())
        ci = named(job_ci_contribution(job), CI_KEY, CI_JOB_MEASURES)
        ledger = named(
            job_ledger_contribution(
                job, Repository(full_name=plan.repository_full_name), Workflow(name=plan.name)
            ),
            LEDGER_KEY,
            LEDGER_MEASURES,
        )
        theirs = (*ci, *ledger) if ci and ledger else None
        if job_rollups(row, plan) != theirs:
            raise AssertionError(f"job {row.id}: {job_rollups(row, plan)} != ingestion's {theirs}")
    for row in runs:
        theirs_run = named(run_contribution(WorkflowRun(**row._asdict())), CI_KEY, CI_RUN_MEASURES)
        if run_rollups(row) != theirs_run:
            raise AssertionError(f"run {row.id}: {run_rollups(row)} != ingestion's {theirs_run}")


# --- generating runs and jobs ---------------------------------------------------------------------------


@dataclass
class Totals:
    runs: int = 0
    jobs: int = 0
    completed_jobs: int = 0
    cost_nanos: int = 0
    run_seconds: int = 0


@dataclass
class Generator:
    """Runs in creation order (ids grow with time, as in ingestion), each with its jobs and rollups."""

    catalogue: Catalogue
    runs: int
    jobs: int
    start: datetime
    now: datetime
    rng: random.Random
    ci: dict[Key, list[int]] = field(default_factory=dict)
    ledger: dict[Key, list[int]] = field(default_factory=dict)
    totals: Totals = field(default_factory=Totals)

    def runs_per_day(self) -> list[tuple[datetime, int]]:
        """Each day of the period with its number of runs (weekends are quieter)."""
        days = [self.start + timedelta(days=i) for i in range(math.ceil((self.now - self.start) / ONE_DAY))]
        weights = [WEEKEND_SHARE if day.weekday() >= 5 else 1.0 for day in days]
        total = sum(weights)
        counts = [int(self.runs * weight / total) for weight in weights]
        for index in range(self.runs - sum(counts)):
            counts[index % len(counts)] += 1
        return list(zip(days, counts, strict=True))

    def batches(self) -> Iterator[tuple[list[RunRow], list[JobRow]]]:
        """(runs, jobs) in batches of about BATCH_JOBS jobs."""
        plans = self.catalogue.workflows
        weights = [plan.runs_per_day for plan in plans]
        run_numbers = dict.fromkeys((plan.id for plan in plans), 0)
        runs: list[RunRow] = []
        jobs: list[JobRow] = []
        for day, count in self.runs_per_day():
            seconds = max(min(86_400, int((self.now - day).total_seconds())), 1)
            offsets = sorted(self.rng.randrange(seconds) for _ in range(count))
            for offset, plan in zip(offsets, self.rng.choices(plans, weights, k=count), strict=True):
                run_numbers[plan.id] += 1
                self.add_run(plan, run_numbers[plan.id], day + timedelta(seconds=offset), runs, jobs)
                if len(jobs) >= BATCH_JOBS:
                    yield runs, jobs
                    runs, jobs = [], []
        if runs:
            yield runs, jobs

    def add_run(
        self, plan: WorkflowPlan, number: int, created: datetime, runs: list[RunRow], jobs: list[JobRow]
    ) -> None:
        run_id = self.totals.runs + 1
        started = created + timedelta(seconds=self.rng.randint(2, 40))
        roll = self.rng.random()
        conclusion = (
            "failure"
            if roll < FAILURE_RATE
            else "cancelled"
            if roll < FAILURE_RATE + CANCEL_RATE
            else "success"
        )
        base, extra = divmod(self.jobs, self.runs)
        count = base + (1 if self.totals.runs < extra else 0)
        own = [self.job_row(plan, run_id, index, count, started, conclusion) for index in range(count)]
        jobs.extend(own)
        done = all(job.completed_at is not None for job in own)
        finished = max(job.completed_at or started for job in own) if done else None
        run = RunRow(
            id=run_id,
            org_id=self.catalogue.org_id,
            repository_id=plan.repository_id,
            workflow_id=plan.id,
            github_run_id=GITHUB_ID_BASE + run_id,
            name=plan.name,
            path=plan.path,
            event="push",
            head_branch="main",
            head_sha=f"{run_id:040x}",
            actor_login="octocat",
            run_number=number,
            run_attempt=1,
            status=COMPLETED if done else "in_progress",
            conclusion=conclusion if done else None,
            html_url=f"https://github.com/{plan.repository_full_name}/actions/runs/{GITHUB_ID_BASE + run_id}",
            created_at=created,
            run_started_at=started,
            completed_at=finished,
            described=True,
            billable_minutes=sum(job.billable_minutes for job in own),
            cost_nanos=sum(job.cost_nanos for job in own),
            list_cost_nanos=sum(job.list_cost_nanos for job in own),
            unpriced_jobs=sum(job.unpriced for job in own),
            updated_at=finished or started,
        )
        runs.append(run)
        self.totals.runs += 1
        key, measures = run_rollups(run)
        self.add(self.ci, key, measures, len(CI_MEASURES), offset=len(CI_JOB_MEASURES))
        self.totals.run_seconds += measures[-1]
        plan.last_run_at, plan.last_run_status = created, run.conclusion or run.status

    def job_row(
        self, plan: WorkflowPlan, run_id: int, index: int, count: int, started: datetime, conclusion: str
    ) -> JobRow:
        """A job of a run: completed and priced if it ended before now, in progress otherwise."""
        spec = plan.jobs[index % len(plan.jobs)]
        job_start = started + timedelta(seconds=self.rng.randint(3, 90))
        minutes = max(self.rng.lognormvariate(spec.log_mean_minutes, 0.35), 0.05)
        job_end = job_start + timedelta(seconds=int(minutes * 60))
        price = self.price(spec.match, plan, job_start, job_end) if job_end < self.now else None
        self.totals.jobs += 1
        job_id = self.totals.jobs
        job = JobRow(
            id=job_id,
            org_id=self.catalogue.org_id,
            repository_id=plan.repository_id,
            workflow_id=plan.id,
            run_id=run_id,
            github_job_id=GITHUB_ID_BASE + job_id,
            github_run_id=GITHUB_ID_BASE + run_id,
            run_attempt=1,
            name=spec.name if count <= len(plan.jobs) else f"{spec.name} ({index + 1})",
            head_branch="main",
            labels=spec.labels_json,
            runner_name=f"runner-{job_id % 40}",
            runner_group_name=spec.runner_group,
            status=COMPLETED if price else "in_progress",
            conclusion=(conclusion if index == count - 1 else "success") if price else None,
            created_at=started,
            started_at=job_start,
            completed_at=job_end if price else None,
            billable_minutes=price.billable_minutes if price else 0,
            sku=spec.match.sku,
            unit_price_nanos=price.unit_price_nanos if price else None,
            cost_nanos=price.cost_nanos if price else 0,
            list_cost_nanos=price.list_cost_nanos if price else 0,
            price_source=price.price_source if price else None,
            unpriced=price.unpriced if price else False,
            updated_at=job_end if price else job_start,
        )
        if price:
            self.count_completed(job, plan)
        return job

    def price(
        self, match: RunnerMatch, plan: WorkflowPlan, started: datetime, completed: datetime
    ) -> JobPrice:
        return price_job(
            match=match,
            minutes=billable_minutes(started, completed),
            completed_at=completed,
            private_repository=plan.private,
            prices=self.catalogue.prices,
            self_hosted_nanos_per_minute=0,
        )

    def count_completed(self, job: JobRow, plan: WorkflowPlan) -> None:
        rollups = job_rollups(job, plan)
        assert rollups is not None
        self.add(self.ci, rollups[0], rollups[1], len(CI_MEASURES))
        self.add(self.ledger, rollups[2], rollups[3], len(LEDGER_MEASURES))
        self.totals.completed_jobs += 1
        self.totals.cost_nanos += job.cost_nanos

    @staticmethod
    def add(rollup: dict[Key, list[int]], key: Key, measures: Measures, width: int, offset: int = 0) -> None:
        entry = rollup.get(key)
        if entry is None:
            entry = rollup[key] = [0] * width
        for position, value in enumerate(measures, start=offset):
            entry[position] += value


# --- writing rows in bulk -----------------------------------------------------------------------------


def bulk_columns(table: Table, columns: Sequence[str]) -> None:
    """Bulk rows bypass the ORM's defaults: every NOT NULL column must be given, and only real ones."""
    unknown = [name for name in columns if name not in table.c]
    missing = [
        column.name
        for column in table.columns
        if not column.nullable and column.name not in columns and column.server_default is None
    ]
    if unknown or missing:
        raise SystemExit(f"{table.name}: the loader writes unknown columns {unknown}, misses {missing}")


def json_as_text(table: Table) -> Table:
    """The table with its JSON columns typed as text: bulk rows carry JSON text already."""
    columns = (Column(c.name, Text if isinstance(c.type, JSON) else c.type) for c in table.columns)
    return Table(table.name, MetaData(), *columns)


class Sink:
    """COPY on PostgreSQL (asyncpg), executemany through SQLAlchemy on SQLite."""

    def __init__(self, database_url: str, engine: AsyncEngine) -> None:
        self.database_url = database_url
        self.engine = engine
        self.copy_connection: asyncpg.Connection | None = None
        self.sqlite_connection: AsyncConnection | None = None
        self.foreign_key_triggers = True

    async def __aenter__(self) -> Sink:
        if is_sqlite(self.database_url):
            self.sqlite_connection = await self.engine.connect()
            return self
        self.copy_connection = await asyncpg.connect(**asyncpg_params(make_url(self.database_url)))
        # Foreign-key triggers make COPY about five times slower. The loader writes only ids it has just
        # created, and `database_totals` counts orphans afterwards. Needs a superuser; skipped otherwise.
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
            await self.copy_connection.execute("SET session_replication_role = replica")
            self.foreign_key_triggers = False
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.copy_connection is not None:
            await self.copy_connection.close()
        if self.sqlite_connection is not None:
            await self.sqlite_connection.close()

    async def write(self, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self.copy_connection is not None:
            await self.copy_connection.copy_records_to_table(table.name, records=rows, columns=list(columns))
            return
        assert self.sqlite_connection is not None
        await self.sqlite_connection.execute(
            insert(json_as_text(table)), [dict(zip(columns, row, strict=True)) for row in rows]
        )
        await self.sqlite_connection.commit()


def rollup_rows(rollup: dict[Key, list[int]]) -> list[tuple[Any, ...]]:
    """(id, *key, *measures) rows, in key order."""
    return [
        (row_id, *key, *measures) for row_id, (key, measures) in enumerate(sorted(rollup.items()), start=1)
    ]


async def reset_sequences(engine: AsyncEngine, tables: Sequence[Table]) -> None:
    """Rows were written with explicit ids: move PostgreSQL's id sequences past them."""
    if engine.dialect.name != "postgresql":
        return
    async with engine.begin() as connection:
        for table in tables:
            sequence = func.pg_get_serial_sequence(table.name, "id")
            await connection.execute(
                select(func.setval(sequence, select(func.max(table.c.id)).scalar_subquery()))
            )


async def note_last_runs(session: AsyncSession, catalogue: Catalogue) -> None:
    for plan in catalogue.workflows:
        workflow = await session.get(Workflow, plan.id)
        assert workflow is not None
        workflow.last_run_at = plan.last_run_at
        workflow.last_run_status = plan.last_run_status


async def built_in_background(batches: Iterator[T]) -> AsyncIterator[T]:
    """Builds the next batch in a thread while the caller writes this one (the database works meanwhile)."""
    upcoming = asyncio.create_task(asyncio.to_thread(next, batches, None))
    while (batch := await upcoming) is not None:
        upcoming = asyncio.create_task(asyncio.to_thread(next, batches, None))
        yield batch


@dataclass
class Loaded:
    catalogue: Catalogue
    totals: Totals
    seconds: dict[str, float]
    foreign_key_triggers: bool


async def load(options: argparse.Namespace, engine: AsyncEngine) -> Loaded:
    runs_table, jobs_table = WorkflowRun.__table__, WorkflowJob.__table__
    ci_table, ledger_table = CIHourly.__table__, LedgerHourly.__table__
    bulk_columns(runs_table, RunRow._fields)
    bulk_columns(jobs_table, JobRow._fields)
    bulk_columns(ci_table, ("id", *CI_KEY, *CI_MEASURES))
    bulk_columns(ledger_table, ("id", *LEDGER_KEY, *LEDGER_MEASURES))
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    sessionmaker = create_sessionmaker(engine)
    async with transaction(sessionmaker) as session:
        catalogue = await create_catalogue(session)
    now = utc_now()
    generator = Generator(
        catalogue,
        options.runs,
        options.jobs,
        now - timedelta(days=options.days),
        now,
        random.Random(options.seed),
    )
    async with Sink(options.database_url, engine) as sink:
        first = True
        async for runs, jobs in built_in_background(generator.batches()):
            if first:
                check_against_ingestion(jobs[:CONTRIBUTION_SAMPLE], runs[:CONTRIBUTION_SAMPLE], catalogue)
                first = False
            await sink.write(runs_table, RunRow._fields, runs)
            await sink.write(jobs_table, JobRow._fields, jobs)
            log(f"loaded {jobs[-1].id:,} jobs, {runs[-1].id:,} runs")
        seconds["raw_rows"] = time.perf_counter() - started
        await sink.write(ci_table, ("id", *CI_KEY, *CI_MEASURES), rollup_rows(generator.ci))
        await sink.write(ledger_table, ("id", *LEDGER_KEY, *LEDGER_MEASURES), rollup_rows(generator.ledger))
    async with transaction(sessionmaker) as session:
        await note_last_runs(session, catalogue)
        await derive_rollups(session)
    await reset_sequences(engine, [runs_table, jobs_table, ci_table, ledger_table])
    seconds["rows_and_rollups"] = time.perf_counter() - started
    started = time.perf_counter()
    await analyze(engine)
    seconds["vacuum_analyze"] = time.perf_counter() - started
    seconds = {name: round(value, 1) for name, value in seconds.items()}
    return Loaded(catalogue, generator.totals, seconds, sink.foreign_key_triggers)


async def derive_rollups(session: AsyncSession) -> None:
    """`ci_daily` and `ci_org_hourly` hold the same sums as `ci_hourly` by UTC day and by organization."""
    measures = ", ".join(CI_MEASURES)
    sums = ", ".join(f"SUM({name})" for name in CI_MEASURES)
    day = (
        "(hour AT TIME ZONE 'UTC')::date" if session.get_bind().dialect.name == "postgresql" else "date(hour)"
    )
    await session.execute(
        text(
            f"INSERT INTO ci_daily (org_id, day, repository_id, workflow_id, {measures}) "
            f"SELECT org_id, {day}, repository_id, workflow_id, {sums} FROM ci_hourly "
            f"GROUP BY org_id, {day}, repository_id, workflow_id"
        )
    )
    await session.execute(
        text(
            f"INSERT INTO ci_org_hourly (org_id, hour, {measures}) "
            f"SELECT org_id, hour, {sums} FROM ci_hourly GROUP BY org_id, hour"
        )
    )


async def analyze(engine: AsyncEngine) -> None:
    """What autovacuum would soon do on its own: planner statistics and the visibility map."""
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM (ANALYZE)"))
    else:
        async with engine.begin() as connection:
            await connection.execute(text("ANALYZE"))


# --- checking what was loaded ----------------------------------------------------------------------------


async def database_totals(session: AsyncSession) -> dict[str, int]:
    completed = WorkflowJob.status == COMPLETED
    queries: dict[str, Any] = {
        "workflow_runs": select(func.count()).select_from(WorkflowRun),
        "workflow_jobs": select(func.count()).select_from(WorkflowJob),
        "completed_jobs": select(func.count()).where(completed),
        "jobs_cost_nanos": select(func.coalesce(func.sum(WorkflowJob.cost_nanos), 0)).where(completed),
        "runs_cost_nanos": select(func.coalesce(func.sum(WorkflowRun.cost_nanos), 0)),
        "ci_hourly_rows": select(func.count()).select_from(CIHourly),
        "ci_jobs": select(func.coalesce(func.sum(CIHourly.jobs), 0)),
        "ci_cost_nanos": select(func.coalesce(func.sum(CIHourly.cost_nanos), 0)),
        "ci_runs": select(func.coalesce(func.sum(CIHourly.runs), 0)),
        "ci_run_seconds": select(func.coalesce(func.sum(CIHourly.run_seconds), 0)),
        "ci_daily_rows": select(func.count()).select_from(CIDaily),
        "ci_daily_cost_nanos": select(func.coalesce(func.sum(CIDaily.cost_nanos), 0)),
        "ci_daily_runs": select(func.coalesce(func.sum(CIDaily.runs), 0)),
        "ci_org_hourly_rows": select(func.count()).select_from(CIOrgHourly),
        "ci_org_hourly_cost_nanos": select(func.coalesce(func.sum(CIOrgHourly.cost_nanos), 0)),
        "ci_org_hourly_runs": select(func.coalesce(func.sum(CIOrgHourly.runs), 0)),
        "ledger_hourly_rows": select(func.count()).select_from(LedgerHourly),
        "ledger_records": select(func.coalesce(func.sum(LedgerHourly.record_count), 0)),
        "ledger_billed_nanos": select(func.coalesce(func.sum(LedgerHourly.billed_nanos), 0)),
        "jobs_without_run": select(func.count())
        .select_from(WorkflowJob)
        .outerjoin(WorkflowRun, WorkflowRun.id == WorkflowJob.run_id)
        .where(WorkflowRun.id.is_(None)),
        "runs_without_workflow": select(func.count())
        .select_from(WorkflowRun)
        .outerjoin(Workflow, Workflow.id == WorkflowRun.workflow_id)
        .where(Workflow.id.is_(None)),
    }
    return {name: int(await session.scalar(query) or 0) for name, query in queries.items()}


def consistent(db: dict[str, int], totals: Totals) -> bool:
    """Raw rows as generated, and rollups that add up to them."""
    return (
        (db["workflow_runs"], db["workflow_jobs"], db["completed_jobs"])
        == (totals.runs, totals.jobs, totals.completed_jobs)
        and db["jobs_cost_nanos"] == db["runs_cost_nanos"] == db["ci_cost_nanos"] == db["ledger_billed_nanos"]
        and db["jobs_cost_nanos"] == totals.cost_nanos
        and db["ci_jobs"] == db["ledger_records"] == db["completed_jobs"]
        and db["ci_runs"] == db["ci_daily_runs"] == db["ci_org_hourly_runs"] == db["workflow_runs"]
        and db["ci_cost_nanos"] == db["ci_daily_cost_nanos"] == db["ci_org_hourly_cost_nanos"]
        and db["ci_run_seconds"] == totals.run_seconds
        and db["jobs_without_run"] == db["runs_without_workflow"] == 0
    )


# --- measuring ---------------------------------------------------------------------------------------------


async def member_of_loaded_org(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as connection:
        row = (await connection.execute(select(Membership.org_id, Membership.user_id).limit(1))).first()
    if row is None:
        raise SystemExit("no data: run without --no-load first")
    return int(row[0]), int(row[1])


def endpoint_params(template: dict[str, Any], org_id: int, window: int) -> dict[str, Any]:
    return {
        "org_id": org_id,
        **{name: window if value == "window" else value for name, value in template.items()},
    }


async def time_endpoint(
    client: httpx.AsyncClient, path: str, params: dict[str, Any], options: argparse.Namespace, deadline: float
) -> dict[str, Any]:
    latencies: list[float] = []
    for index in range(options.warmup + options.requests):
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        response = await client.get(path, params=params)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text[:300]}")
        if index >= options.warmup:
            latencies.append(elapsed)
    summary: dict[str, Any] = {"requests": len(latencies), "latency_ms": latency_summary_ms(latencies)}
    summary["within_target"] = summary["latency_ms"]["p95"] <= TARGET_P95_MS
    return summary


async def measure(
    options: argparse.Namespace, settings: Settings, org_id: int, user_id: int
) -> dict[str, Any]:
    app = create_app(settings)
    tune_gc_for_serving()  # as `cicosts api` does once its app is built
    token = create_access_token(user_id, settings, timedelta(hours=2))
    transport = httpx.ASGITransport(app=app)
    deadline = time.monotonic() + options.max_seconds
    results: dict[str, Any] = {}
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers={"Authorization": f"Bearer {token}"}
        ) as client:
            for path, template in ENDPOINTS:
                params = endpoint_params(template, org_id, options.window)
                log(f"measuring GET {path}")
                results[path] = await time_endpoint(client, path, params, options, deadline)
            summary = await client.get(
                ENDPOINTS[0][0], params=endpoint_params(ENDPOINTS[0][1], org_id, options.window)
            )
            results[ENDPOINTS[0][0]]["answer"] = summary.json()
    finally:
        await app.state.engine.dispose()
    return results


async def loaded_organization(
    options: argparse.Namespace, settings: Settings, result: dict[str, Any]
) -> tuple[int, int]:
    """Loads the organization unless `--no-load`, checks the rollups against the rows, and names a member:
    (organization id, user id). What it did goes into `result`."""
    if not options.no_load:
        await fresh_database(options.database_url, allow_reset=options.allow_reset)
    engine = create_engine(settings)
    try:
        result["database"] = await database_version(engine)
        if not options.no_load:
            log(f"loading {options.jobs:,} jobs in {options.runs:,} runs over {options.days} days")
            loaded = await load(options, engine)
            result["load_seconds"] = loaded.seconds
            result["foreign_key_triggers_during_copy"] = loaded.foreign_key_triggers
        async with transaction(create_sessionmaker(engine)) as session:
            totals = await database_totals(session)
        result["rows"] = totals
        if not options.no_load:
            result["rows_match_rollups"] = consistent(totals, loaded.totals)
        return await member_of_loaded_org(engine)
    finally:
        await engine.dispose()


async def main() -> None:
    options = parse_args()
    result: dict[str, Any] = {"benchmark": "dashboard", "machine": machine()}
    settings = bench_settings(options.database_url)
    org_id, user_id = await loaded_organization(options, settings, result)
    result["window_days"] = options.window
    result["target_p95_ms"] = TARGET_P95_MS
    result["endpoints"] = await measure(options, settings, org_id, user_id)
    result["all_within_target"] = all(item["within_target"] for item in result["endpoints"].values())
    emit(result)


if __name__ == "__main__":
    asyncio.run(main())
