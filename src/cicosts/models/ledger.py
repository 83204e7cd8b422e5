"""Hourly rollups: the FOCUS-shaped ledger every source writes, and the richer CI rollup beside it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cicosts.models.base import Base, BigId, UTCDateTime


class LedgerHourly(Base):
    __tablename__ = "ledger_hourly"
    __table_args__ = (
        UniqueConstraint("org_id", "hour", "source", "provider", "service", "sub_account", "resource", "sku"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    hour: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(10))  # ci | llm | cloud
    provider: Mapped[str] = mapped_column(String(100))
    service: Mapped[str] = mapped_column(String(200))
    sub_account: Mapped[str] = mapped_column(String(255))
    resource: Mapped[str] = mapped_column(String(255))
    sku: Mapped[str] = mapped_column(String(100))
    unit: Mapped[str] = mapped_column(String(30))
    billed_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    list_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    # Pricing quantity in millionths of `unit`, so minutes, tokens and fractional cloud hours stay exact.
    quantity_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    record_count: Mapped[int] = mapped_column(BigInteger, default=0)
    unpriced_count: Mapped[int] = mapped_column(BigInteger, default=0)


class CIMeasures:
    """What the CI rollups add up: job costs by completion time, run counts and durations by creation time."""

    cost_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    list_cost_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    billable_minutes: Mapped[int] = mapped_column(BigInteger, default=0)
    jobs: Mapped[int] = mapped_column(Integer, default=0)
    unpriced_jobs: Mapped[int] = mapped_column(Integer, default=0)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    completed_runs: Mapped[int] = mapped_column(Integer, default=0)
    successful_runs: Mapped[int] = mapped_column(Integer, default=0)
    run_seconds: Mapped[int] = mapped_column(BigInteger, default=0)


class CIHourly(CIMeasures, Base):
    """Per workflow and hour (UTC)."""

    __tablename__ = "ci_hourly"
    __table_args__ = (UniqueConstraint("org_id", "hour", "repository_id", "workflow_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    hour: Mapped[datetime] = mapped_column(UTCDateTime)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))


class CIDaily(CIMeasures, Base):
    """Per workflow and UTC day: long windows read whole days here and only their edges by the hour."""

    __tablename__ = "ci_daily"
    __table_args__ = (UniqueConstraint("org_id", "day", "repository_id", "workflow_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))


class CIOrgHourly(CIMeasures, Base):
    """Per organization and hour: totals and trends in any time zone without the workflow dimension."""

    __tablename__ = "ci_org_hourly"
    __table_args__ = (UniqueConstraint("org_id", "hour"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    hour: Mapped[datetime] = mapped_column(UTCDateTime)
