"""Alerts (rules over the ledger) and their triggers (each crossing, recorded once per period and level)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cicosts.kit.periods import utc_now
from cicosts.models.base import Base, BigId, UTCDateTime


class Alert(Base):
    """A rule: a cost threshold, a budget with warning levels and a forecast, or an anomaly detector.

    `scope` narrows the ledger rows it reads (source, repository, workflow, project, agent, model, ...).
    Money is nanodollars; `anomaly_k_hundredths` is the anomaly's k times 100 (300 = 3.0).
    """

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    alert_type: Mapped[str] = mapped_column(String(30))  # cost_threshold | budget_limit | anomaly
    threshold_nanos: Mapped[int] = mapped_column(BigInteger)
    period: Mapped[str] = mapped_column(String(10))  # daily | weekly | monthly
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_email: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_slack: Mapped[bool] = mapped_column(Boolean, default=False)
    slack_webhook_url: Mapped[str | None] = mapped_column(String(2000))
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    # Standard Webhooks signing secret: "whsec_" + base64 of 32 random bytes; shown once, on creation.
    webhook_secret: Mapped[str] = mapped_column(String(100))
    scope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    warning_percents: Mapped[list[int]] = mapped_column(JSON, default=list)
    forecast: Mapped[bool] = mapped_column(Boolean, default=True)
    anomaly_k_hundredths: Mapped[int] = mapped_column(Integer, default=300)
    anomaly_granularity: Mapped[str | None] = mapped_column(String(10))  # day | hour | None: by source
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, onupdate=utc_now)


class AlertTrigger(Base):
    """One crossing of an alert, stored once per `dedupe_key` (its period or bucket, amount and level).

    `notified` turns true when a notification channel (email, Slack or webhook) delivered it.
    """

    __tablename__ = "alert_triggers"
    __table_args__ = (
        UniqueConstraint("alert_id", "dedupe_key"),
        Index("ix_alert_triggers_alert_triggered", "alert_id", "triggered_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    dedupe_key: Mapped[str] = mapped_column(String(200))
    triggered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    actual_nanos: Mapped[int] = mapped_column(BigInteger)
    threshold_nanos: Mapped[int] = mapped_column(BigInteger)
    # budget: the warning percent crossed; cost threshold: 100; anomaly: 0
    level: Mapped[int] = mapped_column(Integer, default=100)
    basis: Mapped[str] = mapped_column(String(20))  # actual | forecast | anomaly
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notified: Mapped[bool] = mapped_column(Boolean, default=False)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
