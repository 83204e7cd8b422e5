"""/v1/pricing: the price catalogue with the organization's custom prices, and setting those (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from cicosts.db import TransactionalRoute
from cicosts.errors import Unauthorized
from cicosts.identity.dependencies import (
    Credentials,
    OrgAccess,
    Session,
    authenticate,
    authorized,
    named_organization,
    require_by_login,
)
from cicosts.identity.permissions import Permission
from cicosts.llm.prices import service
from cicosts.llm.prices.schemas import CustomPriceCreate, CustomPriceOut, ModelPricing, PriceList, SyncReport

router = APIRouter(prefix="/v1/pricing", tags=["llm pricing"], route_class=TransactionalRoute)
PricingReader = Annotated[OrgAccess, require_by_login(Permission.READ)]
PricingAdmin = Annotated[OrgAccess, require_by_login(Permission.MANAGE_SETTINGS)]
ProjectFilter = Annotated[
    int | None, Query(ge=1, description="Also this project's own prices (they win over the organization's)")
]
ProviderFilter = Annotated[
    str | None, Query(min_length=1, max_length=100, description="Provider, e.g. openai")
]
ERRORS: dict[int | str, dict[str, str]] = {
    400: {"description": "A user in several organizations must name one (`org`)"},
    401: {"description": "No or invalid credentials"},
    403: {"description": "Not a member, a role without the permission, or a key without the scope"},
    404: {"description": "Unknown organization, project or model"},
    422: {"description": "A malformed field (the detail names it)"},
}


async def optional_reader(
    request: Request,
    session: Session,
    credentials: Credentials,
    org: Annotated[str | None, Query(max_length=255, description="Organization's GitHub login")] = None,
) -> OrgAccess | None:
    """Nobody, when no credentials are sent: the catalogue is public, an organization's own prices are not."""
    if credentials is None:
        return None
    principal = await authenticate(request, session, credentials)
    organization, membership = await named_organization(session, principal, org)
    return authorized(organization, membership, principal, Permission.READ, True)


optional_reader.permission = Permission.READ  # type: ignore[attr-defined]  # read by the access tests


@router.get("", responses=ERRORS)
async def price_list(
    session: Session,
    access: Annotated[OrgAccess | None, Depends(optional_reader)],
    project_id: ProjectFilter = None,
    provider: ProviderFilter = None,
) -> PriceList:
    """Every catalogue model's current rates; with credentials, the organization's custom prices in front
    and listed. Without, the catalogue alone (the AgentCost SDK fetches it so)."""
    if access is None:
        if project_id is not None:
            raise Unauthorized("project_id: sign in to see a project's prices")
        return service.catalogue_list(provider)
    return await service.price_list(session, access.organization, project_id, provider)


@router.post("", status_code=201, responses=ERRORS)
async def set_custom_price(body: CustomPriceCreate, session: Session, access: PricingAdmin) -> CustomPriceOut:
    """Your own price for a model, per 1M tokens, from `effective_from` on (calls before it keep theirs)."""
    user = access.principal.user
    return await service.set_custom_price(session, access.organization, body, user.id if user else None)


@router.post("/sync-defaults", responses=ERRORS)
async def sync_defaults(session: Session, access: PricingAdmin) -> SyncReport:
    """The catalogue's version and size; unpriced calls the catalogue can price now get their price."""
    return await service.sync_defaults(session, access.organization)


@router.get("/{model:path}", responses=ERRORS)
async def model_pricing(
    model: Annotated[str, Path(min_length=1, max_length=255, description="Model name, e.g. gpt-4o")],
    session: Session,
    access: PricingReader,
    provider: ProviderFilter = None,
    project_id: ProjectFilter = None,
) -> ModelPricing:
    """The price a call to `model` gets now: a custom price, else the catalogue's (404: neither knows it)."""
    return await service.model_pricing(session, access.organization, model, provider, project_id)
