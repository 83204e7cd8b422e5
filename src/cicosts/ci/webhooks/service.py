"""Verify a GitHub delivery and store it in the inbox, once per X-GitHub-Delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from cicosts.errors import BadRequest, Unauthorized
from cicosts.kit.periods import utc_now
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


@dataclass(frozen=True)
class Delivery:
    """A verified delivery, ready to store: its job kind (`event.action`) and raw JSON text."""

    event: str
    delivery_id: str
    kind: str
    payload: str

    @property
    def handled(self) -> bool:
        return self.event in HANDLED_EVENTS


def signature_for(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> None:
    """Compares in constant time the HMAC-SHA256 of the raw body with X-Hub-Signature-256."""
    if not header:
        raise Unauthorized("Missing X-Hub-Signature-256 header")
    if not hmac.compare_digest(signature_for(secret, body).encode(), header.strip().encode()):
        raise Unauthorized("X-Hub-Signature-256 does not match the payload")


def parse_delivery(*, event: str, delivery_id: str, body: bytes) -> Delivery | None:
    """Check the body is a JSON object and name its job kind; None for a ping, which is not stored."""
    try:
        text = body.decode()
        payload = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"Body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise BadRequest("Body must be a JSON object")
    if event == "ping":
        return None
    action = payload.get("action")
    kind = f"{event}.{action}" if isinstance(action, str) else event
    return Delivery(event, delivery_id, kind, text)


async def store_delivery(executor: AsyncSession | AsyncConnection, delivery: Delivery) -> Accepted:
    """Store the raw delivery in the caller's transaction; the worker does the rest."""
    stored = await queue.enqueue(
        executor,
        queue=GITHUB_QUEUE,
        kind=delivery.kind,
        dedupe_key=delivery.delivery_id,
        payload=delivery.payload,
        status=QUEUED if delivery.handled else IGNORED,
    )
    if not stored:
        return Accepted.DUPLICATE
    return Accepted.QUEUED if delivery.handled else Accepted.IGNORED


async def accept_delivery(
    executor: AsyncSession | AsyncConnection, *, event: str, delivery_id: str, body: bytes
) -> Accepted:
    """Store the raw delivery before the 2xx (the caller commits); the worker does the rest."""
    delivery = parse_delivery(event=event, delivery_id=delivery_id, body=body)
    if delivery is None:
        return Accepted.PONG
    return await store_delivery(executor, delivery)


# INSERT ... ON CONFLICT DO NOTHING RETURNING dedupe_key, built once per dialect. Executed with a list of
# rows, SQLAlchemy sends it as one multi-row INSERT ("insertmanyvalues").
_INSERT_MANY: dict[str, Any] = {}


def _insert_many(dialect: str) -> Any:
    statement = _INSERT_MANY.get(dialect)
    if statement is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        jobs = queue.JOBS
        statement = (
            insert(jobs)
            .on_conflict_do_nothing(index_elements=["queue", "dedupe_key"])
            .returning(jobs.c.dedupe_key)
        )
        _INSERT_MANY[dialect] = statement
    return statement


async def store_deliveries(connection: AsyncConnection, deliveries: Sequence[Delivery]) -> list[Accepted]:
    """Store deliveries with one INSERT in the caller's transaction; outcomes in the order given.

    A delivery stored before is DUPLICATE, and so is a second one with the same id in `deliveries` (the
    first is stored).
    """
    first: dict[str, Delivery] = {}
    for delivery in deliveries:
        first.setdefault(delivery.delivery_id, delivery)
    now = utc_now()
    # In id order, so that two batches in flight at once lock the unique index in the same order.
    rows = [
        {
            "queue": GITHUB_QUEUE,
            "kind": delivery.kind,
            "dedupe_key": delivery.delivery_id,
            "payload": delivery.payload,
            "status": QUEUED if delivery.handled else IGNORED,
            "attempts": 0,
            "run_at": now,
            "created_at": now,
            "finished_at": None if delivery.handled else now,
        }
        for _, delivery in sorted(first.items())
    ]
    result = await connection.execute(_insert_many(connection.dialect.name), rows)
    inserted = set(result.scalars())
    outcomes: list[Accepted] = []
    for delivery in deliveries:
        if delivery.delivery_id in inserted and first[delivery.delivery_id] is delivery:
            outcomes.append(Accepted.QUEUED if delivery.handled else Accepted.IGNORED)
        else:
            outcomes.append(Accepted.DUPLICATE)
    return outcomes
