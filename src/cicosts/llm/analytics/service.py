"""LLM analytics for a project or an organization, from the hourly rollups (never by scanning calls)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.errors import BadRequest
from cicosts.kit.money import nanos_to_json_usd
from cicosts.kit.periods import Period, floor_hour, local_dates, local_midnight, utc_instant, zone
from cicosts.llm.analytics import repository
from cicosts.llm.analytics.repository import HOUR, Sums
from cicosts.llm.analytics.schemas import (
    AgentRow,
    AgentsAnalytics,
    Breakdown,
    CacheAnalytics,
    Dimension,
    DimensionAnalytics,
    DimensionRow,
    FullAnalytics,
    ModelRow,
    ModelsAnalytics,
    Overview,
    TimeGranularity,
    TimePoint,
    Timeseries,
)
from cicosts.llm.dependencies import LLMScope

MAX_HOURLY_POINTS = 24 * 31
MAX_DAILY_POINTS = 366 * 10
# Far before any LLM call and far after now, and far from datetime's own limits (year 1, year 9999).
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


class Range(StrEnum):
    HOUR = "1h"
    DAY = "24h"
    WEEK = "7d"
    MONTH = "30d"
    QUARTER = "90d"


RANGE_LENGTHS = {
    Range.HOUR: timedelta(hours=1),
    Range.DAY: timedelta(hours=24),
    Range.WEEK: timedelta(days=7),
    Range.MONTH: timedelta(days=30),
    Range.QUARTER: timedelta(days=90),
}


def window(span: Range, start: datetime | None, end: datetime | None, now: datetime) -> Period:
    """`start`/`end` when given (naive values are UTC), else the last `span` up to now."""
    end = _instant("end", end) if end is not None else now
    start = _instant("start", start) if start is not None else end - RANGE_LENGTHS[span]
    if start >= end:
        raise BadRequest(f"start: {start.isoformat()} is not before end {end.isoformat()}")
    return Period(start, end)


def _instant(name: str, value: datetime) -> datetime:
    try:
        moment = utc_instant(value)
    except ValueError:
        moment = None
    if moment is None or not EARLIEST <= moment < LATEST:
        raise BadRequest(f"{name}: {value.isoformat()} is outside {EARLIEST:%Y} to {LATEST:%Y}")
    return moment


def _percent(part: int, whole: int) -> float | None:
    return round(part * 100 / whole, 2) if whole else None


def _latency(sums: Sums) -> float | None:
    return round(sums.latency_ms_sum / sums.latency_calls, 1) if sums.latency_calls else None


def _breakdown(sums: Sums, total_cost: int) -> dict[str, object]:
    return Breakdown(
        calls=sums.calls,
        input_tokens=sums.input_tokens,
        output_tokens=sums.output_tokens,
        total_tokens=sums.input_tokens + sums.output_tokens,
        cost=nanos_to_json_usd(sums.cost_nanos),
        share=_percent(sums.cost_nanos, total_cost) or 0.0,
        avg_latency_ms=_latency(sums),
        success_rate=_percent(sums.calls - sums.failed_calls, sums.calls),
        unpriced_calls=sums.unpriced_calls,
    ).model_dump()


def _overview(sums: Sums, period: Period) -> Overview:
    return Overview(
        total_cost=nanos_to_json_usd(sums.cost_nanos),
        total_calls=sums.calls,
        total_tokens=sums.input_tokens + sums.output_tokens,
        total_input_tokens=sums.input_tokens,
        total_output_tokens=sums.output_tokens,
        avg_cost_per_call=nanos_to_json_usd(sums.cost_nanos // sums.calls) if sums.calls else 0.0,
        avg_latency_ms=_latency(sums),
        success_rate=_percent(sums.calls - sums.failed_calls, sums.calls),
        unpriced_calls=sums.unpriced_calls,
        period_start=period.start,
        period_end=period.end,
    )


async def overview(session: AsyncSession, scope: LLMScope, period: Period) -> Overview:
    return _overview(await repository.totals(session, scope, period), period)


def _total_cost(rows: Iterable[tuple[object, Sums]]) -> int:
    return sum(sums.cost_nanos for _, sums in rows)


async def _agent_rows(session: AsyncSession, scope: LLMScope, period: Period) -> list[AgentRow]:
    rows = await repository.grouped(session, scope, period, ("agent_name",))
    total = _total_cost(rows)
    return [AgentRow(agent_name=str(key[0]), **_breakdown(sums, total)) for key, sums in rows]


async def agents(session: AsyncSession, scope: LLMScope, period: Period) -> AgentsAnalytics:
    rows = await _agent_rows(session, scope, period)
    return AgentsAnalytics(agents=rows, period_start=period.start, period_end=period.end)


async def _model_rows(session: AsyncSession, scope: LLMScope, period: Period) -> list[ModelRow]:
    rows = await repository.grouped(session, scope, period, ("model", "provider"))
    total = _total_cost(rows)
    return [
        ModelRow(model=str(key[0]), provider=str(key[1]), **_breakdown(sums, total)) for key, sums in rows
    ]


async def models(session: AsyncSession, scope: LLMScope, period: Period) -> ModelsAnalytics:
    rows = await _model_rows(session, scope, period)
    return ModelsAnalytics(models=rows, period_start=period.start, period_end=period.end)


async def by_dimension(
    session: AsyncSession, scope: LLMScope, period: Period, dimension: Dimension, limit: int
) -> DimensionAnalytics:
    rows = await repository.by_dimension(session, scope, period, dimension.value, limit)
    total = (await repository.totals(session, scope, period)).cost_nanos
    return DimensionAnalytics(
        dimension=dimension,
        rows=[DimensionRow(value=value, **_breakdown(sums, total)) for value, sums in rows],
        period_start=period.start,
        period_end=period.end,
    )


def _bucket_starts(period: Period, granularity: TimeGranularity, tz: ZoneInfo) -> list[datetime]:
    if granularity is TimeGranularity.DAY:
        days = local_dates(period, tz)
        if len(days) > MAX_DAILY_POINTS:
            raise BadRequest(f"granularity: day allows at most {MAX_DAILY_POINTS} points; ask for fewer days")
        return [local_midnight(day, tz) for day in days]
    first = floor_hour(period.start)
    count = int((period.end - first) / HOUR) + (1 if (period.end - first) % HOUR else 0)
    if count > MAX_HOURLY_POINTS:
        raise BadRequest(f"granularity: hour allows at most {MAX_HOURLY_POINTS} points; use day")
    return [first + HOUR * i for i in range(count)]


async def _points(
    session: AsyncSession, scope: LLMScope, period: Period, granularity: TimeGranularity
) -> list[TimePoint]:
    tz = zone(scope.org.time_zone)
    starts = _bucket_starts(period, granularity, tz)
    buckets = {start: Sums() for start in starts}
    for row in await repository.hourly(session, scope, period):
        key = floor_hour(row.hour)
        if granularity is TimeGranularity.DAY:
            key = local_midnight(row.hour.astimezone(tz).date(), tz)
        if key in buckets:
            buckets[key] = buckets[key].plus(row.sums)
    return [
        TimePoint(
            timestamp=start.astimezone(tz),
            cost=nanos_to_json_usd(sums.cost_nanos),
            calls=sums.calls,
            tokens=sums.input_tokens + sums.output_tokens,
            failed_calls=sums.failed_calls,
        )
        for start, sums in buckets.items()
    ]


async def timeseries(
    session: AsyncSession, scope: LLMScope, period: Period, granularity: TimeGranularity
) -> Timeseries:
    points = await _points(session, scope, period, granularity)
    return Timeseries(
        granularity=granularity, points=points, period_start=period.start, period_end=period.end
    )


def _cache(sums: Sums, period: Period) -> CacheAnalytics:
    return CacheAnalytics(
        input_tokens=sums.input_tokens,
        cached_tokens=sums.cached_tokens,
        cache_write_tokens=sums.cache_write_tokens,
        hit_rate=_percent(sums.cached_tokens, sums.input_tokens),
        savings=nanos_to_json_usd(sums.cache_savings_nanos),
        period_start=period.start,
        period_end=period.end,
    )


async def cache(session: AsyncSession, scope: LLMScope, period: Period) -> CacheAnalytics:
    return _cache(await repository.totals(session, scope, period), period)


async def full(
    session: AsyncSession, scope: LLMScope, period: Period, granularity: TimeGranularity
) -> FullAnalytics:
    sums = await repository.totals(session, scope, period)
    return FullAnalytics(
        overview=_overview(sums, period),
        agents=await _agent_rows(session, scope, period),
        models=await _model_rows(session, scope, period),
        timeseries=await _points(session, scope, period, granularity),
        cache=_cache(sums, period),
    )
