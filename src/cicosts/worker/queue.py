"""The `jobs` table as a durable queue.

Jobs are claimed with a lease: a claimed job whose lease runs out (its worker died) is claimable again, and
because a job's effects commit in the same transaction that marks it done, a job is never counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import ColumnElement

from cicosts.kit.periods import as_utc, utc_now
from cicosts.kit.upsert import dialect_name
from cicosts.models import Job
from cicosts.models.queue import DEAD, DONE, FAILED, IGNORED, QUEUED, RUNNING

JOBS: Table = Job.__table__  # type: ignore[assignment]
MAINTENANCE_QUEUE = "maintenance"  # re-pricing, erasing deleted accounts
MAX_BACKOFF = timedelta(hours=1)


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    queue: str
    kind: str
    payload: str
    attempts: int


# One INSERT ... ON CONFLICT DO NOTHING per dialect, built once: its compiled form is then found in
# SQLAlchemy's statement cache on every later call instead of being built again for each job.
_INSERT_ONCE: dict[str, Any] = {}


def _insert_once(dialect: str) -> Any:
    statement = _INSERT_ONCE.get(dialect)
    if statement is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(JOBS).on_conflict_do_nothing(index_elements=["queue", "dedupe_key"])
        _INSERT_ONCE[dialect] = statement
    return statement


async def enqueue(
    executor: AsyncSession | AsyncConnection,
    *,
    queue: str,
    kind: str,
    dedupe_key: str,
    payload: str,
    status: str = QUEUED,
    run_at: datetime | None = None,
) -> bool:
    """Store a job once per (queue, dedupe_key). Returns False when it was already there.

    `executor` is a session or a bare connection; either way the job is part of its current transaction.
    """
    now = utc_now()
    dialect = (
        executor.dialect if isinstance(executor, AsyncConnection) else executor.get_bind().dialect
    ).name
    result = await executor.execute(
        _insert_once(dialect),
        {
            "queue": queue,
            "kind": kind,
            "dedupe_key": dedupe_key,
            "payload": payload,
            "status": status,
            "attempts": 0,
            "run_at": run_at or now,
            "created_at": now,
            "finished_at": now if status == IGNORED else None,
        },
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _claimable(queue: str, now: datetime) -> ColumnElement[bool]:
    return and_(
        Job.queue == queue,
        or_(
            and_(Job.status.in_((QUEUED, FAILED)), Job.run_at <= now),
            and_(Job.status == RUNNING, Job.locked_until < now),
        ),
    )


async def claim(session: AsyncSession, queue: str, limit: int, lease: timedelta) -> list[ClaimedJob]:
    now = utc_now()
    candidates = select(Job.id).where(_claimable(queue, now)).order_by(Job.id).limit(limit)
    if dialect_name(session) == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    statement = (
        update(Job)
        .where(Job.id.in_(candidates.scalar_subquery()))
        .values(status=RUNNING, locked_until=now + lease, attempts=Job.attempts + 1)
        .returning(Job.id, Job.queue, Job.kind, Job.payload, Job.attempts)
    )
    rows = (await session.execute(statement)).all()
    return sorted((ClaimedJob(*row) for row in rows), key=lambda job: job.id)


async def finish(session: AsyncSession, job_ids: list[int], status: str = DONE) -> None:
    await session.execute(
        update(Job)
        .where(Job.id.in_(job_ids))
        .values(status=status, finished_at=utc_now(), locked_until=None, last_error=None)
    )


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=2**attempts), MAX_BACKOFF)


async def fail(session: AsyncSession, job: ClaimedJob, error: str, max_attempts: int) -> str:
    """Record a failure: retried later with backoff, or dead once it has had all its attempts."""
    now = utc_now()
    status = DEAD if job.attempts >= max_attempts else FAILED
    await session.execute(
        update(Job)
        .where(Job.id == job.id)
        .values(
            status=status,
            last_error=error[:4000],
            locked_until=None,
            run_at=now + backoff(job.attempts),
            finished_at=now if status == DEAD else None,
        )
    )
    return status


async def replay(session: AsyncSession, job_id: int) -> Job | None:
    job = await session.get(Job, job_id)
    if job is None:
        return None
    job.status = QUEUED
    job.run_at = utc_now()
    job.locked_until = None
    job.finished_at = None
    return job


async def list_jobs(session: AsyncSession, queue: str, statuses: tuple[str, ...]) -> list[Job]:
    return list(
        (
            await session.scalars(
                select(Job).where(Job.queue == queue, Job.status.in_(statuses)).order_by(Job.id)
            )
        ).all()
    )


@dataclass(frozen=True)
class QueueStats:
    depth: int
    oldest_age_seconds: float


async def stats(session: AsyncSession, queue: str) -> QueueStats:
    row = (
        await session.execute(
            select(func.count(), func.min(Job.created_at)).where(
                Job.queue == queue, Job.status.in_((QUEUED, FAILED, RUNNING))
            )
        )
    ).one()
    count, oldest = row
    age = 0.0
    if oldest is not None:
        age = max((utc_now() - as_utc(oldest)).total_seconds(), 0.0)
    return QueueStats(int(count), age)
