"""The calls CICosts makes to Stripe's API, through the official library over httpx, asynchronously.

This is the HTTP boundary tests stub (respx intercepts httpx). A client is made per use and closed after:
checkouts and portal visits are rare, and nothing is left open between requests.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import stripe

from cicosts.config import Settings
from cicosts.errors import BadGateway, ServiceUnavailable
from cicosts.models import Organization

TIMEOUT_SECONDS = 20.0


class StripeHTTP(stripe.HTTPClient):
    """The library's requests, sent over an `httpx.AsyncClient` (asynchronous only).

    Not the library's own `stripe.HTTPXClient`: that one hands the encoded form to httpx as `data=`, which
    httpx deprecates for text (and will drop); this one sends it as `content=`.
    """

    name = "httpx"

    def __init__(self, timeout: float = TIMEOUT_SECONDS) -> None:
        super().__init__()
        verify = ssl.create_default_context(cafile=stripe.ca_bundle_path)
        self._http = httpx.AsyncClient(timeout=timeout, verify=verify)

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        try:
            response = await self._http.request(method, url, headers=headers, content=post_data)
        except httpx.HTTPError as exc:
            message = f"Could not reach Stripe ({type(exc).__name__})"
            raise stripe.APIConnectionError(message, should_retry=True) from exc  # type: ignore[no-untyped-call]
        return response.content, response.status_code, response.headers

    def sleep_async(self, secs: float) -> Awaitable[None]:
        return asyncio.sleep(secs)

    async def close_async(self) -> None:
        await self._http.aclose()

    def close(self) -> None:  # nothing synchronous is ever opened
        return None


@asynccontextmanager
async def stripe_client(settings: Settings) -> AsyncIterator[stripe.StripeClient]:
    if not settings.stripe_secret_key.strip():
        raise ServiceUnavailable("Billing is not configured: STRIPE_SECRET_KEY is not set")
    http = StripeHTTP()
    # No retries inside a request: the person clicking retries, and an error is answered at once.
    client = stripe.StripeClient(settings.stripe_secret_key, http_client=http, max_network_retries=0)
    try:
        yield client
    except stripe.StripeError as exc:
        raise BadGateway(f"Stripe refused the request: {exc.user_message or exc}") from exc
    finally:
        await http.close_async()


async def create_customer(client: stripe.StripeClient, org: Organization) -> str:
    """A Stripe customer for the organization; one per organization, even if two checkouts race."""
    customer = await client.v1.customers.create_async(
        {"name": org.name, "metadata": {"org_id": str(org.id), "org_login": org.login}},
        {"idempotency_key": f"cicosts-org-{org.id}-customer"},
    )
    return customer.id


async def create_checkout_session(
    client: stripe.StripeClient,
    *,
    org_id: int,
    customer_id: str,
    price_id: str,
    success_url: str,
    cancel_url: str,
) -> str:
    session = await client.v1.checkout.sessions.create_async(
        {
            "mode": "subscription",
            "customer": customer_id,
            "client_reference_id": str(org_id),
            "line_items": [{"price": price_id, "quantity": 1}],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": {"org_id": str(org_id), "price_id": price_id},
            "subscription_data": {"metadata": {"org_id": str(org_id)}},
        }
    )
    if not session.url:
        raise BadGateway("Stripe answered a checkout session without a URL")
    return session.url


async def create_portal_session(client: stripe.StripeClient, *, customer_id: str, return_url: str) -> str:
    session = await client.v1.billing_portal.sessions.create_async(
        {"customer": customer_id, "return_url": return_url}
    )
    return session.url


async def cancel_subscription(client: stripe.StripeClient, subscription_id: str) -> None:
    """End the subscription now, without proration; one Stripe no longer knows is as good as ended."""
    try:
        await client.v1.subscriptions.cancel_async(subscription_id)
    except stripe.InvalidRequestError as exc:
        if exc.code != "resource_missing":
            raise
