"""Every route in the OpenAPI schema, called by every kind of caller, answers exactly as the role table says.

A route missing from ROUTES fails this test, so new routes are covered as soon as they exist.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.identity.api_keys.service import create_api_key
from cicosts.identity.service import ensure_user_with_organization
from cicosts.identity.tokens import create_access_token
from cicosts.models import LLMProject, Membership
from tests.helpers import TestClient, next_id

# The published role table, written out again here on purpose: the code's own table is what is under test.
ALLOWED = {
    "viewer": {"read"},
    "member": {"read", "manage_alerts"},
    "admin": {
        "read",
        "manage_alerts",
        "manage_api_keys",
        "manage_settings",
        "manage_runners",
        "manage_members",
        "manage_billing",
    },
    "owner": {
        "read",
        "manage_alerts",
        "manage_api_keys",
        "manage_settings",
        "manage_runners",
        "manage_members",
        "manage_billing",
        "delete_org",
        "transfer_owner",
    },
}
PUBLIC, USER, PROJECT = "public", "user", "project"
# route -> what it needs: "public", "user" (any signed-in person), "project" (a project's ingest key),
# or (permission, API keys accepted)
ROUTES: dict[str, Any] = {
    "GET /": PUBLIC,
    "GET /health": PUBLIC,
    "GET /v1/health": PUBLIC,
    "GET /health/live": PUBLIC,
    "GET /health/ready": PUBLIC,
    "GET /metrics": PUBLIC,
    "POST /api/v1/webhooks/github": PUBLIC,
    "GET /api/v1/auth/login": PUBLIC,
    "GET /api/v1/auth/callback": PUBLIC,
    "POST /api/v1/auth/refresh": PUBLIC,
    "POST /api/v1/auth/logout": PUBLIC,
    "GET /api/v1/auth/me": USER,
    "GET /api/v1/settings/user": USER,
    "PATCH /api/v1/settings/user": USER,
    "GET /api/v1/settings/notifications": USER,
    "PATCH /api/v1/settings/notifications": USER,
    "GET /api/v1/settings/organizations": USER,
    "POST /api/v1/settings/organizations/{org_id}/leave": USER,
    "DELETE /api/v1/settings/account": USER,
    "GET /api/v1/dashboard/summary": ("read", False),
    "GET /api/v1/dashboard/trends": ("read", False),
    "GET /api/v1/dashboard/top-workflows": ("read", False),
    "GET /api/v1/dashboard/recent-runs": ("read", False),
    "GET /api/v1/dashboard/runs/{run_id}": ("read", False),
    "GET /api/v1/dashboard/workflows": ("read", False),
    "GET /api/v1/dashboard/workflows/summary": ("read", False),
    "GET /api/v1/settings/api-keys": ("manage_api_keys", False),
    "POST /api/v1/settings/api-keys": ("manage_api_keys", False),
    "DELETE /api/v1/settings/api-keys/{key_id}": ("manage_api_keys", False),
    "GET /api/v1/settings/org": ("read", False),
    "PATCH /api/v1/settings/org": ("manage_settings", False),
    "DELETE /api/v1/settings/org": ("delete_org", False),
    "POST /api/v1/settings/org/transfer": ("transfer_owner", False),
    "GET /api/v1/settings/members": ("read", False),
    "PATCH /api/v1/settings/members/{user_id}": ("manage_members", False),
    "DELETE /api/v1/settings/members/{user_id}": ("manage_members", False),
    "GET /api/v1/settings/runner-mappings": ("read", False),
    "POST /api/v1/settings/runner-mappings": ("manage_runners", False),
    "PUT /api/v1/settings/runner-mappings/{mapping_id}": ("manage_runners", False),
    "DELETE /api/v1/settings/runner-mappings/{mapping_id}": ("manage_runners", False),
    "GET /api/v1/limits/usage": ("read", True),
    "GET /api/v1/limits/plan": ("read", True),
    "GET /api/v1/limits/upgrade-suggestion": ("read", True),
    "GET /api/v1/alerts": ("read", False),
    "POST /api/v1/alerts": ("manage_alerts", False),
    "GET /api/v1/alerts/{alert_id}": ("read", False),
    "PUT /api/v1/alerts/{alert_id}": ("manage_alerts", False),
    "DELETE /api/v1/alerts/{alert_id}": ("manage_alerts", False),
    "GET /api/v1/alerts/{alert_id}/triggers": ("read", False),
    "POST /api/v1/alerts/{alert_id}/check": ("manage_alerts", False),
    "GET /api/v1/alerts/{alert_id}/deliveries": ("read", False),
    "POST /api/v1/alerts/{alert_id}/webhook-secret": ("manage_alerts", False),
    "GET /api/v1/billing/prices": PUBLIC,
    "GET /api/v1/billing/subscription": ("read", False),
    "POST /api/v1/billing/checkout": ("manage_billing", False),
    "POST /api/v1/billing/portal": ("manage_billing", False),
    "POST /api/v1/webhooks/stripe": PUBLIC,
    "GET /v1/costs": ("read", True),
    "GET /v1/costs/summary": ("read", True),
    "GET /v1/costs/by-repository": ("read", True),
    "GET /v1/costs/by-workflow": ("read", True),
    "GET /v1/costs/by-runner": ("read", True),
    "GET /v1/costs/export": ("read", True),
    "GET /v1/workflows": ("read", True),
    "GET /v1/workflows/{workflow_id}": ("read", True),
    "GET /v1/recommendations": ("read", True),
    "POST /v1/events/batch": PROJECT,
    "POST /v1/otlp/v1/traces": PROJECT,
    "GET /v1/projects/me": PROJECT,
    "POST /v1/projects": USER,
    "GET /v1/projects": ("read", True),
    "GET /v1/projects/{project_id}": ("read", True),
    "PATCH /v1/projects/{project_id}": ("manage_api_keys", False),
    "DELETE /v1/projects/{project_id}": ("manage_api_keys", False),
    "POST /v1/projects/{project_id}/rotate-key": ("manage_api_keys", False),
    "GET /v1/pricing": PUBLIC,
    "GET /v1/pricing/{model}": ("read", True),
    "POST /v1/pricing": ("manage_settings", True),
    "POST /v1/pricing/sync-defaults": ("manage_settings", True),
    "GET /v1/optimizations": ("read", True),
    "GET /v1/optimizations/summary": ("read", True),
    "GET /v1/analytics/overview": ("read", True),
    "GET /v1/analytics/agents": ("read", True),
    "GET /v1/analytics/models": ("read", True),
    "GET /v1/analytics/by/{dimension}": ("read", True),
    "GET /v1/analytics/timeseries": ("read", True),
    "GET /v1/analytics/cache": ("read", True),
    "GET /v1/analytics/full": ("read", True),
    "POST /v1/cloud/imports": ("manage_settings", True),
    "GET /v1/cloud/imports": ("read", True),
    "GET /v1/cloud/imports/{import_id}": ("read", True),
    "GET /costs": ("read", True),
    "GET /v1/cloud/costs/summary": ("read", True),
    "GET /v1/cloud/costs/by-service": ("read", True),
    "GET /v1/cloud/costs/by-region": ("read", True),
    "GET /v1/cloud/costs/by-account": ("read", True),
    "GET /v1/cloud/costs/by-tag": ("read", True),
    "GET /v1/cloud/costs/timeseries": ("read", True),
    "POST /v1/cloud/metrics": ("manage_settings", True),
    "GET /recommendations": ("read", True),
    "GET /v1/cloud/recommendations": ("read", True),
}
REFUSALS = ("does not allow", "not a member", "API keys cannot", "another organization", "scopes")
MISSING_ID = "987654"
LOGINS: dict[int, str] = {}  # org id -> GitHub login, for the public API's `org` parameter


def operations(app: FastAPI) -> list[tuple[str, str]]:
    return [(method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item]


async def call(
    http: httpx.AsyncClient,
    method: str,
    path: str,
    token: str | None,
    org_id: int,
    ids: dict[str, int] | None = None,
) -> httpx.Response:
    """`path` with its ids (a missing one where none is given) and the organization named both ways."""
    known = ids or {}
    url = re.sub(r"\{([a-z_]+)\}", lambda found: str(known.get(found.group(1), MISSING_ID)), path)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {} if method in ("POST", "PUT", "PATCH") else None
    params = {"org_id": org_id, "org": LOGINS.get(org_id, "no-such-organization")}
    return await http.request(method, url, params=params, json=body, headers=headers)


async def new_project(sessionmaker: async_sessionmaker[AsyncSession], org_id: int) -> int:
    async with transaction(sessionmaker) as session:
        project = LLMProject(org_id=org_id, name=f"project-{next_id()}")
        session.add(project)
        await session.flush()
        return project.id


def refused(response: httpx.Response) -> bool:
    if response.status_code != 403:
        return False
    detail = str(response.json()["detail"])
    return any(reason in detail for reason in REFUSALS)


async def test_every_route_is_classified(app: FastAPI) -> None:
    assert sorted(f"{m} {p}" for m, p in operations(app)) == sorted(ROUTES)


async def test_every_role_gets_exactly_what_the_table_allows(
    app: FastAPI, client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    tokens: dict[str, str] = {}
    async with transaction(sessionmaker) as session:
        for role in ("owner", "admin", "member", "viewer"):
            user, org = await ensure_user_with_organization(session, f"{role}-user", "acme", role=role)
            tokens[role] = create_access_token(user.id, settings)
        outsider, other = await ensure_user_with_organization(session, "outsider", "elsewhere")
        tokens["outsider"] = create_access_token(outsider.id, settings)
        _, read_key = await create_api_key(session, org_id=org.id, name="r", scopes=["read"], created_by=None)
        _, ingest_key = await create_api_key(
            session, org_id=org.id, name="i", scopes=["ingest"], created_by=None
        )
        _, foreign_key = await create_api_key(
            session, org_id=other.id, name="f", scopes=["read"], created_by=None
        )
        LOGINS.update({org.id: org.login, other.id: other.login})
    last: list[tuple[str, str]] = []
    for method, path in operations(app):
        need = ROUTES[f"{method} {path}"]
        if need in (PUBLIC, USER, PROJECT):
            continue
        permission, keys_allowed = need
        if permission == "delete_org":
            last.append((method, path))
            continue

        async def send(
            token: str | None, method: str = method, path: str = path, org_id: int = org.id
        ) -> httpx.Response:
            # A project route gets a project of its own for every call: a DELETE harms no later call.
            ids = {"project_id": await new_project(sessionmaker, org.id)} if "{project_id}" in path else {}
            return await call(client.http, method, path, token, org_id, ids)

        for role in ("viewer", "member", "admin", "owner"):
            response = await send(tokens[role])
            assert refused(response) == (permission not in ALLOWED[role]), (method, path, role, response.text)
        assert refused(await send(tokens["outsider"])), (method, path)
        unknown = await call(client.http, method, path, tokens["owner"], 10**6)
        assert unknown.status_code == 404, (method, path)
        assert (await send(None)).status_code == 401
        read = await send(read_key)
        assert refused(read) == (not (keys_allowed and permission == "read")), (method, path, read.text)
        assert refused(await send(ingest_key)), (method, path)
        assert refused(await send(foreign_key)), (method, path)
    for (
        method,
        path,
    ) in last:  # deleting the organization goes last, by the roles that may not, then the owner
        for role in ("viewer", "member", "admin"):
            assert refused(await call(client.http, method, path, tokens[role], org.id))
        assert refused(await call(client.http, method, path, tokens["outsider"], org.id))
        assert (await call(client.http, method, path, tokens["owner"], org.id)).status_code == 204
        assert (
            await call(client.http, "GET", "/api/v1/settings/org", tokens["owner"], org.id)
        ).status_code == 404
    async with transaction(sessionmaker) as session:
        assert await session.get(Membership, 1) is None  # the organization's memberships went with it


async def test_user_routes_need_a_signed_in_person(
    app: FastAPI, client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with transaction(sessionmaker) as session:
        _, org = await ensure_user_with_organization(session, "someone", "acme")
        _, key = await create_api_key(session, org_id=org.id, name="r", scopes=["read"], created_by=None)
    for method, path in operations(app):
        if ROUTES[f"{method} {path}"] != USER:
            continue
        assert (await call(client.http, method, path, None, org.id)).status_code == 401, (method, path)
        with_key = await call(client.http, method, path, key, org.id)
        assert with_key.status_code == 403 and "API key" in with_key.json()["detail"], (method, path)


async def test_project_routes_take_only_a_project_ingest_key(
    app: FastAPI, client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    tokens = []
    async with transaction(sessionmaker) as session:
        for role in ("owner", "admin", "member", "viewer"):
            user, org = await ensure_user_with_organization(session, f"{role}-user", "acme", role=role)
            tokens.append(create_access_token(user.id, settings))
        _, read_key = await create_api_key(session, org_id=org.id, name="r", scopes=["read"], created_by=None)
        _, org_ingest = await create_api_key(
            session, org_id=org.id, name="i", scopes=["ingest"], created_by=None
        )
    for method, path in operations(app):
        if ROUTES[f"{method} {path}"] != PROJECT:
            continue
        assert (await call(client.http, method, path, None, org.id)).status_code == 401, (method, path)
        for token in [*tokens, read_key, org_ingest]:
            response = await call(client.http, method, path, token, org.id)
            assert response.status_code == 403, (method, path, response.text)
