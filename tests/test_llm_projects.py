"""/v1/projects: projects with their ingest keys, who may do what with them, rename, rotate and delete."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.identity.api_keys.service import create_api_key
from cicosts.identity.service import ensure_user_with_organization
from cicosts.identity.tokens import create_access_token
from cicosts.models import (
    ApiKey,
    LedgerHourly,
    LLMCustomPrice,
    LLMDimensionHourly,
    LLMEvent,
    LLMHourly,
    LLMOutcome,
    LLMProject,
)
from tests.helpers import TestClient


@dataclass
class Acme:
    """`acme` with one user per role, an outsider with their own organization, and keys."""

    org_id: int
    other_org_id: int
    tokens: dict[str, str]
    read_key: str
    foreign_read_key: str


@pytest.fixture
async def acme(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> Acme:
    tokens: dict[str, str] = {}
    async with transaction(sessionmaker) as session:
        for role in ("owner", "admin", "member", "viewer"):
            user, org = await ensure_user_with_organization(session, f"{role}-user", "acme", role=role)
            tokens[role] = create_access_token(user.id, settings)
        outsider, other = await ensure_user_with_organization(session, "outsider", None)
        tokens["outsider"] = create_access_token(outsider.id, settings)
        _, read_key = await create_api_key(session, org_id=org.id, name="r", scopes=["read"], created_by=None)
        _, foreign = await create_api_key(
            session, org_id=other.id, name="f", scopes=["read"], created_by=None
        )
    return Acme(org.id, other.id, tokens, read_key, foreign)


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def create(client: TestClient, token: str, name: str = "chatbot", **fields: Any) -> httpx.Response:
    return await client.http.post("/v1/projects", json={"name": name, **fields}, headers=bearer(token))


async def created(client: TestClient, token: str, name: str = "chatbot", **fields: Any) -> dict[str, Any]:
    response = await create(client, token, name, **fields)
    assert response.status_code == 201, response.text
    project: dict[str, Any] = response.json()
    return project


def call(model: str = "gpt-4o-mini", **fields: Any) -> dict[str, Any]:
    return {
        "model": model,
        "provider": "openai",
        "agent_name": "support",
        "input_tokens": 1_000,
        "output_tokens": 200,
        "timestamp": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "metadata": {"user_id": "u1", "session_id": "s1", "tags": ["beta"]},
        **fields,
    }


async def send(client: TestClient, key: str, *events: dict[str, Any]) -> None:
    response = await client.http.post("/v1/events/batch", json={"events": list(events)}, headers=bearer(key))
    assert response.status_code == 200, response.text
    assert response.json()["events_stored"] == len(events)


async def count(sessionmaker: async_sessionmaker[AsyncSession], table: Any, *where: Any) -> int:
    async with transaction(sessionmaker) as session:
        return int(await session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


# --- creating ---------------------------------------------------------------------------------------------


async def test_creating_a_project_shows_its_ingest_key_once(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with transaction(sessionmaker) as session:
        user, personal = await ensure_user_with_organization(session, "ada", None)
        await ensure_user_with_organization(session, "ada", "acme", role="member")
    token = create_access_token(user.id, settings)

    project = await created(client, token, "  chatbot  ", description="Support bot")

    assert project["name"] == "chatbot"  # trimmed
    assert project["description"] == "Support bot"
    assert project["org_id"] == personal.id  # her own account's organization, though she is in two
    assert project["api_key"].startswith("sk_") and len(project["api_key"]) == 67
    assert project["key_prefix"] == project["api_key"][:11]
    assert datetime.fromisoformat(project["created_at"]).tzinfo is not None
    async with transaction(sessionmaker) as session:
        key = await session.scalar(select(ApiKey).where(ApiKey.project_id == project["id"]))
    assert key is not None and key.scopes == ["ingest"] and key.org_id == personal.id
    assert key.created_by == user.id
    shown = (await client.get(f"/v1/projects/{project['id']}", token)).json()
    assert shown["api_key"] is None and shown["key_prefix"] == project["key_prefix"]
    assert shown == {**project, "api_key": None}
    # The key does what the SDK does with it: finds its project and sends calls.
    me = await client.get("/v1/projects/me", project["api_key"])
    assert me.status_code == 200 and me.json()["id"] == project["id"]
    await send(client, project["api_key"], call())


async def test_the_default_organization_is_the_only_one_else_it_must_be_named(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with transaction(sessionmaker) as session:
        solo, acme = await ensure_user_with_organization(session, "solo", "acme", role="admin")
        busy, _ = await ensure_user_with_organization(session, "busy", "acme", role="admin")
        await ensure_user_with_organization(session, "busy", "globex", role="admin")
        lost, initech = await ensure_user_with_organization(session, "lost", "initech", role="admin")
    assert (await created(client, create_access_token(solo.id, settings)))["org_id"] == acme.id

    response = await create(client, create_access_token(busy.id, settings))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("org_id: ") and "belong to 2" in response.json()["detail"]
    named = await created(client, create_access_token(busy.id, settings), "other", org_id=acme.id)
    assert named["org_id"] == acme.id
    assert (await created(client, create_access_token(lost.id, settings), "x"))["org_id"] == initech.id


async def test_only_admins_and_owners_create_projects(client: TestClient, acme: Acme) -> None:
    for role in ("owner", "admin"):
        assert (await create(client, acme.tokens[role], f"by-{role}", org_id=acme.org_id)).status_code == 201
    for role in ("member", "viewer"):
        response = await create(client, acme.tokens[role], "nope", org_id=acme.org_id)
        assert response.status_code == 403
        assert f"Your role ({role}) does not allow manage_api_keys" == response.json()["detail"]
    outsider = await create(client, acme.tokens["outsider"], "nope", org_id=acme.org_id)
    assert outsider.status_code == 403 and "not a member" in outsider.json()["detail"]
    unknown = await create(client, acme.tokens["owner"], "nope", org_id=10**6)
    assert unknown.status_code == 404 and unknown.json()["detail"].startswith("org_id: ")
    with_key = await create(client, acme.read_key, "nope", org_id=acme.org_id)
    assert with_key.status_code == 403 and "not an API key" in with_key.json()["detail"]
    assert (await create(client, "", "nope")).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": 5}, "name"),
        ({"name": "ok", "description": "d" * 2001}, "description"),
        ({"name": "ok", "org_id": 0}, "org_id"),
        ({"name": "ok", "org_id": "acme"}, "org_id"),
    ],
)
async def test_invalid_projects_are_refused_naming_the_field(
    client: TestClient, acme: Acme, body: dict[str, Any], field: str
) -> None:
    response = await client.http.post("/v1/projects", json=body, headers=bearer(acme.tokens["owner"]))
    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"{field}: "), response.text


async def test_a_name_is_unique_within_an_organization(client: TestClient, acme: Acme) -> None:
    await created(client, acme.tokens["owner"], "chatbot", org_id=acme.org_id)
    taken = await create(client, acme.tokens["admin"], "chatbot", org_id=acme.org_id)
    assert taken.status_code == 409 and taken.json()["detail"].startswith("name: ")
    # Another organization may use it.
    assert (await create(client, acme.tokens["outsider"], "chatbot")).status_code == 201


async def test_projects_created_at_once_under_one_name_leave_one(
    client: TestClient, acme: Acme, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Both requests may pass the check before either writes: the database keeps the name unique."""
    roles = ("owner", "admin", "owner")
    answers = await asyncio.gather(
        *(create(client, acme.tokens[role], "twin", org_id=acme.org_id) for role in roles)
    )
    assert sorted(answer.status_code for answer in answers) == [201, 409, 409], [a.text for a in answers]
    assert all(a.json()["detail"].startswith("name: ") for a in answers if a.status_code == 409)
    twins = LLMProject.org_id == acme.org_id, LLMProject.name == "twin"
    assert await count(sessionmaker, LLMProject, *twins) == 1


