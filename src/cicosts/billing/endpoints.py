"""/api/v1/billing/* and POST /api/v1/webhooks/stripe.

Every route answers 404 with a clear `detail` while BILLING_ENABLED is false (after checking the caller's
role, for the routes that need one). The organization is named by `org_id` (query or body; see
`dependencies.py`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from cicosts.billing import events, service
from cicosts.billing.dependencies import BillingManager, BillingReader, ensure_billing_enabled
from cicosts.billing.schemas import (
    CheckoutRequest,
    CheckoutSession,
    PortalRequest,
    PortalSession,
    Prices,
    StripeWebhookAck,
    SubscriptionState,
)
from cicosts.db import TransactionalRoute
from cicosts.errors import PayloadTooLarge
from cicosts.identity.dependencies import Session, get_settings_from_app

router = APIRouter(prefix="/api/v1/billing", tags=["billing"], route_class=TransactionalRoute)
webhook_router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], route_class=TransactionalRoute)
MAX_EVENT_BYTES = 2 * 1024 * 1024


@router.get("/prices")
async def billing_prices(request: Request) -> Prices:
    """The Stripe price ids of each plan and interval (no sign-in needed: the pricing page shows them)."""
    settings = get_settings_from_app(request)
    ensure_billing_enabled(settings)
    return service.prices(settings)


@router.get("/subscription")
async def billing_subscription(session: Session, access: BillingReader) -> SubscriptionState:
    return await service.subscription_state(session, access.organization)


@router.post("/checkout")
async def billing_checkout(
    request: Request, session: Session, access: BillingManager, body: CheckoutRequest
) -> CheckoutSession:
    """Start a Stripe Checkout for a paid plan; the plan changes when Stripe's webhook says it is paid."""
    url = await service.start_checkout(session, access.organization, body, get_settings_from_app(request))
    return CheckoutSession(checkout_url=url)


@router.post("/portal")
async def billing_portal(
    request: Request,
    session: Session,
    access: BillingManager,
    body: Annotated[PortalRequest | None, Body()] = None,
) -> PortalSession:
    """Open Stripe's customer portal: change or cancel the plan, the payment method, invoices."""
    settings = get_settings_from_app(request)
    url = await service.open_portal(session, access.organization, body or PortalRequest(), settings)
    return PortalSession(portal_url=url)


STRIPE_OPENAPI: dict[str, Any] = {
    "parameters": [
        {
            "name": "Stripe-Signature",
            "in": "header",
            "required": True,
            "description": "`t=<unix time>,v1=<HMAC-SHA256 of '<t>.<body>' with STRIPE_WEBHOOK_SECRET>`",
            "schema": {"type": "string"},
        }
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object", "description": "A Stripe event"}}},
    },
    "responses": {
        "400": {"description": "A missing or wrong signature, or a body that is not a Stripe event"},
        "404": {"description": "Billing is not enabled on this server"},
        "500": {"description": "The event is stored but could not be applied; Stripe delivers it again"},
    },
}


@webhook_router.post("/stripe", openapi_extra=STRIPE_OPENAPI)
async def receive_stripe_webhook(request: Request, session: Session) -> StripeWebhookAck:
    """Verify, store once per event id, apply, answer; a replayed event gets 200 and changes nothing."""
    settings = get_settings_from_app(request)
    ensure_billing_enabled(settings)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_EVENT_BYTES:
        raise PayloadTooLarge("A Stripe event is never this large")
    body = await request.body()  # the raw bytes: the signature is over them, not over parsed JSON
    if len(body) > MAX_EVENT_BYTES:
        raise PayloadTooLarge("A Stripe event is never this large")
    event = events.verify(body, request.headers.get("stripe-signature"), settings.stripe_webhook_secret)
    outcome = await events.receive(session, event, body.decode(), settings)
    return StripeWebhookAck(received=True, event_id=event.id, outcome=outcome)
