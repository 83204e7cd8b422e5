"""What the GitHub App sees: its installations and their repositories."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cicosts.kit.periods import utc_now
from cicosts.models.base import Base, BigId, UTCDateTime


class Installation(Base):
    __tablename__ = "installations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    github_installation_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="active")
    repository_selection: Mapped[str | None] = mapped_column(String(20))
    permissions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class Repository(Base):
    __tablename__ = "repositories"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    github_repository_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str] = mapped_column(String(255))
    private: Mapped[bool] = mapped_column(Boolean, default=True)
    installed: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
