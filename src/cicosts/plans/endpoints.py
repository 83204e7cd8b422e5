"""/api/v1/limits: the plan, what is used of it, and whether to upgrade."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request

from cicosts.db import TransactionalRoute
from cicosts.identity.dependencies import OrgAccess, Session, get_settings_from_app, require
from cicosts.identity.permissions import Permission
from cicosts.plans import service
from cicosts.plans.schemas import PlanLimits, UpgradeSuggestion, Usage

router = APIRouter(prefix="/api/v1/limits", tags=["limits"], route_class=TransactionalRoute)
# Programs may check their organization's usage too, with a `read` API key.
OrgReader = Annotated[OrgAccess, require(Permission.READ, api_keys=True)]


@router.get("/usage")
async def limits_usage(request: Request, session: Session, access: OrgReader) -> Usage:
    return await service.usage(session, access.organization, get_settings_from_app(request))


@router.get("/plan")
async def limits_plan(request: Request, access: OrgReader) -> PlanLimits:
    return service.limits(service.plan_of(access.organization, get_settings_from_app(request)))


@router.get("/upgrade-suggestion")
async def limits_upgrade_suggestion(
    request: Request, session: Session, access: OrgReader
) -> UpgradeSuggestion:
    settings = get_settings_from_app(request)
    return service.upgrade_suggestion(await service.usage(session, access.organization, settings))
