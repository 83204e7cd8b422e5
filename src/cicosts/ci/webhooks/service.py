"""Verify a GitHub delivery and store it in the inbox, once per X-GitHub-Delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
from enum import Enum

from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.errors import BadRequest, Unauthorized
from cicosts.models.queue import IGNORED, QUEUED
from cicosts.worker import queue

GITHUB_QUEUE = "github_webhooks"
HANDLED_EVENTS = frozenset({"workflow_job", "workflow_run", "installation", "installation_repositories"})
MAX_BODY_BYTES = 25 * 1024 * 1024


class Accepted(Enum):
    PONG = "pong"
    QUEUED = "queued"
    IGNORED = "ignored"
    DUPLICATE = "duplicate"


def signature_for(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> None:
    if not header:
        raise Unauthorized("Missing X-Hub-Signature-256 header")
    if not hmac.compare_digest(signature_for(secret, body).encode(), header.strip().encode()):
        raise Unauthorized("X-Hub-Signature-256 does not match the payload")


async def accept_delivery(session: AsyncSession, *, event: str, delivery_id: str, body: bytes) -> Accepted:
    """Store the raw delivery before the 2xx; the worker does the rest."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"Body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise BadRequest("Body must be a JSON object")
    if event == "ping":
        return Accepted.PONG
    action = payload.get("action")
    handled = event in HANDLED_EVENTS
    stored = await queue.enqueue(
        session,
        queue=GITHUB_QUEUE,
        kind=f"{event}.{action}" if isinstance(action, str) else event,
        dedupe_key=delivery_id,
        payload=body.decode(),
        status=QUEUED if handled else IGNORED,
    )
    if not stored:
        return Accepted.DUPLICATE
    return Accepted.QUEUED if handled else Accepted.IGNORED
