"""GET /v1/optimizations: LLM savings found in the calls a project or organization made (AgentCost's API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cicosts.db import TransactionalRoute
from cicosts.identity.dependencies import Session
from cicosts.kit.periods import utc_now
from cicosts.llm.dependencies import ReadingScope
from cicosts.llm.optimizations import service
from cicosts.llm.optimizations.schemas import Optimizations, OptimizationsSummary

router = APIRouter(prefix="/v1/optimizations", tags=["llm optimizations"], route_class=TransactionalRoute)
ERRORS: dict[int | str, dict[str, str]] = {
    400: {"description": "A user in several organizations who did not name one in `org`"},
    401: {"description": "No or invalid credentials"},
    403: {"description": "Another project's key, or not a member of the organization"},
    404: {"description": "Unknown project or organization"},
    422: {"description": "A malformed parameter (the detail names it)"},
}
Days = Annotated[int, Query(ge=1, le=90, description="Days back, in whole hours up to the end of this one")]


@router.get("", responses=ERRORS)
async def llm_optimizations(session: Session, scope: ReadingScope, days: Days = 30) -> Optimizations:
    """Model downgrades, prompt caching, failed calls and runaway agents: each with the figures from the calls
    it is found in and a monthly saving (the period's saving times 30 / days)."""
    return await service.optimizations(session, scope, days, utc_now())


@router.get("/summary", responses=ERRORS)
async def llm_optimizations_summary(
    session: Session, scope: ReadingScope, days: Days = 30
) -> OptimizationsSummary:
    """What the optimizations save together, counting calls that two of them save on once."""
    return await service.summary(session, scope, days, utc_now())
