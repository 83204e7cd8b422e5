"""GET /v1/recommendations: CI savings found in the organization's own jobs (API key or a member's token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cicosts.ci.costs.dependencies import PublicView
from cicosts.ci.recommendations import service
from cicosts.ci.recommendations.schemas import Recommendations
from cicosts.db import TransactionalRoute
from cicosts.identity.dependencies import Session
from cicosts.kit.envelope import Envelope, envelope
from cicosts.kit.periods import utc_now

router = APIRouter(prefix="/v1", tags=["recommendations"], route_class=TransactionalRoute)
ERRORS: dict[int | str, dict[str, str]] = {
    400: {"description": "A user in several organizations who did not name one in `org`"},
    401: {"description": "No or invalid credentials"},
    403: {"description": "Not a member of the organization, or another organization's API key"},
    404: {"description": "Unknown organization"},
    422: {"description": "A malformed parameter (the detail names it)"},
}


Days = Annotated[
    int, Query(ge=1, le=365, description="Days back, today included (capped by the plan's history)")
]


@router.get("/recommendations", responses=ERRORS)
async def recommendations(session: Session, view: PublicView, days: Days = 30) -> Envelope[Recommendations]:
    """Re-runs after failures, superseded runs, short jobs rounded up, short jobs on macOS or larger runners,
    and what public repositories already save: each with its evidence and a monthly saving."""
    now = utc_now()
    result = await service.recommendations(session, view, days, now)
    return envelope(result, service.capped_range(view, days, now))
