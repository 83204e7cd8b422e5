"""Stripe-format events of our own, signed the way Stripe signs them, and an SMTP server for the tests."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

STRIPE_WEBHOOK_SECRET = "whsec_test_secret_for_the_tests"
PRICES = {
    "stripe_price_pro_monthly": "price_pro_monthly",
    "stripe_price_pro_annual": "price_pro_annual",
    "stripe_price_team_monthly": "price_team_monthly",
    "stripe_price_team_annual": "price_team_annual",
}
_ids = itertools.count(1)


def stripe_signature(payload: bytes, secret: str = STRIPE_WEBHOOK_SECRET, at: int | None = None) -> str:
    """`t=<unix time>,v1=<HMAC-SHA256 of "<t>.<payload>">`, as Stripe sends it."""
    timestamp = int(time.time()) if at is None else at
    signed = f"{timestamp}.".encode() + payload
    return f"t={timestamp},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


def event(
    event_type: str, obj: dict[str, Any], *, created: datetime, event_id: str | None = None
) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_test_{next(_ids):06d}",
        "object": "event",
        "api_version": "2025-03-31.basil",
        "type": event_type,
        "created": int(created.timestamp()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj},
    }


def subscription(
    sub_id: str,
    *,
    customer: str,
    status: str,
    price: str = "price_pro_monthly",
    period_end: datetime | None = None,
    cancel_at_period_end: bool = False,
    org_id: int | None = None,
    legacy: bool = False,
) -> dict[str, Any]:
    """A subscription object: the current API's shape (period on the items) or, `legacy`, the older one."""
    end = int(period_end.timestamp()) if period_end else 1_900_000_000
    item: dict[str, Any] = {
        "id": f"si_{sub_id}",
        "object": "subscription_item",
        "price": {"id": price, "object": "price", "recurring": {"interval": "month"}},
        "quantity": 1,
    }
    obj: dict[str, Any] = {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "items": {"object": "list", "data": [item]},
        "metadata": {"org_id": str(org_id)} if org_id else {},
    }
    if legacy:
        obj["current_period_end"] = end
        obj["plan"] = {"id": price, "object": "plan"}
    else:
        item["current_period_end"] = end
    return obj


def checkout_session(
    *, org_id: int, customer: str, sub_id: str, price: str = "price_pro_monthly", payment_status: str = "paid"
) -> dict[str, Any]:
    return {
        "id": f"cs_test_{next(_ids):06d}",
        "object": "checkout.session",
        "mode": "subscription",
        "customer": customer,
        "subscription": sub_id,
        "client_reference_id": str(org_id),
        "payment_status": payment_status,
        "status": "complete",
        "metadata": {"org_id": str(org_id), "price_id": price},
    }


def invoice(*, customer: str, sub_id: str, legacy: bool = False, url: str | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": f"in_test_{next(_ids):06d}",
        "object": "invoice",
        "customer": customer,
        "hosted_invoice_url": url or "https://invoice.stripe.com/i/acct_1/test_inv?x=1&y=2",
        "amount_due": 4900,
        "currency": "usd",
    }
    if legacy:
        obj["subscription"] = sub_id
    else:
        obj["parent"] = {"type": "subscription_details", "subscription_details": {"subscription": sub_id}}
    return obj


async def send(http: httpx.AsyncClient, evt: dict[str, Any] | bytes, **sign: Any) -> httpx.Response:
    body = evt if isinstance(evt, bytes) else json.dumps(evt).encode()
    return await http.post(
        "/api/v1/webhooks/stripe",
        content=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": stripe_signature(body, **sign)},
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Mailbox:
    """What a real SMTP server (aiosmtpd) received."""

    envelopes: list[Envelope] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"

    def messages(self) -> list[EmailMessage]:
        parsed = []
        for envelope in self.envelopes:
            content = envelope.original_content or b""
            message = message_from_bytes(content, policy=policy.default)
            assert isinstance(message, EmailMessage)
            parsed.append(message)
        return parsed


def start_smtp(mailbox: Mailbox, *, password: str | None = None) -> Controller:
    """A real SMTP server on a free local port; with `password`, it offers AUTH (without TLS: a test)."""
    options: dict[str, Any] = {}
    if password is not None:

        def authenticate(
            server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth: Any
        ) -> Any:
            from aiosmtpd.smtp import AuthResult

            ok = auth.password.decode() == password
            if ok:
                mailbox.logins.append(auth.login.decode())
            return AuthResult(success=ok)

        options = {"authenticator": authenticate, "auth_require_tls": False}
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    return controller


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())  # type: ignore[attr-defined]
