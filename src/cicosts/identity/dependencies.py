"""Who is asking, and may they see this organization? Every tenant route goes through here."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.config import Settings
from cicosts.db import get_session
from cicosts.errors import Forbidden, NotFound, Unauthorized
from cicosts.identity import repository
from cicosts.identity.tokens import user_id_from_access_token
from cicosts.models import Membership, Organization, User

bearer = HTTPBearer(auto_error=False)
Session = Annotated[AsyncSession, Depends(get_session)]


def get_settings_from_app(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def current_user(
    request: Request,
    session: Session,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    if credentials is None:
        raise Unauthorized()
    user_id = user_id_from_access_token(credentials.credentials, get_settings_from_app(request))
    # Loaded on every request, so a deleted user is refused at once rather than when the token expires.
    user = await session.get(User, user_id)
    if user is None:
        raise Unauthorized("User no longer exists")
    return user


class OrgAccess:
    """The organization a request names, and the caller's membership of it."""

    def __init__(self, organization: Organization, membership: Membership) -> None:
        self.organization = organization
        self.membership = membership


async def org_member(
    session: Session,
    user: Annotated[User, Depends(current_user)],
    org_id: Annotated[int, Query(ge=1, description="Organization id")],
) -> OrgAccess:
    organization = await session.get(Organization, org_id)
    if organization is None:
        raise NotFound(f"Organization {org_id} not found")
    membership = await repository.membership(session, org_id, user.id)
    if membership is None:
        raise Forbidden(f"You are not a member of organization {org_id}")
    return OrgAccess(organization, membership)


OrgMember = Annotated[OrgAccess, Depends(org_member)]
