"""The four optimizations, each from the organization's own calls in the period; no data, no suggestion.

- model_downgrade: an agent's calls of a model that fit a cheaper model of the same provider and family.
- prompt_caching: prompts sent again and again without ever being read from the provider's cache.
- error_waste: what failed calls cost.
- runaway_agents: days an agent spent far more per call than it usually does.

Each saving is over the period, in nanodollars, never more than what the calls it is about cost, and comes
with its shares: how much of it falls on each (agent, model, provider), so the summary can count calls that
two optimizations save on once.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from cicosts.kit.money import NANOS_PER_USD, nanos_to_decimal, nanos_to_json_usd
from cicosts.llm.analytics.repository import Sums
from cicosts.llm.optimizations.ladder import cheaper_models
from cicosts.llm.optimizations.repository import AgentHour, CallExtremes, GroupKey, RepeatedPrompts
from cicosts.llm.optimizations.schemas import (
    CachingEvidence,
    CachingOptimization,
    DowngradeEvidence,
    DowngradeOptimization,
    ErrorEvidence,
    ErrorOptimization,
    Optimization,
    Priority,
    RunawayDay,
    RunawayEvidence,
    RunawayOptimization,
)
from cicosts.llm.pricing import catalogue
from cicosts.llm.pricing.catalogue import CatalogueMatch
from cicosts.llm.pricing.rates import TokenUsage, cost_nanos, round_half_even

DAYS_PER_MONTH = 30
HIGH_PRIORITY_MONTHLY = 100 * NANOS_PER_USD
MEDIUM_PRIORITY_MONTHLY = 10 * NANOS_PER_USD
# Model downgrade. A model choice is judged on at least this many calls of the agent, not a handful.
MIN_DOWNGRADE_CALLS = 10
# Calls that write under 1,000 tokens on average (output, reasoning included) classify, extract, route or
# answer briefly: the work the small model of a family is made for and does nearly as well. Long
# generations (code, documents, long chains of reasoning) are where the larger model earns its price.
MAX_AVG_OUTPUT_TOKENS = 1_000
# Prompt caching. A prompt sent this many times is a pattern, not a retry.
MIN_REPEATS = 3
# The providers cache prompts of at least 1,024 tokens (OpenAI, Anthropic's Sonnet and Opus, Gemini's
# implicit caching); shorter prompts could never be read from a cache.
MIN_CACHEABLE_TOKENS = 1_024
# Runaway agents: a day is a runaway when its cost per call is over this multiple of the agent's median daily
# cost per call, judged over at least this many days, and only when the excess is at least this much.
RUNAWAY_MULTIPLE = 3
MIN_BASELINE_DAYS = 7
MIN_RUNAWAY_EXCESS = NANOS_PER_USD


@dataclass(frozen=True)
class Found:
    optimization: Optimization
    saving_nanos: int  # over the period
    monthly_nanos: int
    # The saving by (agent, model, provider); each share at most that group's spend, adding up to the saving.
    shares: Mapping[GroupKey, Fraction]


def monthly(nanos: int, days: int) -> int:
    """A figure over `days` days as one over 30 days, rounded half to even to a whole nanodollar."""
    return round_half_even(nanos * DAYS_PER_MONTH, days)


def priority(monthly_nanos: int) -> Priority:
    if monthly_nanos >= HIGH_PRIORITY_MONTHLY:
        return Priority.HIGH
    if monthly_nanos >= MEDIUM_PRIORITY_MONTHLY:
        return Priority.MEDIUM
    return Priority.LOW


def percent(part: int | Fraction, whole: int) -> float:
    """part / whole in percent, to one decimal place (half to even); 0 when there is no whole."""
    if whole <= 0:
        return 0.0
    tenths = Fraction(part) * 1000 / whole
    return round_half_even(tenths.numerator, tenths.denominator) / 10


def usd(nanos: int) -> str:
    """Dollars for a sentence: cents from $1 up, and below it the figure to the micro-dollar ($0.0035)."""
    value = nanos_to_decimal(nanos)
    if abs(value) >= 1:
        return f"${value.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,}"
    digits = f"{value.quantize(Decimal('0.000001'), rounding=ROUND_HALF_EVEN):f}".rstrip("0")
    whole, _, fraction = digits.partition(".")
    return f"${whole}.{fraction.ljust(2, '0')}"


def summed_cost(match: CatalogueMatch, usage: TokenUsage, largest_input: int, at: datetime) -> int | None:
    """What calls whose tokens add up to `usage` cost at the model's prices at `at`.

    Token costs are linear, so summed tokens price like the calls one by one (up to each call's rounding),
    with the per-token rates `CatalogueMatch.cost` uses, as long as every call pays the same rates: None when
    the largest call's input reaches a higher price tier than the base one, or the model charges per request
    (summed tokens cannot say which calls did or how many there were).
    """
    ladder = catalogue.compiled(match.model.get_prices(at))
    if ladder is None or (ladder.tiers and largest_input > ladder.tiers[0][0]):
        return None
    return cost_nanos(ladder.base, usage)[0]


def _match(key: GroupKey) -> CatalogueMatch | None:
    _, model, provider = key
    return catalogue.find(model, provider or None)


def _found(optimization: Optimization, saving: int, days: int, shares: Mapping[GroupKey, Fraction]) -> Found:
    return Found(optimization, saving, monthly(saving, days), shares)


def _common(saving: int, spend: int, days: int) -> dict[str, object]:
    monthly_nanos = monthly(saving, days)
    return {
        "estimated_savings_monthly": nanos_to_json_usd(monthly_nanos),
        "estimated_savings_percent": percent(saving, spend),
        "priority": priority(monthly_nanos),
    }


# --- model downgrade -------------------------------------------------------------------------------------


def model_downgrades(
    usage: Mapping[GroupKey, Sums], extremes: Mapping[GroupKey, CallExtremes], at: datetime, days: int
) -> list[Found]:
    """Saving: the agent's token mix over the period priced at the model minus priced at the nearest cheaper
    model of its ladder whose context window holds the period's largest call (both at today's prices)."""
    found = []
    for key, sums in usage.items():
        calls = extremes.get(key)
        if calls is None or calls.custom_priced or sums.calls < MIN_DOWNGRADE_CALLS:
            continue  # too few calls to judge, or a negotiated price the catalogue knows nothing of
        if sums.output_tokens >= MAX_AVG_OUTPUT_TOKENS * sums.calls:
            continue
        match = _match(key)
        if match is None:
            continue
        mix = TokenUsage(
            sums.input_tokens,
            sums.output_tokens,
            sums.cached_tokens,
            sums.cache_write_tokens,
            sums.reasoning_tokens,
        )
        current = summed_cost(match, mix, calls.largest_input, at)
        if current is None:
            continue
        for alternative in cheaper_models(match):
            window = alternative.model.context_window
            if window is None or window < calls.largest_call:
                continue
            cheaper = summed_cost(alternative, mix, calls.largest_input, at)
            saving = min(current - cheaper, sums.cost_nanos) if cheaper is not None else 0
            if saving > 0:
                assert cheaper is not None
                found.append(
                    _downgrade(key, sums, calls, alternative, window, current, cheaper, saving, days)
                )
                break
    return found


def _downgrade(
    key: GroupKey,
    sums: Sums,
    calls: CallExtremes,
    alternative: CatalogueMatch,
    window: int,
    current: int,
    cheaper: int,
    saving: int,
    days: int,
) -> Found:
    agent, model, provider = key
    avg_output = round(sums.output_tokens / sums.calls, 1)
    optimization = DowngradeOptimization(
        title=f"Try {alternative.model_id} for {agent}",
        description=(
            f"{agent}'s {sums.calls:,} calls of {model} wrote {avg_output:,} output tokens on average and "
            f"the largest took {calls.largest_call:,} tokens, within {alternative.model_id}'s context "
            f"window of {window:,}. The same tokens cost {usd(current)} at {model}'s prices and "
            f"{usd(cheaper)} at {alternative.model_id}'s."
        ),
        agent_name=agent,
        model=model,
        alternative_model=alternative.model_id,
        **_common(saving, sums.cost_nanos, days),
        evidence=DowngradeEvidence(
            provider=provider,
            calls=sums.calls,
            input_tokens=sums.input_tokens,
            cached_tokens=sums.cached_tokens,
            cache_write_tokens=sums.cache_write_tokens,
            output_tokens=sums.output_tokens,
            reasoning_tokens=sums.reasoning_tokens,
            avg_output_tokens=avg_output,
            largest_call_tokens=calls.largest_call,
            alternative_context_window=window,
            cost_at_model_prices=nanos_to_json_usd(current),
            cost_at_alternative_prices=nanos_to_json_usd(cheaper),
            spend=nanos_to_json_usd(sums.cost_nanos),
            saving_in_period=nanos_to_json_usd(saving),
        ),
        action_items=[
            f"Replay a sample of {agent}'s recent prompts on {alternative.model_id} and compare the answers",
            f"If they hold up, switch {agent} to {alternative.model_id} behind a flag; watch its failures",
            "Keep the larger model as a fallback for the requests the smaller one gets wrong",
        ],
    )
    return _found(optimization, saving, days, {key: Fraction(saving)})


# --- prompt caching --------------------------------------------------------------------------------------


def prompt_caching(
    usage: Mapping[GroupKey, Sums],
    extremes: Mapping[GroupKey, CallExtremes],
    repeated: Mapping[GroupKey, RepeatedPrompts],
    at: datetime,
    days: int,
) -> list[Found]:
    """Saving: the input of every call but the first of each repeated prompt, priced at the input rate less
    the cache-read rate, minus what writing each prompt to the cache once costs above the input rate (where
    the provider charges for cache writes), at today's prices."""
    found = []
    for key, prompts in repeated.items():
        sums, calls = usage.get(key), extremes.get(key)
        if sums is None or calls is None or calls.custom_priced:
            continue
        match = _match(key)
        if match is None:
            continue
        again = prompts.input_tokens - prompts.first_input_tokens
        first = prompts.first_input_tokens
        largest = prompts.largest_input  # a call's input counts cache writes, so caching moves no tier
        costs = [
            summed_cost(match, usage_, largest, at)
            for usage_ in (
                TokenUsage(again, 0),
                TokenUsage(again, 0, cached_tokens=again),
                TokenUsage(first, 0),
                TokenUsage(0, 0, cache_write_tokens=first),
            )
        ]
        if any(cost is None for cost in costs):
            continue
        uncached, cached, unwritten, written = (cost or 0 for cost in costs)
        discount, premium = uncached - cached, max(written - unwritten, 0)
        saving = min(discount - premium, sums.cost_nanos)
        if saving > 0:
            found.append(_caching(key, sums, prompts, discount, premium, saving, days))
    return found


