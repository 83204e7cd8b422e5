"""When alerts are evaluated and digests sent: jobs on the durable `alerts` queue, each enqueued once per key.

- **On a schedule**: every worker ticks once a minute; a tick enqueues, for each organization with an enabled
  alert, one evaluation per 5-minute slot (`tick:<org>:<slot>`), and, from Monday 08:00 in the organization's
  time zone until a day later, one weekly digest (`digest:<org>:<monday>`). The keys make the jobs unique in
  the `jobs` table, so restarts and any number of workers enqueue each one once.
- **After costs land**: CI delivery batches and LLM ingestion call `hooks.costs_landed`, which enqueues at
  most one evaluation per organization and minute (`landed:<org>:<minute>`), run when that minute is over.

Evaluation is idempotent whenever it runs (a trigger is stored once per dedupe key), so an extra evaluation
never notifies twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.alerts import digest, repository, service
from cicosts.alerts.hooks import ALERTS_QUEUE, DIGEST, EVALUATE, slot
from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.kit.periods import utc_now, zone
from cicosts.models import Organization
from cicosts.models.queue import DONE, IGNORED
from cicosts.worker import queue
from cicosts.worker.queue import ClaimedJob

logger = logging.getLogger("cicosts.alerts")
SLOT = timedelta(minutes=5)
TICK_SECONDS = 60.0
DIGEST_HOUR = 8  # Monday 08:00 in the organization's time zone
DIGEST_WINDOW = timedelta(days=1)  # a digest missed (no worker running) is still sent within a day
KEEP_FINISHED = timedelta(days=2)
BATCH = 20


def digest_week(time_zone: str, now: datetime) -> date | None:
    """The Monday whose 08:00 digest (local time) is due at `now`, if `now` is within a day after it."""
    try:
        tz = zone(time_zone)
    except ValueError:
        return None
    today = now.astimezone(tz).date()
    monday = today - timedelta(days=today.weekday())
    due = datetime.combine(monday, time(DIGEST_HOUR), tzinfo=tz).astimezone(UTC)
    return monday if due <= now < due + DIGEST_WINDOW else None


class Scheduler:
    """A worker's periodic enqueuer; `tick_if_due` runs a tick at most once a minute."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], interval: float = TICK_SECONDS
    ) -> None:
        self.sessionmaker = sessionmaker
        self.interval = interval
        self._last: float | None = None
        self._enqueued: dict[str, datetime] = {}

    async def tick_if_due(self, now: datetime) -> int:
        moment = monotonic()
        if self._last is not None and moment - self._last < self.interval:
            return 0
        self._last = moment
        return await self.tick(now)

    async def tick(self, now: datetime) -> int:
        """Enqueue what is due at `now`; how many jobs were new."""
        current = slot(now, SLOT)
        added = 0
        # Keys are remembered only once the transaction has committed: if it fails, its jobs are rolled back
        # and the next tick must enqueue them again (or a week's digest would never be sent by this process).
        pending: dict[str, datetime] = {}
        async with transaction(self.sessionmaker) as session:
            for org_id in await repository.organizations_with_alerts(session):
                key = f"tick:{org_id}:{current:%Y%m%dT%H%M}"
                added += await self._once(session, EVALUATE, key, {"org_id": org_id}, now, pending)
            for org_id, time_zone in await session.execute(select(Organization.id, Organization.time_zone)):
                monday = digest_week(time_zone, now)
                if monday is not None:
                    payload = {"org_id": org_id, "week": monday.isoformat()}
                    key = f"digest:{org_id}:{monday}"
                    added += await self._once(session, DIGEST, key, payload, now, pending)
            await repository.forget_finished_jobs(session, ALERTS_QUEUE, utc_now() - KEEP_FINISHED)
        self._enqueued.update(pending)
        self._enqueued = {key: at for key, at in self._enqueued.items() if at > now - KEEP_FINISHED}
        return added

    async def _once(
        self,
        session: AsyncSession,
        kind: str,
        key: str,
        payload: dict[str, Any],
        now: datetime,
        pending: dict[str, datetime],
    ) -> int:
        """Enqueue once per key: remembered by this process (in `pending` until the tick commits), and unique
        in the table for every process."""
        if key in self._enqueued or key in pending:
            return 0
        pending[key] = now
        added = await queue.enqueue(
            session, queue=ALERTS_QUEUE, kind=kind, dedupe_key=key, payload=json.dumps(payload)
        )
        return int(added)


async def run_jobs(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    lease: timedelta,
    clock: Callable[[], datetime],
) -> int:
    """Claim and run due alert jobs, each in its own transaction; how many were claimed."""
    async with transaction(sessionmaker) as session:
        jobs = await queue.claim(session, ALERTS_QUEUE, BATCH, lease)
    for job in jobs:
        try:
            async with transaction(sessionmaker) as session:
                handled = await _run(session, job, settings, clock())
                await queue.finish(session, [job.id], DONE if handled else IGNORED)
        except Exception as exc:
            async with transaction(sessionmaker) as session:
                await queue.fail(session, job, f"{type(exc).__name__}: {exc}", settings.worker_max_attempts)
            logger.warning("alerts job %s (%s) failed: %s", job.id, job.kind, exc)
    return len(jobs)


async def _run(session: AsyncSession, job: ClaimedJob, settings: Settings, now: datetime) -> bool:
    payload = json.loads(job.payload)
    org_id = int(payload["org_id"])
    if job.kind == EVALUATE:
        await service.evaluate_organization(session, org_id, settings, now)
        return True
    if job.kind == DIGEST:
        await digest.send_digest(session, org_id, date.fromisoformat(payload["week"]), settings, now)
        return True
    return False
