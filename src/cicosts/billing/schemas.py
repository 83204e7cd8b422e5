"""Billing requests and responses."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from cicosts.kit.ids import MAX_ID


class PlanPrices(BaseModel):
    monthly: str | None = Field(description="Stripe price id of the monthly subscription (null: not offered)")
    annual: str | None = Field(description="Stripe price id of the annual subscription (null: not offered)")


class Prices(BaseModel):
    pro: PlanPrices
    team: PlanPrices


class SubscriptionState(BaseModel):
    org_id: int
    tier: str = Field(description="The plan in force now: free, pro or team")
    status: str | None = Field(description="Stripe's subscription status; null when there never was one")
    current_period_end: datetime | None
    cancel_at_period_end: bool
    has_subscription: bool = Field(description="A Stripe subscription exists that has not ended")
    grace_ends_at: datetime | None = Field(
        description="A past-due subscription keeps its plan until then, and falls back to free after"
    )


class CheckoutRequest(BaseModel):
    org_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="Optional when `?org_id=` names it")
    price_id: str = Field(min_length=1, max_length=255, description="One of GET /api/v1/billing/prices")
    success_url: str | None = Field(
        default=None,
        max_length=2000,
        description="Where Stripe sends the payer back (OAUTH_REDIRECT_ALLOWLIST)",
    )
    cancel_url: str | None = Field(default=None, max_length=2000)


class CheckoutSession(BaseModel):
    checkout_url: str


class PortalRequest(BaseModel):
    org_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="Optional when `?org_id=` names it")
    return_url: str | None = Field(default=None, max_length=2000)


class PortalSession(BaseModel):
    portal_url: str


class StripeWebhookAck(BaseModel):
    received: bool
    event_id: str
    outcome: str = Field(
        description="applied, stale, ignored, or duplicate (received before: nothing changed)"
    )
