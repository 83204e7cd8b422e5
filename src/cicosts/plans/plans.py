"""What each plan allows. Enforced only when BILLING_ENABLED; a self-hosted install is unlimited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Plan:
    tier: str
    max_repos: int | None
    max_history_days: int | None
    max_team_members: int | None
    requests_per_minute: int | None


PLANS: dict[str, Plan] = {
    "free": Plan("free", max_repos=3, max_history_days=30, max_team_members=1, requests_per_minute=60),
    "pro": Plan("pro", max_repos=None, max_history_days=365, max_team_members=1, requests_per_minute=300),
    "team": Plan("team", max_repos=None, max_history_days=365, max_team_members=5, requests_per_minute=600),
}
TIER_ORDER = ("free", "pro", "team")
SELF_HOSTED = Plan("self_hosted", None, None, None, None)


def plan_named(tier: str, billing_enabled: bool) -> Plan:
    if not billing_enabled:
        return SELF_HOSTED
    return PLANS.get(tier, PLANS["free"])


def effective_tier(tier: str, expires_at: datetime | None, now: datetime) -> str:
    """The tier in force: a paid tier lapses to free once its expiry (a grace period's end) has passed."""
    if expires_at is not None and now >= expires_at:
        return "free"
    return tier


def best_tier(tiers: list[str]) -> str:
    known = [tier for tier in tiers if tier in TIER_ORDER]
    return max(known, key=TIER_ORDER.index) if known else "free"
