"""Response shapes of /v1/analytics (AgentCost's names). Money is USD, 6 decimal places."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Dimension(StrEnum):
    USER = "user"
    SESSION = "session"
    WORKFLOW = "workflow"
    TOOL = "tool"
    TAG = "tag"


class TimeGranularity(StrEnum):
    HOUR = "hour"
    DAY = "day"


class Overview(BaseModel):
    total_cost: float
    total_calls: int
    total_tokens: int = Field(description="Input and output tokens")
    total_input_tokens: int
    total_output_tokens: int
    avg_cost_per_call: float
    avg_latency_ms: float | None = Field(description="Over the calls that reported a latency")
    success_rate: float | None = Field(description="Percent of calls that succeeded; null without calls")
    unpriced_calls: int = Field(description="Calls no price is known for: not in total_cost")
    period_start: datetime
    period_end: datetime


class Breakdown(BaseModel):
    calls: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost: float
    share: float = Field(description="Percent of the period's cost")
    avg_latency_ms: float | None
    success_rate: float | None
    unpriced_calls: int


class AgentRow(Breakdown):
    agent_name: str


class ModelRow(Breakdown):
    model: str
    provider: str


class DimensionRow(Breakdown):
    value: str


class AgentsAnalytics(BaseModel):
    agents: list[AgentRow]
    period_start: datetime
    period_end: datetime


class ModelsAnalytics(BaseModel):
    models: list[ModelRow]
    period_start: datetime
    period_end: datetime


class DimensionAnalytics(BaseModel):
    dimension: Dimension
    rows: list[DimensionRow]
    period_start: datetime
    period_end: datetime


class TimePoint(BaseModel):
    timestamp: datetime = Field(description="Start of the bucket (days start at the organization's midnight)")
    cost: float
    calls: int
    tokens: int
    failed_calls: int


class Timeseries(BaseModel):
    granularity: TimeGranularity
    points: list[TimePoint]
    period_start: datetime
    period_end: datetime


class CacheAnalytics(BaseModel):
    input_tokens: int = Field(description="Every input token, cached ones included")
    cached_tokens: int = Field(description="Input tokens read from the provider's prompt cache")
    cache_write_tokens: int
    hit_rate: float | None = Field(description="Percent of input tokens read from cache")
    savings: float = Field(description="USD the cached tokens would have cost more at the input rate")
    period_start: datetime
    period_end: datetime


class FullAnalytics(BaseModel):
    overview: Overview
    agents: list[AgentRow]
    models: list[ModelRow]
    timeseries: list[TimePoint]
    cache: CacheAnalytics
