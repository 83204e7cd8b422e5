"""CI cost exports: the request checked and resolved before any byte is sent, then its rows as they stream.

Totals agree with /v1/costs for the same range: a job's cost counts on the local date (the organization's time
zone) it completed, a run on the local date it was created. `daily` and `summary` read the hourly rollup
(`ci_hourly`) that /v1/costs reads; `per-job` reads the raw jobs, `per-run` the runs with their totals.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.ci.costs.service import narrowed_to
from cicosts.ci.dashboard.service import view_of
from cicosts.ci.exports import copy, encoding, repository
from cicosts.ci.exports.encoding import Record, usd
from cicosts.ci.exports.repository import Filter, FoundRow, Statement
from cicosts.ci.exports.schemas import COLUMNS, ExportFormat, ExportGranularity
from cicosts.config import Settings
from cicosts.errors import BadRequest
from cicosts.kit.date_range import DateRange, date_range
from cicosts.kit.envelope import Meta
from cicosts.kit.periods import local_midnight, local_today, zone
from cicosts.models import Organization

YIELD_PER = 5000  # rows fetched per round trip, and the most held in memory at once
# Prices and costs repeat (a few SKUs, whole minutes): each distinct amount is formatted once, not per row.
money = lru_cache(maxsize=4096)(usd)


@dataclass(frozen=True)
class Export:
    """One export, resolved while the request's session is open: nothing in it needs the database again."""

    organization: str
    granularity: ExportGranularity
    export_format: ExportFormat
    dates: DateRange
    tz: ZoneInfo
    where: Filter

    @property
    def columns(self) -> tuple[str, ...]:
        return COLUMNS[self.granularity]

    @property
    def filename(self) -> str:
        return (
            f"cicosts-{self.organization}-{self.granularity.value}-"
            f"{self.dates.start}-{self.dates.end}.{self.export_format.value}"
        )

    def head(self, now: datetime) -> dict[str, Any]:
        """Everything the JSON document says before its rows."""
        capped = self.dates.capped
        return {
            "export_date": timestamp(now),
            "organization": self.organization,
            "granularity": self.granularity.value,
            "currency": "USD",
            "date_range": {
                "start": self.dates.start.isoformat(),
                "end": self.dates.end.isoformat(),
                "time_zone": self.tz.key,
                "capped": capped.model_dump(mode="json") if capped is not None else None,
            },
        }


async def prepare(
    session: AsyncSession,
    organization: Organization,
    settings: Settings,
    *,
    start: date | None,
    end: date | None,
    granularity: ExportGranularity,
    export_format: ExportFormat,
    repo: str | None,
    now: datetime,
) -> Export:
    """Refuses a bad request while it can still get an error status: streaming starts only after this."""
    if start is None:
        raise BadRequest("start_date is required")
    if end is None:
        raise BadRequest("end_date is required")
    view = await view_of(session, organization, settings)
    tz = zone(organization.time_zone)
    dates = date_range(start, end, today=local_today(tz, now), default_days=1, max_history_days=view.max_days)
    repositories, _ = await narrowed_to(session, organization.id, repo, None)  # as /v1/costs reads `repo`
    where = Filter(view.scope, dates.period(tz), tuple(repositories) if repositories is not None else None)
    return Export(organization.login, granularity, export_format, dates, tz, where)