# --- reading ----------------------------------------------------------------------------------------------


async def test_listing_shows_what_the_caller_may_read(client: TestClient, acme: Acme) -> None:
    chatbot = await created(client, acme.tokens["owner"], "chatbot", org_id=acme.org_id)
    search = await created(client, acme.tokens["admin"], "search", org_id=acme.org_id)
    theirs = await created(client, acme.tokens["outsider"], "theirs")

    def names(response: httpx.Response) -> list[str]:
        assert response.status_code == 200, response.text
        return [project["name"] for project in response.json()]

    for role in ("owner", "admin", "member", "viewer"):
        assert names(await client.get("/v1/projects", acme.tokens[role])) == ["chatbot", "search"]
    assert names(await client.get("/v1/projects", acme.tokens["outsider"])) == ["theirs"]
    assert names(await client.get("/v1/projects", acme.tokens["member"], org_id=acme.org_id)) == [
        "chatbot",
        "search",
    ]
    # A project's key sees its project; the organization's read key sees them all.
    assert names(await client.get("/v1/projects", chatbot["api_key"])) == ["chatbot"]
    assert names(await client.get("/v1/projects", acme.read_key)) == ["chatbot", "search"]
    listed = (await client.get("/v1/projects", acme.tokens["viewer"])).json()
    assert all(project["api_key"] is None for project in listed)
    assert [p["key_prefix"] for p in listed] == [chatbot["key_prefix"], search["key_prefix"]]

    refused = {
        "outsider": await client.get("/v1/projects", acme.tokens["outsider"], org_id=acme.org_id),
        "foreign key": await client.get("/v1/projects", acme.foreign_read_key, org_id=acme.org_id),
        "project key": await client.get("/v1/projects", theirs["api_key"], org_id=acme.org_id),
    }
    assert refused["outsider"].status_code == 403 and "not a member" in refused["outsider"].text
    assert all(response.status_code == 403 for response in refused.values())
    assert "another organization" in refused["foreign key"].json()["detail"]
    assert (await client.get("/v1/projects", acme.tokens["owner"], org_id=10**6)).status_code == 404
    assert (await client.get("/v1/projects")).status_code == 401
    bad = await client.get("/v1/projects", acme.tokens["owner"], org_id="acme")
    assert bad.status_code == 422 and bad.json()["detail"].startswith("org_id: ")


