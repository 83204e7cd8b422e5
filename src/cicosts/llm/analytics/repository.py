"""Rollup queries behind /v1/analytics: LLM calls summed per hour, scoped by organization and project."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.kit.periods import Period
from cicosts.llm.dependencies import LLMScope
from cicosts.llm.events.contributions import MEASURES
from cicosts.models import LLMDimensionHourly, LLMHourly

HOUR = timedelta(hours=1)


class Sums(NamedTuple):
    calls: int = 0
    failed_calls: int = 0
    unpriced_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_nanos: int = 0
    failed_cost_nanos: int = 0
    cache_savings_nanos: int = 0
    latency_ms_sum: int = 0
    latency_calls: int = 0

    def plus(self, other: Sums) -> Sums:
        return Sums(*(a + b for a, b in zip(self, other, strict=True)))


def _sums(table: Any) -> list[Any]:
    return [func.coalesce(func.sum(getattr(table, name)), 0) for name in MEASURES]


def _sums_of(row: Any, offset: int) -> Sums:
    return Sums(*(int(value) for value in row[offset : offset + len(MEASURES)]))


def _within(table: Any, scope: LLMScope, period: Period) -> ColumnElement[bool]:
    """Whole hours overlapping the period: the rollups' resolution."""
    conditions = [table.org_id == scope.org.id, table.hour > period.start - HOUR, table.hour < period.end]
    if scope.project_ids is not None:
        conditions.append(table.project_id.in_(scope.project_ids))
    return and_(*conditions)


async def totals(session: AsyncSession, scope: LLMScope, period: Period) -> Sums:
    row = (await session.execute(select(*_sums(LLMHourly)).where(_within(LLMHourly, scope, period)))).one()
    return _sums_of(row, 0)


async def grouped(
    session: AsyncSession, scope: LLMScope, period: Period, keys: tuple[str, ...]
) -> list[tuple[tuple[Any, ...], Sums]]:
    """Sums per value of `keys` (columns of `llm_hourly`), most expensive first."""
    columns = [getattr(LLMHourly, key) for key in keys]
    rows = await session.execute(
        select(*columns, *_sums(LLMHourly))
        .where(_within(LLMHourly, scope, period))
        .group_by(*columns)
        .order_by(func.sum(LLMHourly.cost_nanos).desc(), *columns)
    )
    return [(tuple(row[: len(keys)]), _sums_of(row, len(keys))) for row in rows]


async def by_dimension(
    session: AsyncSession, scope: LLMScope, period: Period, dimension: str, limit: int
) -> list[tuple[str, Sums]]:
    table = LLMDimensionHourly
    rows = await session.execute(
        select(table.value, *_sums(table))
        .where(_within(table, scope, period), table.dimension == dimension)
        .group_by(table.value)
        .order_by(func.sum(table.cost_nanos).desc(), table.value)
        .limit(limit)
    )
    return [(str(row[0]), _sums_of(row, 1)) for row in rows]


class HourSums(NamedTuple):
    hour: datetime
    sums: Sums


async def hourly(session: AsyncSession, scope: LLMScope, period: Period) -> list[HourSums]:
    rows = await session.execute(
        select(LLMHourly.hour, *_sums(LLMHourly))
        .where(_within(LLMHourly, scope, period))
        .group_by(LLMHourly.hour)
    )
    return [HourSums(row[0], _sums_of(row, 1)) for row in rows]
