"""POST /api/v1/webhooks/github."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.ci.webhooks.service import MAX_BODY_BYTES, Accepted, accept_delivery, verify_signature
from cicosts.db import TransactionalRoute, get_session
from cicosts.errors import BadRequest, PayloadTooLarge
from cicosts.kit.metrics import DELIVERIES_RECEIVED

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"], route_class=TransactionalRoute)


async def read_limited_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge("Payload exceeds GitHub's 25 MB limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge("Payload exceeds GitHub's 25 MB limit")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/github", status_code=202)
async def receive_github_webhook(
    request: Request,
    session: Annotated[AsyncSession, Depends(get_session)],
    x_github_event: Annotated[str | None, Header()] = None,
    x_github_delivery: Annotated[str | None, Header()] = None,
    x_hub_signature_256: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    body = await read_limited_body(request)
    verify_signature(request.app.state.settings.github_webhook_secret, body, x_hub_signature_256)
    if not x_github_event:
        raise BadRequest("Missing X-GitHub-Event header")
    if not x_github_delivery and x_github_event != "ping":
        raise BadRequest("Missing X-GitHub-Delivery header")
    outcome = await accept_delivery(
        session, event=x_github_event, delivery_id=x_github_delivery or "", body=body
    )
    DELIVERIES_RECEIVED.labels(event=x_github_event, outcome=outcome.value).inc()
    status = 200 if outcome is Accepted.PONG else 202
    return JSONResponse({"status": outcome.value, "delivery_id": x_github_delivery}, status_code=status)
