"""/v1/pricing: the catalogue with custom prices in front, setting them, and repricing unpriced calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import genai_prices
import httpx
import pytest
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.identity.api_keys.service import create_api_key
from cicosts.identity.service import ensure_user_with_organization
from cicosts.identity.tokens import create_access_token
from cicosts.llm.pricing import catalogue
from cicosts.llm.pricing.catalogue import catalogue_models
from cicosts.models import LedgerHourly, LLMCustomPrice, LLMDimensionHourly, LLMEvent, LLMHourly
from tests.helpers import TestClient

HOUR_AGO = datetime.now(UTC) - timedelta(hours=1)


@dataclass
class Acme:
    org_id: int
    tokens: dict[str, str]
    read_key: str
    foreign_read_key: str
    project_id: int
    project_key: str
    other_project_key: str


@pytest.fixture
async def acme(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> Acme:
    tokens: dict[str, str] = {}
    async with transaction(sessionmaker) as session:
        for role in ("owner", "admin", "member", "viewer"):
            user, org = await ensure_user_with_organization(session, f"{role}-user", "acme", role=role)
            tokens[role] = create_access_token(user.id, settings)
        outsider, other = await ensure_user_with_organization(session, "outsider", "globex")
        tokens["outsider"] = create_access_token(outsider.id, settings)
        _, read_key = await create_api_key(session, org_id=org.id, name="r", scopes=["read"], created_by=None)
        _, foreign = await create_api_key(
            session, org_id=other.id, name="f", scopes=["read"], created_by=None
        )
    projects = []
    for name, token in (("chatbot", tokens["owner"]), ("theirs", tokens["outsider"])):
        response = await client.http.post("/v1/projects", json={"name": name}, headers=bearer(token))
        assert response.status_code == 201, response.text
        projects.append(response.json())
    return Acme(
        org.id, tokens, read_key, foreign, projects[0]["id"], projects[0]["api_key"], projects[1]["api_key"]
    )


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def set_price(client: TestClient, token: str, **body: Any) -> httpx.Response:
    return await client.http.post("/v1/pricing", json=body, headers=bearer(token))


async def priced(client: TestClient, token: str, **body: Any) -> dict[str, Any]:
    response = await set_price(client, token, **body)
    assert response.status_code == 201, response.text
    price: dict[str, Any] = response.json()
    return price


def call(model: str, **fields: Any) -> dict[str, Any]:
    return {
        "model": model,
        "agent_name": "support",
        "input_tokens": 1_000_000,
        "output_tokens": 100_000,
        "cached_tokens": 200_000,
        "timestamp": HOUR_AGO.isoformat(),
        "metadata": {"user_id": "u1", "tags": ["beta"]},
        **fields,
    }


async def send(client: TestClient, key: str, *events: dict[str, Any]) -> dict[str, Any]:
    response = await client.http.post("/v1/events/batch", json={"events": list(events)}, headers=bearer(key))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# --- the list ---------------------------------------------------------------------------------------------


async def test_the_list_is_the_catalogue_in_agentcosts_shape(client: TestClient, acme: Acme) -> None:
    response = await client.get("/v1/pricing", acme.tokens["viewer"])

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"] == "genai-prices" and body["catalogue_version"] == genai_prices.__version__
    assert body["model_count"] == len(body["pricing"]) > 1_000
    assert body["custom_prices"] == []
    # A model several providers sell is shown at its own provider's price (not a reseller's).
    gpt = body["pricing"]["gpt-4o"]
    assert gpt["provider"] == "openai" and gpt["source"] == "catalogue"
    assert gpt["input_mtok"] == "2.5" and gpt["output_mtok"] == "10" and gpt["cache_read_mtok"] == "1.25"
    # AgentCost's SDK reads USD per 1,000 tokens.
    assert (gpt["input"], gpt["output"], gpt["cached_input"]) == (0.0025, 0.01, 0.00125)
    claude = body["pricing"]["claude-3-5-haiku-latest"]
    assert claude["provider"] == "anthropic" and claude["cache_write"] == pytest.approx(0.001)

    anthropic = (await client.get("/v1/pricing", acme.tokens["viewer"], provider="anthropic")).json()
    assert {rates["provider"] for rates in anthropic["pricing"].values()} == {"anthropic"}
    assert "gpt-4o" not in anthropic["pricing"]
    models = {(m.provider, m.model) for m in catalogue_models()}
    assert all(("anthropic", name) in models for name in anthropic["pricing"])
    named_in_capitals = (await client.get("/v1/pricing", acme.tokens["viewer"], provider="Anthropic")).json()
    assert named_in_capitals["pricing"] == anthropic["pricing"]
    nobody = (await client.get("/v1/pricing", acme.tokens["viewer"], provider="no-such-provider")).json()
    assert (nobody["pricing"], nobody["model_count"]) == ({}, 0)


async def test_custom_prices_come_before_the_catalogue_from_their_start(
    client: TestClient, acme: Acme
) -> None:
    now = datetime.now(UTC)
    house = await priced(
        client,
        acme.tokens["admin"],
        model="house-model",
        input=0.4,
        output="1.60",
        cache_read="0.000000001",
        effective_from=(now - timedelta(days=1)).isoformat(),
    )
    assert house["model"] == "house-model" and house["provider"] is None and house["project_id"] is None
    assert (house["input"], house["output"], house["cache_read"]) == ("0.4", "1.6", "0.000000001")
    assert house["cache_write"] is None and house["reasoning"] is None
    negotiated = await priced(
        client, acme.tokens["owner"], model="GPT-4o", provider="openai", input=2, output=8
    )
    started = datetime.fromisoformat(negotiated["effective_from"])
    assert abs(started - datetime.now(UTC)) < timedelta(minutes=1)  # default: now
    future = await priced(
        client,
        acme.tokens["owner"],
        model="gpt-4o",
        input=1,
        output=4,
        effective_from="2099-01-01T00:00:00+02:00",
    )
    assert future["effective_from"] == "2098-12-31T22:00:00Z"

    body = (await client.get("/v1/pricing", acme.read_key)).json()

    assert body["pricing"]["house-model"] == {
        "input": 0.0004,
        "output": 0.0016,
        "cached_input": 1e-12,
        "cache_write": None,
        "provider": None,
        "source": "custom",
        "input_mtok": "0.4",
        "output_mtok": "1.6",
        "cache_read_mtok": "0.000000001",
        "cache_write_mtok": None,
    }
    gpt = body["pricing"]["gpt-4o"]  # the price in force now, not the one starting in 2099
    assert gpt["source"] == "custom" and gpt["input_mtok"] == "2" and gpt["provider"] == "openai"
    assert "GPT-4o" not in body["pricing"]
    assert [p["id"] for p in body["custom_prices"]] == [house["id"], negotiated["id"], future["id"]]
    assert body["model_count"] == len(body["pricing"])


async def test_a_projects_prices_apply_to_its_calls_only(client: TestClient, acme: Acme) -> None:
    await priced(client, acme.tokens["owner"], model="house-model", input=1, output=2)
    project_price = await priced(
        client, acme.tokens["owner"], model="house-model", input=3, output=4, project_id=acme.project_id
    )
    assert project_price["project_id"] == acme.project_id

    org_wide = (await client.get("/v1/pricing", acme.tokens["member"])).json()
    for_project = (await client.get("/v1/pricing", acme.tokens["member"], project_id=acme.project_id)).json()

    assert org_wide["pricing"]["house-model"]["input_mtok"] == "1"
    assert for_project["pricing"]["house-model"]["input_mtok"] == "3"
    assert len(org_wide["custom_prices"]) == len(for_project["custom_prices"]) == 2
    # What the list shows is what a call is charged (from the price's start: an earlier call stays unpriced).
    now = datetime.now(UTC).isoformat()
    stored = await send(client, acme.project_key, call("house-model", timestamp=now), call("house-model"))
    assert stored["events_unpriced"] == 1
    detail = (
        await client.get("/v1/pricing/house-model", acme.tokens["member"], project_id=acme.project_id)
    ).json()
    assert detail["source"] == "custom" and detail["input_mtok"] == "3"

    theirs = await client.get(
        "/v1/pricing", acme.tokens["outsider"], org="globex", project_id=acme.project_id
    )
    assert theirs.status_code == 404 and theirs.json()["detail"].startswith("project_id: ")
    elsewhere = await set_price(
        client, acme.tokens["outsider"], model="m", input=1, output=1, project_id=acme.project_id
    )
    assert elsewhere.status_code == 404 and elsewhere.json()["detail"].startswith("project_id: ")


# --- one model --------------------------------------------------------------------------------------------


async def test_one_models_price_says_where_it_comes_from(
    client: TestClient, acme: Acme, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    gpt = await client.get("/v1/pricing/gpt-4o", acme.tokens["viewer"])
    assert gpt.status_code == 200, gpt.text
    assert gpt.json() | {"custom_prices": []} == {
        "model": "gpt-4o",
        "matched_to": "gpt-4o",
        "provider": "openai",
        "source": "catalogue",
        "input": 0.0025,
        "output": 0.01,
        "input_mtok": "2.5",
        "output_mtok": "10",
        "cache_read_mtok": "1.25",
        "cache_write_mtok": None,
        "reasoning_mtok": None,
        "tiered": False,
        "effective_from": None,
        "custom_prices": [],
    }
    gemini = (await client.get("/v1/pricing/gemini-1.5-pro", acme.tokens["viewer"], provider="google")).json()
    assert gemini["provider"] == "google" and gemini["tiered"] is True

    house = await priced(
        client, acme.tokens["owner"], model="acme/house-v2", input="0.5", output=1, reasoning=3
    )
    detail = (await client.get("/v1/pricing/acme/house-v2", acme.read_key)).json()  # a name with a slash
    assert detail["source"] == "custom" and detail["matched_to"] == "acme/house-v2"
    assert (detail["input_mtok"], detail["reasoning_mtok"], detail["input"]) == ("0.5", "3", 0.0005)
    assert detail["effective_from"] == house["effective_from"]
    assert [p["id"] for p in detail["custom_prices"]] == [house["id"]]
    # Ingestion charges the same price: 1M input at $0.5 plus 100k output at $1, less nothing cached apart.
    await send(
        client,
        acme.project_key,
        call("acme/house-v2", cached_tokens=0, timestamp=datetime.now(UTC).isoformat()),
    )
    async with transaction(sessionmaker) as session:
        event = await session.scalar(select(LLMEvent).where(LLMEvent.model == "acme/house-v2"))
    assert event is not None and event.price_source == "custom:org" and event.cost_nanos == 600_000_000

    unknown = await client.get("/v1/pricing/no-such-model-anywhere", acme.tokens["viewer"])
    assert unknown.status_code == 404 and unknown.json()["detail"].startswith("model: ")

    # Named in another case, accents included, as the price book matches names.
    accented = await priced(client, acme.tokens["owner"], model="Modèle-Été", input=2, output=4)
    folded = (await client.get("/v1/pricing/modèle-été", acme.read_key)).json()
    assert (folded["matched_to"], folded["input_mtok"]) == ("Modèle-Été", "2")
    assert [p["id"] for p in folded["custom_prices"]] == [accented["id"]]


# --- who may ----------------------------------------------------------------------------------------------


async def test_members_read_prices_and_admins_set_them(client: TestClient, acme: Acme) -> None:
    body = {"model": "m", "input": 1, "output": 2}
    for route in ("/v1/pricing", "/v1/pricing/gpt-4o"):
        for token in (*(acme.tokens[r] for r in ("owner", "admin", "member", "viewer")), acme.read_key):
            assert (await client.get(route, token)).status_code == 200, route
        ingest = await client.get(route, acme.project_key)
        assert ingest.status_code == 403 and "scopes (ingest) do not allow read" in ingest.json()["detail"]
        outsider = await client.get(route, acme.tokens["outsider"], org="acme")
        assert outsider.status_code == 403 and "not a member" in outsider.json()["detail"]
        foreign = await client.get(route, acme.foreign_read_key, org="acme")
        assert foreign.status_code == 403 and "another organization" in foreign.json()["detail"]
        assert (await client.get(route, acme.tokens["owner"], org="nobody")).status_code == 404
        anonymous = await client.get(route)
        if route == "/v1/pricing":  # the catalogue is public: the AgentCost SDK reads it without a key
            assert anonymous.status_code == 200 and anonymous.json()["custom_prices"] == []
        else:
            assert anonymous.status_code == 401
    for route, payload in (("/v1/pricing", body), ("/v1/pricing/sync-defaults", None)):
        for role in ("member", "viewer"):
            refused = await client.http.post(route, json=payload, headers=bearer(acme.tokens[role]))
            assert refused.status_code == 403
            assert refused.json()["detail"] == f"Your role ({role}) does not allow manage_settings"
        for key in (acme.read_key, acme.project_key):
            refused = await client.http.post(route, json=payload, headers=bearer(key))
            assert refused.status_code == 403 and "do not allow manage_settings" in refused.json()["detail"]
        outsider = await client.http.post(
            route, json=payload, params={"org": "acme"}, headers=bearer(acme.tokens["outsider"])
        )
        assert outsider.status_code == 403 and "not a member" in outsider.json()["detail"]
        assert (await client.http.post(route, json=payload)).status_code == 401
        for role in ("owner", "admin"):
            allowed = await client.http.post(route, json=payload, headers=bearer(acme.tokens[role]))
            assert allowed.status_code in (200, 201), allowed.text


async def test_someone_in_two_organizations_names_one(
    client: TestClient, acme: Acme, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with transaction(sessionmaker) as session:
        user, _ = await ensure_user_with_organization(session, "busy", "acme", role="admin")
        await ensure_user_with_organization(session, "busy", "globex", role="member")
    token = create_access_token(user.id, settings)
    ambiguous = await client.get("/v1/pricing", token)
    assert ambiguous.status_code == 400 and ambiguous.json()["detail"].startswith("org: ")
    assert (await client.get("/v1/pricing", token, org="globex")).status_code == 200
    response = await client.http.post(
        "/v1/pricing",
        params={"org": "acme"},
        json={"model": "m", "input": 1, "output": 1},
        headers=bearer(token),
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"output": 1}, "input"),
        ({"input": 1}, "output"),
        ({"input": -1, "output": 1}, "input"),
        ({"input": "abc", "output": 1}, "input"),
        ({"input": "NaN", "output": 1}, "input"),
        ({"input": 1, "output": "0.0000000001"}, "output"),
        ({"input": 1, "output": 100_001}, "output"),
        ({"input": 1, "output": 1, "cache_read": -0.5}, "cache_read"),
        ({"input": 1, "output": 1, "cache_write": "x"}, "cache_write"),
        ({"input": 1, "output": 1, "reasoning": True}, "reasoning"),
        ({"input": 1, "output": 1, "effective_from": "2026-01-01T00:00:00"}, "effective_from"),
        ({"input": 1, "output": 1, "effective_from": "yesterday"}, "effective_from"),
        ({"input": 1, "output": 1, "effective_from": "0001-01-01T00:30:00+01:00"}, "effective_from"),
        ({"input": 1, "output": 1, "project_id": 0}, "project_id"),
        ({"input": 1, "output": 1, "provider": ""}, "provider"),
        ({"model": "", "input": 1, "output": 1}, "model"),
        ({"model": "m" * 256, "input": 1, "output": 1}, "model"),
    ],
)
async def test_invalid_prices_are_refused_naming_the_field(
    client: TestClient, acme: Acme, body: dict[str, Any], field: str
) -> None:
    response = await client.http.post(
        "/v1/pricing", json={"model": "m", **body}, headers=bearer(acme.tokens["owner"])
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(f"{field}: "), response.text


async def test_query_parameters_are_checked(client: TestClient, acme: Acme) -> None:
    for params, field in (({"project_id": "x"}, "project_id"), ({"provider": ""}, "provider")):
        response = await client.get("/v1/pricing", acme.tokens["owner"], **params)
        assert response.status_code == 422 and response.json()["detail"].startswith(f"{field}: ")
    long_name = await client.get("/v1/pricing/" + "m" * 256, acme.tokens["owner"])
    assert long_name.status_code == 422 and long_name.json()["detail"].startswith("model: ")


# --- sync-defaults ----------------------------------------------------------------------------------------


async def rollups_match_events(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Every LLM rollup still equals the sums of the raw calls, and none is left at zero."""
    async with transaction(sessionmaker) as session:
        raw = (
            await session.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(LLMEvent.cost_nanos), 0),
                    func.coalesce(func.sum(case((LLMEvent.unpriced, 1), else_=0)), 0),
                    func.coalesce(func.sum(LLMEvent.cache_savings_nanos), 0),
                )
            )
        ).one()
        hourly = (
            await session.execute(
                select(
                    func.sum(LLMHourly.calls),
                    func.sum(LLMHourly.cost_nanos),
                    func.sum(LLMHourly.unpriced_calls),
                    func.sum(LLMHourly.cache_savings_nanos),
                )
            )
        ).one()
        ledger = (
            await session.execute(
                select(
                    func.sum(LedgerHourly.record_count),
                    func.sum(LedgerHourly.billed_nanos),
                    func.sum(LedgerHourly.unpriced_count),
                ).where(LedgerHourly.source == "llm")
            )
        ).one()
        users = await session.scalar(
            select(func.sum(LLMDimensionHourly.cost_nanos)).where(LLMDimensionHourly.dimension == "user")
        )
        assert tuple(int(v) for v in hourly) == tuple(int(v) for v in raw)
        assert tuple(int(v) for v in ledger) == (int(raw[0]), int(raw[1]), int(raw[2]))
        assert int(users or 0) == int(raw[1])  # every call here has a user
        for table in (LLMHourly, LLMDimensionHourly):
            assert await session.scalar(select(func.count()).select_from(table).where(table.calls == 0)) == 0
        emptied = select(func.count()).where(LedgerHourly.record_count == 0)
        assert await session.scalar(emptied) == 0


