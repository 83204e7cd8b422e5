"""What a job or a run adds to the hourly rollups (see `cicosts.ledger.rollups`)."""

from __future__ import annotations

from cicosts.ci.deliveries.context import DeliveryContext
from cicosts.ci.deliveries.repository import CI_DAILY, CI_HOURLY, CI_ORG_HOURLY
from cicosts.kit.periods import floor_hour
from cicosts.ledger import rollups
from cicosts.ledger.rollups import Contribution
from cicosts.ledger.service import MICROS, ledger_entry
from cicosts.models import Repository, Workflow, WorkflowJob, WorkflowRun

COMPLETED = "completed"
UNKNOWN_SKU = "unknown"


def job_is_billed(job: WorkflowJob) -> bool:
    return job.status == COMPLETED and job.completed_at is not None


def job_ci_contribution(job: WorkflowJob | None) -> Contribution | None:
    """A job counts once it has completed, in the hour it completed."""
    if job is None or not job_is_billed(job):
        return None
    assert job.completed_at is not None
    return rollups.contribution(
        {
            "org_id": job.org_id,
            "hour": floor_hour(job.completed_at),
            "repository_id": job.repository_id,
            "workflow_id": job.workflow_id,
        },
        {
            "cost_nanos": job.cost_nanos,
            "list_cost_nanos": job.list_cost_nanos,
            "billable_minutes": job.billable_minutes,
            "jobs": 1,
            "unpriced_jobs": int(job.unpriced),
        },
    )


def job_ledger_contribution(
    job: WorkflowJob | None, repository: Repository, workflow: Workflow
) -> Contribution | None:
    if job is None or not job_is_billed(job):
        return None
    assert job.completed_at is not None
    return ledger_entry(
        org_id=job.org_id,
        hour=floor_hour(job.completed_at),
        source="ci",
        provider="GitHub",
        service="GitHub Actions",
        sub_account=repository.full_name,
        resource=workflow.name,
        sku=job.sku or UNKNOWN_SKU,
        unit="minutes",
        billed_nanos=job.cost_nanos,
        list_nanos=job.list_cost_nanos,
        quantity_micros=job.billable_minutes * MICROS,
        unpriced=job.unpriced,
    )


def run_duration_seconds(run: WorkflowRun) -> int:
    if run.status != COMPLETED or run.completed_at is None or run.run_started_at is None:
        return 0
    return max(int((run.completed_at - run.run_started_at).total_seconds()), 0)


def run_contribution(run: WorkflowRun | None) -> Contribution | None:
    """A run counts once, in the hour it was created, whatever its attempts."""
    if run is None:
        return None
    completed = run.status == COMPLETED
    return rollups.contribution(
        {
            "org_id": run.org_id,
            "hour": floor_hour(run.created_at),
            "repository_id": run.repository_id,
            "workflow_id": run.workflow_id,
        },
        {
            "runs": 1,
            "completed_runs": int(completed),
            "successful_runs": int(completed and run.conclusion == "success"),
            "run_seconds": run_duration_seconds(run),
        },
    )


def _by_day(contribution: Contribution | None) -> Contribution | None:
    if contribution is None:
        return None
    key = dict(contribution.key)
    key["day"] = key.pop("hour").date()
    return Contribution(tuple(key.items()), contribution.measures)


def _by_organization(contribution: Contribution | None) -> Contribution | None:
    if contribution is None:
        return None
    key = dict(contribution.key)
    return rollups.contribution({"org_id": key["org_id"], "hour": key["hour"]}, contribution.measures)


def record_ci(ctx: DeliveryContext, old: Contribution | None, new: Contribution | None) -> None:
    """One change to the CI rollups: per workflow by hour and by UTC day, and per organization by hour."""
    ctx.record(CI_HOURLY, old, new)
    ctx.record(CI_DAILY, _by_day(old), _by_day(new))
    ctx.record(CI_ORG_HOURLY, _by_organization(old), _by_organization(new))
