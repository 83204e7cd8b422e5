"""The durable queue: retries with backoff, dead letters, replays, and a worker killed mid-batch."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.kit.periods import utc_now
from cicosts.models import Job, WorkflowJob
from cicosts.worker import queue
from cicosts.worker.runner import Worker
from tests.helpers import TestClient, at, job_event, next_id, raw_totals, rollup_totals


async def queue_rows(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Job]:
    async with transaction(sessionmaker) as session:
        return list((await session.scalars(select(Job).order_by(Job.id))).all())


async def make_due(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Move every backoff into the past (instead of waiting for it)."""
    async with transaction(sessionmaker) as session:
        await session.execute(update(Job).values(run_at=utc_now() - timedelta(seconds=1)))


async def test_a_failing_delivery_retries_with_backoff_then_becomes_a_dead_letter(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    worker = Worker(sessionmaker, settings.model_copy(update={"worker_max_attempts": 3}))
    # A job event whose repository owner has no id: processing raises every time.
    broken = job_event(
        "completed", job_id=next_id(), run_id=next_id(), started=at("2026-02-01T10:00:00"), seconds=60
    )
    broken["repository"]["owner"] = {"login": "no-id"}
    good = job_event(
        "completed", job_id=next_id(), run_id=next_id(), started=at("2026-02-01T10:00:00"), seconds=60
    )
    await client.deliver("workflow_job", broken, delivery_id="broken")
    await client.deliver("workflow_job", good, delivery_id="good")
    await worker.drain()
    rows = {row.dedupe_key: row for row in await queue_rows(sessionmaker)}
    # The good delivery is not held up by the bad one in its batch.
    assert rows["good"].status == "done"
    assert (rows["broken"].status, rows["broken"].attempts) == ("failed", 1)
    assert rows["broken"].run_at > utc_now() and "KeyError" in (rows["broken"].last_error or "")
    for _ in range(2):
        await make_due(sessionmaker)
        await worker.drain()
    rows = {row.dedupe_key: row for row in await queue_rows(sessionmaker)}
    assert (rows["broken"].status, rows["broken"].attempts) == ("dead", 3)
    assert await worker.drain() == 0  # dead letters are not retried by themselves


async def test_a_replayed_dead_letter_is_processed_again(
    client: TestClient, worker: Worker, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    payload = job_event(
        "completed", job_id=next_id(), run_id=next_id(), started=at("2026-02-01T10:00:00"), seconds=60
    )
    await client.deliver("workflow_job", payload, delivery_id="later-fixed")
    async with transaction(sessionmaker) as session:
        await session.execute(update(Job).values(status="dead", attempts=8, last_error="boom"))
    assert await worker.drain() == 0
    async with transaction(sessionmaker) as session:
        dead = await queue.list_jobs(session, "github_webhooks", ("failed", "dead"))
        assert [job.dedupe_key for job in dead] == ["later-fixed"]
        await queue.replay(session, dead[0].id)
    assert await worker.drain() == 1
    assert [row.status for row in await queue_rows(sessionmaker)] == ["done"]


async def test_an_expired_lease_is_taken_over(
    client: TestClient, worker: Worker, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await client.deliver(
        "workflow_job",
        job_event(
            "completed", job_id=next_id(), run_id=next_id(), started=at("2026-02-01T10:00:00"), seconds=60
        ),
    )
    async with transaction(sessionmaker) as session:
        claimed = await queue.claim(session, "github_webhooks", 10, timedelta(minutes=5))
    assert len(claimed) == 1
    assert await worker.drain() == 0  # leased to a worker that is still alive
    async with transaction(sessionmaker) as session:
        await session.execute(update(Job).values(locked_until=utc_now() - timedelta(seconds=1)))
    assert await worker.drain() == 1
    rows = await queue_rows(sessionmaker)
    assert (rows[0].status, rows[0].attempts) == ("done", 2)


WORKER_SCRIPT = """
import asyncio, sys
from cicosts.config import Settings
from cicosts.db import create_engine, create_sessionmaker
from cicosts.worker.runner import Worker

settings = Settings(database_url=sys.argv[1], worker_batch_size=int(sys.argv[2]), worker_lease_seconds=1)
engine = create_engine(settings)
asyncio.run(Worker(create_sessionmaker(engine), settings).run_forever())
"""


async def test_a_worker_killed_mid_batch_loses_nothing_and_counts_nothing_twice(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    total = 1200
    started = at("2026-02-01T10:00:00")
    for index in range(total):
        await client.deliver(
            "workflow_job",
            job_event("completed", job_id=next_id(), run_id=next_id(), started=started, seconds=60 + index),
        )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WORKER_SCRIPT,
        settings.database_url,
        "50",
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        async with asyncio.timeout(120):  # kill it once it has committed some batches but not all of them
            while True:
                async with transaction(sessionmaker) as session:
                    done = await session.scalar(select(func.count(Job.id)).where(Job.status == "done")) or 0
                if done >= 100:
                    break
                assert process.returncode is None, "the worker died by itself"
                await asyncio.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        await process.wait()
    rows = await queue_rows(sessionmaker)
    assert sum(row.status == "done" for row in rows) < total, "the worker finished before it was killed"
    # Another worker takes over once the dead worker's lease has run out.
    async with transaction(sessionmaker) as session:
        await session.execute(
            update(Job).where(Job.status == "running").values(locked_until=utc_now() - timedelta(seconds=1))
        )
    await Worker(sessionmaker, settings).drain()
    assert {row.status for row in await queue_rows(sessionmaker)} == {"done"}
    async with transaction(sessionmaker) as session:
        jobs = await session.scalar(select(func.count(WorkflowJob.id)))
        raw = await raw_totals(session)
        ci, ledger = await rollup_totals(session)
    assert jobs == total
    expected_minutes = sum(-(-(60 + index) // 60) for index in range(total))
    assert raw.minutes == expected_minutes and raw.cost == expected_minutes * 6_000_000
    assert ci == raw and ledger == raw
