"""What an organization's plan allows, what it uses, and what stays hidden (never deleted) beyond it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.config import Settings
from cicosts.kit.periods import utc_now
from cicosts.models import Membership, Organization, Repository
from cicosts.plans.plans import TIER_ORDER, Plan, effective_tier, plan_named
from cicosts.plans.schemas import PlanLimits, TrackedRepository, UpgradeSuggestion, Usage


def tier_of(org: Organization, now: datetime | None = None) -> str:
    """The tier in force now; checked where it is read, so a grace period ends on time with no scheduler."""
    return effective_tier(org.plan, org.plan_expires_at, now or utc_now())


def plan_of(org: Organization, settings: Settings, now: datetime | None = None) -> Plan:
    return plan_named(tier_of(org, now), settings.billing_enabled)


def grant_plan(org: Organization, tier: str, expires_at: datetime | None = None) -> None:
    """Set the organization's plan (billing keeps it following Stripe); `expires_at` lapses it to free.

    A lower plan only hides data beyond its limits; nothing is deleted, and an upgrade shows it again.
    """
    org.plan = tier
    org.plan_expires_at = expires_at if tier != "free" else None


def limits(plan: Plan) -> PlanLimits:
    return PlanLimits(
        max_repos=plan.max_repos,
        max_history_days=plan.max_history_days,
        max_team_members=plan.max_team_members,
    )


async def repositories_in_order(session: AsyncSession, org_id: int) -> list[Repository]:
    """The first repositories tracked are the ones a plan's repository limit keeps visible."""
    return list(
        await session.scalars(select(Repository).where(Repository.org_id == org_id).order_by(Repository.id))
    )


async def hidden_repository_ids(session: AsyncSession, org: Organization, settings: Settings) -> list[int]:
    """Repositories beyond the plan's limit: their data is kept, but left out of totals until an upgrade."""
    plan = plan_of(org, settings)
    if plan.max_repos is None:
        return []
    repos = await repositories_in_order(session, org.id)
    return [repo.id for repo in repos[plan.max_repos :]]


async def usage(session: AsyncSession, org: Organization, settings: Settings) -> Usage:
    plan = plan_of(org, settings)
    repos = await repositories_in_order(session, org.id)
    members = int(
        await session.scalar(select(func.count(Membership.id)).where(Membership.org_id == org.id)) or 0
    )
    limit = plan.max_repos
    return Usage(
        tier=plan.tier,
        repos_used=len(repos),
        repos_limit=limit,
        repos_at_limit=limit is not None and len(repos) >= limit,
        history_days_limit=plan.max_history_days,
        team_members_used=members,
        team_members_limit=plan.max_team_members,
        tracked_repos=[
            TrackedRepository(id=r.id, name=r.full_name, over_limit=limit is not None and i >= limit)
            for i, r in enumerate(repos)
        ],
    )


def upgrade_suggestion(current: Usage) -> UpgradeSuggestion:
    if current.tier not in TIER_ORDER:
        return UpgradeSuggestion(should_upgrade=False, reason=None, suggested_tier=None)
    limit, members_limit = current.repos_limit, current.team_members_limit
    if members_limit is not None and current.team_members_used > members_limit:
        return UpgradeSuggestion(
            should_upgrade=True,
            reason=f"{current.team_members_used} members; {current.tier} allows {members_limit}",
            suggested_tier="team",
        )
    if limit is not None and current.repos_used > limit:
        hidden = current.repos_used - limit
        return UpgradeSuggestion(
            should_upgrade=True,
            reason=f"{hidden} repositories are over the {current.tier} limit of {limit}; costs hidden",
            suggested_tier="pro",
        )
    return UpgradeSuggestion(should_upgrade=False, reason=None, suggested_tier=None)
