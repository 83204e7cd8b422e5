"""/api/v1/settings/runner-mappings (admins and owners change them; members read them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from cicosts.ci.runner_mappings import service
from cicosts.ci.runner_mappings.schemas import RunnerMappingIn, RunnerMappingOut, RunnerMappingSaved
from cicosts.db import TransactionalRoute
from cicosts.identity.dependencies import OrgAccess, OrgReader, Session, require
from cicosts.identity.permissions import Permission
from cicosts.kit.ids import PathId
from cicosts.kit.money import nanos_to_decimal
from cicosts.models import RunnerMapping

router = APIRouter(
    prefix="/api/v1/settings/runner-mappings", tags=["settings"], route_class=TransactionalRoute
)
RunnerAdmin = Annotated[OrgAccess, require(Permission.MANAGE_RUNNERS)]
Reprice = Annotated[bool, Query(description="Also price the organization's past jobs again")]


def _out(mapping: RunnerMapping) -> RunnerMappingOut:
    rate = mapping.nanos_per_minute
    return RunnerMappingOut(
        id=mapping.id,
        match_kind=mapping.match_kind,
        match_value=mapping.match_value,
        sku=mapping.sku,
        usd_per_minute=nanos_to_decimal(rate) if rate is not None else None,
        created_at=mapping.created_at,
    )


async def _saved(session: Session, mapping: RunnerMapping, reprice: bool) -> RunnerMappingSaved:
    if reprice:
        await service.queue_repricing(session, mapping.org_id)
    return RunnerMappingSaved(**_out(mapping).model_dump(), repricing=reprice)


@router.get("")
async def list_runner_mappings(session: Session, access: OrgReader) -> list[RunnerMappingOut]:
    return [_out(m) for m in await service.list_mappings(session, access.organization.id)]


@router.post("", status_code=201)
async def create_runner_mapping(
    body: RunnerMappingIn, session: Session, access: RunnerAdmin, reprice: Reprice = False
) -> RunnerMappingSaved:
    mapping = await service.create_mapping(session, access.organization.id, body)
    return await _saved(session, mapping, reprice)


@router.put("/{mapping_id}")
async def update_runner_mapping(
    mapping_id: PathId, body: RunnerMappingIn, session: Session, access: RunnerAdmin, reprice: Reprice = False
) -> RunnerMappingSaved:
    mapping = await service.update_mapping(session, access.organization.id, mapping_id, body)
    return await _saved(session, mapping, reprice)


@router.delete("/{mapping_id}", status_code=204)
async def delete_runner_mapping(
    mapping_id: PathId, session: Session, access: RunnerAdmin, reprice: Reprice = False
) -> Response:
    await service.delete_mapping(session, access.organization.id, mapping_id)
    if reprice:
        await service.queue_repricing(session, access.organization.id)
    return Response(status_code=204)