async def test_a_project_is_read_by_members_and_by_its_own_key(client: TestClient, acme: Acme) -> None:
    chatbot = await created(client, acme.tokens["owner"], "chatbot", org_id=acme.org_id)
    search = await created(client, acme.tokens["owner"], "search", org_id=acme.org_id)
    path = f"/v1/projects/{chatbot['id']}"

    for token in (*(acme.tokens[r] for r in ("owner", "admin", "member", "viewer")), acme.read_key):
        response = await client.get(path, token)
        assert response.status_code == 200 and response.json()["name"] == "chatbot"
    assert (await client.get(path, chatbot["api_key"])).json()["id"] == chatbot["id"]

    other_project = await client.get(path, search["api_key"])
    assert other_project.status_code == 403 and "another project" in other_project.json()["detail"]
    outsider = await client.get(path, acme.tokens["outsider"])
    assert outsider.status_code == 403 and "not a member" in outsider.json()["detail"]
    foreign = await client.get(path, acme.foreign_read_key)
    assert foreign.status_code == 403 and "another organization" in foreign.json()["detail"]
    assert (await client.get("/v1/projects/987654", acme.tokens["owner"])).status_code == 404
    assert (await client.get(path)).status_code == 401
    bad = await client.get("/v1/projects/abc", acme.tokens["owner"])
    assert bad.status_code == 422 and bad.json()["detail"].startswith("project_id: ")


async def test_me_needs_a_project_key(client: TestClient, acme: Acme) -> None:
    chatbot = await created(client, acme.tokens["owner"], "chatbot", org_id=acme.org_id)
    assert (await client.get("/v1/projects/me", chatbot["api_key"])).json()["name"] == "chatbot"
    as_user = await client.get("/v1/projects/me", acme.tokens["owner"])
    assert as_user.status_code == 403 and "project's API key" in as_user.json()["detail"]
    org_key = await client.get("/v1/projects/me", acme.read_key)
    assert org_key.status_code == 403 and "belongs to no project" in org_key.json()["detail"]
    assert (await client.get("/v1/projects/me")).status_code == 401


# --- changing ---------------------------------------------------------------------------------------------


async def test_admins_rename_and_describe_a_project(client: TestClient, acme: Acme) -> None:
    chatbot = await created(client, acme.tokens["owner"], "chatbot", org_id=acme.org_id, description="old")
    await created(client, acme.tokens["owner"], "search", org_id=acme.org_id)
    path = f"/v1/projects/{chatbot['id']}"

    async def patch(token: str, body: dict[str, Any]) -> httpx.Response:
        return await client.http.patch(path, json=body, headers=bearer(token))

    renamed = await patch(acme.tokens["admin"], {"name": "assistant"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "assistant" and renamed.json()["description"] == "old"
    cleared = await patch(acme.tokens["owner"], {"description": None})
    assert cleared.json()["description"] is None and cleared.json()["name"] == "assistant"
    assert (await patch(acme.tokens["owner"], {})).json()[
        "name"
    ] == "assistant"  # nothing sent, nothing changed

    taken = await patch(acme.tokens["owner"], {"name": "search"})
    assert taken.status_code == 409 and taken.json()["detail"].startswith("name: ")
    for body, field in (
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"description": 7}, "description"),
    ):
        response = await patch(acme.tokens["owner"], body)
        assert response.status_code == 422 and response.json()["detail"].startswith(f"{field}: "), body
    for role in ("member", "viewer"):
        response = await patch(acme.tokens[role], {"name": "mine"})
        assert response.status_code == 403 and "does not allow manage_api_keys" in response.json()["detail"]
    for key in (chatbot["api_key"], acme.read_key):
        response = await patch(key, {"name": "mine"})
        assert response.status_code == 403 and "API keys cannot" in response.json()["detail"]
    outsider = await patch(acme.tokens["outsider"], {"name": "mine"})
    assert outsider.status_code == 403 and "not a member" in outsider.json()["detail"]
    missing = await client.http.patch("/v1/projects/987654", json={}, headers=bearer(acme.tokens["owner"]))
    assert missing.status_code == 404
    assert (await client.http.patch(path, json={"name": "mine"})).status_code == 401
    assert (await client.get(path, acme.tokens["viewer"])).json()["name"] == "assistant"


