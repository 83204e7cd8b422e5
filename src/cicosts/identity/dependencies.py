"""Who is asking, and may they do this in this organization? Every route goes through here.

`authenticate` accepts a user's access token (JWT) or an API key (`sk_...`) and applies the caller's
rate limit;
`require(permission)` adds the organization named by `org_id` and checks the caller's role (or key scopes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.config import Settings
from cicosts.db import get_session
from cicosts.errors import BadRequest, Forbidden, NotFound, Unauthorized
from cicosts.identity import repository
from cicosts.identity.api_keys.service import API_KEY_PREFIX, verify_api_key
from cicosts.identity.permissions import Permission, role_allows, scopes_allow
from cicosts.identity.tokens import user_id_from_access_token
from cicosts.kit.ids import MAX_ID
from cicosts.kit.rate_limit import RateLimiter
from cicosts.models import ApiKey, Membership, Organization, User
from cicosts.plans.plans import best_tier, plan_named
from cicosts.plans.service import tier_of

bearer = HTTPBearer(auto_error=False)
Session = Annotated[AsyncSession, Depends(get_session)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def get_settings_from_app(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user, or an API key acting for its organization."""

    user: User | None = None
    api_key: ApiKey | None = None

    @property
    def rate_limit_key(self) -> str:
        if self.api_key is not None:
            return f"org:{self.api_key.org_id}"
        assert self.user is not None
        return f"user:{self.user.id}"


async def _user_from_token(session: AsyncSession, token: str, settings: Settings) -> User:
    user = await session.get(User, user_id_from_access_token(token, settings))
    # Loaded on every request, so a deleted user is refused at once rather than when the token expires.
    if user is None or user.deleted_at is not None:
        raise Unauthorized("User no longer exists")
    return user


async def authenticate(request: Request, session: Session, credentials: Credentials) -> Principal:
    if credentials is None:
        raise Unauthorized()
    token = credentials.credentials
    settings = get_settings_from_app(request)
    if token.startswith(API_KEY_PREFIX):
        principal = Principal(api_key=await verify_api_key(session, token))
    else:
        principal = Principal(user=await _user_from_token(session, token, settings))
    per_minute = await _requests_per_minute(session, principal, settings)
    if per_minute is not None:
        limiter: RateLimiter = request.app.state.rate_limiter
        request.state.rate_limit = await limiter.hit(principal.rate_limit_key, per_minute)
    return principal


async def _requests_per_minute(session: AsyncSession, principal: Principal, settings: Settings) -> int | None:
    """The plan's budget (the API key's organization, or the best plan among the user's organizations)."""
    if not settings.billing_enabled:
        return settings.rate_limit_per_minute
    if principal.api_key is not None:
        organization = await session.get(Organization, principal.api_key.org_id)
        tier = tier_of(organization) if organization else "free"
    else:
        assert principal.user is not None
        tier = best_tier(await repository.plans_of_user(session, principal.user.id))
    return plan_named(tier, billing_enabled=True).requests_per_minute


async def current_user(principal: Annotated[Principal, Depends(authenticate)]) -> User:
    """User-level routes: signed-in people only, not API keys."""
    if principal.user is None:
        raise Forbidden("This route needs a signed-in user, not an API key")
    return principal.user


CurrentUser = Annotated[User, Depends(current_user)]


@dataclass(frozen=True)
class OrgAccess:
    """The organization a request names, and how the caller may act in it."""

    organization: Organization
    principal: Principal
    membership: Membership | None


OrgDependency = Callable[..., Awaitable[OrgAccess]]


def require(permission: Permission, *, api_keys: bool = False) -> Any:
    """A dependency: the caller may `permission` in the organization `org_id` (403/404 otherwise)."""

    async def org_access(
        session: Session,
        principal: Annotated[Principal, Depends(authenticate)],
        org_id: Annotated[int, Query(ge=1, le=MAX_ID, description="Organization id")],
    ) -> OrgAccess:
        user_id = principal.user.id if principal.user is not None else None
        organization, membership = await repository.organization_and_membership(session, org_id, user_id)
        if organization is None:
            raise NotFound(f"Organization {org_id} not found")
        return authorized(organization, membership, principal, permission, api_keys)

    org_access.permission = permission  # type: ignore[attr-defined]  # read by the access tests
    org_access.api_keys = api_keys  # type: ignore[attr-defined]
    return Depends(org_access)


def require_by_login(permission: Permission) -> Any:
    """Like `require`, for the public API: the organization is named by its GitHub login in `org`.

    An API key may leave `org` out (its own organization); so may a user who belongs to one organization.
    """

    async def org_access(
        session: Session,
        principal: Annotated[Principal, Depends(authenticate)],
        org: Annotated[
            str | None,
            Query(
                max_length=255,
                description="Organization's GitHub login; defaults to the API key's organization",
            ),
        ] = None,
    ) -> OrgAccess:
        organization, membership = await named_organization(session, principal, org)
        return authorized(organization, membership, principal, permission, True)

    org_access.permission = permission  # type: ignore[attr-defined]  # read by the access tests
    org_access.api_keys = True  # type: ignore[attr-defined]
    return Depends(org_access)


async def named_organization(
    session: AsyncSession, principal: Principal, login: str | None
) -> tuple[Organization, Membership | None]:
    user_id = principal.user.id if principal.user is not None else None
    if login is not None:
        found = await repository.organization_and_membership_by_login(session, login, user_id)
        if found[0] is None:
            raise NotFound(f"Organization {login!r} not found")
        return found[0], found[1]
    if principal.api_key is not None:
        organization = await session.get(Organization, principal.api_key.org_id)
        if organization is None:
            raise NotFound("The API key's organization no longer exists")
        return organization, None
    assert user_id is not None
    memberships = await repository.organizations_of_user(session, user_id)
    if len(memberships) != 1:
        raise BadRequest(f"org: name the organization (you belong to {len(memberships)})")
    return memberships[0]


def authorized(
    organization: Organization,
    membership: Membership | None,
    principal: Principal,
    permission: Permission,
    api_keys: bool,
) -> OrgAccess:
    if principal.api_key is not None:
        _check_key(principal.api_key, organization.id, permission, api_keys)
        return OrgAccess(organization, principal, None)
    if membership is None:
        raise Forbidden(f"You are not a member of organization {organization.login}")
    if not role_allows(membership.role, permission):
        raise Forbidden(f"Your role ({membership.role}) does not allow {permission.value}")
    return OrgAccess(organization, principal, membership)


def _check_key(key: ApiKey, org_id: int, permission: Permission, allowed: bool) -> None:
    if not allowed:
        raise Forbidden("API keys cannot use this route; sign in instead")
    if key.org_id != org_id:
        raise Forbidden("This API key belongs to another organization")
    if not scopes_allow(key.scopes, permission):
        raise Forbidden(f"This API key's scopes ({', '.join(key.scopes)}) do not allow {permission.value}")


OrgReader = Annotated[OrgAccess, require(Permission.READ)]
PublicReader = Annotated[OrgAccess, require_by_login(Permission.READ)]
