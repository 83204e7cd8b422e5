"""GET /costs (the cloud-cost API's list of cost entries) and /v1/cloud/costs/* (enveloped breakdowns).

An API key with the `read` scope or a member's token; the organization is named by its GitHub login in `org`.
Days are UTC charge days (the day a FOCUS charge period starts); the default range is the current month.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cicosts.cloud.costs import service
from cicosts.cloud.costs.schemas import (
    AccountCost,
    Breakdown,
    CostEntry,
    CostSeries,
    CostSummary,
    Granularity,
    RegionCost,
    ServiceCost,
    TagCosts,
)
from cicosts.cloud.dependencies import Selected
from cicosts.db import TransactionalRoute
from cicosts.identity.dependencies import Session
from cicosts.kit.envelope import Envelope, envelope
from cicosts.kit.ids import MAX_PAGE

router = APIRouter(prefix="/v1/cloud/costs", tags=["cloud"], route_class=TransactionalRoute)
entries_router = APIRouter(tags=["cloud"], route_class=TransactionalRoute)
ERRORS: dict[int | str, dict[str, str]] = {
    400: {
        "description": "A reversed range, day granularity past 366 days, or no `org` for a user of several"
    },
    401: {"description": "No or invalid credentials"},
    403: {"description": "Not a member of the organization, or another organization's API key"},
    404: {"description": "Unknown organization"},
    422: {"description": "A malformed parameter (the detail names it)"},
}
Limit = Annotated[int, Query(ge=1, le=1000, description="Most items per currency")]
Name = Annotated[str | None, Query(min_length=1, max_length=255)]


@entries_router.get("/costs", responses=ERRORS)
async def cost_entries(
    session: Session,
    selected: Selected,
    service_name: Annotated[str | None, Query(alias="service", min_length=1, max_length=255)] = None,
    region: Name = None,
    provider: Name = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[CostEntry]:
    """Cost entries (FOCUS rows), latest charge day first, each in its billing currency."""
    return await service.entries(
        session,
        selected,
        service=service_name,
        region=region,
        provider=provider,
        page=page,
        per_page=per_page,
    )


@router.get("/summary", responses=ERRORS)
async def costs_summary(session: Session, selected: Selected) -> Envelope[CostSummary]:
    """Billed, effective, list and contracted cost in USD; other currencies apart."""
    return envelope(await service.summary(session, selected), selected.dates.capped)


@router.get("/by-service", responses=ERRORS)
async def costs_by_service(
    session: Session, selected: Selected, limit: Limit = 100
) -> Envelope[Breakdown[ServiceCost]]:
    return envelope(await service.by_service(session, selected, limit), selected.dates.capped)


@router.get("/by-region", responses=ERRORS)
async def costs_by_region(
    session: Session, selected: Selected, limit: Limit = 100
) -> Envelope[Breakdown[RegionCost]]:
    return envelope(await service.by_region(session, selected, limit), selected.dates.capped)


@router.get("/by-account", responses=ERRORS)
async def costs_by_account(
    session: Session, selected: Selected, limit: Limit = 100
) -> Envelope[Breakdown[AccountCost]]:
    """Per billing account and sub-account (AWS linked account, Azure subscription, GCP project...)."""
    return envelope(await service.by_account(session, selected, limit), selected.dates.capped)


@router.get("/by-tag", responses=ERRORS)
async def costs_by_tag(
    session: Session,
    selected: Selected,
    key: Annotated[str, Query(min_length=1, max_length=255, description="Tag key, e.g. environment")],
    limit: Limit = 100,
) -> Envelope[TagCosts]:
    """Per value of one tag key; rows without the key make the item whose value is null."""
    return envelope(await service.by_tag(session, selected, key, limit), selected.dates.capped)


@router.get("/timeseries", responses=ERRORS)
async def costs_timeseries(
    session: Session, selected: Selected, granularity: Granularity = Granularity.DAY
) -> Envelope[CostSeries]:
    """Cost per day, week (from Monday) or month, zero-filled."""
    return envelope(await service.timeseries(session, selected, granularity), selected.dates.capped)
