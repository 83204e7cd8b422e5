"""The notification outbox: emails queued on the durable `jobs` table in the caller's transaction.

A job queued while handling a request becomes visible to workers only when that request commits, so an email
about a change is never sent for a change that was rolled back. The worker sends it, retrying with backoff and
keeping it as a dead letter after its last attempt (see `worker/runner.py`).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.config import Settings
from cicosts.models.queue import IGNORED, QUEUED
from cicosts.notify.email import Email, send
from cicosts.worker import queue

NOTIFICATIONS_QUEUE = "notifications"
EMAIL = "email"


async def enqueue_email(
    session: AsyncSession, email: Email, settings: Settings, *, dedupe_key: str | None = None
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
        payload=email.to_json(),
        status=QUEUED if settings.email_configured else IGNORED,
    )


async def deliver(kind: str, payload: str, settings: Settings) -> bool:
    """Run one outbox job; False for a kind this version does not know (the job is then ignored)."""
    if kind != EMAIL:
        return False
    await send(Email.from_json(payload), settings)
    return True
