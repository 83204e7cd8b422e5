"""LLM and agent calls: projects, the calls they send (events), custom prices, and their hourly rollups."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cicosts.kit.periods import utc_now
from cicosts.models.base import Base, BigId, UTCDateTime


class LLMProject(Base):
    """What an SDK reports into; its API keys (`api_keys.project_id`) ingest for it alone."""

    __tablename__ = "llm_projects"
    # Ledger rows name a project by its name: two projects of one organization may not share one.
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class LLMEvent(Base):
    """One LLM call as the SDK reported it, with what it was priced at and how."""

    __tablename__ = "llm_events"
    __table_args__ = (
        UniqueConstraint("project_id", "event_id"),
        Index("ix_llm_events_org_timestamp", "org_id", "timestamp"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("llm_projects.id", ondelete="CASCADE"))
    event_id: Mapped[str | None] = mapped_column(String(255))  # the client's idempotency key
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    agent_name: Mapped[str] = mapped_column(String(255), default="default")
    model: Mapped[str] = mapped_column(String(255))
    provider: Mapped[str | None] = mapped_column(String(100))
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    success: Mapped[bool] = mapped_column(Boolean, default=True)
    error: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[str | None] = mapped_column(String(255))
    session_id: Mapped[str | None] = mapped_column(String(255))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    trace_id: Mapped[str | None] = mapped_column(String(255))
    span_id: Mapped[str | None] = mapped_column(String(255))
    workflow: Mapped[str | None] = mapped_column(String(255))
    tool_name: Mapped[str | None] = mapped_column(String(255))
    input_hash: Mapped[str | None] = mapped_column(String(128))
    attributes: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    # Pricing: what matched, at which price, from where; an unpriced call keeps cost 0 and says so.
    matched_model: Mapped[str | None] = mapped_column(String(255))
    matched_provider: Mapped[str | None] = mapped_column(String(100))
    price_source: Mapped[str | None] = mapped_column(String(50))
    unpriced: Mapped[bool] = mapped_column(Boolean, default=False)
    cost_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    # What the cached input would have cost at the uncached input rate, less what it did cost.
    cache_savings_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    client_cost_nanos: Mapped[int | None] = mapped_column(BigInteger)  # the SDK's own figure, compared only
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class LLMOutcome(Base):
    """How a trace ended, as the SDK reported it (`outcomes`): success and a label."""

    __tablename__ = "llm_outcomes"
    __table_args__ = (UniqueConstraint("project_id", "trace_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(ForeignKey("llm_projects.id", ondelete="CASCADE"))
    trace_id: Mapped[str] = mapped_column(String(255))
    success: Mapped[bool | None] = mapped_column(Boolean)
    label: Mapped[str | None] = mapped_column(String(255))
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class LLMCustomPrice(Base):
    """An organization's (or one project's) own price for a model from a moment on, per 1M tokens.

    Overrides the catalogue: fine-tuned, self-hosted or negotiated models. Cache and reasoning rates fall back
    to the input and output rates when not given.
    """

    __tablename__ = "llm_custom_prices"
    __table_args__ = (Index("ix_llm_custom_prices_org_model", "org_id", "model"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("llm_projects.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(255))
    provider: Mapped[str | None] = mapped_column(String(100))
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime)
    input_nanos_per_mtok: Mapped[int] = mapped_column(BigInteger)
    output_nanos_per_mtok: Mapped[int] = mapped_column(BigInteger)
    cache_read_nanos_per_mtok: Mapped[int | None] = mapped_column(BigInteger)
    cache_write_nanos_per_mtok: Mapped[int | None] = mapped_column(BigInteger)
    reasoning_nanos_per_mtok: Mapped[int | None] = mapped_column(BigInteger)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class LLMMeasures:
    """What the LLM rollups add up per hour."""

    calls: Mapped[int] = mapped_column(BigInteger, default=0)
    failed_calls: Mapped[int] = mapped_column(BigInteger, default=0)
    unpriced_calls: Mapped[int] = mapped_column(BigInteger, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    failed_cost_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_savings_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_ms_sum: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_calls: Mapped[int] = mapped_column(BigInteger, default=0)  # calls that reported a latency


class LLMHourly(LLMMeasures, Base):
    """Per project, agent, model and hour (UTC): overview, agents, models, time series and cache analytics."""

    __tablename__ = "llm_hourly"
    __table_args__ = (UniqueConstraint("org_id", "hour", "project_id", "agent_name", "model", "provider"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    hour: Mapped[datetime] = mapped_column(UTCDateTime)
    project_id: Mapped[int] = mapped_column(ForeignKey("llm_projects.id", ondelete="CASCADE"))
    agent_name: Mapped[str] = mapped_column(String(255))
    model: Mapped[str] = mapped_column(String(255))
    provider: Mapped[str] = mapped_column(String(100))  # the matched provider, else the reported one, else ""


class LLMDimensionHourly(LLMMeasures, Base):
    """Per project, hour and one more dimension (user, session, workflow, tool or tag) and its value."""

    __tablename__ = "llm_dimension_hourly"
    __table_args__ = (UniqueConstraint("org_id", "hour", "project_id", "dimension", "value"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    hour: Mapped[datetime] = mapped_column(UTCDateTime)
    project_id: Mapped[int] = mapped_column(ForeignKey("llm_projects.id", ondelete="CASCADE"))
    dimension: Mapped[str] = mapped_column(String(20))  # user | session | workflow | tool | tag
    value: Mapped[str] = mapped_column(String(255))
