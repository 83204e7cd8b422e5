"""LLM optimizations for a project or an organization over the last `days` days, and what they add up to.

The period is whole hours, ending with the current one, so the hourly rollups and the calls cover the same
calls. Savings over the period are scaled to 30 days for the monthly figures.

Two optimizations may save on the same calls (a downgraded model that also fails), so the summary does not
add their savings up. For each (agent, model, provider) it treats each optimization's saving there as an
independent reduction of what those calls cost: `spend * (1 - prod(1 - saving_i / spend))`. That never exceeds
the spend and is never less than the largest saving. A runaway agent's saving is shared among its models pro
rata to what each cost in the period, and combined the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from fractions import Fraction

from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.kit.money import nanos_to_json_usd
from cicosts.kit.periods import Period, floor_hour
from cicosts.llm.dependencies import LLMScope
from cicosts.llm.optimizations import repository, rules
from cicosts.llm.optimizations.repository import GroupKey
from cicosts.llm.optimizations.rules import DAYS_PER_MONTH, Found
from cicosts.llm.optimizations.schemas import (
    Optimizations,
    OptimizationsSummary,
    OptimizationType,
    TypeSummary,
)
from cicosts.llm.pricing.rates import round_half_even

HOUR = timedelta(hours=1)
TOP = 5


def period_for(days: int, now: datetime) -> Period:
    """The last `days` days in whole hours, up to the end of the current hour."""
    end = floor_hour(now) + HOUR
    return Period(end - timedelta(days=days), end)


async def _find(
    session: AsyncSession, scope: LLMScope, period: Period, days: int
) -> tuple[list[Found], dict[GroupKey, int]]:
    """Every optimization, largest monthly saving first, and what each (agent, model, provider) cost."""
    usage = await repository.usage(session, scope, period)
    extremes = await repository.call_extremes(session, scope, period)
    repeated = await repository.repeated_prompts(
        session, scope, period, rules.MIN_REPEATS, rules.MIN_CACHEABLE_TOKENS
    )
    hours = await repository.agent_hours(session, scope, period)
    found = [
        *rules.model_downgrades(usage, extremes, period.end, days),
        *rules.prompt_caching(usage, extremes, repeated, period.end, days),
        *rules.error_waste(usage, days),
        *rules.runaway_agents(usage, hours, days),
    ]
    found.sort(
        key=lambda f: (
            -f.monthly_nanos,
            -f.saving_nanos,
            f.optimization.type,
            f.optimization.agent_name,
            f.optimization.model or "",
        )
    )
    return found, {key: sums.cost_nanos for key, sums in usage.items()}


def combined_saving(
    spends: Mapping[GroupKey, int], shares: Iterable[Mapping[GroupKey, Fraction]]
) -> Fraction:
    """What the optimizations save together, each group's savings combined as independent reductions."""
    kept: dict[GroupKey, Fraction] = {}
    for share in shares:
        for key, amount in share.items():
            spend = spends.get(key, 0)
            if spend <= 0 or amount <= 0:
                continue
            kept[key] = kept.get(key, Fraction(1)) * (1 - min(amount / spend, Fraction(1)))
    return sum((spends[key] * (1 - left) for key, left in kept.items()), Fraction(0))


def monthly_of(saving: Fraction, days: int) -> int:
    scaled = saving * DAYS_PER_MONTH / days
    return round_half_even(scaled.numerator, scaled.denominator)


async def optimizations(session: AsyncSession, scope: LLMScope, days: int, now: datetime) -> Optimizations:
    period = period_for(days, now)
    found, _ = await _find(session, scope, period, days)
    return Optimizations(
        optimizations=[f.optimization for f in found],
        period_days=days,
        period_start=period.start,
        period_end=period.end,
    )


async def summary(session: AsyncSession, scope: LLMScope, days: int, now: datetime) -> OptimizationsSummary:
    period = period_for(days, now)
    found, spends = await _find(session, scope, period, days)
    total_spend = sum(spends.values())
    saving = combined_saving(spends, (f.shares for f in found))
    by_type = {}
    for kind in OptimizationType:
        of_kind = [f for f in found if f.optimization.type == kind]
        by_type[kind] = TypeSummary(
            count=len(of_kind),
            estimated_savings_monthly=nanos_to_json_usd(sum(f.monthly_nanos for f in of_kind)),
        )
    return OptimizationsSummary(
        total_spend=nanos_to_json_usd(total_spend),
        total_estimated_savings_monthly=nanos_to_json_usd(monthly_of(saving, days)),
        savings_percent=rules.percent(saving, total_spend),
        by_type=by_type,
        top=[f.optimization for f in found[:TOP]],
        period_days=days,
    )
