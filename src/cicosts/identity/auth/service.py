"""Sign-in with GitHub (state + PKCE), and the access / rotating refresh token pair it ends with."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.config import Settings
from cicosts.errors import BadRequest, ServiceUnavailable, Unauthorized
from cicosts.identity.auth.github import GitHubClient, GitHubOrgMembership, GitHubUser
from cicosts.identity.permissions import Role
from cicosts.identity.service import ensure_github_account
from cicosts.identity.tokens import create_access_token
from cicosts.kit.periods import utc_now
from cicosts.models import Membership, OAuthState, Organization, RefreshToken, User

STATE_LIFETIME = timedelta(minutes=10)
SCOPES = "read:user user:email read:org"
GITHUB_ROLES = {"admin": Role.OWNER, "member": Role.MEMBER}


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def allowed_redirect(redirect_uri: str, settings: Settings) -> bool:
    return any(
        redirect_uri == allowed or (allowed.endswith("/") and redirect_uri.startswith(allowed))
        for allowed in settings.redirect_allowlist
    )


async def start_login(session: AsyncSession, settings: Settings, redirect_uri: str, callback_url: str) -> str:
    """Remember a single-use state and PKCE verifier; returns GitHub's authorize URL."""
    if not settings.oauth_configured:
        raise ServiceUnavailable("GitHub sign-in is not configured (GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET)")
    if not allowed_redirect(redirect_uri, settings):
        raise BadRequest(f"redirect_uri {redirect_uri!r} is not in OAUTH_REDIRECT_ALLOWLIST")
    state, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    session.add(
        OAuthState(
            state_hash=_sha256(state),
            code_verifier=verifier,
            redirect_uri=redirect_uri,
            expires_at=utc_now() + STATE_LIFETIME,
        )
    )
    query = urlencode(
        {
            "client_id": settings.github_client_id,
            "redirect_uri": callback_url,
            "scope": SCOPES,
            "state": state,
            "code_challenge": _code_challenge(verifier),
            "code_challenge_method": "S256",
            "allow_signup": "true",
        }
    )
    return f"{settings.github_url}/login/oauth/authorize?{query}"


async def _consume_state(session: AsyncSession, state: str) -> OAuthState:
    row = await session.scalar(
        select(OAuthState).where(OAuthState.state_hash == _sha256(state)).with_for_update()
    )
    if row is None or row.used_at is not None or row.expires_at <= utc_now():
        raise BadRequest("Sign-in state is unknown, already used or expired; start again")
    row.used_at = utc_now()
    return row


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


async def complete_login(
    session: AsyncSession,
    settings: Settings,
    github: GitHubClient,
    *,
    code: str,
    state: str,
    callback_url: str,
) -> tuple[str, TokenPair]:
    """Finish a sign-in: returns where to send the person, and their tokens."""
    if not settings.oauth_configured:
        raise ServiceUnavailable("GitHub sign-in is not configured (GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET)")
    pending = await _consume_state(session, state)
    github_token = await github.exchange_code(code, pending.code_verifier, callback_url)
    profile = await github.user(github_token)
    memberships = await github.org_memberships(github_token)
    # The GitHub token is used only here and never stored.
    user = await _upsert_user(session, profile)
    await _sync_memberships(session, user, profile, memberships)
    return pending.redirect_uri, await issue_tokens(session, settings, user)


async def _upsert_user(session: AsyncSession, profile: GitHubUser) -> User:
    user = await session.scalar(select(User).where(User.github_id == profile.id))
    if user is None:
        user = await session.scalar(select(User).where(User.github_login == profile.login))
    if user is None:
        user = User(github_id=profile.id, github_login=profile.login)
        session.add(user)
    if user.deleted_at is not None:
        raise Unauthorized("This account was deleted")
    user.github_id = profile.id
    user.github_login = profile.login
    user.name = profile.name or user.name or profile.login
    user.email = profile.email or user.email
    user.avatar_url = profile.avatar_url
    await session.flush()
    return user


async def _sync_memberships(
    session: AsyncSession, user: User, profile: GitHubUser, memberships: list[GitHubOrgMembership]
) -> None:
    """Roles follow GitHub at every sign-in; memberships of GitHub organizations the user left go away."""
    personal = await ensure_github_account(
        session, {"id": profile.id, "login": profile.login, "type": "User"}
    )
    wanted: dict[int, str] = {personal.id: Role.OWNER.value}
    for membership in memberships:
        org = await ensure_github_account(
            session, {"id": membership.id, "login": membership.login, "type": "Organization"}
        )
        wanted[org.id] = GITHUB_ROLES.get(membership.role, Role.MEMBER).value
    current = {
        m.org_id: m for m in await session.scalars(select(Membership).where(Membership.user_id == user.id))
    }
    for org_id, role in wanted.items():
        if org_id in current:
            current[org_id].role = role
        else:
            session.add(Membership(org_id=org_id, user_id=user.id, role=role))
    github_orgs = set(
        await session.scalars(
            select(Organization.id).where(
                Organization.id.in_(current), Organization.github_account_id.is_not(None)
            )
        )
    )
    left = [org_id for org_id in current if org_id in github_orgs and org_id not in wanted]
    if left:
        await session.execute(
            delete(Membership).where(Membership.user_id == user.id, Membership.org_id.in_(left))
        )
    await session.flush()


async def issue_tokens(
    session: AsyncSession, settings: Settings, user: User, family: str | None = None
) -> TokenPair:
    refresh = "rt_" + secrets.token_urlsafe(48)
    session.add(
        RefreshToken(
            user_id=user.id,
            family=family or secrets.token_hex(16),
            token_hash=_sha256(refresh),
            expires_at=utc_now() + timedelta(days=settings.refresh_token_days),
        )
    )
    await session.flush()
    return TokenPair(create_access_token(user.id, settings), refresh, settings.jwt_access_token_minutes * 60)


async def revoke_family(session: AsyncSession, family: str) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )


async def revoke_user_tokens(session: AsyncSession, user_id: int) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )


class RefreshTokenReused(Unauthorized):
    """A rotated token came back: someone else may hold the family, so the whole family is revoked."""

    keep_changes = True


async def refresh(session: AsyncSession, settings: Settings, refresh_token: str) -> TokenPair:
    row = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == _sha256(refresh_token)).with_for_update()
    )
    if row is None or row.revoked_at is not None or row.expires_at <= utc_now():
        raise Unauthorized("Refresh token is invalid, expired or revoked")
    if row.rotated_at is not None:
        await revoke_family(session, row.family)
        raise RefreshTokenReused("Refresh token was already used; every session of this sign-in is revoked")
    user = await session.get(User, row.user_id)
    if user is None or user.deleted_at is not None:
        raise Unauthorized("User no longer exists")
    row.rotated_at = utc_now()
    return await issue_tokens(session, settings, user, family=row.family)


async def logout(session: AsyncSession, refresh_token: str) -> None:
    row = await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == _sha256(refresh_token)))
    if row is not None:
        await revoke_family(session, row.family)
