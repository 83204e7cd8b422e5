"""Workflows with what they cost, how often they succeed and how long they take, over local days."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.ci.costs.schemas import Granularity
from cicosts.ci.costs.service import Selection, cost_series
from cicosts.ci.dashboard import repository as dashboard
from cicosts.ci.dashboard.repository import WorkflowFilters
from cicosts.ci.dashboard.service import order_by
from cicosts.ci.workflows import repository
from cicosts.ci.workflows.schemas import ExpensiveJob, WorkflowDetail, WorkflowPage, WorkflowStats
from cicosts.errors import NotFound
from cicosts.kit.money import nanos_to_json_usd

EXPENSIVE_JOBS = 10


def _stats(row: Any, sums: Any) -> dict[str, Any]:
    completed = int(sums.completed) if sums is not None else 0
    return {
        "id": row.id,
        "name": row.name,
        "repository": row.full_name,
        "runs": int(sums.runs) if sums is not None else 0,
        "cost": nanos_to_json_usd(int(sums.cost)) if sums is not None else 0.0,
        "unpriced_jobs": int(sums.unpriced) if sums is not None else 0,
        "success_rate": round(int(sums.successful) * 100 / completed, 1) if completed else None,
        "avg_duration_minutes": round(int(sums.seconds) / completed / 60, 2) if completed else 0.0,
        "last_run_at": row.last_run_at,
        "last_run_status": row.last_run_status,
    }


async def workflow_page(
    session: AsyncSession, selection: Selection, repo: str | None, page: int, per_page: int
) -> WorkflowPage:
    rows, total = await dashboard.workflow_page(
        session,
        selection.view.scope,
        selection.period,
        WorkflowFilters(repo=repo),
        order_by("cost", "desc"),
        (page - 1) * per_page,
        per_page,
    )
    return WorkflowPage(
        start_date=selection.dates.start,
        end_date=selection.dates.end,
        workflows=[WorkflowStats(**_stats(row, row)) for row in rows],
        total=total,
        page=page,
        per_page=per_page,
    )


def _expensive_job(job: Any) -> ExpensiveJob:
    return ExpensiveJob(
        id=job.github_job_id,
        run_id=job.github_run_id,
        name=job.name,
        attempt=job.run_attempt,
        sku=job.sku,
        billable_minutes=job.billable_minutes,
        cost=nanos_to_json_usd(job.cost_nanos),
        completed_at=job.completed_at,
    )


async def workflow_detail(session: AsyncSession, selection: Selection, workflow_id: int) -> WorkflowDetail:
    scope, period = selection.view.scope, selection.period
    row = await repository.workflow_in_scope(session, scope, workflow_id)
    if row is None:
        raise NotFound(f"Workflow {workflow_id} not found")
    sums = await repository.workflow_sums(session, scope, period, workflow_id)
    jobs = await repository.most_expensive_jobs(session, scope, period, workflow_id, EXPENSIVE_JOBS)
    daily = await cost_series(session, selection, Granularity.DAY, None, [workflow_id])
    return WorkflowDetail(
        **_stats(row, sums),
        start_date=selection.dates.start,
        end_date=selection.dates.end,
        most_expensive_jobs=[_expensive_job(job) for job in jobs],
        daily_costs=daily.costs,
    )