def _caching(
    key: GroupKey, sums: Sums, prompts: RepeatedPrompts, discount: int, premium: int, saving: int, days: int
) -> Found:
    agent, model, provider = key
    repeated_calls = prompts.calls - prompts.prompts
    optimization = CachingOptimization(
        title=f"Cache {agent}'s repeated prompts",
        description=(
            f"{agent} sent {prompts.prompts:,} prompts of {MIN_CACHEABLE_TOKENS:,} tokens or more to "
            f"{model} {MIN_REPEATS} times or more ({prompts.calls:,} calls), and none of them read any input "
            f"from the prompt cache. Read from the cache, the {repeated_calls:,} repeated calls' "
            f"{prompts.input_tokens - prompts.first_input_tokens:,} input tokens would cost {usd(discount)} "
            f"less"
            + (f"; writing each prompt to the cache once costs {usd(premium)} more." if premium else ".")
        ),
        agent_name=agent,
        model=model,
        alternative_model=None,
        **_common(saving, sums.cost_nanos, days),
        evidence=CachingEvidence(
            provider=provider,
            repeated_prompts=prompts.prompts,
            calls=prompts.calls,
            repeated_calls=repeated_calls,
            repeated_input_tokens=prompts.input_tokens - prompts.first_input_tokens,
            first_call_input_tokens=prompts.first_input_tokens,
            cache_read_discount=nanos_to_json_usd(discount),
            cache_write_premium=nanos_to_json_usd(premium),
            spend=nanos_to_json_usd(sums.cost_nanos),
            saving_in_period=nanos_to_json_usd(saving),
        ),
        action_items=[
            "Put the prompt's unchanging part (instructions, tools, documents) first, the variable part last",
            "Mark the stable prefix for caching where the provider asks for it (Anthropic's cache_control)",
            "Send repeats within the cache's lifetime (minutes), or cache whole answers to identical prompts",
        ],
    )
    return _found(optimization, saving, days, {key: Fraction(saving)})


