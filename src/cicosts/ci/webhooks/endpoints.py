"""POST /api/v1/webhooks/github.

The busiest route, so it stays lean: no ORM session, no dependencies, no models. It reads its headers
itself, checks the signature over the raw body and hands the delivery to the app's inbox, which answers
once the transaction holding the delivery has committed (see `inbox.py`): a 202 means "durably stored".
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from cicosts.ci.webhooks.inbox import Inbox
from cicosts.ci.webhooks.service import MAX_BODY_BYTES, Accepted, parse_delivery, verify_signature
from cicosts.errors import BadRequest
from cicosts.kit.bodies import read_limited_body
from cicosts.kit.metrics import DELIVERIES_RECEIVED


class BareRoute(APIRoute):
    """A route whose endpoint takes the bare `Request` and returns a `Response`, and is called as it is.

    FastAPI's per-request work (solving dependencies, parsing query parameters, validating a body model,
    serializing a response model) is skipped; the route is still in the OpenAPI schema, described by its
    `openapi_extra`. An endpoint that needs any of that work must not use this route class.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        if len(inspect.signature(self.endpoint).parameters) != 1 or self.dependant.dependencies:
            raise TypeError(f"{self.path}: a BareRoute endpoint takes the request and nothing else")
        endpoint: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return endpoint


router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], route_class=BareRoute)


def _header(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


OPENAPI: dict[str, Any] = {
    "parameters": [
        _header("X-GitHub-Event", "The event, e.g. `workflow_job`; `ping` is answered 200 and not stored."),
        _header("X-GitHub-Delivery", "The delivery's id: a redelivery under the same id is stored once."),
        _header("X-Hub-Signature-256", "`sha256=` and the HMAC-SHA256 of the body with the webhook secret."),
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object", "description": "GitHub's payload"}}},
    },
    "responses": {
        "200": {"description": "A ping, answered `pong`"},
        "202": {
            "description": "Stored (`queued`, `ignored`), or stored before (`duplicate`)",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "status": {"type": "string", "enum": ["queued", "ignored", "duplicate"]},
                            "delivery_id": {"type": "string"},
                        },
                    }
                }
            },
        },
        "400": {"description": "A missing header, or a body that is not a JSON object"},
        "401": {"description": "A missing or wrong signature"},
        "413": {"description": "A body over GitHub's 25 MB limit"},
    },
}


def inbox_of(request: Request) -> Inbox:
    """The app's inbox, created on first use (it belongs to the app's engine and event loop)."""
    state = request.app.state
    inbox: Inbox | None = getattr(state, "webhook_inbox", None)
    if inbox is None:
        inbox = state.webhook_inbox = Inbox(state.engine)
    return inbox


@router.post("/github", status_code=202, openapi_extra=OPENAPI)
async def receive_github_webhook(request: Request) -> JSONResponse:
    headers = request.headers
    body = await read_limited_body(request, MAX_BODY_BYTES, "Payload exceeds GitHub's 25 MB limit")
    verify_signature(
        request.app.state.settings.github_webhook_secret, body, headers.get("x-hub-signature-256")
    )
    event = headers.get("x-github-event")
    delivery_id = headers.get("x-github-delivery")
    if not event:
        raise BadRequest("Missing X-GitHub-Event header")
    if not delivery_id and event != "ping":
        raise BadRequest("Missing X-GitHub-Delivery header")
    delivery = parse_delivery(event=event, delivery_id=delivery_id or "", body=body)
    if delivery is None:
        outcome = Accepted.PONG
    else:
        outcome = await inbox_of(request).store(delivery)
    DELIVERIES_RECEIVED.labels(event, outcome.value).inc()
    status = 200 if outcome is Accepted.PONG else 202
    return JSONResponse({"status": outcome.value, "delivery_id": delivery_id}, status_code=status)
