"""Response shapes of /v1/costs. Money is USD (JSON numbers, 6 decimal places); dates are local to the org."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, Field


class Granularity(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class CostPoint(BaseModel):
    """One bucket; `date` is its first day inside the range (weeks start on Monday, months on the 1st)."""

    date: date
    cost: float
    runs: int
    minutes: int = Field(description="Billable minutes")


class CostSeries(BaseModel):
    start_date: date
    end_date: date
    granularity: Granularity
    total_cost: float
    total_runs: int
    total_minutes: int
    unpriced_jobs: int = Field(description="Jobs whose runner has no known price (not in the totals)")
    costs: list[CostPoint]


class PeriodCost(BaseModel):
    cost: float
    runs: int
    change_pct: float | None = Field(
        description="Percent change on the same stretch of the previous period; null when that cost nothing"
    )


class Projection(BaseModel):
    cost: float = Field(description="Month-end cost if the month goes on as it has so far")
    based_on: str = "current_trend"


class CostSummary(BaseModel):
    today: PeriodCost
    this_week: PeriodCost
    this_month: PeriodCost
    projected: Projection
    unpriced_jobs: int = Field(description="Jobs this month whose runner has no known price")


class RepositoryCost(BaseModel):
    name: str
    full_name: str
    org: str
    cost: float
    runs: int
    minutes: int
    pct_of_total: float


class RepositoryCosts(BaseModel):
    start_date: date
    end_date: date
    total_cost: float
    repositories: list[RepositoryCost]


class WorkflowCost(BaseModel):
    id: int
    name: str
    repository: str
    cost: float
    runs: int
    minutes: int
    avg_cost: float = Field(description="Cost per run")
    avg_duration_minutes: float = Field(description="Average completed run, start to finish")


class WorkflowCosts(BaseModel):
    start_date: date
    end_date: date
    workflows: list[WorkflowCost]


class RunnerCost(BaseModel):
    sku: str = Field(description="GitHub runner SKU, `self_hosted`, a custom mapping's SKU, or `unknown`")
    cost: float
    list_cost: float = Field(description="What GitHub's list price would have charged for these minutes")
    minutes: int
    jobs: int
    unpriced_jobs: int
    public_repository_savings: float = Field(
        description="List cost of public repositories' jobs that GitHub did not bill"
    )


class RunnerCosts(BaseModel):
    start_date: date
    end_date: date
    total_cost: float
    public_repository_savings: float
    runners: list[RunnerCost]