# --- error waste -----------------------------------------------------------------------------------------


def error_waste(usage: Mapping[GroupKey, Sums], days: int) -> list[Found]:
    """Saving: what the agent's failed calls of the model cost."""
    found = []
    for key, sums in usage.items():
        saving = min(sums.failed_cost_nanos, sums.cost_nanos)
        if saving <= 0:
            continue
        agent, model, provider = key
        rate = percent(sums.failed_calls, sums.calls)
        optimization = ErrorOptimization(
            title=f"Stop paying for {agent}'s failed calls",
            description=(
                f"{sums.failed_calls:,} of {agent}'s {sums.calls:,} calls of {model} failed ({rate}%), and "
                f"those failed calls cost {usd(saving)}: spend that bought nothing."
            ),
            agent_name=agent,
            model=model,
            alternative_model=None,
            **_common(saving, sums.cost_nanos, days),
            evidence=ErrorEvidence(
                provider=provider,
                calls=sums.calls,
                failed_calls=sums.failed_calls,
                failure_rate=rate,
                failed_cost=nanos_to_json_usd(saving),
                spend=nanos_to_json_usd(sums.cost_nanos),
                saving_in_period=nanos_to_json_usd(saving),
            ),
            action_items=[
                "Validate inputs and sizes before calling, so requests bound to fail are never sent",
                "Retry with exponential backoff only on errors worth retrying (rate limits, timeouts)",
                "Fall back to another model or provider instead of repeating a failing call",
            ],
        )
        found.append(_found(optimization, saving, days, {key: Fraction(saving)}))
    return found


