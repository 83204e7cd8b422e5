"""Organizations come from the GitHub accounts the App sees; users and memberships from sign-in."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.identity import repository
from cicosts.models import Membership, Organization, User


async def ensure_github_account(session: AsyncSession, account: dict[str, Any]) -> Organization:
    """The organization for a GitHub organization or personal account, created on first sight.

    Events for an account that has not installed the App yet are kept this way rather than dropped.
    """
    account_id = int(account["id"])
    login = str(account["login"])
    organization = await repository.organization_by_account(session, account_id, login)
    if organization is None:
        organization = Organization(
            github_account_id=account_id,
            login=login,
            name=login,
            account_type=str(account.get("type") or "Organization"),
        )
        session.add(organization)
        await session.flush()
    elif organization.github_account_id is None:
        organization.github_account_id = account_id
    return organization


async def ensure_user_with_organization(
    session: AsyncSession, login: str, org_login: str | None, role: str = "owner"
) -> tuple[User, Organization]:
    """A user and their membership of `org_login` (their own personal account by default)."""
    user = await repository.user_by_login(session, login)
    if user is None:
        user = User(github_login=login, name=login)
        session.add(user)
        await session.flush()
    org_login = org_login or login
    organization = await repository.organization_by_login(session, org_login)
    if organization is None:
        organization = Organization(
            login=org_login,
            name=org_login,
            account_type="User" if org_login == login else "Organization",
        )
        session.add(organization)
        await session.flush()
    if await repository.membership(session, organization.id, user.id) is None:
        session.add(Membership(org_id=organization.id, user_id=user.id, role=role))
        await session.flush()
    return user, organization
