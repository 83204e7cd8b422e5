"""What an export can be asked for, and the columns each granularity writes, in order."""

from __future__ import annotations

from enum import StrEnum


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


class ExportGranularity(StrEnum):
    SUMMARY = "summary"
    DAILY = "daily"
    PER_RUN = "per-run"
    PER_JOB = "per-job"


# Money columns are USD as exact decimal strings (nanodollar precision); times are ISO 8601 UTC; `date` is the
# local date in the organization's time zone (a job's completion, a run's creation), as /v1/costs counts them.
COLUMNS: dict[ExportGranularity, tuple[str, ...]] = {
    ExportGranularity.SUMMARY: ("repository", "workflow", "runs", "total_cost", "avg_cost"),
    ExportGranularity.DAILY: ("date", "repository", "workflow", "runs", "total_cost", "avg_cost"),
    ExportGranularity.PER_RUN: (
        "date",
        "repository",
        "workflow",
        "run_id",
        "github_run_id",
        "run_number",
        "attempt",
        "event",
        "branch",
        "actor",
        "status",
        "conclusion",
        "created_at",
        "started_at",
        "completed_at",
        "billable_minutes",
        "cost",
        "list_cost",
        "unpriced_jobs",
    ),
    ExportGranularity.PER_JOB: (
        "date",
        "repository",
        "workflow",
        "job_id",
        "github_job_id",
        "run_id",
        "github_run_id",
        "job_name",
        "attempt",
        "status",
        "conclusion",
        "started_at",
        "completed_at",
        "runner_name",
        "runner_group",
        "labels",
        "sku",
        "billable_minutes",
        "unit_price",
        "cost",
        "list_cost",
        "price_source",
        "unpriced",
    ),
}

# Free text that anyone who can push a branch or edit a workflow chooses; see `encoding.safe_cell`.
UNTRUSTED_TEXT = frozenset(
    {"repository", "workflow", "branch", "actor", "job_name", "runner_name", "runner_group", "labels"}
)
