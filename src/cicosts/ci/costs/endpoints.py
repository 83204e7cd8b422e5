"""GET /v1/costs*: the public CI costs API (API key with `read` scope, or a member's token)."""

from __future__ import annotations

from fastapi import APIRouter

from cicosts.ci.costs import service
from cicosts.ci.costs.dependencies import Limit, PublicView, Repo, Selected, WorkflowName
from cicosts.ci.costs.schemas import (
    CostSeries,
    CostSummary,
    Granularity,
    RepositoryCosts,
    RunnerCosts,
    WorkflowCosts,
)
from cicosts.db import TransactionalRoute
from cicosts.identity.dependencies import Session
from cicosts.kit.envelope import Envelope, envelope
from cicosts.kit.periods import utc_now

router = APIRouter(prefix="/v1/costs", tags=["costs"], route_class=TransactionalRoute)
ERRORS: dict[int | str, dict[str, str]] = {
    400: {"description": "A reversed range, or day granularity over more than 366 days"},
    401: {"description": "No or invalid credentials"},
    403: {"description": "Not a member of the organization, or another organization's API key"},
    404: {"description": "Unknown organization, repository or workflow"},
    422: {"description": "A malformed parameter (the detail names it)"},
}


@router.get("", responses=ERRORS)
async def costs(
    session: Session,
    selected: Selected,
    repo: Repo = None,
    workflow: WorkflowName = None,
    granularity: Granularity = Granularity.DAY,
) -> Envelope[CostSeries]:
    """Cost, runs and minutes per day, week or month, zero-filled, in the organization's time zone."""
    repositories, workflows = await service.narrowed_to(session, selected.view.org.id, repo, workflow)
    series = await service.cost_series(session, selected, granularity, repositories, workflows)
    return envelope(series, selected.dates.capped)


@router.get("/summary", responses=ERRORS)
async def costs_summary(session: Session, view: PublicView) -> Envelope[CostSummary]:
    """Today, this week and this month so far, against the same stretch before; a month-end projection."""
    return envelope(await service.cost_summary(session, view, utc_now()))


@router.get("/by-repository", responses=ERRORS)
async def costs_by_repository(
    session: Session, selected: Selected, limit: Limit = 20
) -> Envelope[RepositoryCosts]:
    return envelope(await service.costs_by_repository(session, selected, limit), selected.dates.capped)


@router.get("/by-workflow", responses=ERRORS)
async def costs_by_workflow(
    session: Session, selected: Selected, repo: Repo = None, limit: Limit = 20
) -> Envelope[WorkflowCosts]:
    repositories, _ = await service.narrowed_to(session, selected.view.org.id, repo, None)
    result = await service.costs_by_workflow(session, selected, repositories, limit)
    return envelope(result, selected.dates.capped)


@router.get("/by-runner", responses=ERRORS)
async def costs_by_runner(session: Session, selected: Selected) -> Envelope[RunnerCosts]:
    """Cost and minutes per runner SKU, and what public repositories saved on free standard runners."""
    return envelope(await service.costs_by_runner(session, selected), selected.dates.capped)
