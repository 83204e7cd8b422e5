"""GET /api/v1/dashboard/*: what an organization's members see on the CI dashboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from cicosts.ci.dashboard import service
from cicosts.ci.dashboard.repository import WorkflowFilters
from cicosts.ci.dashboard.schemas import (
    DashboardSummary,
    RecentRun,
    RunDetail,
    TopWorkflow,
    TrendPoint,
    WorkflowList,
    WorkflowsSummary,
)
from cicosts.db import TransactionalRoute
from cicosts.identity.dependencies import OrgReader, Session, get_settings_from_app
from cicosts.kit.ids import MAX_PAGE, PathId
from cicosts.kit.periods import utc_now

router = APIRouter(prefix="/api/v1/dashboard", tags=["dashboard"], route_class=TransactionalRoute)


async def dashboard_view(request: Request, session: Session, access: OrgReader) -> service.DashboardView:
    return await service.view_of(session, access.organization, get_settings_from_app(request))


View = Annotated[service.DashboardView, Depends(dashboard_view)]
Days = Annotated[int, Query(ge=1, le=365, description="Days back, today included")]


@router.get("/summary")
async def dashboard_summary(session: Session, view: View, days: Days = 30) -> DashboardSummary:
    return await service.summary(session, view, days, utc_now())


@router.get("/trends")
async def dashboard_trends(session: Session, view: View, days: Days = 30) -> list[TrendPoint]:
    return await service.trends(session, view, days, utc_now())


@router.get("/top-workflows")
async def dashboard_top_workflows(
    session: Session,
    view: View,
    days: Days = 30,
    limit: Annotated[int, Query(ge=1, le=100)] = 5,
) -> list[TopWorkflow]:
    return await service.top_workflows(session, view, days, limit, utc_now())


@router.get("/recent-runs")
async def dashboard_recent_runs(
    session: Session, view: View, limit: Annotated[int, Query(ge=1, le=100)] = 10
) -> list[RecentRun]:
    return await service.recent_runs(session, view, limit)


@router.get("/runs/{run_id}")
async def dashboard_run(session: Session, view: View, run_id: PathId) -> RunDetail:
    """One run with its jobs and what each attempt cost (re-runs bill every attempt)."""
    return await service.run_detail(session, view, run_id)


@router.get("/workflows")
async def dashboard_workflows(
    session: Session,
    view: View,
    days: Days = 30,
    repo: Annotated[str | None, Query(max_length=255)] = None,
    status: Annotated[str | None, Query(max_length=20, description="Last run's conclusion")] = None,
    search: Annotated[str | None, Query(max_length=255)] = None,
    sort_by: service.SortField = "cost",
    sort_order: service.SortOrder = "desc",
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> WorkflowList:
    return await service.workflows(
        session,
        view,
        days=days,
        now=utc_now(),
        filters=WorkflowFilters(repo=repo, status=status, search=search),
        sort_by=sort_by,
        sort_order=sort_order,
        page=page,
        per_page=per_page,
    )


@router.get("/workflows/summary")
async def dashboard_workflows_summary(session: Session, view: View, days: Days = 30) -> WorkflowsSummary:
    return await service.workflows_summary(session, view, days, utc_now())
