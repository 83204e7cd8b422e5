"""Sign-in with GitHub (GitHub's HTTP API stubbed with respx), tokens, and who gets refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.app import create_app
from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.kit.periods import utc_now
from cicosts.models import Membership, OAuthState, Organization, RefreshToken, User
from tests.helpers import TestClient

FRONTEND = "http://localhost:3000/"


@pytest.fixture
async def oauth_client(settings: Settings) -> AsyncIterator[TestClient]:
    configured = settings.model_copy(
        update={"github_client_id": "Iv1.client", "github_client_secret": "client-secret-value"}
    )
    app: FastAPI = create_app(configured)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield TestClient(http, configured)
    await app.state.http.aclose()
    await app.state.engine.dispose()


def stub_github(router: respx.MockRouter, *, orgs: list[tuple[int, str, str]], user_id: int = 501) -> None:
    router.post("https://github.com/login/oauth/access_token").respond(
        json={"access_token": "gho_stub", "token_type": "bearer", "scope": "read:org"}
    )
    router.get("https://api.github.com/user").respond(
        json={
            "id": user_id,
            "login": "octo",
            "name": "Octo Cat",
            "email": None,
            "avatar_url": "https://a/x.png",
        }
    )
    router.get("https://api.github.com/user/emails").respond(
        json=[{"email": "octo@example.com", "primary": True, "verified": True}]
    )
    router.get("https://api.github.com/user/memberships/orgs").respond(
        json=[{"role": role, "organization": {"id": org_id, "login": login}} for org_id, login, role in orgs]
    )


async def sign_in(client: TestClient, router: respx.MockRouter, orgs: list[tuple[int, str, str]]) -> dict:
    login = await client.http.get("/api/v1/auth/login", params={"redirect_uri": FRONTEND})
    assert login.status_code == 307
    authorize = urlsplit(login.headers["location"])
    query = parse_qs(authorize.query)
    assert authorize.netloc == "github.com" and query["code_challenge_method"] == ["S256"]
    assert query["client_id"] == ["Iv1.client"] and query["code_challenge"][0]
    stub_github(router, orgs=orgs)
    callback = await client.http.get(
        "/api/v1/auth/callback", params={"code": "c0de", "state": query["state"][0]}
    )
    assert callback.status_code == 307, callback.text
    destination = urlsplit(callback.headers["location"])
    assert f"{destination.scheme}://{destination.netloc}{destination.path}" == FRONTEND
    # The PKCE verifier went to GitHub with the code.
    exchange = parse_qs(router.calls[0].request.content.decode())
    assert exchange["code"] == ["c0de"] and exchange["code_verifier"][0]
    return {key: values[0] for key, values in parse_qs(destination.fragment).items()}


async def test_sign_in_from_login_to_me_and_the_dashboard(
    oauth_client: TestClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    with respx.mock(assert_all_called=False) as router:
        tokens = await sign_in(oauth_client, router, [(9001, "acme", "admin"), (9002, "oss", "member")])
    assert set(tokens) >= {"access_token", "refresh_token", "expires_in"} and tokens["expires_in"] == "900"
    me = (await oauth_client.get("/api/v1/auth/me", tokens["access_token"])).json()
    assert (me["github_login"], me["email"]) == ("octo", "octo@example.com")
    roles = {o["github_org_slug"]: o["role"] for o in me["organizations"]}
    assert roles == {"acme": "owner", "oss": "member", "octo": "owner"}  # GitHub admin -> owner; own account
    acme = next(o["id"] for o in me["organizations"] if o["github_org_slug"] == "acme")
    dashboard = await oauth_client.get("/api/v1/dashboard/summary", tokens["access_token"], org_id=acme)
    assert dashboard.status_code == 200
    async with transaction(sessionmaker) as session:
        personal = await session.scalar(select(Organization).where(Organization.login == "octo"))
    assert personal is not None and personal.account_type == "User"


async def test_roles_are_refreshed_and_left_organizations_removed_at_each_sign_in(
    oauth_client: TestClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    with respx.mock(assert_all_called=False) as router:
        await sign_in(oauth_client, router, [(9001, "acme", "admin"), (9002, "oss", "member")])
    with respx.mock(assert_all_called=False) as router:
        tokens = await sign_in(oauth_client, router, [(9001, "acme", "member")])
    me = (await oauth_client.get("/api/v1/auth/me", tokens["access_token"])).json()
    assert {o["github_org_slug"]: o["role"] for o in me["organizations"]} == {
        "acme": "member",
        "octo": "owner",
    }
    async with transaction(sessionmaker) as session:
        assert len(list(await session.scalars(select(Membership)))) == 2


async def test_state_is_single_use_and_expires(
    oauth_client: TestClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    login = await oauth_client.http.get("/api/v1/auth/login", params={"redirect_uri": FRONTEND})
    state = parse_qs(urlsplit(login.headers["location"]).query)["state"][0]
    with respx.mock(assert_all_called=False) as router:
        stub_github(router, orgs=[])
        first = await oauth_client.http.get("/api/v1/auth/callback", params={"code": "c", "state": state})
        again = await oauth_client.http.get("/api/v1/auth/callback", params={"code": "c", "state": state})
        unknown = await oauth_client.http.get(
            "/api/v1/auth/callback", params={"code": "c", "state": "forged"}
        )
    assert first.status_code == 307
    assert (again.status_code, unknown.status_code) == (400, 400)
    assert "state" in again.json()["detail"]
    login = await oauth_client.http.get("/api/v1/auth/login", params={"redirect_uri": FRONTEND})
    state = parse_qs(urlsplit(login.headers["location"]).query)["state"][0]
    async with transaction(sessionmaker) as session:
        await session.execute(update(OAuthState).values(expires_at=utc_now() - timedelta(seconds=1)))
    expired = await oauth_client.http.get("/api/v1/auth/callback", params={"code": "c", "state": state})
    assert expired.status_code == 400


async def test_login_refuses_unlisted_redirects_and_says_when_unconfigured(
    oauth_client: TestClient, client: TestClient
) -> None:
    evil = await oauth_client.http.get("/api/v1/auth/login", params={"redirect_uri": "https://evil.example/"})
    assert evil.status_code == 400 and "OAUTH_REDIRECT_ALLOWLIST" in evil.json()["detail"]
    unconfigured = await client.http.get("/api/v1/auth/login", params={"redirect_uri": FRONTEND})
    assert unconfigured.status_code == 503 and "GITHUB_CLIENT_ID" in unconfigured.json()["detail"]


async def test_refresh_rotates_and_a_reused_token_revokes_the_family(
    oauth_client: TestClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    with respx.mock(assert_all_called=False) as router:
        tokens = await sign_in(oauth_client, router, [])
    first = await oauth_client.http.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["token"] == rotated["access_token"] and rotated["refresh_token"] != tokens["refresh_token"]
    reused = await oauth_client.http.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert reused.status_code == 401 and "revoked" in reused.json()["detail"]
    # The thief's reuse also ends the legitimate holder's session.
    latest = await oauth_client.http.post(
        "/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert latest.status_code == 401
    async with transaction(sessionmaker) as session:
        rows = list(await session.scalars(select(RefreshToken)))
    assert len(rows) == 2 and all(row.revoked_at is not None for row in rows)
    assert all(len(row.token_hash) == 64 and row.token_hash != tokens["refresh_token"] for row in rows)


async def test_logout_revokes_the_family(oauth_client: TestClient) -> None:
    with respx.mock(assert_all_called=False) as router:
        tokens = await sign_in(oauth_client, router, [])
    assert (await oauth_client.http.post("/api/v1/auth/logout", json=tokens)).status_code == 204
    refused = await oauth_client.http.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refused.status_code == 401


async def test_a_deleted_user_is_refused_at_once(
    oauth_client: TestClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    with respx.mock(assert_all_called=False) as router:
        tokens = await sign_in(oauth_client, router, [])
    assert (await oauth_client.get("/api/v1/auth/me", tokens["access_token"])).status_code == 200
    async with transaction(sessionmaker) as session:
        await session.execute(update(User).values(deleted_at=utc_now()))
    refused = await oauth_client.get("/api/v1/auth/me", tokens["access_token"])
    assert refused.status_code == 401 and refused.json()["detail"] == "User no longer exists"


async def test_github_failures_are_clear_errors(oauth_client: TestClient) -> None:
    login = await oauth_client.http.get("/api/v1/auth/login", params={"redirect_uri": FRONTEND})
    state = parse_qs(urlsplit(login.headers["location"]).query)["state"][0]
    with respx.mock() as router:
        router.post("https://github.com/login/oauth/access_token").respond(
            json={"error": "bad_verification_code", "error_description": "The code is incorrect or expired."}
        )
        response = await oauth_client.http.get(
            "/api/v1/auth/callback", params={"code": "old", "state": state}
        )
    assert response.status_code == 400 and "incorrect or expired" in response.json()["detail"]
