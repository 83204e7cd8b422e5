"""GitHub Actions facts: workflows, runs, jobs, and the prices they are billed at."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cicosts.kit.periods import utc_now
from cicosts.models.base import Base, BigId, UTCDateTime


class Workflow(Base):
    """A workflow is known by its repository and name: job events carry the name but not the path."""

    __tablename__ = "workflows"
    __table_args__ = (UniqueConstraint("repository_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    path: Mapped[str | None] = mapped_column(String(500))
    github_workflow_id: Mapped[int | None] = mapped_column(BigInteger)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last run's conclusion once it completed, its status until then.
    last_run_status: Mapped[str | None] = mapped_column(String(20))


class WorkflowRun(Base):
    __tablename__ = "workflow_runs"
    __table_args__ = (
        UniqueConstraint("org_id", "github_run_id"),
        Index("ix_workflow_runs_org_created", "org_id", "created_at"),
        Index("ix_workflow_runs_workflow_created", "workflow_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    github_run_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(255))
    path: Mapped[str | None] = mapped_column(String(500))
    event: Mapped[str | None] = mapped_column(String(50))
    head_branch: Mapped[str | None] = mapped_column(String(255))
    head_sha: Mapped[str | None] = mapped_column(String(40))
    actor_login: Mapped[str | None] = mapped_column(String(100))
    run_number: Mapped[int | None] = mapped_column(Integer)
    run_attempt: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20))
    conclusion: Mapped[str | None] = mapped_column(String(20))
    html_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    run_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Whether a workflow_run event has described this run (a run first seen through its jobs has not).
    described: Mapped[bool] = mapped_column(Boolean, default=False)
    # Sums over every job of every attempt, kept in step with the jobs in the same transaction.
    billable_minutes: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    list_cost_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    unpriced_jobs: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class WorkflowJob(Base):
    __tablename__ = "workflow_jobs"
    __table_args__ = (
        UniqueConstraint("org_id", "github_job_id"),
        Index("ix_workflow_jobs_run_attempt", "run_id", "run_attempt"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    repository_id: Mapped[int] = mapped_column(ForeignKey("repositories.id", ondelete="CASCADE"))
    workflow_id: Mapped[int] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    run_id: Mapped[int] = mapped_column(ForeignKey("workflow_runs.id", ondelete="CASCADE"))
    github_job_id: Mapped[int] = mapped_column(BigInteger)
    github_run_id: Mapped[int] = mapped_column(BigInteger)
    run_attempt: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(255))
    head_branch: Mapped[str | None] = mapped_column(String(255))
    labels: Mapped[list[str]] = mapped_column(JSON, default=list)
    runner_name: Mapped[str | None] = mapped_column(String(255))
    runner_group_name: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20))
    conclusion: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    billable_minutes: Mapped[int] = mapped_column(Integer, default=0)
    sku: Mapped[str | None] = mapped_column(String(50))
    unit_price_nanos: Mapped[int | None] = mapped_column(BigInteger)
    cost_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    list_cost_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    price_source: Mapped[str | None] = mapped_column(String(30))
    unpriced: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)

    # Set on new jobs so that their run and they are inserted together at the end of a batch.
    run: Mapped[WorkflowRun] = relationship(lazy="raise")


class RunnerPrice(Base):
    """GitHub's list price of one runner SKU from a date on (USD per minute, as nanodollars)."""

    __tablename__ = "runner_prices"
    __table_args__ = (UniqueConstraint("sku", "effective_from"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sku: Mapped[str] = mapped_column(String(50))
    effective_from: Mapped[date] = mapped_column(Date)
    nanos_per_minute: Mapped[int] = mapped_column(BigInteger)
    # Standard runners are free in public repositories; larger runners are billed everywhere.
    standard: Mapped[bool] = mapped_column(Boolean, default=False)


class RunnerMapping(Base):
    """An organization's own runner label or runner group, priced as a SKU or at a custom rate."""

    __tablename__ = "runner_mappings"
    __table_args__ = (UniqueConstraint("org_id", "match_kind", "match_value"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    match_kind: Mapped[str] = mapped_column(String(20))  # "label" | "runner_group"
    match_value: Mapped[str] = mapped_column(String(255))
    sku: Mapped[str | None] = mapped_column(String(50))
    nanos_per_minute: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
