"""/api/v1/auth: sign in with GitHub, who am I, refresh, log out."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from cicosts.db import TransactionalRoute
from cicosts.identity import repository
from cicosts.identity.auth import service
from cicosts.identity.auth.github import GitHubClient
from cicosts.identity.auth.schemas import Me, MeOrganization, RefreshRequest, Tokens
from cicosts.identity.auth.service import TokenPair
from cicosts.identity.dependencies import CurrentUser, Session, get_settings_from_app

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], route_class=TransactionalRoute)


def _callback_url(request: Request) -> str:
    return str(request.url_for("github_callback"))


def _tokens(pair: TokenPair) -> Tokens:
    return Tokens(
        token=pair.access_token,
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
    )


@router.get("/login", status_code=307, response_class=RedirectResponse)
async def login(
    request: Request, session: Session, redirect_uri: Annotated[str, Query(max_length=1000)]
) -> RedirectResponse:
    """Redirects to GitHub; after sign-in the browser lands on `redirect_uri` with tokens in the fragment."""
    url = await service.start_login(
        session, get_settings_from_app(request), redirect_uri, _callback_url(request)
    )
    return RedirectResponse(url, status_code=307)


@router.get("/callback", name="github_callback", status_code=307, response_class=RedirectResponse)
async def callback(
    request: Request,
    session: Session,
    code: Annotated[str, Query(min_length=1, max_length=500)],
    state: Annotated[str, Query(min_length=1, max_length=500)],
) -> RedirectResponse:
    settings = get_settings_from_app(request)
    http: httpx.AsyncClient = request.app.state.http
    redirect_uri, pair = await service.complete_login(
        session,
        settings,
        GitHubClient(http, settings),
        code=code,
        state=state,
        callback_url=_callback_url(request),
    )
    fragment = urlencode({**_tokens(pair).model_dump(exclude={"token"})})
    return RedirectResponse(f"{redirect_uri}#{fragment}", status_code=307)


@router.get("/me")
async def me(user: CurrentUser, session: Session) -> Me:
    organizations = [
        MeOrganization(id=org.id, github_org_slug=org.login, github_org_name=org.name, role=membership.role)
        for org, membership in await repository.organizations_of_user(session, user.id)
    ]
    return Me(
        id=user.id,
        email=user.email,
        github_login=user.github_login,
        avatar_url=user.avatar_url,
        organizations=organizations,
    )


@router.post("/refresh")
async def refresh(body: RefreshRequest, request: Request, session: Session) -> Tokens:
    return _tokens(await service.refresh(session, get_settings_from_app(request), body.refresh_token))


@router.post("/logout", status_code=204)
async def logout(body: RefreshRequest, session: Session) -> Response:
    await service.logout(session, body.refresh_token)
    return Response(status_code=204)
