"""Queries behind delivery processing. Rows that events update are read with FOR UPDATE (PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.ci.pricing import PriceBook
from cicosts.ci.runners import OrgRunnerRule
from cicosts.ledger import rollups
from cicosts.ledger.rollups import Contribution
from cicosts.models import (
    CIHourly,
    Installation,
    Repository,
    RunnerMapping,
    RunnerPrice,
    Workflow,
    WorkflowJob,
    WorkflowRun,
)

CI_HOURLY: Table = CIHourly.__table__  # type: ignore[assignment]
CI_HOURLY_KEY = ["org_id", "hour", "repository_id", "workflow_id"]


async def load_price_book(session: AsyncSession) -> PriceBook:
    rows = await session.execute(
        select(
            RunnerPrice.sku,
            RunnerPrice.effective_from,
            RunnerPrice.nanos_per_minute,
            RunnerPrice.standard,
        )
    )
    return PriceBook((sku, day, nanos, standard) for sku, day, nanos, standard in rows)


async def runner_rules(
    session: AsyncSession, org_id: int
) -> tuple[dict[str, OrgRunnerRule], dict[str, OrgRunnerRule]]:
    labels: dict[str, OrgRunnerRule] = {}
    groups: dict[str, OrgRunnerRule] = {}
    mappings = await session.scalars(select(RunnerMapping).where(RunnerMapping.org_id == org_id))
    for mapping in mappings:
        target = labels if mapping.match_kind == "label" else groups
        target[mapping.match_value.lower()] = OrgRunnerRule(mapping.sku, mapping.nanos_per_minute)
    return labels, groups


async def installation(session: AsyncSession, github_installation_id: int) -> Installation | None:
    return await session.scalar(
        select(Installation).where(Installation.github_installation_id == github_installation_id)
    )


async def repository_by_github_id(session: AsyncSession, github_id: int) -> Repository | None:
    return await session.scalar(select(Repository).where(Repository.github_repository_id == github_id))


async def workflow_by_name(session: AsyncSession, repository_id: int, name: str) -> Workflow | None:
    return await session.scalar(
        select(Workflow).where(Workflow.repository_id == repository_id, Workflow.name == name)
    )


async def run_for_update(session: AsyncSession, org_id: int, github_run_id: int) -> WorkflowRun | None:
    return await session.scalar(
        select(WorkflowRun)
        .where(WorkflowRun.org_id == org_id, WorkflowRun.github_run_id == github_run_id)
        .with_for_update()
    )


async def job_for_update(session: AsyncSession, org_id: int, github_job_id: int) -> WorkflowJob | None:
    return await session.scalar(
        select(WorkflowJob)
        .where(WorkflowJob.org_id == org_id, WorkflowJob.github_job_id == github_job_id)
        .with_for_update()
    )


async def add_to_run_totals(
    session: AsyncSession, run_id: int, old: WorkflowJobTotals, new: WorkflowJobTotals
) -> None:
    """Increments in SQL, so jobs of one run processed by different workers never lose an update."""
    changes = {name: getattr(new, name) - getattr(old, name) for name in WorkflowJobTotals.FIELDS}
    if not any(changes.values()):
        return
    await session.execute(
        update(WorkflowRun)
        .where(WorkflowRun.id == run_id)
        .values(
            {
                getattr(WorkflowRun, name): getattr(WorkflowRun, name) + value
                for name, value in changes.items()
            }
        )
    )


async def apply_ci_rollup(session: AsyncSession, old: Contribution | None, new: Contribution | None) -> None:
    await rollups.apply(session, CI_HOURLY, CI_HOURLY_KEY, rollups.delta(old, new))


class WorkflowJobTotals:
    """A job's share of its run's totals."""

    FIELDS = ("billable_minutes", "cost_nanos", "list_cost_nanos", "unpriced_jobs")

    def __init__(
        self,
        billable_minutes: int = 0,
        cost_nanos: int = 0,
        list_cost_nanos: int = 0,
        unpriced_jobs: int = 0,
    ) -> None:
        self.billable_minutes = billable_minutes
        self.cost_nanos = cost_nanos
        self.list_cost_nanos = list_cost_nanos
        self.unpriced_jobs = unpriced_jobs

    @classmethod
    def of(cls, job: WorkflowJob | None) -> WorkflowJobTotals:
        if job is None:
            return cls()
        return cls(job.billable_minutes, job.cost_nanos, job.list_cost_nanos, int(job.unpriced))
