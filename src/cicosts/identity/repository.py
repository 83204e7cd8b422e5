"""Queries for organizations, users and memberships."""

from __future__ import annotations

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.kit.periods import utc_now
from cicosts.models import Membership, Organization, User
from cicosts.plans.plans import effective_tier


async def organization_by_account(
    session: AsyncSession, github_account_id: int, login: str
) -> Organization | None:
    found = await session.scalar(
        select(Organization).where(Organization.github_account_id == github_account_id)
    )
    if found is None:
        found = await session.scalar(select(Organization).where(Organization.login == login))
    return found


async def organization_by_login(session: AsyncSession, login: str) -> Organization | None:
    return await session.scalar(select(Organization).where(Organization.login == login))


async def user_by_login(session: AsyncSession, login: str) -> User | None:
    return await session.scalar(select(User).where(User.github_login == login))


async def membership(session: AsyncSession, org_id: int, user_id: int) -> Membership | None:
    return await session.scalar(
        select(Membership).where(Membership.org_id == org_id, Membership.user_id == user_id)
    )


async def plans_of_user(session: AsyncSession, user_id: int) -> list[str]:
    """The tier in force in each of the user's organizations (a lapsed grace period counts as free)."""
    rows = await session.execute(
        select(Organization.plan, Organization.plan_expires_at)
        .join(Membership, Membership.org_id == Organization.id)
        .where(Membership.user_id == user_id)
    )
    now = utc_now()
    return [effective_tier(plan, expires_at, now) for plan, expires_at in rows]


async def organizations_of_user(session: AsyncSession, user_id: int) -> list[tuple[Organization, Membership]]:
    rows = await session.execute(
        select(Organization, Membership)
        .join(Membership, Membership.org_id == Organization.id)
        .where(Membership.user_id == user_id)
        .order_by(Organization.login)
    )
    return [(org, membership) for org, membership in rows]


async def organization_and_membership(
    session: AsyncSession, org_id: int, user_id: int | None
) -> tuple[Organization | None, Membership | None]:
    """The organization and the user's membership of it, in one query (every tenant request asks)."""
    row = (
        await session.execute(
            select(Organization, Membership)
            .outerjoin(Membership, and_(Membership.org_id == Organization.id, Membership.user_id == user_id))
            .where(Organization.id == org_id)
        )
    ).first()
    if row is None:
        return None, None
    return row[0], row[1]


async def organization_and_membership_by_login(
    session: AsyncSession, login: str, user_id: int | None
) -> tuple[Organization | None, Membership | None]:
    row = (
        await session.execute(
            select(Organization, Membership)
            .outerjoin(Membership, and_(Membership.org_id == Organization.id, Membership.user_id == user_id))
            .where(Organization.login == login)
        )
    ).first()
    if row is None:
        return None, None
    return row[0], row[1]
