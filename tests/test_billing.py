"""Billing: Stripe checkout and portal (Stripe's API stubbed with respx), and Stripe webhook events, signed as
Stripe signs them, driven through the endpoint: every event type, replays, out-of-order delivery, the past-due
grace period, and downgrades that hide data without deleting it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.app import create_app
from cicosts.billing import events as billing_events
from cicosts.config import REQUIRED_SECRETS, ConfigurationError, Settings
from cicosts.db import transaction
from cicosts.identity.service import ensure_user_with_organization
from cicosts.identity.tokens import create_access_token
from cicosts.models import Job, Organization, Repository, StripeEvent, Subscription, WorkflowJob
from cicosts.models.queue import QUEUED
from cicosts.notify.outbox import NOTIFICATIONS_QUEUE
from cicosts.plans.service import plan_of, tier_of
from cicosts.worker.runner import Worker
from tests import stripe_helpers as stripe
from tests.helpers import TestClient, account, job_event, next_id, repository
from tests.stripe_helpers import PRICES, STRIPE_WEBHOOK_SECRET, Mailbox, parts, start_smtp

STRIPE_API = "https://api.stripe.com"
NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(days=1)  # when the test subscriptions start; events are placed after it explicitly


@dataclass
class Org:
    id: int
    owner: str  # tokens
    admin: str
    member: str
    viewer: str


@dataclass
class Billing:
    http: httpx.AsyncClient
    app: FastAPI
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]

    def headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def state(self, org: Org) -> dict[str, Any]:
        response = await self.http.get(
            "/api/v1/billing/subscription", params={"org_id": org.id}, headers=self.headers(org.viewer)
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def send(self, evt: dict[str, Any] | bytes, **sign: Any) -> httpx.Response:
        return await stripe.send(self.http, evt, **sign)

    async def applied(self, evt: dict[str, Any]) -> str:
        response = await self.send(evt)
        assert response.status_code == 200, response.text
        assert response.json()["event_id"] == evt["id"] and response.json()["received"] is True
        outcome: str = response.json()["outcome"]
        return outcome


def billing_settings(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(
        update={
            "billing_enabled": True,
            "stripe_secret_key": "sk_test_key_for_the_tests",
            "stripe_webhook_secret": STRIPE_WEBHOOK_SECRET,
            "oauth_redirect_allowlist": "https://costs.example.com/billing/",
            **PRICES,
            **changes,
        }
    )


@pytest.fixture
async def make_billing(
    settings: Settings,
) -> AsyncIterator[Callable[..., Awaitable[Billing]]]:
    apps: list[tuple[FastAPI, httpx.AsyncClient]] = []

    async def make(**changes: Any) -> Billing:
        configured = billing_settings(settings, **changes)
        app = create_app(configured)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        apps.append((app, http))
        return Billing(http, app, configured, app.state.sessionmaker)

    yield make
    for app, http in apps:
        await http.aclose()
        await app.state.http.aclose()
        await app.state.rate_limiter.close()
        await app.state.engine.dispose()


@pytest.fixture
async def billing(make_billing: Callable[..., Awaitable[Billing]]) -> Billing:
    return await make_billing()


async def make_org(billing: Billing, login: str = "acme", name: str | None = None) -> Org:
    tokens: dict[str, str] = {}
    async with transaction(billing.sessionmaker) as session:
        for role in ("owner", "admin", "member", "viewer"):
            user, org = await ensure_user_with_organization(session, f"{login}-{role}", login, role=role)
            user.email = f"{role}@{login}.example"
            tokens[role] = create_access_token(user.id, billing.settings)
        if name is not None:
            org.name = name
    return Org(org.id, tokens["owner"], tokens["admin"], tokens["member"], tokens["viewer"])


async def subscription_row(billing: Billing, org: Org) -> Subscription | None:
    async with transaction(billing.sessionmaker) as session:
        return await session.scalar(select(Subscription).where(Subscription.org_id == org.id))


async def organization(billing: Billing, org: Org) -> Organization:
    async with transaction(billing.sessionmaker) as session:
        found = await session.get(Organization, org.id)
    assert found is not None
    return found


async def snapshot(billing: Billing) -> list[object]:
    """Everything an event can change: subscriptions, plans, stored events, queued emails."""
    async with transaction(billing.sessionmaker) as session:
        subscriptions = [
            {c.name: getattr(s, c.key) for c in Subscription.__table__.columns if c.name != "updated_at"}
            for s in await session.scalars(select(Subscription).order_by(Subscription.id))
        ]
        plans = [
            (o.id, o.plan, o.plan_expires_at)
            for o in await session.scalars(select(Organization).order_by(Organization.id))
        ]
        stored = [
            (e.id, e.outcome, e.attempts, e.processed_at)
            for e in await session.scalars(select(StripeEvent).order_by(StripeEvent.id))
        ]
        jobs = [(j.dedupe_key, j.status) for j in await session.scalars(select(Job).order_by(Job.id))]
    return [subscriptions, plans, stored, jobs]


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


async def subscribe(
    billing: Billing, org: Org, *, price: str = "price_pro_monthly", sub: str = "sub_1"
) -> None:
    """What Stripe sends after a paid checkout: the session, then the subscription it created."""
    customer = f"cus_{org.id}"
    assert (
        await billing.applied(
            stripe.event(
                "checkout.session.completed",
                stripe.checkout_session(org_id=org.id, customer=customer, sub_id=sub, price=price),
                created=at(0),
            )
        )
        == "applied"
    )
    assert (
        await billing.applied(
            stripe.event(
                "customer.subscription.created",
                stripe.subscription(sub, customer=customer, status="active", price=price, org_id=org.id),
                created=at(0),
            )
        )
        == "applied"
    )


# --- billing off ----------------------------------------------------------------------------------


async def test_with_billing_disabled_every_route_answers_404_with_a_clear_detail(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with transaction(sessionmaker) as session:
        admin, org = await ensure_user_with_organization(session, "ada", "acme", role="admin")
        viewer, _ = await ensure_user_with_organization(session, "vic", "acme", role="viewer")
    headers = {"Authorization": f"Bearer {create_access_token(admin.id, settings)}"}
    http = client.http
    responses = [
        await http.get("/api/v1/billing/prices"),
        await http.get("/api/v1/billing/subscription", params={"org_id": org.id}, headers=headers),
        await http.post(
            "/api/v1/billing/checkout", json={"org_id": org.id, "price_id": "price_x"}, headers=headers
        ),
        await http.post("/api/v1/billing/portal", json={"org_id": org.id}, headers=headers),
        await stripe.send(http, stripe.event("invoice.paid", {}, created=NOW)),
    ]
    for response in responses:
        assert response.status_code == 404, response.text
        assert "BILLING_ENABLED=false" in response.json()["detail"]
    # The caller's role is still checked first: a viewer is refused, not told billing is off.
    refused = await http.post(
        "/api/v1/billing/checkout",
        json={"org_id": org.id, "price_id": "price_x"},
        headers={"Authorization": f"Bearer {create_access_token(viewer.id, settings)}"},
    )
    assert refused.status_code == 403 and "does not allow manage_billing" in refused.json()["detail"]
    async with transaction(sessionmaker) as session:
        assert await session.scalar(select(func.count()).select_from(StripeEvent)) == 0


def test_production_with_billing_needs_the_stripe_secrets() -> None:
    real = {name: f"real-{name}-value-0123456789abcdef" for name in REQUIRED_SECRETS}
    for name, value in [("stripe_secret_key", ""), ("stripe_webhook_secret", "changeme")]:
        values = {"stripe_secret_key": "sk_live_real", "stripe_webhook_secret": "whsec_real", name: value}
        with pytest.raises(ConfigurationError, match=name.upper()):
            Settings(_env_file=None, environment="production", billing_enabled=True, **real, **values)  # type: ignore[call-arg]
    # Billing off, the Stripe settings are not needed; billing on with both set, it starts.
    Settings(_env_file=None, environment="production", **real)  # type: ignore[call-arg]
    Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="production",
        billing_enabled=True,
        stripe_secret_key="sk_live_real",
        stripe_webhook_secret="whsec_real",
        **real,
    )


# --- prices, subscription, checkout, portal -------------------------------------------------------


async def test_prices_are_public_and_list_each_plan_and_interval(
    make_billing: Callable[..., Awaitable[Billing]],
) -> None:
    billing = await make_billing(stripe_price_team_annual="")
    response = await billing.http.get("/api/v1/billing/prices")
    assert response.status_code == 200
    assert response.json() == {
        "pro": {"monthly": "price_pro_monthly", "annual": "price_pro_annual"},
        "team": {"monthly": "price_team_monthly", "annual": None},
    }


async def test_an_organization_without_a_subscription_is_on_the_free_plan(billing: Billing) -> None:
    org = await make_org(billing)
    assert await billing.state(org) == {
        "org_id": org.id,
        "tier": "free",
        "status": None,
        "current_period_end": None,
        "cancel_at_period_end": False,
        "has_subscription": False,
        "grace_ends_at": None,
    }


def stub_stripe(router: respx.MockRouter) -> dict[str, respx.Route]:
    return {
        "customers": router.post(f"{STRIPE_API}/v1/customers").mock(
            return_value=httpx.Response(200, json={"id": "cus_new", "object": "customer"})
        ),
        "checkout": router.post(f"{STRIPE_API}/v1/checkout/sessions").mock(
            return_value=httpx.Response(
                200,
                json={
                    "id": "cs_1",
                    "object": "checkout.session",
                    "url": "https://checkout.stripe.com/c/cs_1",
                },
            )
        ),
        "portal": router.post(f"{STRIPE_API}/v1/billing_portal/sessions").mock(
            return_value=httpx.Response(
                200,
                json={
                    "id": "bps_1",
                    "object": "billing_portal.session",
                    "url": "https://billing.stripe.com/p/1",
                },
            )
        ),
    }


def form(route: respx.Route, call: int = -1) -> dict[str, list[str]]:
    request = route.calls[call].request
    return parse_qs(request.content.decode())


async def test_checkout_creates_the_customer_once_and_answers_stripe_checkout_url(billing: Billing) -> None:
    org = await make_org(billing)
    with respx.mock(assert_all_called=False) as router:
        routes = stub_stripe(router)
        first = await billing.http.post(
            "/api/v1/billing/checkout",
            json={"org_id": org.id, "price_id": "price_team_annual"},
            headers=billing.headers(org.admin),
        )
        assert first.status_code == 200, first.text
        assert first.json() == {"checkout_url": "https://checkout.stripe.com/c/cs_1"}
        again = await billing.http.post(  # named in the query only, as the other routes do
            "/api/v1/billing/checkout",
            params={"org_id": org.id},
            json={"price_id": "price_pro_monthly"},
            headers=billing.headers(org.owner),
        )
        assert again.status_code == 200, again.text
    assert routes["customers"].call_count == 1  # the second checkout reuses the customer
    customer = routes["customers"].calls[0].request
    assert customer.headers["Authorization"] == "Bearer sk_test_key_for_the_tests"
    assert customer.headers["Idempotency-Key"] == f"cicosts-org-{org.id}-customer"
    assert parse_qs(customer.content.decode())["metadata[org_id]"] == [str(org.id)]
    sent = form(routes["checkout"], 0)
    assert sent["mode"] == ["subscription"] and sent["customer"] == ["cus_new"]
    assert sent["line_items[0][price]"] == ["price_team_annual"] and sent["line_items[0][quantity]"] == ["1"]
    assert sent["client_reference_id"] == [str(org.id)] and sent["metadata[price_id]"] == [
        "price_team_annual"
    ]
    assert sent["subscription_data[metadata][org_id]"] == [str(org.id)]
    assert sent["success_url"] == ["https://costs.example.com/billing/?checkout=success"]
    assert sent["cancel_url"] == ["https://costs.example.com/billing/?checkout=cancel"]
    row = await subscription_row(billing, org)
    assert row is not None and row.stripe_customer_id == "cus_new" and row.status is None
    assert (await billing.state(org))["tier"] == "free"  # nothing changes until Stripe says it is paid


async def test_checkout_refuses_what_it_cannot_sell(billing: Billing) -> None:
    org = await make_org(billing)
    other = await make_org(billing, "other")
    checkout = "/api/v1/billing/checkout"
    with respx.mock(assert_all_called=False) as router:
        routes = stub_stripe(router)
        unknown = await billing.http.post(
            checkout,
            json={"org_id": org.id, "price_id": "price_elsewhere"},
            headers=billing.headers(org.admin),
        )
        assert unknown.status_code == 400 and "price_id" in unknown.json()["detail"]
        away = await billing.http.post(
            checkout,
            json={"org_id": org.id, "price_id": "price_pro_monthly", "success_url": "https://evil.example/"},
            headers=billing.headers(org.admin),
        )
        assert away.status_code == 400 and "success_url" in away.json()["detail"]
        mismatch = await billing.http.post(
            checkout,
            params={"org_id": other.id},
            json={"org_id": org.id, "price_id": "price_pro_monthly"},
            headers=billing.headers(org.admin),
        )
        assert mismatch.status_code == 400 and "org_id" in mismatch.json()["detail"]
        unnamed = await billing.http.post(
            checkout, json={"price_id": "price_pro_monthly"}, headers=billing.headers(org.admin)
        )
        assert unnamed.status_code == 400 and "org_id" in unnamed.json()["detail"]
        member = await billing.http.post(
            checkout,
            json={"org_id": org.id, "price_id": "price_pro_monthly"},
            headers=billing.headers(org.member),
        )
        assert member.status_code == 403
        outsider = await billing.http.post(
            checkout,
            json={"org_id": other.id, "price_id": "price_pro_monthly"},
            headers=billing.headers(org.admin),
        )
        assert outsider.status_code == 403
        assert not routes["customers"].called and not routes["checkout"].called
        await subscribe(billing, org)
        twice = await billing.http.post(
            checkout,
            json={"org_id": org.id, "price_id": "price_team_monthly"},
            headers=billing.headers(org.admin),
        )
        assert twice.status_code == 409 and "billing portal" in twice.json()["detail"]


async def test_a_stripe_error_is_a_502_and_changes_nothing(billing: Billing) -> None:
    org = await make_org(billing)
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{STRIPE_API}/v1/customers").mock(
            return_value=httpx.Response(
                400,
                json={
                    "error": {
                        "type": "invalid_request_error",
                        "message": "No such price: 'price_pro_monthly'",
                    }
                },
            )
        )
        response = await billing.http.post(
            "/api/v1/billing/checkout",
            json={"org_id": org.id, "price_id": "price_pro_monthly"},
            headers=billing.headers(org.admin),
        )
    assert response.status_code == 502 and "Stripe" in response.json()["detail"]
    assert await subscription_row(billing, org) is None
    with respx.mock(assert_all_called=False) as router:
        router.post(f"{STRIPE_API}/v1/customers").mock(side_effect=httpx.ConnectError("unreachable"))
        response = await billing.http.post(
            "/api/v1/billing/checkout",
            json={"org_id": org.id, "price_id": "price_pro_monthly"},
            headers=billing.headers(org.admin),
        )
    assert response.status_code == 502 and "Could not reach Stripe" in response.json()["detail"]
    assert await subscription_row(billing, org) is None


async def test_the_portal_needs_a_customer_and_returns_to_the_dashboard(billing: Billing) -> None:
    org = await make_org(billing)
    portal = "/api/v1/billing/portal"
    with respx.mock(assert_all_called=False) as router:
        routes = stub_stripe(router)
        none_yet = await billing.http.post(
            portal, json={"org_id": org.id}, headers=billing.headers(org.admin)
        )
        assert none_yet.status_code == 400 and "no Stripe customer" in none_yet.json()["detail"]
        await subscribe(billing, org)
        response = await billing.http.post(
            portal,
            json={"org_id": org.id, "return_url": "https://costs.example.com/billing/settings"},
            headers=billing.headers(org.owner),
        )
        assert response.status_code == 200 and response.json() == {
            "portal_url": "https://billing.stripe.com/p/1"
        }
        assert form(routes["portal"]) == {
            "customer": [f"cus_{org.id}"],
            "return_url": ["https://costs.example.com/billing/settings"],
        }
        no_body = await billing.http.post(
            portal, params={"org_id": org.id}, headers=billing.headers(org.admin)
        )
        assert no_body.status_code == 200
        assert form(routes["portal"])["return_url"] == ["https://costs.example.com/billing/"]
        viewer = await billing.http.post(portal, json={"org_id": org.id}, headers=billing.headers(org.viewer))
        assert viewer.status_code == 403


# --- webhook: signatures --------------------------------------------------------------------------


async def test_a_missing_or_bad_signature_is_a_400_and_nothing_is_stored(billing: Billing) -> None:
    org = await make_org(billing)
    evt = stripe.event(
        "checkout.session.completed",
        stripe.checkout_session(org_id=org.id, customer="cus_x", sub_id="sub_x"),
        created=NOW,
    )
    body = json.dumps(evt).encode()
    url = "/api/v1/webhooks/stripe"
    missing = await billing.http.post(url, content=body, headers={"Content-Type": "application/json"})
    assert missing.status_code == 400 and "Stripe-Signature" in missing.json()["detail"]
    wrong_secret = await billing.send(evt, secret="whsec_someone_else")
    assert wrong_secret.status_code == 400 and "does not verify" in wrong_secret.json()["detail"]
    tampered = await billing.http.post(
        url,
        content=body.replace(b"paid", b"free"),
        headers={"Stripe-Signature": stripe.stripe_signature(body), "Content-Type": "application/json"},
    )
    assert tampered.status_code == 400
    too_old = await billing.send(evt, at=int(NOW.timestamp()) - 3600)  # a replay attack, outside tolerance
    assert too_old.status_code == 400
    garbage = await billing.http.post(
        url, content=b"{}", headers={"Stripe-Signature": stripe.stripe_signature(b"{}")}
    )
    assert garbage.status_code == 400 and "not a Stripe event" in garbage.json()["detail"]
    assert await snapshot(billing) == [[], [(org.id, "free", None)], [], []]
    assert (await billing.send(evt)).status_code == 200


# --- webhook: every event type --------------------------------------------------------------------


async def test_every_event_type_moves_the_plan_as_stripe_says(billing: Billing) -> None:
    org = await make_org(billing)
    customer, sub = f"cus_{org.id}", "sub_life"
    period_end = NOW + timedelta(days=30)

    def snapshot_event(kind: str, status: str, days: float, **fields: Any) -> dict[str, Any]:
        obj = stripe.subscription(sub, customer=customer, status=status, period_end=period_end, **fields)
        return stripe.event(f"customer.subscription.{kind}", obj, created=at(days))

    completed = stripe.event(
        "checkout.session.completed",
        stripe.checkout_session(org_id=org.id, customer=customer, sub_id=sub),
        created=at(0),
    )
    assert await billing.applied(completed) == "applied"
    state = await billing.state(org)
    assert (state["tier"], state["status"], state["has_subscription"]) == ("pro", "active", True)

    assert await billing.applied(snapshot_event("created", "active", 0)) == "applied"
    state = await billing.state(org)
    assert state["current_period_end"] == period_end.isoformat().replace("+00:00", "Z")

    # Upgraded to Team (annual) in the portal, then set to cancel at the end of the period.
    assert (
        await billing.applied(snapshot_event("updated", "active", 0.1, price="price_team_annual"))
        == "applied"
    )
    assert (await billing.state(org))["tier"] == "team"
    assert (
        await billing.applied(
            snapshot_event("updated", "active", 0.2, price="price_team_annual", cancel_at_period_end=True)
        )
        == "applied"
    )
    assert (await billing.state(org))["cancel_at_period_end"] is True

    failed = stripe.event(
        "invoice.payment_failed", stripe.invoice(customer=customer, sub_id=sub), created=at(0.3)
    )
    assert await billing.applied(failed) == "applied"
    state = await billing.state(org)
    assert (state["tier"], state["status"]) == ("team", "past_due")  # kept during the grace period
    assert state["grace_ends_at"] == (at(0.3) + timedelta(days=7)).isoformat().replace("+00:00", "Z")

    paid = stripe.event(
        "invoice.paid", stripe.invoice(customer=customer, sub_id=sub, legacy=True), created=at(0.4)
    )
    assert await billing.applied(paid) == "applied"
    state = await billing.state(org)
    assert (state["tier"], state["status"], state["grace_ends_at"]) == ("team", "active", None)

    deleted = snapshot_event("deleted", "canceled", 0.5, price="price_team_annual", cancel_at_period_end=True)
    assert await billing.applied(deleted) == "applied"
    state = await billing.state(org)
    assert (state["tier"], state["status"], state["has_subscription"]) == ("free", "canceled", False)
    assert (await organization(billing, org)).plan == "free"
    async with transaction(billing.sessionmaker) as session:
        outcomes = {e.type: e.outcome for e in await session.scalars(select(StripeEvent))}
        assert set(outcomes.values()) == {"applied"} and len(outcomes) == 6
        assert all(e.org_id == org.id for e in await session.scalars(select(StripeEvent)))


async def test_older_api_versions_shapes_are_read_too(billing: Billing) -> None:
    org = await make_org(billing)
    end = NOW + timedelta(days=365)
    legacy = stripe.subscription(
        "sub_old",
        customer="cus_old",
        status="trialing",
        price="price_pro_annual",
        period_end=end,
        org_id=org.id,
        legacy=True,
    )
    assert (
        await billing.applied(stripe.event("customer.subscription.created", legacy, created=at(0)))
        == "applied"
    )
    state = await billing.state(org)
    assert (state["tier"], state["status"]) == ("pro", "trialing")
    assert state["current_period_end"] == end.isoformat().replace("+00:00", "Z")
    row = await subscription_row(billing, org)
    assert row is not None and row.stripe_customer_id == "cus_old"  # found by the org id we gave Stripe


async def test_events_for_nobody_here_are_stored_and_ignored(billing: Billing) -> None:
    org = await make_org(billing)
    unknown_type = stripe.event("customer.created", {"id": "cus_z", "object": "customer"}, created=NOW)
    strangers = stripe.event(
        "customer.subscription.updated",
        stripe.subscription("sub_z", customer="cus_z", status="active"),
        created=NOW,
    )
    one_off = stripe.event(
        "invoice.paid", {"id": "in_z", "object": "invoice", "customer": "cus_z"}, created=NOW
    )
    payment = stripe.event(
        "checkout.session.completed",
        {**stripe.checkout_session(org_id=org.id, customer="cus_z", sub_id="sub_z"), "mode": "payment"},
        created=NOW,
    )
    for evt in (unknown_type, strangers, one_off, payment):
        assert await billing.applied(evt) == "ignored"
    assert (await billing.state(org))["tier"] == "free"
    async with transaction(billing.sessionmaker) as session:
        assert await session.scalar(select(func.count()).select_from(StripeEvent)) == 4


# --- webhook: replays and order -------------------------------------------------------------------


async def test_a_replayed_event_changes_nothing(billing: Billing) -> None:
    org = await make_org(billing)
    await subscribe(billing, org)
    failed = stripe.event(
        "invoice.payment_failed", stripe.invoice(customer=f"cus_{org.id}", sub_id="sub_1"), created=at(1)
    )
    assert await billing.applied(failed) == "applied"
    canceled = stripe.event(
        "customer.subscription.deleted",
        stripe.subscription("sub_1", customer=f"cus_{org.id}", status="canceled"),
        created=at(2),
    )
    assert await billing.applied(canceled) == "applied"
    before = await snapshot(billing)
    # Stripe redelivers (a new signature each time); the same ids are answered 200 and change nothing,
    # though the earlier ones would otherwise put the subscription back to past due and resend the email.
    for evt in (failed, canceled, failed):
        response = await billing.send(evt)
        assert response.status_code == 200 and response.json()["outcome"] == "duplicate"
    assert await snapshot(billing) == before
    async with transaction(billing.sessionmaker) as session:
        emails = await session.scalar(select(func.count()).where(Job.queue == NOTIFICATIONS_QUEUE))
    assert emails == 1


async def test_an_older_event_does_not_overwrite_a_newer_state(billing: Billing) -> None:
    org = await make_org(billing)
    customer, sub = f"cus_{org.id}", "sub_o"

    def snap(status: str, days: float, price: str = "price_pro_monthly", **fields: Any) -> dict[str, Any]:
        obj = stripe.subscription(sub, customer=customer, status=status, price=price, org_id=org.id, **fields)
        kind = "deleted" if status == "canceled" else "updated"
        return stripe.event(f"customer.subscription.{kind}", obj, created=at(days))

    # Upgraded to Team at day 2, but the day-1 "active on Pro" arrives after it.
    assert await billing.applied(snap("active", 2, "price_team_monthly")) == "applied"
    assert await billing.applied(snap("active", 1, "price_pro_monthly")) == "stale"
    assert (await billing.state(org))["tier"] == "team"
    # Canceled at day 4; a payment failure of day 3 and a "paid" of day 3.5 arrive late: still canceled.
    assert await billing.applied(snap("canceled", 4, "price_team_monthly")) == "applied"
    late_failure = stripe.event(
        "invoice.payment_failed", stripe.invoice(customer=customer, sub_id=sub), created=at(3)
    )
    late_paid = stripe.event("invoice.paid", stripe.invoice(customer=customer, sub_id=sub), created=at(3.5))
    assert await billing.applied(late_failure) == "ignored"  # an ended subscription is not past due
    assert await billing.applied(late_paid) == "applied"  # nothing owed on an ended one: nothing changes
    assert await billing.applied(snap("active", 3, "price_team_monthly")) == "stale"
    state = await billing.state(org)
    assert (state["tier"], state["status"]) == ("free", "canceled")
    async with transaction(billing.sessionmaker) as session:
        stale = await session.scalar(select(func.count()).where(StripeEvent.outcome == "stale"))
    assert stale == 2


async def test_a_status_and_a_snapshot_are_ordered_apart(billing: Billing) -> None:
    org = await make_org(billing)
    customer, sub = f"cus_{org.id}", "sub_2"
    await subscribe(billing, org, sub=sub)
    # The renewal failed at day 3; the day-2 snapshot (a new period, still active then) arrives after it:
    # its period end is taken, its older status is not.
    failed = stripe.event(
        "invoice.payment_failed", stripe.invoice(customer=customer, sub_id=sub), created=at(3)
    )
    assert await billing.applied(failed) == "applied"
    new_end = NOW + timedelta(days=60)
    renewed = stripe.event(
        "customer.subscription.updated",
        stripe.subscription(sub, customer=customer, status="active", period_end=new_end),
        created=at(2),
    )
    assert await billing.applied(renewed) == "applied"
    state = await billing.state(org)
    assert state["status"] == "past_due" and state["current_period_end"] == new_end.isoformat().replace(
        "+00:00", "Z"
    )


async def test_events_of_the_same_second_follow_the_subscriptions_life(billing: Billing) -> None:
    org = await make_org(billing)
    customer, sub = f"cus_{org.id}", "sub_3"
    created = stripe.subscription(sub, customer=customer, status="incomplete", org_id=org.id)
    activated = stripe.subscription(sub, customer=customer, status="active", org_id=org.id)
    # Both stamped with the same second; "active" arrives first.
    assert (
        await billing.applied(stripe.event("customer.subscription.updated", activated, created=at(0)))
        == "applied"
    )
    assert (
        await billing.applied(stripe.event("customer.subscription.created", created, created=at(0)))
        == "applied"
    )
    state = await billing.state(org)
    assert (state["tier"], state["status"]) == ("pro", "active")


async def test_a_new_subscription_is_not_undone_by_news_of_the_old_one(billing: Billing) -> None:
    org = await make_org(billing)
    customer = f"cus_{org.id}"
    await subscribe(billing, org, sub="sub_first")
    first_over = stripe.subscription("sub_first", customer=customer, status="canceled")
    assert (
        await billing.applied(stripe.event("customer.subscription.deleted", first_over, created=at(1)))
        == "applied"
    )
    await billing.applied(
        stripe.event(
            "customer.subscription.created",
            stripe.subscription("sub_second", customer=customer, status="active", price="price_team_monthly"),
            created=at(2),
        )
    )
    assert (await billing.state(org))["tier"] == "team"
    # A late (re)delivery about the first subscription, under a new event id.
    late = stripe.event("customer.subscription.deleted", first_over, created=at(3))
    assert await billing.applied(late) == "stale"
    row = await subscription_row(billing, org)
    assert row is not None and row.stripe_subscription_id == "sub_second"
    assert (await billing.state(org))["tier"] == "team"


# --- grace period and downgrades ------------------------------------------------------------------


async def test_past_due_keeps_the_paid_plan_for_seven_days_then_falls_back_to_free(
    make_billing: Callable[..., Awaitable[Billing]],
) -> None:
    billing = await make_billing()
    org = await make_org(billing)
    customer, sub = f"cus_{org.id}", "sub_g"
    failed_at = NOW - timedelta(days=6)
    assert (
        await billing.applied(
            stripe.event(
                "customer.subscription.created",
                stripe.subscription(sub, customer=customer, status="active", org_id=org.id),
                created=failed_at - timedelta(days=20),
            )
        )
        == "applied"
    )
    failed = stripe.event(
        "invoice.payment_failed", stripe.invoice(customer=customer, sub_id=sub), created=failed_at
    )
    assert await billing.applied(failed) == "applied"
    assert (await billing.state(org))["tier"] == "pro"  # six days in: still Pro
    stored = await organization(billing, org)
    grace_end = failed_at + timedelta(days=7)
    assert (stored.plan, stored.plan_expires_at) == ("pro", grace_end)
    assert tier_of(stored, grace_end - timedelta(seconds=1)) == "pro"
    assert tier_of(stored, grace_end) == "free"  # on time, with nothing scheduled
    assert plan_of(stored, billing.settings, grace_end).max_repos == 3
    # A second failed attempt does not stretch the grace period.
    again = stripe.event(
        "invoice.payment_failed",
        stripe.invoice(customer=customer, sub_id=sub),
        created=failed_at + timedelta(days=3),
    )
    assert await billing.applied(again) == "applied"
    assert (await organization(billing, org)).plan_expires_at == grace_end
    # Paid at last: Pro again, for good.
    paid = stripe.event(
        "invoice.paid", stripe.invoice(customer=customer, sub_id=sub), created=failed_at + timedelta(days=4)
    )
    assert await billing.applied(paid) == "applied"
    stored = await organization(billing, org)
    assert (stored.plan, stored.plan_expires_at) == ("pro", None)
    assert tier_of(stored, NOW + timedelta(days=30)) == "pro"


async def test_a_grace_period_over_already_means_free_everywhere_the_plan_is_read(
    make_billing: Callable[..., Awaitable[Billing]],
) -> None:
    billing = await make_billing()
    org = await make_org(billing)
    customer, sub = f"cus_{org.id}", "sub_late"
    failed_at = NOW - timedelta(days=8)
    await billing.applied(
        stripe.event(
            "customer.subscription.created",
            stripe.subscription(
                sub, customer=customer, status="active", price="price_team_monthly", org_id=org.id
            ),
            created=failed_at - timedelta(days=1),
        )
    )
    await billing.applied(
        stripe.event(
            "invoice.payment_failed", stripe.invoice(customer=customer, sub_id=sub), created=failed_at
        )
    )
    state = await billing.state(org)
    assert (state["tier"], state["status"]) == ("free", "past_due")
    usage = await billing.http.get(
        "/api/v1/limits/usage", params={"org_id": org.id}, headers=billing.headers(org.viewer)
    )
    assert usage.json()["tier"] == "free" and usage.json()["repos_limit"] == 3
    plan = await billing.http.get(
        "/api/v1/limits/plan", params={"org_id": org.id}, headers=billing.headers(org.viewer)
    )
    assert plan.headers["X-RateLimit-Limit"] == "60"  # the free plan's rate limit, too


async def test_a_downgrade_hides_repositories_beyond_the_free_limit_and_deletes_nothing(
    client: TestClient, worker: Worker, billing: Billing
) -> None:
    owner = account("acme", 4242)
    started = NOW - timedelta(days=2)
    for number in range(4):  # four repositories, each one $0.06 job two days ago
        await client.deliver(
            "workflow_job",
            job_event(
                "completed",
                job_id=next_id(),
                run_id=next_id(),
                started=started,
                seconds=600,
                repo=repository(f"repo{number}", repo_id=7000 + number, owner=owner),
            ),
        )
    await worker.drain()
    org = await make_org(billing)  # the organization the deliveries created
    headers = billing.headers(org.viewer)

    async def visible() -> tuple[str, float, list[bool]]:
        usage = (
            await billing.http.get("/api/v1/limits/usage", params={"org_id": org.id}, headers=headers)
        ).json()
        summary = await billing.http.get(
            "/api/v1/dashboard/summary", params={"org_id": org.id, "days": 7}, headers=headers
        )
        return usage["tier"], summary.json()["total_cost"], [r["over_limit"] for r in usage["tracked_repos"]]

    assert await visible() == ("free", 0.18, [False, False, False, True])
    await subscribe(billing, org)
    assert await visible() == ("pro", 0.24, [False] * 4)
    canceled = stripe.subscription("sub_1", customer=f"cus_{org.id}", status="canceled")
    assert (
        await billing.applied(stripe.event("customer.subscription.deleted", canceled, created=at(1)))
        == "applied"
    )
    assert await visible() == ("free", 0.18, [False, False, False, True])  # hidden...
    async with transaction(billing.sessionmaker) as session:  # ...not deleted
        assert await session.scalar(select(func.count()).select_from(Repository)) == 4
        assert await session.scalar(select(func.count()).select_from(WorkflowJob)) == 4
    await billing.applied(
        stripe.event(
            "customer.subscription.created",
            stripe.subscription(
                "sub_again", customer=f"cus_{org.id}", status="active", price="price_pro_annual"
            ),
            created=at(2),
        )
    )
    assert await visible() == ("pro", 0.24, [False] * 4)  # shown again after the upgrade


# --- emails and failures --------------------------------------------------------------------------


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    controller = start_smtp(box)
    box.port = controller.port  # type: ignore[attr-defined]
    yield box
    controller.stop()


async def test_a_failed_payment_emails_the_admins_after_commit(
    make_billing: Callable[..., Awaitable[Billing]], mailbox: Mailbox
) -> None:
    billing = await make_billing(
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,  # type: ignore[attr-defined]
        smtp_starttls=False,
        smtp_from="CICosts <billing@cicosts.example>",
    )
    org = await make_org(billing, name='Acme <b>"Rockets"</b> & Co')
    async with transaction(billing.sessionmaker) as session:
        user, _ = await ensure_user_with_organization(session, "acme-quiet", "acme", role="admin")
        user.email, user.alert_emails_enabled = "quiet@acme.example", False
    await subscribe(billing, org)
    failed_at = NOW - timedelta(days=1)
    failed = stripe.event(
        "invoice.payment_failed",
        stripe.invoice(
            customer=f"cus_{org.id}", sub_id="sub_1", url="https://invoice.stripe.com/i/x?a=1&b=2"
        ),
        created=failed_at,
    )
    assert await billing.applied(failed) == "applied"
    async with transaction(billing.sessionmaker) as session:
        job = await session.scalar(select(Job).where(Job.queue == NOTIFICATIONS_QUEUE))
    assert job is not None and job.status == QUEUED and job.dedupe_key == f"stripe:{failed['id']}"
    assert mailbox.envelopes == []  # sent by the worker, not by the request
    assert await Worker(billing.sessionmaker, billing.settings).drain() == 1
    [envelope] = mailbox.envelopes
    assert sorted(envelope.rcpt_tos) == ["admin@acme.example", "owner@acme.example"]
    [received] = mailbox.messages()
    assert received["Subject"] == 'Payment failed for Acme <b>"Rockets"</b> & Co on CICosts'
    text, html = parts(received)
    grace_end = failed_at + timedelta(days=7)
    assert 'Acme <b>"Rockets"</b> & Co keeps the Pro plan until' in text
    assert f"{grace_end:%Y-%m-%d %H:%M} UTC" in text and "Free plan" in text
    assert "Pay the invoice: https://invoice.stripe.com/i/x?a=1&b=2" in text
    assert (
        "<b>" not in html
        and "Acme &lt;b&gt;&quot;Rockets&quot;&lt;/b&gt; &amp; Co keeps the Pro plan" in html
    )
    assert '<a href="https://invoice.stripe.com/i/x?a=1&amp;b=2">Pay the invoice</a>' in html


async def test_an_event_that_fails_to_apply_is_kept_and_applied_when_stripe_retries(
    billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = await make_org(billing)
    evt = stripe.event(
        "customer.subscription.created",
        stripe.subscription("sub_f", customer="cus_f", status="active", org_id=org.id),
        created=at(0),
    )
    original = billing_events.apply

    async def broken(session: AsyncSession, event: billing_events.Event, settings: Settings) -> Any:
        await original(session, event, settings)  # its changes are rolled back with the savepoint
        raise RuntimeError("a bug")

    monkeypatch.setattr(billing_events, "apply", broken)
    response = await billing.send(evt)
    assert response.status_code == 500 and evt["id"] in response.json()["detail"]
    async with transaction(billing.sessionmaker) as session:
        stored = await session.get(StripeEvent, evt["id"])
        assert stored is not None and (stored.outcome, stored.attempts) == ("failed", 1)
        assert stored.last_error == "RuntimeError: a bug" and json.loads(stored.payload) == evt
        assert await session.scalar(select(func.count()).select_from(Subscription)) == 0
    assert (await organization(billing, org)).plan == "free"
    monkeypatch.setattr(billing_events, "apply", original)
    assert await billing.applied(evt) == "applied"  # Stripe's retry
    async with transaction(billing.sessionmaker) as session:
        stored = await session.get(StripeEvent, evt["id"])
        assert stored is not None and (stored.outcome, stored.attempts, stored.last_error) == (
            "applied",
            2,
            None,
        )
    assert (await billing.state(org))["tier"] == "pro"
    assert await billing.applied(evt) == "duplicate"


# --- deleting an organization -----------------------------------------------------------------------


async def jobs_of(billing: Billing, kind: str) -> list[Job]:
    async with transaction(billing.sessionmaker) as session:
        return list(await session.scalars(select(Job).where(Job.kind == kind).order_by(Job.id)))


async def test_deleting_an_organization_ends_its_stripe_subscription_after_the_deletion(
    billing: Billing,
) -> None:
    paying, free = await make_org(billing), await make_org(billing, "globex")
    await subscribe(billing, paying, sub="sub_paying")
    worker = Worker(billing.sessionmaker, billing.settings)
    with respx.mock(assert_all_called=False) as router:
        canceled = {"id": "sub_paying", "object": "subscription", "status": "canceled"}
        cancel = router.delete(f"{STRIPE_API}/v1/subscriptions/sub_paying").mock(
            side_effect=[
                httpx.Response(500, json={"error": {"type": "api_error", "message": "Try again later"}}),
                httpx.Response(200, json=canceled),
            ]
        )
        for org in (paying, free):
            deleted = await billing.http.delete(
                "/api/v1/settings/org", params={"org_id": org.id}, headers=billing.headers(org.owner)
            )
            assert deleted.status_code == 204, deleted.text
        assert not cancel.called  # the request only queued it, with the deletion
        (queued,) = await jobs_of(billing, "cancel_subscription")
        assert json.loads(queued.payload) == {"subscription_id": "sub_paying"}

        await worker.run_once()
        (failed,) = await jobs_of(billing, "cancel_subscription")
        assert (cancel.call_count, failed.status, failed.attempts) == (1, "failed", 1)
        assert "Stripe" in (failed.last_error or "")
        async with transaction(billing.sessionmaker) as session:  # its retry is due now
            await session.execute(update(Job).where(Job.id == failed.id).values(run_at=datetime.now(UTC)))
        await worker.run_once()
    (done,) = await jobs_of(billing, "cancel_subscription")
    assert (cancel.call_count, done.status) == (2, "done")
    assert await subscription_row(billing, paying) is None


async def test_a_subscription_stripe_no_longer_knows_counts_as_ended(billing: Billing) -> None:
    org = await make_org(billing)
    await subscribe(billing, org, sub="sub_vanished")
    with respx.mock(assert_all_called=True) as router:
        router.delete(f"{STRIPE_API}/v1/subscriptions/sub_vanished").mock(
            return_value=httpx.Response(
                404,
                json={
                    "error": {
                        "type": "invalid_request_error",
                        "code": "resource_missing",
                        "message": "No such subscription: 'sub_vanished'",
                    }
                },
            )
        )
        deleted = await billing.http.delete(
            "/api/v1/settings/org", params={"org_id": org.id}, headers=billing.headers(org.owner)
        )
        assert deleted.status_code == 204
        await Worker(billing.sessionmaker, billing.settings).run_once()
    assert [job.status for job in await jobs_of(billing, "cancel_subscription")] == ["done"]


async def test_an_erased_accounts_own_organization_ends_its_subscription_too(billing: Billing) -> None:
    async with transaction(billing.sessionmaker) as session:
        user, solo_org = await ensure_user_with_organization(session, "solo", "solo-shop")
    token = create_access_token(user.id, billing.settings)
    solo = Org(solo_org.id, token, token, token, token)
    await subscribe(billing, solo, sub="sub_solo")
    deleted = await billing.http.delete("/api/v1/settings/account", headers=billing.headers(token))
    assert deleted.status_code == 204, deleted.text
    async with transaction(billing.sessionmaker) as session:  # the 30 days of grace are over
        await session.execute(update(Job).where(Job.kind == "erase_user").values(run_at=datetime.now(UTC)))
    worker = Worker(billing.sessionmaker, billing.settings)
    with respx.mock(assert_all_called=True) as router:
        cancel = router.delete(f"{STRIPE_API}/v1/subscriptions/sub_solo").mock(
            return_value=httpx.Response(200, json={"id": "sub_solo", "object": "subscription"})
        )
        await worker.run_once()  # erases the account and its organization, queueing the cancellation
        await worker.run_once()
    assert cancel.call_count == 1
    assert [job.status for job in await jobs_of(billing, "cancel_subscription")] == ["done"]
    assert await subscription_row(billing, solo) is None
