"""Who is told: owners and admins who allow alert emails (billing, alerts); members who want the digest."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.identity.permissions import Role
from cicosts.models import Membership, User


async def admin_recipients(session: AsyncSession, org_id: int) -> list[str]:
    """Each owner's and admin's notification address (else their account email), once each."""
    rows = await session.execute(
        select(User.notification_email, User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(
            Membership.org_id == org_id,
            Membership.role.in_((Role.OWNER.value, Role.ADMIN.value)),
            User.alert_emails_enabled.is_(True),
            User.deleted_at.is_(None),
        )
        .order_by(User.id)
    )
    addresses: list[str] = []
    for notification_email, email in rows:
        address = (notification_email or email or "").strip()
        if address and address not in addresses:
            addresses.append(address)
    return addresses


async def digest_recipients(session: AsyncSession, org_id: int) -> list[tuple[int, str]]:
    """(user id, address) of every member, whatever their role, who wants the weekly digest."""
    rows = await session.execute(
        select(User.id, User.notification_email, User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(
            Membership.org_id == org_id,
            User.weekly_digest_enabled.is_(True),
            User.deleted_at.is_(None),
        )
        .order_by(User.id)
    )
    found: list[tuple[int, str]] = []
    for user_id, notification_email, email in rows:
        address = (notification_email or email or "").strip()
        if address and address not in (a for _, a in found):
            found.append((int(user_id), address))
    return found
