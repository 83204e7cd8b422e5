"""Scheduled and queued maintenance work: re-pricing history, erasing deleted accounts, ending the Stripe
subscriptions of deleted organizations."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from cicosts.billing.service import CANCEL_SUBSCRIPTION, cancel_subscription
from cicosts.ci.deliveries.context import DeliveryContext
from cicosts.ci.repricing import reprice_organization
from cicosts.config import Settings
from cicosts.identity.settings.service import erase_user

Task = Callable[[DeliveryContext, Settings, dict[str, Any]], Awaitable[None]]


async def _reprice(ctx: DeliveryContext, _settings: Settings, payload: dict[str, Any]) -> None:
    await reprice_organization(ctx, int(payload["org_id"]))


async def _erase_user(ctx: DeliveryContext, _settings: Settings, payload: dict[str, Any]) -> None:
    await erase_user(ctx.session, int(payload["user_id"]))


async def _cancel_subscription(_ctx: DeliveryContext, settings: Settings, payload: dict[str, Any]) -> None:
    await cancel_subscription(settings, str(payload["subscription_id"]))


TASKS: dict[str, Task] = {
    "reprice_org": _reprice,
    "erase_user": _erase_user,
    CANCEL_SUBSCRIPTION: _cancel_subscription,
}


async def run_task(ctx: DeliveryContext, settings: Settings, kind: str, payload: str) -> bool:
    task = TASKS.get(kind)
    if task is None:
        return False
    await task(ctx, settings, json.loads(payload))
    await ctx.finish()
    return True
