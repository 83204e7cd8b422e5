"""The worker loop: claim a batch, process it in one transaction, fall back to one job per transaction.

Processing a batch in one transaction is what makes a worker fast; when any job in it fails, the batch is
rolled back and its jobs are run one by one so that one bad delivery cannot hold up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.alerts import scheduler as alerts
from cicosts.alerts.hooks import costs_landed
from cicosts.alerts.service import mark_notified
from cicosts.ci.deliveries.context import DeliveryContext
from cicosts.ci.deliveries.repository import load_price_book
from cicosts.ci.deliveries.service import UnprocessableDelivery, process_delivery
from cicosts.ci.webhooks.service import GITHUB_QUEUE
from cicosts.cloud.imports.jobs import run_cloud_imports
from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.kit.metrics import (
    DELIVERIES_FAILED,
    DELIVERIES_PROCESSED,
    QUEUE_DEPTH,
    QUEUE_OLDEST_AGE,
)
from cicosts.kit.money import usd_to_nanos
from cicosts.kit.periods import utc_now
from cicosts.models.queue import DEAD, DONE, IGNORED
from cicosts.notify import outbox
from cicosts.notify.outbox import NOTIFICATIONS_QUEUE
from cicosts.worker import queue
from cicosts.worker.maintenance import run_task
from cicosts.worker.queue import MAINTENANCE_QUEUE, ClaimedJob

logger = logging.getLogger("cicosts.worker")
MAINTENANCE_BATCH = 5
NOTIFICATIONS_BATCH = 20


class Worker:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.clock = clock  # the time alerts are evaluated and scheduled at (tests pass their own)
        self.alerts = alerts.Scheduler(sessionmaker)
        self.lease = timedelta(seconds=settings.worker_lease_seconds)
        self._stopping = asyncio.Event()

    async def _context(self, session: AsyncSession) -> DeliveryContext:
        return DeliveryContext(
            session=session,
            prices=await load_price_book(session),
            self_hosted_nanos_per_minute=usd_to_nanos(self.settings.self_hosted_runner_rate),
        )

    async def _process(self, session: AsyncSession, batch: list[ClaimedJob]) -> None:
        """Apply a batch of deliveries and mark them finished, all in the caller's transaction."""
        ctx = await self._context(session)
        payloads = [(job, json.loads(job.payload)) for job in batch]
        await ctx.prefetch((job.kind.partition(".")[0], payload) for job, payload in payloads)
        outcomes = {job.id: await process_delivery(ctx, job.kind, payload) for job, payload in payloads}
        await ctx.finish()
        await costs_landed(session, ctx.organization_ids)
        await self._finish(session, batch, outcomes)

    async def run_once(self) -> int:
        """Claim and process a batch of deliveries, due maintenance and notifications; how many it claimed."""
        claimed = await self._deliveries_once() + await self._maintenance_once()
        await self.alerts.tick_if_due(self.clock())
        claimed += await alerts.run_jobs(self.sessionmaker, self.settings, self.lease, self.clock)
        claimed += await run_cloud_imports(self.sessionmaker, self.settings)
        return claimed + await self._notifications_once()

    async def _notifications_once(self) -> int:
        """Send due notifications, each on its own: sent outside any transaction, then marked done."""
        async with transaction(self.sessionmaker) as session:
            jobs = await queue.claim(session, NOTIFICATIONS_QUEUE, NOTIFICATIONS_BATCH, self.lease)
        for job in jobs:
            await outbox.send_job(self.sessionmaker, job, self.settings, on_delivered=mark_notified)
        return len(jobs)

    async def _maintenance_once(self) -> int:
        async with transaction(self.sessionmaker) as session:
            tasks = await queue.claim(session, MAINTENANCE_QUEUE, MAINTENANCE_BATCH, self.lease)
        for task in tasks:
            try:
                async with transaction(self.sessionmaker) as session:
                    context = await self._context(session)
                    handled = await run_task(context, self.settings, task.kind, task.payload)
                    await queue.finish(session, [task.id], DONE if handled else IGNORED)
            except Exception as exc:
                async with transaction(self.sessionmaker) as session:
                    await queue.fail(
                        session, task, f"{type(exc).__name__}: {exc}", self.settings.worker_max_attempts
                    )
                logger.warning("maintenance task %s (%s) failed: %s", task.id, task.kind, exc)
        return len(tasks)

    async def _deliveries_once(self) -> int:
        async with transaction(self.sessionmaker) as session:
            batch = await queue.claim(session, GITHUB_QUEUE, self.settings.worker_batch_size, self.lease)
        if not batch:
            return 0
        try:
            async with transaction(self.sessionmaker) as session:
                await self._process(session, batch)
            _count_processed(batch)
        except Exception:
            logger.info("batch of %d failed; processing its jobs one by one", len(batch))
            for job in batch:
                await self._run_alone(job)
        return len(batch)

    async def _finish(
        self, session: AsyncSession, batch: list[ClaimedJob], outcomes: dict[int, bool]
    ) -> None:
        done = [job_id for job_id, handled in outcomes.items() if handled]
        ignored = [job_id for job_id, handled in outcomes.items() if not handled]
        if done:
            await queue.finish(session, done, DONE)
        if ignored:
            await queue.finish(session, ignored, IGNORED)

    async def _run_alone(self, job: ClaimedJob) -> None:
        try:
            async with transaction(self.sessionmaker) as session:
                await self._process(session, [job])
            _count_processed([job])
        except Exception as exc:
            permanent = isinstance(exc, UnprocessableDelivery)
            async with transaction(self.sessionmaker) as session:
                attempts = self.settings.worker_max_attempts
                status = await queue.fail(
                    session, job, f"{type(exc).__name__}: {exc}", 1 if permanent else attempts
                )
            DELIVERIES_FAILED.labels(kind=job.kind, outcome=status).inc()
            log = logger.error if status == DEAD else logger.warning
            log("delivery job %s (%s) failed: %s", job.id, job.kind, exc)

    async def refresh_queue_metrics(self) -> None:
        async with transaction(self.sessionmaker) as session:
            current = await queue.stats(session, GITHUB_QUEUE)
        QUEUE_DEPTH.labels(queue=GITHUB_QUEUE).set(current.depth)
        QUEUE_OLDEST_AGE.labels(queue=GITHUB_QUEUE).set(current.oldest_age_seconds)

    async def drain(self) -> int:
        """Process until nothing is claimable now (used by the CLI, demo and tests)."""
        total = 0
        while claimed := await self.run_once():
            total += claimed
        return total

    async def run_forever(self) -> None:
        logger.info("worker started")
        while not self._stopping.is_set():
            try:
                claimed = await self.run_once()
            except Exception:
                logger.exception("worker loop error; retrying")
                claimed = 0
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self.settings.worker_idle_seconds)

    def stop(self) -> None:
        self._stopping.set()


def _count_processed(batch: list[ClaimedJob]) -> None:
    """Counted after commit: a rolled-back batch was not processed."""
    for job in batch:
        DELIVERIES_PROCESSED.labels(kind=job.kind).inc()
