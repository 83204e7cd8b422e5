"""The durable job queue: webhook inbox, notification outbox and scheduled work share one table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cicosts.kit.periods import utc_now
from cicosts.models.base import Base, BigId, UTCDateTime

QUEUED, RUNNING, DONE, IGNORED, FAILED, DEAD = (
    "queued",
    "running",
    "done",
    "ignored",
    "failed",
    "dead",
)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("queue", "dedupe_key"),
        Index("ix_jobs_claimable", "queue", "status", "run_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    queue: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(100))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)
    # queued -> running -> done | ignored; failed (will retry) -> dead after max_attempts
    status: Mapped[str] = mapped_column(String(20), default=QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
