"""Queries behind /v1/workflows; every one is scoped by organization."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.ci.dashboard.repository import Scope, workflow_totals
from cicosts.kit.periods import Period
from cicosts.models import Repository, Workflow, WorkflowJob, WorkflowRun


async def workflow_in_scope(session: AsyncSession, scope: Scope, workflow_id: int) -> Any | None:
    return (
        await session.execute(
            select(
                Workflow.id,
                Workflow.name,
                Workflow.last_run_at,
                Workflow.last_run_status,
                Repository.full_name,
            )
            .join(Repository, Repository.id == Workflow.repository_id)
            .where(
                Workflow.org_id == scope.org_id,
                Workflow.id == workflow_id,
                scope.visible(Workflow.repository_id),
            )
        )
    ).first()


async def workflow_sums(session: AsyncSession, scope: Scope, period: Period, workflow_id: int) -> Any | None:
    totals = workflow_totals(scope, period)
    return (await session.execute(select(totals).where(totals.c.workflow_id == workflow_id))).first()


async def most_expensive_jobs(
    session: AsyncSession, scope: Scope, period: Period, workflow_id: int, limit: int
) -> list[WorkflowJob]:
    """Through the workflow's runs created in the period, which are indexed by (workflow, created)."""
    runs = (
        select(WorkflowRun.id)
        .where(
            WorkflowRun.workflow_id == workflow_id,
            WorkflowRun.org_id == scope.org_id,
            WorkflowRun.created_at >= period.start,
            WorkflowRun.created_at < period.end,
        )
        .scalar_subquery()
    )
    found = await session.scalars(
        select(WorkflowJob)
        .where(WorkflowJob.org_id == scope.org_id, WorkflowJob.run_id.in_(runs))
        .order_by(WorkflowJob.cost_nanos.desc(), WorkflowJob.id)
        .limit(limit)
    )
    return list(found)
