"""GET /recommendations (the cloud-cost API's plain list) and /v1/cloud/recommendations (enveloped, totals).

An API key with the `read` scope or a member's token; the organization is named by its GitHub login in `org`.
"""

from __future__ import annotations

from fastapi import APIRouter

from cicosts.cloud.dependencies import CloudReader
from cicosts.cloud.recommendations import service
from cicosts.cloud.recommendations.schemas import Recommendation, Recommendations
from cicosts.db import TransactionalRoute
from cicosts.identity.dependencies import Session
from cicosts.kit.envelope import Envelope, envelope
from cicosts.kit.periods import utc_now

router = APIRouter(tags=["cloud"], route_class=TransactionalRoute)
ERRORS: dict[int | str, dict[str, str]] = {
    400: {"description": "A user in several organizations who did not name one in `org`"},
    401: {"description": "No or invalid credentials"},
    403: {"description": "Not a member of the organization, or another organization's API key"},
    404: {"description": "Unknown organization"},
    422: {"description": "A malformed parameter (the detail names it)"},
}


@router.get("/recommendations", responses=ERRORS)
async def recommendation_list(session: Session, access: CloudReader) -> list[Recommendation]:
    """Idle and oversized instances over the last 14 days, biggest monthly saving first."""
    found = await service.recommendations(session, access.organization.id, utc_now())
    return found.recommendations


@router.get("/v1/cloud/recommendations", responses=ERRORS)
async def cloud_recommendations(session: Session, access: CloudReader) -> Envelope[Recommendations]:
    """Rightsizing as AWS Compute Optimizer does it: 30 hours of samples in 14 days, p99.5 CPU (and memory)
    plus 20% headroom against the family's smaller sizes, idle below 5% CPU; billed instances without
    samples are listed as "no data"."""
    return envelope(await service.recommendations(session, access.organization.id, utc_now()))
