"""Create, change and delete runner mappings; optionally re-price the organization's history."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.ci.runner_mappings.schemas import RunnerMappingIn
from cicosts.errors import BadRequest, Conflict, NotFound
from cicosts.kit.money import usd_to_nanos
from cicosts.models import RunnerMapping, RunnerPrice
from cicosts.worker import queue


async def list_mappings(session: AsyncSession, org_id: int) -> list[RunnerMapping]:
    return list(
        await session.scalars(
            select(RunnerMapping).where(RunnerMapping.org_id == org_id).order_by(RunnerMapping.id)
        )
    )


async def _check_sku(session: AsyncSession, sku: str | None) -> None:
    if (
        sku is not None
        and await session.scalar(select(RunnerPrice.id).where(RunnerPrice.sku == sku).limit(1)) is None
    ):
        raise BadRequest(f"sku {sku!r} is not a GitHub runner SKU")


def _apply(mapping: RunnerMapping, body: RunnerMappingIn) -> None:
    mapping.match_kind = body.match_kind
    mapping.match_value = body.match_value
    mapping.sku = body.sku
    mapping.nanos_per_minute = usd_to_nanos(body.usd_per_minute) if body.usd_per_minute is not None else None


async def _flush_unique(session: AsyncSession, body: RunnerMappingIn) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"A mapping for {body.match_kind} {body.match_value!r} already exists") from exc


async def create_mapping(session: AsyncSession, org_id: int, body: RunnerMappingIn) -> RunnerMapping:
    await _check_sku(session, body.sku)
    mapping = RunnerMapping(org_id=org_id)
    _apply(mapping, body)
    session.add(mapping)
    await _flush_unique(session, body)
    return mapping


async def _mapping(session: AsyncSession, org_id: int, mapping_id: int) -> RunnerMapping:
    mapping = await session.scalar(
        select(RunnerMapping).where(RunnerMapping.org_id == org_id, RunnerMapping.id == mapping_id)
    )
    if mapping is None:
        raise NotFound(f"Runner mapping {mapping_id} not found")
    return mapping


async def update_mapping(
    session: AsyncSession, org_id: int, mapping_id: int, body: RunnerMappingIn
) -> RunnerMapping:
    await _check_sku(session, body.sku)
    mapping = await _mapping(session, org_id, mapping_id)
    _apply(mapping, body)
    await _flush_unique(session, body)
    return mapping


async def delete_mapping(session: AsyncSession, org_id: int, mapping_id: int) -> None:
    await session.delete(await _mapping(session, org_id, mapping_id))


async def queue_repricing(session: AsyncSession, org_id: int) -> None:
    """Sent to the worker with the request's commit, so it prices with the rules just saved."""
    await queue.enqueue(
        session,
        queue=queue.MAINTENANCE_QUEUE,
        kind="reprice_org",
        dedupe_key=f"reprice_org:{org_id}:{uuid.uuid4().hex}",
        payload=json.dumps({"org_id": org_id}),
    )
