"""Scheduled and queued maintenance work: re-pricing history, erasing deleted accounts."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from cicosts.ci.deliveries.context import DeliveryContext
from cicosts.ci.repricing import reprice_organization
from cicosts.identity.settings.service import erase_user

Task = Callable[[DeliveryContext, dict[str, Any]], Awaitable[None]]


async def _reprice(ctx: DeliveryContext, payload: dict[str, Any]) -> None:
    await reprice_organization(ctx, int(payload["org_id"]))


async def _erase_user(ctx: DeliveryContext, payload: dict[str, Any]) -> None:
    await erase_user(ctx.session, int(payload["user_id"]))


TASKS: dict[str, Task] = {"reprice_org": _reprice, "erase_user": _erase_user}


async def run_task(ctx: DeliveryContext, kind: str, payload: str) -> bool:
    task = TASKS.get(kind)
    if task is None:
        return False
    await task(ctx, json.loads(payload))
    await ctx.finish()
    return True
