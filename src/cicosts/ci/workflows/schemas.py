"""Response shapes of /v1/workflows. Money is USD (JSON numbers, 6 decimal places)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from cicosts.ci.costs.schemas import CostPoint


class WorkflowStats(BaseModel):
    id: int
    name: str
    repository: str
    runs: int
    cost: float
    unpriced_jobs: int
    success_rate: float | None = Field(description="Percent of completed runs that succeeded")
    avg_duration_minutes: float = Field(description="Average completed run, start to finish")
    last_run_at: datetime | None
    last_run_status: str | None


class WorkflowPage(BaseModel):
    start_date: date
    end_date: date
    workflows: list[WorkflowStats]
    total: int
    page: int
    per_page: int


class ExpensiveJob(BaseModel):
    id: int = Field(description="GitHub job id")
    run_id: int = Field(description="GitHub run id")
    name: str
    attempt: int
    sku: str | None
    billable_minutes: int
    cost: float
    completed_at: datetime | None


class WorkflowDetail(WorkflowStats):
    start_date: date
    end_date: date
    most_expensive_jobs: list[ExpensiveJob] = Field(description="Jobs of runs created in the range")
    daily_costs: list[CostPoint]
