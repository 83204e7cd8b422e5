"""Queries behind /v1/optimizations, scoped by organization (and project).

Sums come from the hourly rollup. What sums cannot tell (the largest call, prompts sent again and again) is
read from the calls as aggregates, each query bounded by the organization's (or project's) timestamp index
and returning one row per agent and model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.kit.periods import Period, as_utc
from cicosts.llm.analytics import repository as analytics
from cicosts.llm.analytics.repository import Sums
from cicosts.llm.dependencies import LLMScope
from cicosts.models import LLMEvent, LLMHourly

# (agent_name, model, provider), as `llm_hourly` keys calls: the matched provider, else the reported one.
GroupKey = tuple[str, str, str]


def _provider_key() -> ColumnElement[str | None]:
    """A call's provider as its rollup row names it (`contributions.BatchRollups.add`), NULL for "".

    No bound constant in it: PostgreSQL must see the grouped expression and the selected one as the same.
    """
    return func.coalesce(LLMEvent.matched_provider, LLMEvent.provider)


def _calls_within(scope: LLMScope, period: Period) -> ColumnElement[bool]:
    conditions = [
        LLMEvent.org_id == scope.org.id,
        LLMEvent.timestamp >= period.start,
        LLMEvent.timestamp < period.end,
    ]
    if scope.project_ids is not None:
        conditions.append(LLMEvent.project_id.in_(scope.project_ids))
    return and_(*conditions)


def _key(row: Any) -> GroupKey:
    return str(row[0]), str(row[1]), str(row[2] or "")


async def usage(session: AsyncSession, scope: LLMScope, period: Period) -> dict[GroupKey, Sums]:
    """The rollup's sums per agent, model and provider (the period is whole hours)."""
    rows = await analytics.grouped(session, scope, period, ("agent_name", "model", "provider"))
    return {_key(key): sums for key, sums in rows}


class CallExtremes(NamedTuple):
    largest_call: int  # input, cache writes and output of the largest call
    largest_input: int  # input and cache writes of the call with the most input (what price tiers look at)
    custom_priced: int  # calls priced by the organization's own price, not the catalogue's


async def call_extremes(
    session: AsyncSession, scope: LLMScope, period: Period
) -> dict[GroupKey, CallExtremes]:
    provider = _provider_key()
    total_input = LLMEvent.input_tokens + LLMEvent.cache_write_tokens
    rows = await session.execute(
        select(
            LLMEvent.agent_name,
            LLMEvent.model,
            provider,
            func.max(total_input + LLMEvent.output_tokens),
            func.max(total_input),
            func.sum(case((LLMEvent.price_source.like("custom:%"), 1), else_=0)),
        )
        .where(_calls_within(scope, period))
        .group_by(LLMEvent.agent_name, LLMEvent.model, provider)
    )
    return {_key(row): CallExtremes(int(row[3]), int(row[4]), int(row[5])) for row in rows}


class RepeatedPrompts(NamedTuple):
    prompts: int  # distinct input hashes sent `min_calls` times or more, never read from the cache
    calls: int
    input_tokens: int
    first_input_tokens: int  # of each prompt's largest call, counted as the one that writes the cache
    largest_input: int  # input and cache writes of the largest of these calls


async def repeated_prompts(
    session: AsyncSession, scope: LLMScope, period: Period, min_calls: int, min_tokens: int
) -> dict[GroupKey, RepeatedPrompts]:
    """Per agent and model: prompts (by `input_hash`) sent at least `min_calls` times, each with at least
    `min_tokens` input tokens, none of whose calls read any input from the provider's cache."""
    provider = _provider_key().label("provider_key")
    prompts = (
        select(
            LLMEvent.agent_name,
            LLMEvent.model,
            provider,
            func.count().label("calls"),
            func.sum(LLMEvent.input_tokens).label("input_tokens"),
            func.max(LLMEvent.input_tokens).label("first_input_tokens"),
            func.max(LLMEvent.input_tokens + LLMEvent.cache_write_tokens).label("largest_input"),
        )
        .where(_calls_within(scope, period), LLMEvent.input_hash.is_not(None))
        .group_by(LLMEvent.agent_name, LLMEvent.model, _provider_key(), LLMEvent.input_hash)
        .having(
            func.count() >= min_calls,
            func.max(LLMEvent.cached_tokens) == 0,
            func.min(LLMEvent.input_tokens) >= min_tokens,
        )
        .subquery()
    )
    rows = await session.execute(
        select(
            prompts.c.agent_name,
            prompts.c.model,
            prompts.c.provider_key,
            func.count(),
            func.sum(prompts.c.calls),
            func.sum(prompts.c.input_tokens),
            func.sum(prompts.c.first_input_tokens),
            func.max(prompts.c.largest_input),
        ).group_by(prompts.c.agent_name, prompts.c.model, prompts.c.provider_key)
    )
    return {_key(row): RepeatedPrompts(*(int(value) for value in row[3:8])) for row in rows}


class AgentHour(NamedTuple):
    agent_name: str
    hour: datetime
    priced_calls: int
    cost_nanos: int


async def agent_hours(session: AsyncSession, scope: LLMScope, period: Period) -> list[AgentHour]:
    conditions = [
        LLMHourly.org_id == scope.org.id,
        LLMHourly.hour >= period.start,
        LLMHourly.hour < period.end,
    ]
    if scope.project_ids is not None:
        conditions.append(LLMHourly.project_id.in_(scope.project_ids))
    rows = await session.execute(
        select(
            LLMHourly.agent_name,
            LLMHourly.hour,
            func.sum(LLMHourly.calls - LLMHourly.unpriced_calls),
            func.sum(LLMHourly.cost_nanos),
        )
        .where(*conditions)
        .group_by(LLMHourly.agent_name, LLMHourly.hour)
    )
    return [AgentHour(str(row[0]), as_utc(row[1]), int(row[2]), int(row[3])) for row in rows]
