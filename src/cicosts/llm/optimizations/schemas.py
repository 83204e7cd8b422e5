"""Response shapes of /v1/optimizations (AgentCost's names). Money is USD (JSON numbers, 6 decimal places).

Each optimization's `type` names its kind and the shape of its `evidence`: the figures from the organization's
own calls in the period that its saving is computed from.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field

SAVING_IN_PERIOD = "USD the period would have saved; the monthly figure is this times 30 / period_days"
SPEND = "USD the agent's calls of this model cost in the period"


class OptimizationType(StrEnum):
    MODEL_DOWNGRADE = "model_downgrade"
    PROMPT_CACHING = "prompt_caching"
    ERROR_WASTE = "error_waste"
    RUNAWAY_AGENTS = "runaway_agents"


class Priority(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class DowngradeEvidence(BaseModel):
    provider: str
    calls: int
    input_tokens: int = Field(description="Every input token, cache reads included")
    cached_tokens: int
    cache_write_tokens: int
    output_tokens: int = Field(description="Every output token, reasoning included")
    reasoning_tokens: int
    avg_output_tokens: float
    largest_call_tokens: int = Field(
        description="Input, cache writes and output of the period's largest call"
    )
    alternative_context_window: int
    cost_at_model_prices: float = Field(description="USD these tokens cost at the model's prices today")
    cost_at_alternative_prices: float = Field(description="USD the same tokens cost at the alternative's")
    spend: float = Field(description=SPEND)
    saving_in_period: float = Field(description=SAVING_IN_PERIOD)


class CachingEvidence(BaseModel):
    provider: str
    repeated_prompts: int = Field(description="Distinct prompts (input hashes) sent 3 or more times")
    calls: int = Field(description="Calls that sent them")
    repeated_calls: int = Field(
        description="Calls after the first of each prompt, which could read the cache"
    )
    repeated_input_tokens: int = Field(description="Input tokens of those calls")
    first_call_input_tokens: int = Field(
        description="Input tokens of each prompt's first call (its largest: the one that writes the cache)"
    )
    cache_read_discount: float = Field(description="USD the repeated input would cost less read from cache")
    cache_write_premium: float = Field(description="USD writing each prompt to the cache once costs more")
    spend: float = Field(description=SPEND)
    saving_in_period: float = Field(description=SAVING_IN_PERIOD)


class ErrorEvidence(BaseModel):
    provider: str
    calls: int
    failed_calls: int
    failure_rate: float = Field(description="Percent of calls that failed")
    failed_cost: float = Field(description="USD the failed calls cost")
    spend: float = Field(description=SPEND)
    saving_in_period: float = Field(description=SAVING_IN_PERIOD)


class RunawayDay(BaseModel):
    day: date = Field(description="UTC day")
    calls: int = Field(description="Priced calls")
    cost: float
    cost_per_call: float
    excess_cost: float = Field(description="USD above the day's calls at the baseline cost per call")


class RunawayEvidence(BaseModel):
    days_with_calls: int
    baseline_cost_per_call: float = Field(description="Median of the daily cost per call (USD)")
    threshold_multiple: int = Field(description="A runaway day costs more per call than this times baseline")
    runaway_days: list[RunawayDay]
    models: list[str] = Field(description="The models the agent called in the period")
    spend: float = Field(description="USD the agent's calls cost in the period")
    saving_in_period: float = Field(description=SAVING_IN_PERIOD)


class _Optimization(BaseModel):
    type: OptimizationType
    title: str
    description: str
    agent_name: str
    model: str | None = Field(description="The model as reported; null for an agent calling several")
    alternative_model: str | None = Field(description="The catalogue id of the model to switch to")
    estimated_savings_monthly: float = Field(description="USD a month, from the period's saving")
    estimated_savings_percent: float = Field(
        description="Percent of what the agent's calls of this model (runaway: all its calls) cost"
    )
    priority: Priority = Field(description="high: $100 a month or more; medium: $10 or more")
    evidence: BaseModel
    action_items: list[str]


class DowngradeOptimization(_Optimization):
    type: Literal[OptimizationType.MODEL_DOWNGRADE] = OptimizationType.MODEL_DOWNGRADE
    evidence: DowngradeEvidence


class CachingOptimization(_Optimization):
    type: Literal[OptimizationType.PROMPT_CACHING] = OptimizationType.PROMPT_CACHING
    evidence: CachingEvidence


class ErrorOptimization(_Optimization):
    type: Literal[OptimizationType.ERROR_WASTE] = OptimizationType.ERROR_WASTE
    evidence: ErrorEvidence


class RunawayOptimization(_Optimization):
    type: Literal[OptimizationType.RUNAWAY_AGENTS] = OptimizationType.RUNAWAY_AGENTS
    evidence: RunawayEvidence


Optimization = Annotated[
    DowngradeOptimization | CachingOptimization | ErrorOptimization | RunawayOptimization,
    Field(discriminator="type"),
]


class Optimizations(BaseModel):
    optimizations: list[Optimization] = Field(
        description="Largest monthly saving first; two may save on the same calls (see the summary)"
    )
    period_days: int
    period_start: datetime
    period_end: datetime


class TypeSummary(BaseModel):
    count: int
    estimated_savings_monthly: float


class OptimizationsSummary(BaseModel):
    total_spend: float = Field(description="USD every LLM call in scope cost in the period")
    total_estimated_savings_monthly: float = Field(
        description="USD a month, counting calls two optimizations save on once: never more than the spend"
    )
    savings_percent: float = Field(description="Percent of the period's spend the optimizations save")
    by_type: dict[OptimizationType, TypeSummary]
    top: list[Optimization] = Field(description="The optimizations with the largest monthly savings")
    period_days: int
