"""/api/v1/settings/api-keys (admins and owners)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response

from cicosts.db import TransactionalRoute
from cicosts.identity.api_keys import service
from cicosts.identity.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from cicosts.identity.dependencies import OrgAccess, Session, require
from cicosts.identity.permissions import Permission
from cicosts.kit.ids import PathId
from cicosts.models import ApiKey

router = APIRouter(prefix="/api/v1/settings/api-keys", tags=["settings"], route_class=TransactionalRoute)
KeyAdmin = Annotated[OrgAccess, require(Permission.MANAGE_API_KEYS)]


def _out(row: ApiKey) -> ApiKeyOut:
    return ApiKeyOut.model_validate(row, from_attributes=True)


@router.post("", status_code=201)
async def create_api_key(body: ApiKeyCreate, session: Session, access: KeyAdmin) -> ApiKeyCreated:
    user = access.principal.user
    row, key = await service.create_api_key(
        session,
        org_id=access.organization.id,
        name=body.name,
        scopes=list(body.scopes),
        created_by=user.id if user else None,
        project_id=body.project_id,
    )
    return ApiKeyCreated(**_out(row).model_dump(), key=key)


@router.get("")
async def list_api_keys(session: Session, access: KeyAdmin) -> list[ApiKeyOut]:
    return [_out(row) for row in await service.list_api_keys(session, access.organization.id)]


@router.delete("/{key_id}", status_code=204)
async def revoke_api_key(key_id: PathId, session: Session, access: KeyAdmin) -> Response:
    await service.revoke_api_key(session, access.organization.id, key_id)
    return Response(status_code=204)
