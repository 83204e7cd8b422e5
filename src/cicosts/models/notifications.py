"""The notification delivery log: every attempt to send an outbox job (email, Slack, signed webhook)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cicosts.kit.periods import utc_now
from cicosts.models.base import Base, BigId, UTCDateTime

SENT, FAILED, GAVE_UP = "sent", "failed", "dead"


class NotificationDelivery(Base):
    """One attempt: which job, channel and target, how it went (sent, failed: retried later, dead: given up).

    `reference` names what the notification was about (`alert_trigger:42`), so a domain can show its own
    deliveries. `target` never holds a secret: the recipients of an email, or the scheme and host of a URL.
    """

    __tablename__ = "notification_deliveries"
    __table_args__ = (Index("ix_notification_deliveries_org_reference", "org_id", "reference"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(BigInteger, index=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    reference: Mapped[str | None] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(20))  # email | slack | webhook
    target: Mapped[str] = mapped_column(String(500))
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
