"""GET /v1/analytics/*: what LLM calls cost, by agent, model, dimension and time (AgentCost's API)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from cicosts.db import TransactionalRoute
from cicosts.identity.dependencies import Session
from cicosts.kit.periods import Period, utc_now
from cicosts.llm.analytics import service
from cicosts.llm.analytics.schemas import (
    AgentsAnalytics,
    CacheAnalytics,
    Dimension,
    DimensionAnalytics,
    FullAnalytics,
    ModelsAnalytics,
    Overview,
    TimeGranularity,
    Timeseries,
)
from cicosts.llm.analytics.service import Range
from cicosts.llm.dependencies import ReadingScope

router = APIRouter(prefix="/v1/analytics", tags=["llm analytics"], route_class=TransactionalRoute)
ERRORS: dict[int | str, dict[str, str]] = {
    400: {"description": "start not before end, or too many hourly points"},
    401: {"description": "No or invalid credentials"},
    403: {"description": "Another project's key, or not a member of the organization"},
    404: {"description": "Unknown project or organization"},
    422: {"description": "A malformed parameter (the detail names it)"},
}


def analytics_window(
    range: Annotated[
        Range, Query(description="How far back from now (ignored when start is given)")
    ] = Range.WEEK,
    start: Annotated[datetime | None, Query(description="ISO 8601; naive values are UTC")] = None,
    end: Annotated[datetime | None, Query(description="ISO 8601 (default: now)")] = None,
) -> Period:
    """The window read; the rollups are hourly, so it is read as the whole hours it overlaps."""
    return service.window(range, start, end, utc_now())


Window = Annotated[Period, Depends(analytics_window)]
Granularity = Annotated[TimeGranularity, Query(description="Bucket size; days follow the org's time zone")]


@router.get("/overview", responses=ERRORS)
async def analytics_overview(session: Session, scope: ReadingScope, period: Window) -> Overview:
    return await service.overview(session, scope, period)


@router.get("/agents", responses=ERRORS)
async def analytics_agents(session: Session, scope: ReadingScope, period: Window) -> AgentsAnalytics:
    return await service.agents(session, scope, period)


@router.get("/models", responses=ERRORS)
async def analytics_models(session: Session, scope: ReadingScope, period: Window) -> ModelsAnalytics:
    return await service.models(session, scope, period)


@router.get("/by/{dimension}", responses=ERRORS)
async def analytics_by_dimension(
    session: Session,
    scope: ReadingScope,
    period: Window,
    dimension: Dimension,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> DimensionAnalytics:
    """Cost per user, session, workflow, tool or tag (a call with several tags counts under each)."""
    return await service.by_dimension(session, scope, period, dimension, limit)


@router.get("/timeseries", responses=ERRORS)
async def analytics_timeseries(
    session: Session, scope: ReadingScope, period: Window, granularity: Granularity = TimeGranularity.HOUR
) -> Timeseries:
    return await service.timeseries(session, scope, period, granularity)


@router.get("/cache", responses=ERRORS)
async def analytics_cache(session: Session, scope: ReadingScope, period: Window) -> CacheAnalytics:
    """How much input came from the providers' prompt caches, and what that saved."""
    return await service.cache(session, scope, period)


@router.get("/full", responses=ERRORS)
async def analytics_full(
    session: Session, scope: ReadingScope, period: Window, granularity: Granularity = TimeGranularity.HOUR
) -> FullAnalytics:
    return await service.full(session, scope, period, granularity)
