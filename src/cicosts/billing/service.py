"""Prices, the subscription as an organization sees it, checkout and the customer portal.

The plan follows Stripe: `sync_plan` turns the subscription Stripe last described into the organization's
plan (through `plans.service.grant_plan`). A past-due subscription keeps its paid plan for a grace period,
after which the plan lapses to free by itself: the lapse is checked wherever the plan is read
(`plans.service.tier_of`), so no scheduler has to be on time. A lower plan hides, never deletes.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.billing import repository, stripe_api
from cicosts.billing.schemas import (
    CheckoutRequest,
    PlanPrices,
    PortalRequest,
    Prices,
    SubscriptionState,
)
from cicosts.config import Settings
from cicosts.errors import BadRequest, Conflict
from cicosts.identity.auth.service import allowed_redirect
from cicosts.models import Organization, Subscription
from cicosts.plans.service import grant_plan, tier_of
from cicosts.worker import queue

GRACE_PERIOD = timedelta(days=7)
CANCEL_SUBSCRIPTION = "cancel_subscription"  # a maintenance task: a deleted organization's subscription
PAID = frozenset({"active", "trialing"})  # the paid plan, no questions asked
GRANTING = PAID | {"past_due"}  # past_due: the paid plan until the grace period ends
ENDED = frozenset({"canceled", "incomplete_expired"})
# A subscription in one of these states is changed or paid in the portal, not bought a second time.
OPEN = frozenset({"active", "trialing", "past_due", "unpaid", "paused"})


def prices(settings: Settings) -> Prices:
    configured = settings.stripe_prices
    return Prices(
        pro=PlanPrices(monthly=configured["pro"].get("monthly"), annual=configured["pro"].get("annual")),
        team=PlanPrices(monthly=configured["team"].get("monthly"), annual=configured["team"].get("annual")),
    )


def tier_for_price(settings: Settings, price_id: str | None) -> str | None:
    for tier, by_interval in settings.stripe_prices.items():
        if price_id and price_id in by_interval.values():
            return tier
    return None


def grace_ends_at(subscription: Subscription) -> datetime | None:
    if subscription.status != "past_due" or subscription.past_due_since is None:
        return None
    return subscription.past_due_since + GRACE_PERIOD


def sync_plan(org: Organization, subscription: Subscription) -> None:
    """The organization's plan, from the subscription's status and price."""
    if subscription.status in PAID:
        grant_plan(org, subscription.tier)
    elif subscription.status == "past_due":
        grant_plan(org, subscription.tier, expires_at=grace_ends_at(subscription))
    else:
        grant_plan(org, "free")


async def subscription_state(session: AsyncSession, org: Organization) -> SubscriptionState:
    subscription = await repository.subscription_of_org(session, org.id, lock=False)
    if subscription is None:
        return SubscriptionState(
            org_id=org.id,
            tier=tier_of(org),
            status=None,
            current_period_end=None,
            cancel_at_period_end=False,
            has_subscription=False,
            grace_ends_at=None,
        )
    return SubscriptionState(
        org_id=org.id,
        tier=tier_of(org),
        status=subscription.status,
        current_period_end=subscription.current_period_end,
        cancel_at_period_end=subscription.cancel_at_period_end,
        has_subscription=bool(
            subscription.stripe_subscription_id
            and subscription.status is not None
            and subscription.status not in ENDED
        ),
        grace_ends_at=grace_ends_at(subscription),
    )


def return_url(url: str | None, default_query: str, settings: Settings, field: str) -> str:
    """Where Stripe sends people back: a URL of the dashboard (OAUTH_REDIRECT_ALLOWLIST), never elsewhere."""
    if url is None:
        if not settings.redirect_allowlist:
            raise BadRequest(f"{field}: required, since OAUTH_REDIRECT_ALLOWLIST is empty")
        return settings.redirect_allowlist[0] + default_query
    if not allowed_redirect(url, settings):
        raise BadRequest(f"{field}: {url!r} is not in OAUTH_REDIRECT_ALLOWLIST")
    return url


async def start_checkout(
    session: AsyncSession, org: Organization, request: CheckoutRequest, settings: Settings
) -> str:
    """A Stripe Checkout URL for subscribing the organization at `price_id`; the webhook does the rest."""
    if tier_for_price(settings, request.price_id) is None:
        raise BadRequest(f"price_id: {request.price_id!r} is not a price of this server's plans")
    success_url = return_url(request.success_url, "?checkout=success", settings, "success_url")
    cancel_url = return_url(request.cancel_url, "?checkout=cancel", settings, "cancel_url")
    subscription = await repository.subscription_of_org(session, org.id)
    if subscription is None:
        subscription = repository.add_subscription(session, org.id)
    elif subscription.stripe_subscription_id and subscription.status in OPEN:
        raise Conflict(
            f"Organization {org.login} already has a {subscription.tier} subscription"
            f" ({subscription.status}); change or cancel it in the billing portal"
        )
    async with stripe_api.stripe_client(settings) as client:
        if subscription.stripe_customer_id is None:
            subscription.stripe_customer_id = await stripe_api.create_customer(client, org)
        return await stripe_api.create_checkout_session(
            client,
            org_id=org.id,
            customer_id=subscription.stripe_customer_id,
            price_id=request.price_id,
            success_url=success_url,
            cancel_url=cancel_url,
        )


async def open_portal(
    session: AsyncSession, org: Organization, request: PortalRequest, settings: Settings
) -> str:
    """A Stripe customer portal URL: change plan, payment method, cancel, invoices."""
    subscription = await repository.subscription_of_org(session, org.id, lock=False)
    if subscription is None or subscription.stripe_customer_id is None:
        raise BadRequest(
            f"Organization {org.login} has no Stripe customer yet; subscribe through checkout first"
        )
    url = return_url(request.return_url, "", settings, "return_url")
    async with stripe_api.stripe_client(settings) as client:
        return await stripe_api.create_portal_session(
            client, customer_id=subscription.stripe_customer_id, return_url=url
        )


async def end_subscription_with(session: AsyncSession, org_id: int) -> None:
    """The organization is being deleted: queue its Stripe subscription's cancellation.

    Queued in the deleting transaction, so it happens only if the deletion commits; the worker calls Stripe.
    """
    subscription = await repository.subscription_of_org(session, org_id)
    if subscription is None or not subscription.stripe_subscription_id or subscription.status in ENDED:
        return
    await queue.enqueue(
        session,
        queue=queue.MAINTENANCE_QUEUE,
        kind=CANCEL_SUBSCRIPTION,
        dedupe_key=f"{CANCEL_SUBSCRIPTION}:{subscription.stripe_subscription_id}",
        payload=json.dumps({"subscription_id": subscription.stripe_subscription_id}),
    )


async def cancel_subscription(settings: Settings, subscription_id: str) -> None:
    async with stripe_api.stripe_client(settings) as client:
        await stripe_api.cancel_subscription(client, subscription_id)
