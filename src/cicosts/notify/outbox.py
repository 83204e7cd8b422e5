"""The notification outbox: emails, Slack messages and signed webhooks queued on the durable `jobs` table.

A job queued while handling a request becomes visible to workers only when that request commits, so a
notification about a change is never sent for a change that was rolled back. The worker sends it (`send_job`),
retrying with backoff and keeping it as a dead letter after its last attempt, and writes every attempt to the
delivery log (`log.py`). A notification may name what it is about (`reference`, e.g. an alert trigger) and its
organization; when one is delivered, the worker's `on_delivered` callback hears of its reference.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.kit.periods import utc_now
from cicosts.models import Organization
from cicosts.models.notifications import FAILED, GAVE_UP, SENT
from cicosts.models.queue import DEAD, DONE, IGNORED, QUEUED
from cicosts.notify import log, slack, urls, webhooks
from cicosts.notify.email import Email, send
from cicosts.worker import queue
from cicosts.worker.queue import ClaimedJob

logger = logging.getLogger("cicosts.notify")
NOTIFICATIONS_QUEUE = "notifications"
EMAIL, SLACK, WEBHOOK = "email", "slack", "webhook"
OnDelivered = Callable[[AsyncSession, str], Awaitable[None]]


@dataclass(frozen=True)
class About:
    """What a notification is about: its organization and a reference such as `alert:3:trigger:42`."""

    org_id: int | None = None
    reference: str | None = None


def _with_about(payload: dict[str, Any], about: About | None) -> str:
    if about is not None:
        payload = {**payload, "org_id": about.org_id, "reference": about.reference}
    return json.dumps(payload, separators=(",", ":"))


async def enqueue_email(
    session: AsyncSession,
    email: Email,
    settings: Settings,
    *,
    dedupe_key: str | None = None,
    about: About | None = None,
) -> bool:
    """Queue `email` once per `dedupe_key`; False when there is nobody to send it to or it was queued before.

    Without SMTP_HOST the email is still recorded, as `ignored`, so what was not sent stays visible.
    """
    if not email.to:
        return False
    return await queue.enqueue(
        session,
        queue=NOTIFICATIONS_QUEUE,
        kind=EMAIL,
        dedupe_key=dedupe_key or uuid.uuid4().hex,
        payload=_with_about(json.loads(email.to_json()), about),
        status=QUEUED if settings.email_configured else IGNORED,
    )


async def enqueue_slack(
    session: AsyncSession, url: str, body: dict[str, Any], *, dedupe_key: str, about: About | None = None
) -> bool:
    """Queue a Slack incoming-webhook message (see `slack.message`) once per `dedupe_key`."""
    return await queue.enqueue(
        session,
        queue=NOTIFICATIONS_QUEUE,
        kind=SLACK,
        dedupe_key=dedupe_key,
        payload=_with_about({"url": url, "body": body}, about),
    )


async def enqueue_webhook(
    session: AsyncSession,
    url: str,
    secret: str,
    event_type: str,
    data: dict[str, Any],
    *,
    dedupe_key: str,
    about: About | None = None,
) -> bool:
    """Queue a signed webhook once per `dedupe_key`.

    Its body and message id are fixed now, so every retry sends the same bytes under the same `webhook-id`;
    only the timestamp and the signature are made at send time.
    """
    body = json.dumps(
        {"type": event_type, "timestamp": utc_now().isoformat().replace("+00:00", "Z"), "data": data},
        separators=(",", ":"),
        sort_keys=True,
    )
    payload = {"url": url, "secret": secret, "message_id": webhooks.new_message_id(), "body": body}
    return await queue.enqueue(
        session,
        queue=NOTIFICATIONS_QUEUE,
        kind=WEBHOOK,
        dedupe_key=dedupe_key,
        payload=_with_about(payload, about),
    )


@dataclass(frozen=True)
class Description:
    channel: str
    target: str
    org_id: int | None
    reference: str | None


def describe(kind: str, payload: str) -> Description | None:
    """The delivery log's view of a job: channel, a target without secrets, organization and reference."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict) or kind not in (EMAIL, SLACK, WEBHOOK):
        return None
    target = ", ".join(str(a) for a in data.get("to", [])) if kind == EMAIL else urls.describe(data["url"])
    org_id = data.get("org_id")
    return Description(kind, target, int(org_id) if org_id is not None else None, data.get("reference"))


async def deliver(kind: str, payload: str, settings: Settings) -> int | None:
    """Run one outbox job: None for a kind this version does not know (the job is then ignored), else the
    endpoint's status code (250 for an email the SMTP server took). Raises when the channel refused it."""
    data = json.loads(payload)
    allow_private = settings.allow_private_webhooks
    if kind == EMAIL:
        await send(Email.from_json(payload), settings)
        return 250
    if kind == SLACK:
        return await slack.send(str(data["url"]), data["body"], allow_private=allow_private)
    if kind == WEBHOOK:
        return await webhooks.send(
            str(data["url"]),
            str(data["secret"]),
            str(data["message_id"]),
            str(data["body"]),
            timestamp=int(time.time()),
            allow_private=allow_private,
        )
    return None


async def send_job(
    sessionmaker: async_sessionmaker[AsyncSession],
    job: ClaimedJob,
    settings: Settings,
    on_delivered: OnDelivered | None = None,
) -> None:
    """Send one claimed job outside any transaction, then record the attempt and finish or fail the job."""
    description = describe(job.kind, job.payload)
    started = time.monotonic()
    try:
        status_code = await deliver(job.kind, job.payload, settings)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        async with transaction(sessionmaker) as session:
            status = await queue.fail(session, job, error, settings.worker_max_attempts)
            if description is not None:
                await _record(
                    session,
                    job,
                    description,
                    GAVE_UP if status == DEAD else FAILED,
                    started,
                    status_code=getattr(exc, "status_code", None),
                    error=error,
                )
        (logger.error if status == DEAD else logger.warning)(
            "notification %s (%s) failed: %s", job.id, job.kind, exc
        )
        return
    async with transaction(sessionmaker) as session:
        await queue.finish(session, [job.id], DONE if status_code is not None else IGNORED)
        if status_code is not None and description is not None:
            await _record(session, job, description, SENT, started, status_code=status_code)
            if on_delivered is not None and description.reference:
                await on_delivered(session, description.reference)


async def _record(
    session: AsyncSession,
    job: ClaimedJob,
    description: Description,
    status: str,
    started: float,
    *,
    status_code: int | None = None,
    error: str | None = None,
) -> None:
    org_id = description.org_id
    if org_id is not None and await session.get(Organization, org_id) is None:
        org_id = None  # deleted while the notification was on its way
    await log.record(
        session,
        job_id=job.id,
        attempt=job.attempts,
        channel=description.channel,
        target=description.target,
        org_id=org_id,
        reference=description.reference,
        status=status,
        status_code=status_code,
        error=error,
        duration_ms=round((time.monotonic() - started) * 1000),
    )
