"""Settings requests and responses."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, EmailStr, Field, field_validator

from cicosts.kit.ids import MAX_ID
from cicosts.kit.periods import zone


def _valid_zone(value: str | None) -> str | None:
    if value is not None:
        zone(value)  # raises ValueError naming the zone
    return value


class UserSettings(BaseModel):
    id: int
    github_login: str
    name: str | None
    email: str | None
    notification_email: str | None
    avatar_url: str | None
    time_zone: str


class UserUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    notification_email: EmailStr | None = None
    time_zone: str | None = Field(default=None, max_length=64)

    _zone = field_validator("time_zone")(_valid_zone)


class NotificationSettings(BaseModel):
    notification_email: str | None
    weekly_digest_enabled: bool
    alert_emails_enabled: bool


class NotificationUpdate(BaseModel):
    notification_email: EmailStr | None = Field(default=None, description="null clears it")
    weekly_digest_enabled: bool | None = None
    alert_emails_enabled: bool | None = None


class MyOrganization(BaseModel):
    id: int
    github_org_slug: str
    github_org_name: str
    role: str
    joined_at: datetime


class OrganizationSettings(BaseModel):
    id: int
    github_org_slug: str
    github_org_name: str
    account_type: str
    time_zone: str
    plan: str


class OrganizationUpdate(BaseModel):
    time_zone: str = Field(max_length=64)

    _zone = field_validator("time_zone")(_valid_zone)


class Member(BaseModel):
    user_id: int
    github_login: str
    name: str | None
    role: str
    joined_at: datetime


class MemberUpdate(BaseModel):
    role: Literal["admin", "member", "viewer"]


class OwnershipTransfer(BaseModel):
    user_id: int = Field(ge=1, le=MAX_ID)
