"""Limits responses (null means unlimited)."""

from __future__ import annotations

from pydantic import BaseModel


class PlanLimits(BaseModel):
    max_repos: int | None
    max_history_days: int | None
    max_team_members: int | None


class TrackedRepository(BaseModel):
    id: int
    name: str
    over_limit: bool


class Usage(BaseModel):
    tier: str
    repos_used: int
    repos_limit: int | None
    repos_at_limit: bool
    history_days_limit: int | None
    team_members_used: int
    team_members_limit: int | None
    tracked_repos: list[TrackedRepository]


class UpgradeSuggestion(BaseModel):
    should_upgrade: bool
    reason: str | None
    suggested_tier: str | None