def timestamp(value: datetime) -> str:
    """ISO 8601 UTC to the second, as GitHub writes it (and `repository.utc_text`): 2026-03-10T04:50:00Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LocalDates:
    """The local date of UTC timestamps (`timestamp` text) that come in order. Fixed-width UTC text sorts as
    time does, so a row costs a string comparison; only a new day costs a time-zone conversion."""

    def __init__(self, tz: ZoneInfo) -> None:
        self._tz = tz
        self._start, self._end, self._label = "~", "", ""  # an empty window: the first row computes its day

    def __call__(self, instant: str) -> str:
        if not self._start <= instant < self._end:
            day = datetime.fromisoformat(instant).astimezone(self._tz).date()
            self._start = timestamp(local_midnight(day, self._tz))
            self._end = timestamp(local_midnight(day + timedelta(days=1), self._tz))
            self._label = day.isoformat()
        return self._label


def average(nanos: int, count: int) -> str | None:
    """To the nearest nanodollar (ties to even); none without runs: a day may bill jobs of earlier runs."""
    if count == 0:
        return None
    quotient, remainder = divmod(nanos, count)
    if 2 * remainder > count or (2 * remainder == count and quotient % 2 == 1):
        quotient += 1
    return usd(quotient)


def _totals(repo: str, workflow: str, runs: int, cost: int) -> Record:
    return (repo, workflow, runs, money(cost), average(cost, runs))


def _job(row: FoundRow, date_of: LocalDates) -> Record:
    (
        completed,
        repo,
        workflow,
        job_id,
        github_job,
        run_id,
        github_run,
        name,
        attempt,
        status,
        conclusion,
        started,
        runner,
        group,
        labels,
        sku,
        minutes,
        unit_price,
        cost,
        list_cost,
        price_source,
        unpriced,
    ) = row
    return (
        date_of(completed),
        repo,
        workflow,
        job_id,
        github_job,
        run_id,
        github_run,
        name,
        attempt,
        status,
        conclusion,
        started,
        completed,
        runner,
        group,
        labels or [],
        sku,
        minutes,
        money(unit_price) if unit_price is not None else None,
        money(cost),
        money(list_cost),
        price_source,
        bool(unpriced),
    )


def _run(row: FoundRow, date_of: LocalDates) -> Record:
    (
        created,
        repo,
        workflow,
        run_id,
        github_run,
        number,
        attempt,
        event,
        branch,
        actor,
        status,
        conclusion,
        started,
        completed,
        minutes,
        cost,
        list_cost,
        unpriced_jobs,
    ) = row
    return (
        date_of(created),
        repo,
        workflow,
        run_id,
        github_run,
        number,
        attempt,
        event,
        branch,
        actor,
        status,
        conclusion,
        created,
        started,
        completed,
        minutes,
        money(cost),
        money(list_cost),
        unpriced_jobs,
    )


async def _partitions(session: AsyncSession, statement: Statement) -> AsyncIterator[Sequence[FoundRow]]:
    """A server-side cursor read `YIELD_PER` rows at a time: the result is never whole in memory."""
    result = await session.stream(statement.execution_options(yield_per=YIELD_PER))
    async for partition in result.partitions():
        yield partition


Producer = Callable[[AsyncSession, Export], AsyncIterator[Sequence[Record]]]


async def _jobs(session: AsyncSession, export: Export) -> AsyncIterator[Sequence[Record]]:
    date_of = LocalDates(export.tz)
    async for partition in _partitions(session, repository.jobs(export.where)):
        yield [_job(row, date_of) for row in partition]


async def _runs(session: AsyncSession, export: Export) -> AsyncIterator[Sequence[Record]]:
    date_of = LocalDates(export.tz)
    async for partition in _partitions(session, repository.runs(export.where)):
        yield [_run(row, date_of) for row in partition]


async def _summary(session: AsyncSession, export: Export) -> AsyncIterator[Sequence[Record]]:
    async for partition in _partitions(session, repository.per_workflow(export.where)):
        yield [_totals(repo, workflow, int(runs), int(cost)) for repo, workflow, runs, cost in partition]


WorkflowKey = tuple[str, str, int]


def _day(day: str, totals: dict[WorkflowKey, list[int]]) -> list[Record]:
    return [(day, *_totals(key[0], key[1], *totals[key])) for key in sorted(totals)]


async def _daily(session: AsyncSession, export: Export) -> AsyncIterator[Sequence[Record]]:
    """Hour rows come in order, so each local date is whole once the next begins: memory holds one day's
    workflows. Each hour is converted on its own: exact in any time zone that moves by whole hours."""
    date_of = LocalDates(export.tz)
    day, totals = "", dict[WorkflowKey, list[int]]()
    async for partition in _partitions(session, repository.hourly(export.where)):
        finished: list[Record] = []
        for hour, repo, workflow, workflow_id, runs, cost in partition:
            label = date_of(hour)
            if label != day:
                finished += _day(day, totals)
                day, totals = label, {}
            sums = totals.setdefault((repo, workflow, workflow_id), [0, 0])
            sums[0] += runs
            sums[1] += cost
        yield finished
    yield _day(day, totals)


PRODUCERS: dict[ExportGranularity, Producer] = {
    ExportGranularity.SUMMARY: _summary,
    ExportGranularity.DAILY: _daily,
    ExportGranularity.PER_RUN: _runs,
    ExportGranularity.PER_JOB: _jobs,
}


async def rows(
    sessionmaker: async_sessionmaker[AsyncSession], export: Export
) -> AsyncIterator[Sequence[Record]]:
    """The export's rows in batches, read in a session of its own: the request's session is closed by the time
    a response body streams. Read only; nothing is ever committed."""
    async with sessionmaker() as session:
        async for batch in PRODUCERS[export.granularity](session, export):
            yield batch


async def count(session: AsyncSession, export: Export) -> int | None:
    """How many rows the export will have (for a progress bar); None for daily, grouped as it streams."""
    statements = {
        ExportGranularity.SUMMARY: repository.per_workflow,
        ExportGranularity.PER_RUN: repository.runs,
        ExportGranularity.PER_JOB: repository.jobs,
    }
    build = statements.get(export.granularity)
    return await repository.count(session, build(export.where)) if build is not None else None


def encoded(
    export: Export, batches: AsyncIterator[Sequence[Record]], now: datetime, request_id: str
) -> AsyncIterator[bytes]:
    """The export's bytes as Python writes them. JSON ends with the public API's `meta` (request id, time,
    capped range)."""
    meta = Meta(request_id=request_id, timestamp=now, capped=export.dates.capped).model_dump(mode="json")
    return encoding.chunks(export.export_format, export.columns, export.head(now), meta, batches)


def _copied_by_database(sessionmaker: async_sessionmaker[AsyncSession], export: Export) -> bool:
    bind = sessionmaker.kw["bind"]
    return (
        bind.dialect.name == "postgresql"
        and export.export_format is ExportFormat.CSV
        and export.granularity in copy.COPY_GRANULARITIES
    )


async def _counted(
    batches: AsyncIterator[Sequence[Record]], progress: Callable[[int], None]
) -> AsyncIterator[Sequence[Record]]:
    async for batch in batches:
        progress(len(batch))
        yield batch


async def export_bytes(
    sessionmaker: async_sessionmaker[AsyncSession],
    export: Export,
    now: datetime,
    request_id: str = "-",
    progress: Callable[[int], None] | None = None,
) -> AsyncIterator[bytes]:
    """The whole export, as HTTP and the CLI send it; `progress` hears how many rows each chunk holds."""
    if _copied_by_database(sessionmaker, export):
        query = copy.statement(export.granularity, export.where, export.tz.key)
        header = 1
        async for chunk in copy.csv_chunks(sessionmaker, query):
            if progress is not None:
                progress(chunk.count(b"\n") - header)  # names never hold a line break: GitHub refuses them
                header = 0
            yield chunk
        return
    batches = rows(sessionmaker, export)
    if progress is not None:
        batches = _counted(batches, progress)
    async for chunk in encoded(export, batches, now, request_id):
        yield chunk
