"""Changing a person's settings, leaving and deleting, and running an organization's membership."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.billing.service import end_subscription_with
from cicosts.errors import BadRequest, NotFound
from cicosts.identity.api_keys.service import revoke_keys_created_by
from cicosts.identity.auth.service import revoke_user_tokens
from cicosts.identity.permissions import Role
from cicosts.identity.settings.schemas import NotificationUpdate, UserUpdate
from cicosts.kit.periods import utc_now
from cicosts.models import Membership, Organization, User
from cicosts.worker import queue

ERASE_AFTER = timedelta(days=30)


def update_user(user: User, changes: UserUpdate) -> None:
    for field in changes.model_fields_set:
        value = getattr(changes, field)
        if field == "time_zone" and value is None:
            raise BadRequest(f"{field} cannot be null")
        setattr(user, field, value)


def update_notifications(user: User, changes: NotificationUpdate) -> None:
    for field in changes.model_fields_set:
        value = getattr(changes, field)
        if field != "notification_email" and value is None:
            raise BadRequest(f"{field} cannot be null")
        setattr(user, field, value)


async def _owner_count(session: AsyncSession, org_id: int) -> int:
    count = await session.scalar(
        select(func.count(Membership.id)).where(Membership.org_id == org_id, Membership.role == Role.OWNER)
    )
    return int(count or 0)


async def _member_count(session: AsyncSession, org_id: int) -> int:
    return int(
        await session.scalar(select(func.count(Membership.id)).where(Membership.org_id == org_id)) or 0
    )


async def leave_organization(session: AsyncSession, user: User, org_id: int) -> None:
    membership = await session.scalar(
        select(Membership).where(Membership.org_id == org_id, Membership.user_id == user.id)
    )
    if membership is None:
        raise NotFound(f"You are not a member of organization {org_id}")
    if membership.role == Role.OWNER and await _owner_count(session, org_id) == 1:
        raise BadRequest("The last owner cannot leave; transfer ownership first")
    await session.delete(membership)


async def delete_account(session: AsyncSession, user: User) -> None:
    """Soft-delete now (tokens and keys revoked at once); erase for good after 30 days."""
    owned = await session.scalars(
        select(Membership.org_id).where(Membership.user_id == user.id, Membership.role == Role.OWNER)
    )
    for org_id in owned:
        shared = await _member_count(session, org_id) > 1
        if shared and await _owner_count(session, org_id) == 1:
            raise BadRequest(
                f"You are the last owner of organization {org_id}, which has other members; "
                "transfer ownership or remove them first"
            )
    user.deleted_at = utc_now()
    await revoke_user_tokens(session, user.id)
    await revoke_keys_created_by(session, user.id)
    await queue.enqueue(
        session,
        queue=queue.MAINTENANCE_QUEUE,
        kind="erase_user",
        dedupe_key=f"erase_user:{user.id}",
        payload=json.dumps({"user_id": user.id}),
        run_at=utc_now() + ERASE_AFTER,
    )


async def erase_user(session: AsyncSession, user_id: int) -> None:
    """The scheduled end of a deleted account: the user and the organizations only they belonged to."""
    user = await session.get(User, user_id)
    if user is None or user.deleted_at is None:
        return  # restored or already erased
    sole = [
        org_id
        for org_id in await session.scalars(select(Membership.org_id).where(Membership.user_id == user_id))
        if await _member_count(session, org_id) == 1
    ]
    for org_id in sole:
        await end_subscription_with(session, org_id)  # the organization goes, so its paid plan must end too
    if sole:
        await session.execute(delete(Organization).where(Organization.id.in_(sole)))
    await session.delete(user)


async def members(session: AsyncSession, org_id: int) -> list[tuple[Membership, User]]:
    rows = await session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.org_id == org_id)
        .order_by(User.github_login)
    )
    return [(membership, user) for membership, user in rows]


async def _membership(session: AsyncSession, org_id: int, user_id: int) -> Membership:
    membership = await session.scalar(
        select(Membership).where(Membership.org_id == org_id, Membership.user_id == user_id)
    )
    if membership is None:
        raise NotFound(f"User {user_id} is not a member of organization {org_id}")
    return membership


async def change_role(session: AsyncSession, org_id: int, user_id: int, role: str) -> Membership:
    membership = await _membership(session, org_id, user_id)
    if membership.role == Role.OWNER:
        raise BadRequest("An owner's role changes only by transferring ownership")
    membership.role = role
    return membership


async def remove_member(session: AsyncSession, org_id: int, user_id: int) -> None:
    membership = await _membership(session, org_id, user_id)
    if membership.role == Role.OWNER:
        raise BadRequest("An owner cannot be removed; transfer ownership first")
    await session.delete(membership)


async def transfer_ownership(session: AsyncSession, org_id: int, from_user: int, to_user: int) -> None:
    if from_user == to_user:
        raise BadRequest("You already own this organization")
    target = await _membership(session, org_id, to_user)
    current = await _membership(session, org_id, from_user)
    target.role = Role.OWNER
    current.role = Role.ADMIN
