"""Response shapes of /api/v1/dashboard. Money is USD (6 decimal places); durations are seconds."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class AmountChange(BaseModel):
    amount: float = Field(description="USD so far in the period")
    change: float | None = Field(
        description="Percent change against the whole previous period; null when it cost nothing"
    )


class DashboardSummary(BaseModel):
    total_cost: float
    trend_percent: float | None
    total_runs: int
    avg_cost_per_run: float
    period_days: int
    unpriced_jobs: int = Field(description="Jobs whose runner has no known price (not in totals)")
    today: AmountChange
    week: AmountChange
    month: AmountChange


class TrendPoint(BaseModel):
    date: date
    cost: float
    runs: int


class TopWorkflow(BaseModel):
    name: str
    repo: str
    runs: int
    cost: float
    avg_duration: float = Field(description="Average run duration in seconds")


class RecentRun(BaseModel):
    id: int
    workflow: str
    repo: str
    status: str
    cost: float
    duration: float | None = Field(description="Seconds from start to completion")
    time: datetime


class WorkflowRow(BaseModel):
    id: int
    name: str
    repo: str
    last_run_time: datetime | None
    run_count: int
    total_cost: float
    avg_duration: float
    success_rate: float | None = Field(description="Percent of completed runs that succeeded")
    unpriced_jobs: int = Field(description="Jobs whose runner has no known price (not in total_cost)")


class WorkflowList(BaseModel):
    workflows: list[WorkflowRow]
    total: int
    page: int
    per_page: int
    repositories: list[str]


class WorkflowsSummary(BaseModel):
    total_workflows: int
    total_runs: int
    total_cost: float
    avg_cost_per_run: float
    unpriced_jobs: int


class AttemptCost(BaseModel):
    attempt: int
    jobs: int
    billable_minutes: int
    cost: float
    list_cost: float
    unpriced_jobs: int


class RunJob(BaseModel):
    id: int
    name: str
    attempt: int
    status: str
    conclusion: str | None
    labels: list[str]
    sku: str | None
    billable_minutes: int
    unit_price: float | None = Field(description="USD per minute the job was priced at")
    cost: float
    list_cost: float
    price_source: str | None
    unpriced: bool


class RunDetail(BaseModel):
    id: int
    github_run_id: int
    workflow: str
    repo: str
    event: str | None
    branch: str | None
    actor: str | None
    run_number: int | None
    run_attempt: int
    status: str
    conclusion: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    billable_minutes: int
    cost: float
    list_cost: float
    unpriced_jobs: int
    attempts: list[AttemptCost] = Field(description="Every attempt is billed; the run's cost is their sum")
    jobs: list[RunJob]