# --- runaway agents --------------------------------------------------------------------------------------


def runaway_agents(usage: Mapping[GroupKey, Sums], hours: list[AgentHour], days: int) -> list[Found]:
    """Saving: on each runaway day, its cost less its calls at the agent's median daily cost per call.

    Days are UTC days; only priced calls count. The saving falls on the agent's models pro rata to what each
    cost in the period.
    """
    daily: dict[str, dict[date, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for hour in hours:
        day = daily[hour.agent_name][hour.hour.date()]
        day[0] += hour.priced_calls
        day[1] += hour.cost_nanos
    found = []
    for agent, by_day in daily.items():
        priced = {day: (calls, cost) for day, (calls, cost) in sorted(by_day.items()) if calls > 0}
        if len(priced) < MIN_BASELINE_DAYS:
            continue
        baseline = statistics.median(Fraction(cost, calls) for calls, cost in priced.values())
        if baseline <= 0:
            continue
        runaway = {
            day: (calls, cost, cost - calls * baseline)
            for day, (calls, cost) in priced.items()
            if cost > RUNAWAY_MULTIPLE * baseline * calls and cost - calls * baseline >= MIN_RUNAWAY_EXCESS
        }
        if not runaway:
            continue
        excess = sum((extra for _, _, extra in runaway.values()), Fraction(0))
        groups = {
            key: sums.cost_nanos for key, sums in usage.items() if key[0] == agent and sums.cost_nanos > 0
        }
        spend = sum(groups.values())
        saving = min(round_half_even(excess.numerator, excess.denominator), spend)
        if saving <= 0:
            continue
        shares = {key: Fraction(saving * cost, spend) for key, cost in groups.items()}
        models = sorted({key[1] for key in groups})
        found.append(_runaway(agent, models, priced, runaway, baseline, spend, saving, days, shares))
    return found


def _runaway(
    agent: str,
    models: list[str],
    priced: Mapping[date, tuple[int, int]],
    runaway: Mapping[date, tuple[int, int, Fraction]],
    baseline: Fraction,
    spend: int,
    saving: int,
    days: int,
    shares: Mapping[GroupKey, Fraction],
) -> Found:
    def nanos(value: Fraction) -> int:
        return round_half_even(value.numerator, value.denominator)

    worst_day, (worst_calls, worst_cost, _) = max(runaway.items(), key=lambda item: item[1][2])
    optimization = RunawayOptimization(
        title=f"Find out why {agent} ran away",
        description=(
            f"{agent} usually costs {usd(nanos(baseline))} a call (the median of {len(priced)} days), but on "
            f"{len(runaway)} day{'s' if len(runaway) > 1 else ''} it cost over {RUNAWAY_MULTIPLE} times "
            f"that; "
            f"on {worst_day.isoformat()}, {usd(worst_cost)} for {worst_calls:,} calls. At its usual cost per "
            f"call, {'those days' if len(runaway) > 1 else 'that day'} would have cost {usd(saving)} less."
        ),
        agent_name=agent,
        model=models[0] if len(models) == 1 else None,
        alternative_model=None,
        **_common(saving, spend, days),
        evidence=RunawayEvidence(
            days_with_calls=len(priced),
            baseline_cost_per_call=nanos_to_json_usd(nanos(baseline)),
            threshold_multiple=RUNAWAY_MULTIPLE,
            runaway_days=[
                RunawayDay(
                    day=day,
                    calls=calls,
                    cost=nanos_to_json_usd(cost),
                    cost_per_call=nanos_to_json_usd(nanos(Fraction(cost, calls))),
                    excess_cost=nanos_to_json_usd(nanos(extra)),
                )
                for day, (calls, cost, extra) in runaway.items()
            ],
            models=models,
            spend=nanos_to_json_usd(spend),
            saving_in_period=nanos_to_json_usd(saving),
        ),
        action_items=[
            f"Look at {agent}'s traces on {worst_day.isoformat()}: loops, growing context or retries",
            "Cap steps, context length and output tokens per task",
            f"Set an alert on {agent}'s daily cost so the next runaway is caught the same day",
        ],
    )
    return _found(optimization, saving, days, shares)
