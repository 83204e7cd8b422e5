"""Who is told about an organization's billing: its owners and admins who have not turned alert emails off."""

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
