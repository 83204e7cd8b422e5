"""Stripe webhook events: verified, stored once per event id, and applied in the same transaction.

Applied inline rather than through the worker queue: Stripe sends a few events per organization per month,
applying one is a handful of row updates, and doing it in the transaction that stores the event means a 200
says "stored and applied" — the plan has changed by the time Stripe (and the person back from checkout) sees
the answer. Applying runs in a savepoint: if it fails, the raw event is still committed, marked `failed` with
its error (visible, like a dead letter), and the 500 makes Stripe deliver it again with backoff for up to
three days; the redelivery applies it (a failed event is the one kind of stored event applied again).

Stripe does not deliver in order. Each event carries the object as it was at `created`, so the subscription
keeps the `created` of the last snapshot (`snapshot_at`) and of the last status change (`status_at`), and an
event older than those changes nothing ("stale"). Events created in the same second are ordered by how far
along the subscription's life their status is (incomplete < trialing < active, past_due < unpaid < canceled).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.billing import repository
from cicosts.billing.service import GRANTING, sync_plan, tier_for_price
from cicosts.config import Settings
from cicosts.errors import BadRequest, CICostsError, ServiceUnavailable
from cicosts.kit.periods import utc_now
from cicosts.models import Organization, Subscription
from cicosts.notify.email import Link, message
from cicosts.notify.outbox import enqueue_email
from cicosts.notify.recipients import admin_recipients

logger = logging.getLogger("cicosts.billing")

APPLIED, STALE, IGNORED, DUPLICATE, FAILED = "applied", "stale", "ignored", "duplicate", "failed"
SIGNATURE_TOLERANCE_SECONDS = 300  # Stripe's default: a signature older than this is a replay attack
STATUS_RANK = {
    "incomplete": 0,
    "trialing": 1,
    "active": 2,
    "past_due": 2,
    "unpaid": 3,
    "paused": 3,
    "canceled": 4,
    "incomplete_expired": 4,
}


class EventNotApplied(CICostsError):
    """Applying a stored event failed: the event and its error are kept, and Stripe delivers it again."""

    status_code = 500
    keep_changes = True


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    created: datetime
    object: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    result: str
    org_id: int | None = None


def verify(body: bytes, signature: str | None, secret: str) -> Event:
    """Check `Stripe-Signature` with the official library, then read the event's envelope."""
    if not secret.strip():
        raise ServiceUnavailable("Billing is not configured: STRIPE_WEBHOOK_SECRET is not set")
    if not signature:
        raise BadRequest("Missing Stripe-Signature header")
    try:
        stripe.WebhookSignature.verify_header(
            body.decode("utf-8"), signature, secret, SIGNATURE_TOLERANCE_SECONDS
        )
    except UnicodeDecodeError as exc:
        raise BadRequest("Body is not UTF-8") from exc
    except stripe.SignatureVerificationError as exc:
        raise BadRequest(f"Stripe-Signature does not verify: {exc.user_message or exc}") from exc
    try:
        data = json.loads(body)
        event = Event(
            id=str(data["id"]),
            type=str(data["type"]),
            created=datetime.fromtimestamp(int(data["created"]), UTC),
            object=dict(data["data"]["object"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequest(f"Body is not a Stripe event: {exc}") from exc
    if not event.id:
        raise BadRequest("Body is not a Stripe event: no id")
    return event


async def receive(session: AsyncSession, event: Event, payload: str, settings: Settings) -> str:
    """Store the event once, apply it, and say what it did; a replayed event id changes nothing."""
    stored = await repository.store_event_once(
        session,
        event_id=event.id,
        event_type=event.type,
        created=event.created,
        payload=payload,
        outcome=FAILED,  # until applied, below in this same transaction
    )
    row = await repository.event_for_update(session, event.id)
    assert row is not None
    if not stored:
        if row.outcome != FAILED:
            return DUPLICATE
        row.attempts += 1
    try:
        async with session.begin_nested():
            outcome = await apply(session, event, settings)
    except Exception as exc:
        row.last_error = f"{type(exc).__name__}: {exc}"[:4000]
        logger.exception("Stripe event %s (%s) failed", event.id, event.type)
        raise EventNotApplied(
            f"Stripe event {event.id} could not be applied; it is kept and retried"
        ) from exc
    row.outcome = outcome.result
    row.org_id = outcome.org_id
    row.last_error = None
    row.processed_at = utc_now()
    return outcome.result


async def apply(session: AsyncSession, event: Event, settings: Settings) -> Outcome:
    if event.type == "checkout.session.completed":
        return await _checkout_completed(session, event, settings)
    if event.type.startswith("customer.subscription."):
        return await _subscription_changed(session, event, settings)
    if event.type == "invoice.paid":
        return await _invoice_paid(session, event)
    if event.type == "invoice.payment_failed":
        return await _invoice_payment_failed(session, event, settings)
    return Outcome(IGNORED)


# --- reading Stripe objects -------------------------------------------------------------------------


def _id(value: Any) -> str | None:
    """An id Stripe sends either as a string or, when expanded, as the object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _metadata_org_id(obj: dict[str, Any]) -> int | None:
    metadata = obj.get("metadata")
    raw = metadata.get("org_id") if isinstance(metadata, dict) else None
    raw = raw or obj.get("client_reference_id")
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int) and value > 0 else None


def _subscription_price(obj: dict[str, Any]) -> str | None:
    items = obj.get("items")
    data = items.get("data") if isinstance(items, dict) else None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return _id(data[0].get("price")) or _id(data[0].get("plan"))
    return _id(obj.get("plan"))


def _period_end(obj: dict[str, Any]) -> datetime | None:
    """On the subscription in older API versions; on its items since 2025-03-31."""
    if found := _timestamp(obj.get("current_period_end")):
        return found
    items = obj.get("items")
    data = items.get("data") if isinstance(items, dict) else None
    ends = [
        end
        for item in (data if isinstance(data, list) else [])
        if isinstance(item, dict) and (end := _timestamp(item.get("current_period_end")))
    ]
    return max(ends) if ends else None


def _invoice_subscription(obj: dict[str, Any]) -> str | None:
    """`invoice.subscription` in older API versions; `parent.subscription_details` since 2025-03-31."""
    if found := _id(obj.get("subscription")):
        return found
    parent = obj.get("parent")
    details = parent.get("subscription_details") if isinstance(parent, dict) else None
    return _id(details.get("subscription")) if isinstance(details, dict) else None


# --- ordering -----------------------------------------------------------------------------------------


def _newer(known_at: datetime | None, known_status: str | None, created: datetime, status: str) -> bool:
    """Whether a status seen at `created` is newer than the one known since `known_at`."""
    if known_at is None or created > known_at:
        return True
    if created < known_at:
        return False
    return STATUS_RANK.get(status, 0) >= STATUS_RANK.get(known_status or "", 0)


def _set_status(subscription: Subscription, status: str, at: datetime) -> None:
    if status == "past_due":
        if subscription.status != "past_due" or subscription.past_due_since is None:
            subscription.past_due_since = at
    else:
        subscription.past_due_since = None
    subscription.status = status
    subscription.status_at = at


# --- finding the organization ---------------------------------------------------------------------------


async def _find(
    session: AsyncSession,
    *,
    subscription_id: str | None = None,
    customer_id: str | None = None,
    org_id: int | None = None,
) -> Subscription | None:
    """The organization's subscription row: by subscription, then customer, then the org id we sent Stripe."""
    if subscription_id and (found := await repository.subscription_by_stripe_id(session, subscription_id)):
        return found
    if customer_id and (found := await repository.subscription_by_customer(session, customer_id)):
        return found
    if org_id is None or await session.get(Organization, org_id) is None:
        return None
    found = await repository.subscription_of_org(session, org_id)
    return found or repository.add_subscription(session, org_id)


async def _organization(session: AsyncSession, subscription: Subscription) -> Organization:
    org = await session.get(Organization, subscription.org_id)
    assert org is not None, "subscriptions reference their organization by a foreign key"
    return org


# --- handlers ---------------------------------------------------------------------------------------------


async def _checkout_completed(session: AsyncSession, event: Event, settings: Settings) -> Outcome:
    """Link the organization to its customer and subscription, and provision the plan paid for at once."""
    obj = event.object
    subscription_id, customer_id = _id(obj.get("subscription")), _id(obj.get("customer"))
    if obj.get("mode") != "subscription" or subscription_id is None:
        return Outcome(IGNORED)
    subscription = await _find(session, customer_id=customer_id, org_id=_metadata_org_id(obj))
    if subscription is None:
        return Outcome(IGNORED)
    if customer_id and subscription.stripe_customer_id is None:
        subscription.stripe_customer_id = customer_id
    if subscription.stripe_subscription_id not in (None, subscription_id):
        if subscription.status in GRANTING:
            return Outcome(STALE, subscription.org_id)  # another subscription is the one in force
        _forget_subscription(subscription)
    subscription.stripe_subscription_id = subscription_id
    metadata = obj.get("metadata")
    price_id = metadata.get("price_id") if isinstance(metadata, dict) else None
    if subscription.snapshot_at is None and (tier := tier_for_price(settings, price_id)):
        subscription.price_id, subscription.tier = price_id, tier
    paid = obj.get("payment_status") in ("paid", "no_payment_required")
    if paid and _newer(subscription.status_at, subscription.status, event.created, "active"):
        _set_status(subscription, "active", event.created)
    await session.flush()
    sync_plan(await _organization(session, subscription), subscription)
    return Outcome(APPLIED, subscription.org_id)


def _forget_subscription(subscription: Subscription) -> None:
    """Another subscription takes over: what was known about the previous one no longer orders anything."""
    subscription.snapshot_at = subscription.status_at = subscription.past_due_since = None
    subscription.status = None


async def _subscription_changed(session: AsyncSession, event: Event, settings: Settings) -> Outcome:
    """created / updated / deleted: the subscription as it was at `created`, applied unless older."""
    obj = event.object
    subscription_id = _id(obj.get("id"))
    status = "canceled" if event.type == "customer.subscription.deleted" else obj.get("status")
    if subscription_id is None or not isinstance(status, str):
        return Outcome(IGNORED)
    subscription = await _find(
        session,
        subscription_id=subscription_id,
        customer_id=_id(obj.get("customer")),
        org_id=_metadata_org_id(obj),
    )
    if subscription is None:
        return Outcome(IGNORED)
    if subscription.stripe_subscription_id not in (None, subscription_id):
        if subscription.status in GRANTING and status not in GRANTING:
            return Outcome(STALE, subscription.org_id)  # news of an older subscription, not the one in force
        _forget_subscription(subscription)
    subscription.stripe_subscription_id = subscription_id
    customer_id = _id(obj.get("customer"))
    if customer_id and subscription.stripe_customer_id is None:
        subscription.stripe_customer_id = customer_id
    fields_newer = subscription.snapshot_at is None or event.created >= subscription.snapshot_at
    status_newer = _newer(subscription.status_at, subscription.status, event.created, status)
    if not fields_newer and not status_newer:
        return Outcome(STALE, subscription.org_id)
    if fields_newer:
        price_id = _subscription_price(obj)
        subscription.price_id = price_id or subscription.price_id
        tier = tier_for_price(settings, price_id)
        if tier is None and price_id:
            logger.warning(
                "subscription %s has price %s, not one of the configured prices", subscription_id, price_id
            )
        subscription.tier = tier or subscription.tier
        subscription.current_period_end = _period_end(obj) or subscription.current_period_end
        subscription.cancel_at_period_end = bool(obj.get("cancel_at_period_end"))
        subscription.snapshot_at = event.created
    if status_newer:
        _set_status(subscription, status, event.created)
    await session.flush()
    sync_plan(await _organization(session, subscription), subscription)
    return Outcome(APPLIED, subscription.org_id)


async def _invoice_subscription_row(session: AsyncSession, event: Event) -> Subscription | None:
    subscription_id = _invoice_subscription(event.object)
    if subscription_id is None:
        return None  # a one-off invoice: not a plan's
    subscription = await _find(
        session, subscription_id=subscription_id, customer_id=_id(event.object.get("customer"))
    )
    if subscription is None or subscription.stripe_subscription_id not in (None, subscription_id):
        return None
    subscription.stripe_subscription_id = subscription_id
    return subscription


async def _invoice_paid(session: AsyncSession, event: Event) -> Outcome:
    """A payment went through: a past-due (or unpaid, or first) subscription is active again."""
    subscription = await _invoice_subscription_row(session, event)
    if subscription is None:
        return Outcome(IGNORED)
    if subscription.status not in ("past_due", "unpaid", "incomplete"):
        return Outcome(APPLIED, subscription.org_id)  # nothing owed: nothing to change
    if not _newer(subscription.status_at, subscription.status, event.created, "active"):
        return Outcome(STALE, subscription.org_id)
    _set_status(subscription, "active", event.created)
    await session.flush()
    sync_plan(await _organization(session, subscription), subscription)
    return Outcome(APPLIED, subscription.org_id)


async def _invoice_payment_failed(session: AsyncSession, event: Event, settings: Settings) -> Outcome:
    """A renewal was not paid: past due, the plan kept for the grace period, and the admins told."""
    subscription = await _invoice_subscription_row(session, event)
    if subscription is None:
        return Outcome(IGNORED)
    if subscription.status not in GRANTING:
        return Outcome(IGNORED, subscription.org_id)  # a first payment (incomplete) or an ended subscription
    if not _newer(subscription.status_at, subscription.status, event.created, "past_due"):
        return Outcome(STALE, subscription.org_id)
    _set_status(subscription, "past_due", event.created)
    await session.flush()
    org = await _organization(session, subscription)
    sync_plan(org, subscription)
    await _tell_admins_payment_failed(session, event, org, subscription, settings)
    return Outcome(APPLIED, subscription.org_id)


async def _tell_admins_payment_failed(
    session: AsyncSession, event: Event, org: Organization, subscription: Subscription, settings: Settings
) -> None:
    recipients = await admin_recipients(session, org.id)
    if not recipients:
        return
    tier = subscription.tier.capitalize()
    lapses = org.plan_expires_at
    until = f"until {lapses:%Y-%m-%d %H:%M} UTC" if lapses else "for now"
    paragraphs = [
        f"We could not collect the payment for {org.name}'s CICosts {tier} plan.",
        f"{org.name} keeps the {tier} plan {until}. If the payment has not gone through by then, it falls"
        " back to the Free plan: nothing is deleted, but what is beyond the Free plan's limits is hidden"
        " until the payment goes through.",
        "Update the payment method from the billing page of CICosts (Manage billing).",
    ]
    invoice_url = event.object.get("hosted_invoice_url")
    links = (
        [Link("Pay the invoice", invoice_url)]
        if isinstance(invoice_url, str) and invoice_url.startswith("https://")
        else []
    )
    email = message(recipients, f"Payment failed for {org.name} on CICosts", paragraphs, links)
    await enqueue_email(session, email, settings, dedupe_key=f"stripe:{event.id}")
