"""/api/v1/settings: the signed-in person's settings, and an organization's settings and members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response

from cicosts.billing.service import end_subscription_with
from cicosts.db import TransactionalRoute
from cicosts.identity import repository
from cicosts.identity.dependencies import CurrentUser, OrgAccess, OrgReader, Session, require
from cicosts.identity.permissions import Permission
from cicosts.identity.settings import service
from cicosts.identity.settings.schemas import (
    Member,
    MemberUpdate,
    MyOrganization,
    NotificationSettings,
    NotificationUpdate,
    OrganizationSettings,
    OrganizationUpdate,
    OwnershipTransfer,
    UserSettings,
    UserUpdate,
)
from cicosts.kit.ids import PathId
from cicosts.models import Organization, User
from cicosts.plans.service import tier_of

router = APIRouter(prefix="/api/v1/settings", tags=["settings"], route_class=TransactionalRoute)
SettingsAdmin = Annotated[OrgAccess, require(Permission.MANAGE_SETTINGS)]
MembersAdmin = Annotated[OrgAccess, require(Permission.MANAGE_MEMBERS)]
Owner = Annotated[OrgAccess, require(Permission.DELETE_ORG)]
OwnerTransfer = Annotated[OrgAccess, require(Permission.TRANSFER_OWNER)]


def _user(user: User) -> UserSettings:
    return UserSettings.model_validate(user, from_attributes=True)


def _notifications(user: User) -> NotificationSettings:
    return NotificationSettings.model_validate(user, from_attributes=True)


def _organization(org: Organization) -> OrganizationSettings:
    return OrganizationSettings(
        id=org.id,
        github_org_slug=org.login,
        github_org_name=org.name,
        account_type=org.account_type,
        time_zone=org.time_zone,
        plan=tier_of(org),  # a lapsed grace period reads as free
    )


@router.get("/user")
async def get_user(user: CurrentUser) -> UserSettings:
    return _user(user)


@router.patch("/user")
async def update_user(body: UserUpdate, user: CurrentUser) -> UserSettings:
    service.update_user(user, body)
    return _user(user)


@router.get("/notifications")
async def get_notifications(user: CurrentUser) -> NotificationSettings:
    return _notifications(user)


@router.patch("/notifications")
async def update_notifications(body: NotificationUpdate, user: CurrentUser) -> NotificationSettings:
    service.update_notifications(user, body)
    return _notifications(user)


@router.get("/organizations")
async def my_organizations(user: CurrentUser, session: Session) -> list[MyOrganization]:
    return [
        MyOrganization(
            id=org.id,
            github_org_slug=org.login,
            github_org_name=org.name,
            role=membership.role,
            joined_at=membership.created_at,
        )
        for org, membership in await repository.organizations_of_user(session, user.id)
    ]


@router.post("/organizations/{org_id}/leave", status_code=204)
async def leave_organization(org_id: PathId, user: CurrentUser, session: Session) -> Response:
    await service.leave_organization(session, user, org_id)
    return Response(status_code=204)


@router.delete("/account", status_code=204)
async def delete_account(user: CurrentUser, session: Session) -> Response:
    """Soft-deletes the account at once (tokens and keys stop working); it is erased after 30 days."""
    await service.delete_account(session, user)
    return Response(status_code=204)


@router.get("/org")
async def get_organization(access: OrgReader) -> OrganizationSettings:
    return _organization(access.organization)


@router.patch("/org")
async def update_organization(body: OrganizationUpdate, access: SettingsAdmin) -> OrganizationSettings:
    access.organization.time_zone = body.time_zone
    return _organization(access.organization)


@router.delete("/org", status_code=204)
async def delete_organization(session: Session, access: Owner) -> Response:
    """Deletes the organization and every cost it holds, and ends its paid subscription."""
    await end_subscription_with(session, access.organization.id)
    await session.delete(access.organization)
    return Response(status_code=204)


@router.post("/org/transfer", status_code=204)
async def transfer_ownership(body: OwnershipTransfer, session: Session, access: OwnerTransfer) -> Response:
    assert access.principal.user is not None
    await service.transfer_ownership(session, access.organization.id, access.principal.user.id, body.user_id)
    return Response(status_code=204)


@router.get("/members")
async def list_members(session: Session, access: OrgReader) -> list[Member]:
    return [
        Member(user_id=u.id, github_login=u.github_login, name=u.name, role=m.role, joined_at=m.created_at)
        for m, u in await service.members(session, access.organization.id)
    ]


@router.patch("/members/{user_id}", status_code=204)
async def change_member_role(
    user_id: PathId, body: MemberUpdate, session: Session, access: MembersAdmin
) -> Response:
    await service.change_role(session, access.organization.id, user_id, body.role)
    return Response(status_code=204)


@router.delete("/members/{user_id}", status_code=204)
async def remove_member(user_id: PathId, session: Session, access: MembersAdmin) -> Response:
    await service.remove_member(session, access.organization.id, user_id)
    return Response(status_code=204)