async def test_sync_defaults_reports_the_catalogue(client: TestClient, acme: Acme) -> None:
    response = await client.http.post("/v1/pricing/sync-defaults", headers=bearer(acme.tokens["admin"]))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ok",
        "catalogue_version": genai_prices.__version__,
        "model_count": len(catalogue_models()),
        "unpriced_events": 0,
        "repriced_events": 0,
        "still_unpriced": 0,
    }


async def test_sync_defaults_prices_calls_the_catalogue_did_not_know(
    client: TestClient,
    acme: Acme,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Calls stored while the catalogue lacked their model get its price once it has it (after an upgrade)."""
    known = await send(
        client, acme.other_project_key, call("gpt-4o-mini", provider="openai")
    )  # priced at once
    assert known["events_unpriced"] == 0
    with monkeypatch.context() as older:
        older.setattr(catalogue, "find", lambda model, provider: None)  # a catalogue without these models
        result = await send(
            client,
            acme.project_key,
            call("gpt-4o-mini", provider="openai"),
            call("gpt-4o-mini"),
            call("claude-3-5-haiku-latest", agent_name="triage", cache_write_tokens=10_000),
            call("mystery-model"),
        )
    assert result["events_unpriced"] == 4
    await rollups_match_events(sessionmaker)

    response = await client.http.post("/v1/pricing/sync-defaults", headers=bearer(acme.tokens["owner"]))

    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["unpriced_events"], report["repriced_events"], report["still_unpriced"]) == (4, 3, 1)
    async with transaction(sessionmaker) as session:
        events = {
            (e.model, e.provider): e
            for e in await session.scalars(select(LLMEvent).where(LLMEvent.project_id == acme.project_id))
        }
        reference = await session.scalar(select(LLMEvent).where(LLMEvent.project_id != acme.project_id))
    assert reference is not None
    repriced = events[("gpt-4o-mini", "openai")]
    assert not repriced.unpriced and repriced.price_source == reference.price_source
    assert (repriced.cost_nanos, repriced.cache_savings_nanos) == (
        reference.cost_nanos,
        reference.cache_savings_nanos,
    )
    assert repriced.matched_model == "gpt-4o-mini" and repriced.matched_provider == "openai"
    assert events[("gpt-4o-mini", None)].matched_provider == "openai"  # named by the catalogue now
    assert events[("claude-3-5-haiku-latest", None)].cost_nanos > 0
    assert events[("mystery-model", None)].unpriced
    await rollups_match_events(sessionmaker)
    async with transaction(sessionmaker) as session:
        providers = set(
            await session.scalars(select(LLMHourly.provider).where(LLMHourly.project_id == acme.project_id))
        )
    assert providers == {"openai", "anthropic", ""}  # the unpriced calls' provider-less rows moved

    again = (await client.http.post("/v1/pricing/sync-defaults", headers=bearer(acme.tokens["owner"]))).json()
    assert (again["unpriced_events"], again["repriced_events"], again["still_unpriced"]) == (1, 0, 1)
    await rollups_match_events(sessionmaker)


async def test_sync_defaults_applies_custom_prices_set_since(
    client: TestClient, acme: Acme, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    old = (HOUR_AGO - timedelta(days=2)).isoformat()
    await send(client, acme.project_key, call("house-model"), call("house-model", timestamp=old))
    await send(client, acme.other_project_key, call("house-model"))  # another organization's
    await priced(
        client,
        acme.tokens["owner"],
        model="house-model",
        input=1,
        output=10,
        cache_read="0.5",
        effective_from=(HOUR_AGO - timedelta(days=1)).isoformat(),
    )

    report = (
        await client.http.post("/v1/pricing/sync-defaults", headers=bearer(acme.tokens["admin"]))
    ).json()

    assert (report["unpriced_events"], report["repriced_events"], report["still_unpriced"]) == (2, 1, 1)
    async with transaction(sessionmaker) as session:
        rows = list(await session.scalars(select(LLMEvent).order_by(LLMEvent.timestamp)))
    by_project = {(e.project_id, e.unpriced) for e in rows}
    assert (acme.project_id, False) in by_project and (acme.project_id, True) in by_project
    repriced = next(e for e in rows if e.project_id == acme.project_id and not e.unpriced)
    # 800k uncached input at $1 + 200k cached at $0.5 + 100k output at $10 per million tokens.
    assert repriced.cost_nanos == 800_000_000 + 100_000_000 + 1_000_000_000
    assert repriced.cache_savings_nanos == 100_000_000 and repriced.price_source == "custom:org"
    assert repriced.timestamp.replace(tzinfo=UTC) >= HOUR_AGO - timedelta(seconds=1)
    others = [e for e in rows if e.project_id != acme.project_id]
    assert [e.unpriced for e in others] == [True]  # globex's calls are globex's business
    await rollups_match_events(sessionmaker)
    async with transaction(sessionmaker) as session:
        assert await session.scalar(select(func.count()).select_from(LLMCustomPrice)) == 1
    assert Decimal(report["model_count"]) > 0


async def test_the_public_catalogue_keeps_an_organizations_prices_to_itself(
    client: TestClient, acme: Acme
) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    await priced(
        client, acme.tokens["admin"], model="house-model", input=1, output=2, effective_from=yesterday
    )
    await priced(client, acme.tokens["admin"], model="gpt-4o", provider="openai", input=9, output=9)
    signed_in = (await client.get("/v1/pricing", acme.tokens["viewer"])).json()
    assert "house-model" in signed_in["pricing"] and len(signed_in["custom_prices"]) == 2
    anonymous = (await client.get("/v1/pricing")).json()
    assert "house-model" not in anonymous["pricing"] and anonymous["custom_prices"] == []
    assert anonymous["pricing"]["gpt-4o"]["source"] == "catalogue"
