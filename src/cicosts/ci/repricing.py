"""Re-pricing an organization's history after its runner mappings change (a queued maintenance job).

Re-pricing is idempotent, so a worker that dies part-way simply runs it again from the start.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.ci.deliveries.context import DeliveryContext
from cicosts.ci.deliveries.contributions import job_ci_contribution, job_ledger_contribution, record_ci
from cicosts.ci.deliveries.service import RunTotals, price_existing_job
from cicosts.ledger.service import LEDGER
from cicosts.models import Repository, WorkflowJob

CHUNK = 1000


async def reprice_organization(ctx: DeliveryContext, org_id: int) -> int:
    """Price every completed job of the organization again; returns how many changed."""
    session = ctx.session
    changed, last_id = 0, 0
    while True:
        jobs = list(
            await session.scalars(
                select(WorkflowJob)
                .where(
                    WorkflowJob.org_id == org_id, WorkflowJob.id > last_id, WorkflowJob.status == "completed"
                )
                .order_by(WorkflowJob.id)
                .limit(CHUNK)
                .with_for_update()
            )
        )
        if not jobs:
            return changed
        for job in jobs:
            changed += await _reprice(ctx, session, job)
        await ctx.finish()
        last_id = jobs[-1].id


async def _reprice(ctx: DeliveryContext, session: AsyncSession, job: WorkflowJob) -> int:
    repository = await session.get(Repository, job.repository_id)
    workflow = await ctx.workflow_by_id(job.workflow_id)
    run = await ctx.run(job.org_id, job.github_run_id)
    assert repository is not None and run is not None, "jobs reference both by foreign keys"
    old_ci, old_ledger = job_ci_contribution(job), job_ledger_contribution(job, repository, workflow)
    old_totals = RunTotals.of(job)
    await price_existing_job(ctx, job, repository)
    new_totals = RunTotals.of(job)
    if new_totals == old_totals and old_ledger == job_ledger_contribution(job, repository, workflow):
        return 0
    record_ci(ctx, old_ci, job_ci_contribution(job))
    ctx.record(LEDGER, old_ledger, job_ledger_contribution(job, repository, workflow))
    new_totals.minus(old_totals).add_to(run)
    return 1
