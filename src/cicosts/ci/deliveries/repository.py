"""Queries behind delivery processing. Rows that events update are read with FOR UPDATE (PostgreSQL)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.ci.pricing import PriceBook
from cicosts.ci.runners import OrgRunnerRule
from cicosts.ledger.rollups import Rollup
from cicosts.models import (
    CIDaily,
    CIHourly,
    CIOrgHourly,
    Installation,
    Repository,
    RunnerMapping,
    RunnerPrice,
    Workflow,
    WorkflowJob,
    WorkflowRun,
)

CI_HOURLY = Rollup(
    CIHourly.__table__,  # type: ignore[arg-type]
    ("org_id", "hour", "repository_id", "workflow_id"),
)
CI_DAILY = Rollup(
    CIDaily.__table__,  # type: ignore[arg-type]
    ("org_id", "day", "repository_id", "workflow_id"),
)
CI_ORG_HOURLY = Rollup(CIOrgHourly.__table__, ("org_id", "hour"))  # type: ignore[arg-type]


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


async def repositories_by_github_ids(session: AsyncSession, github_ids: Collection[int]) -> list[Repository]:
    return list(
        await session.scalars(select(Repository).where(Repository.github_repository_id.in_(github_ids)))
    )


async def workflows_named(session: AsyncSession, org_id: int, names: Collection[str]) -> list[Workflow]:
    return list(
        await session.scalars(select(Workflow).where(Workflow.org_id == org_id, Workflow.name.in_(names)))
    )


async def workflow_by_name(session: AsyncSession, repository_id: int, name: str) -> Workflow | None:
    return await session.scalar(
        select(Workflow).where(Workflow.repository_id == repository_id, Workflow.name == name)
    )


async def runs_for_update(
    session: AsyncSession, org_id: int, github_run_ids: Collection[int]
) -> list[WorkflowRun]:
    return list(
        await session.scalars(
            select(WorkflowRun)
            .where(WorkflowRun.org_id == org_id, WorkflowRun.github_run_id.in_(github_run_ids))
            .order_by(WorkflowRun.id)
            .with_for_update()
        )
    )


async def jobs_for_update(
    session: AsyncSession, org_id: int, github_job_ids: Collection[int]
) -> list[WorkflowJob]:
    return list(
        await session.scalars(
            select(WorkflowJob)
            .where(WorkflowJob.org_id == org_id, WorkflowJob.github_job_id.in_(github_job_ids))
            .order_by(WorkflowJob.id)
            .with_for_update()
        )
    )