async def test_renaming_takes_the_projects_ledger_rows_along(
    client: TestClient, acme: Acme, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """The ledger names a project by its name; a renamed project's costs so far move to its new name."""
    chatbot = await created(client, acme.tokens["owner"], "chatbot", org_id=acme.org_id)
    search = await created(client, acme.tokens["owner"], "search", org_id=acme.org_id)
    await send(client, chatbot["api_key"], call(), call(model="gpt-4o"), call(agent_name="triage"))
    await send(client, search["api_key"], call())

    async def ledger() -> dict[str, tuple[int, int]]:
        async with transaction(sessionmaker) as session:
            rows = await session.execute(
                select(
                    LedgerHourly.sub_account,
                    func.sum(LedgerHourly.billed_nanos),
                    func.sum(LedgerHourly.record_count),
                )
                .where(LedgerHourly.source == "llm")
                .group_by(LedgerHourly.sub_account)
            )
            return {name: (int(cost), int(calls)) for name, cost, calls in rows}

    before = await ledger()
    assert before["chatbot"][1] == 3 and before["chatbot"][0] > 0
    response = await client.http.patch(
        f"/v1/projects/{chatbot['id']}", json={"name": "assistant"}, headers=bearer(acme.tokens["owner"])
    )
    assert response.status_code == 200
    after = await ledger()
    assert after == {"assistant": before["chatbot"], "search": before["search"]}
    # Calls sent after the rename land on the same rows (same hour, agent and model): no second row.
    async with transaction(sessionmaker) as session:
        rows_before = await session.scalar(select(func.count()).select_from(LedgerHourly))
    await send(client, chatbot["api_key"], call())
    async with transaction(sessionmaker) as session:
        assert await session.scalar(select(func.count()).select_from(LedgerHourly)) == rows_before
    assert (await ledger())["assistant"][1] == 4


async def test_rotating_the_key_revokes_every_key_of_the_project(
    client: TestClient, acme: Acme, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    chatbot = await created(client, acme.tokens["owner"], "chatbot", org_id=acme.org_id)
    search = await created(client, acme.tokens["owner"], "search", org_id=acme.org_id)
    async with transaction(sessionmaker) as session:  # a second key for the project, from the settings page
        _, second = await create_api_key(
            session,
            org_id=acme.org_id,
            name="ci",
            scopes=["ingest"],
            created_by=None,
            project_id=chatbot["id"],
        )
    path = f"/v1/projects/{chatbot['id']}/rotate-key"

    rotated = await client.http.post(path, headers=bearer(acme.tokens["admin"]))

    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["project_id"] == chatbot["id"] and body["revoked_keys"] == 2
    assert body["api_key"].startswith("sk_") and body["key_prefix"] == body["api_key"][:11]
    for old in (chatbot["api_key"], second):
        refused = await client.get("/v1/projects/me", old)
        assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
        batch = await client.http.post("/v1/events/batch", json={"events": [call()]}, headers=bearer(old))
        assert batch.status_code == 401
    assert (await client.get("/v1/projects/me", body["api_key"])).json()["id"] == chatbot["id"]
    await send(client, body["api_key"], call())
    assert (await client.get(f"/v1/projects/{chatbot['id']}", acme.tokens["viewer"])).json()[
        "key_prefix"
    ] == body["key_prefix"]
    assert (await client.get("/v1/projects/me", search["api_key"])).status_code == 200  # other projects' keys

    for role in ("member", "viewer"):
        response = await client.http.post(path, headers=bearer(acme.tokens[role]))
        assert response.status_code == 403 and "does not allow manage_api_keys" in response.json()["detail"]
    as_key = await client.http.post(path, headers=bearer(body["api_key"]))
    assert as_key.status_code == 403 and "API keys cannot" in as_key.json()["detail"]
    outsider = await client.http.post(path, headers=bearer(acme.tokens["outsider"]))
    assert outsider.status_code == 403 and "not a member" in outsider.json()["detail"]
    missing = await client.http.post("/v1/projects/987654/rotate-key", headers=bearer(acme.tokens["owner"]))
    assert missing.status_code == 404
    assert (await client.http.post(path)).status_code == 401
    assert (
        await client.get("/v1/projects/me", body["api_key"])
    ).status_code == 200  # refusals changed nothing


async def test_deleting_a_project_deletes_its_calls_and_rollups_and_revokes_its_keys(
    client: TestClient, acme: Acme, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    chatbot = await created(client, acme.tokens["owner"], "chatbot", org_id=acme.org_id)
    search = await created(client, acme.tokens["owner"], "search", org_id=acme.org_id)
    traced = call(trace_id="t1", workflow="refunds", tool_name="lookup")
    response = await client.http.post(
        "/v1/events/batch",
        json={
            "events": [traced, call(), call(model="gpt-4o")],
            "outcomes": [{"trace_id": "t1", "success": True}],
        },
        headers=bearer(chatbot["api_key"]),
    )
    assert response.status_code == 200 and response.json()["events_stored"] == 3
    await send(client, search["api_key"], call(), call())
    price = {"model": "house-model", "input": "1", "output": "2", "project_id": chatbot["id"]}
    priced = await client.http.post("/v1/pricing", json=price, headers=bearer(acme.tokens["owner"]))
    assert priced.status_code == 201, priced.text
    chatbot_rows = {
        "events": (LLMEvent, LLMEvent.project_id == chatbot["id"]),
        "outcomes": (LLMOutcome, LLMOutcome.project_id == chatbot["id"]),
        "prices": (LLMCustomPrice, LLMCustomPrice.project_id == chatbot["id"]),
        "hourly": (LLMHourly, LLMHourly.project_id == chatbot["id"]),
        "dimensions": (LLMDimensionHourly, LLMDimensionHourly.project_id == chatbot["id"]),
        "ledger": (LedgerHourly, LedgerHourly.sub_account == "chatbot"),
    }
    for name, (table, where) in chatbot_rows.items():
        assert await count(sessionmaker, table, where) > 0, name
    search_rows = {
        "events": await count(sessionmaker, LLMEvent, LLMEvent.project_id == search["id"]),
        "hourly": await count(sessionmaker, LLMHourly, LLMHourly.project_id == search["id"]),
        "ledger": await count(sessionmaker, LedgerHourly, LedgerHourly.sub_account == "search"),
    }
    path = f"/v1/projects/{chatbot['id']}"
    for role in ("member", "viewer"):
        refused = await client.http.delete(path, headers=bearer(acme.tokens[role]))
        assert refused.status_code == 403 and "does not allow manage_api_keys" in refused.json()["detail"]
    for key in (chatbot["api_key"], acme.read_key):
        refused = await client.http.delete(path, headers=bearer(key))
        assert refused.status_code == 403 and "API keys cannot" in refused.json()["detail"]
    outsider = await client.http.delete(path, headers=bearer(acme.tokens["outsider"]))
    assert outsider.status_code == 403 and "not a member" in outsider.json()["detail"]
    assert (await client.http.delete(path)).status_code == 401

    deleted = await client.http.delete(path, headers=bearer(acme.tokens["admin"]))

    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"status": "deleted", "id": chatbot["id"], "events_deleted": 3}
    for name, (table, where) in chatbot_rows.items():
        assert await count(sessionmaker, table, where) == 0, name
    assert await count(sessionmaker, LLMProject, LLMProject.id == chatbot["id"]) == 0
    assert search_rows == {
        "events": await count(sessionmaker, LLMEvent, LLMEvent.project_id == search["id"]),
        "hourly": await count(sessionmaker, LLMHourly, LLMHourly.project_id == search["id"]),
        "ledger": await count(sessionmaker, LedgerHourly, LedgerHourly.sub_account == "search"),
    }
    assert (await client.get("/v1/projects/me", chatbot["api_key"])).status_code == 401
    assert (await client.get(path, acme.tokens["owner"])).status_code == 404
    assert (await client.http.delete(path, headers=bearer(acme.tokens["owner"]))).status_code == 404
    names = [p["name"] for p in (await client.get("/v1/projects", acme.tokens["owner"])).json()]
    assert names == ["search"]
    # The name is free again, and a new project under it starts from nothing.
    reborn = await created(client, acme.tokens["owner"], "chatbot", org_id=acme.org_id)
    assert reborn["id"] != chatbot["id"]
    assert await count(sessionmaker, LedgerHourly, LedgerHourly.sub_account == "chatbot") == 0
