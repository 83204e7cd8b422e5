"""/v1/analytics: what LLM calls cost, read from the rollups, equal to the calls themselves."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.identity.api_keys.service import create_api_key
from cicosts.identity.service import ensure_user_with_organization
from cicosts.identity.tokens import create_access_token
from cicosts.kit.money import nanos_to_json_usd
from cicosts.kit.periods import floor_hour, utc_now
from cicosts.models import LLMEvent, LLMProject, Organization
from tests.helpers import TestClient, iso, next_id

NOW = floor_hour(utc_now())


async def project_key(
    sessionmaker: async_sessionmaker[AsyncSession], settings_: Settings, name: str, org: str = "acme"
) -> tuple[str, int, str]:
    """A project's ingest key, its id, and a member's token."""
    async with transaction(sessionmaker) as session:
        user, organization = await ensure_user_with_organization(session, f"dev-{org}", org)
        project = LLMProject(org_id=organization.id, name=name, created_by=user.id)
        session.add(project)
        await session.flush()
        _, key = await create_api_key(
            session,
            org_id=organization.id,
            name="sdk",
            scopes=["ingest"],
            created_by=user.id,
            project_id=project.id,
        )
    return key, project.id, create_access_token(user.id, settings_)


def call(when: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"e-{next_id()}",
        "timestamp": iso(when),
        "agent_name": "support",
        "model": "gpt-4o",
        "provider": "openai",
        "input_tokens": 1000,
        "output_tokens": 200,
        "latency_ms": 800,
        **fields,
    }


async def send(client: TestClient, key: str, events: list[dict[str, Any]]) -> None:
    response = await client.http.post(
        "/v1/events/batch", json={"events": events}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200 and response.json()["events_rejected"] == 0, response.text


async def get(client: TestClient, token: str, route: str, **params: Any) -> Any:
    response = await client.http.get(
        f"/v1/analytics/{route}", params=params, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def raw(sessionmaker: async_sessionmaker[AsyncSession], *where: Any) -> tuple[int, int, int, int]:
    """(calls, cost, input tokens, output tokens) summed over the stored calls themselves."""
    async with transaction(sessionmaker) as session:
        row = (
            await session.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(LLMEvent.cost_nanos), 0),
                    func.coalesce(func.sum(LLMEvent.input_tokens), 0),
                    func.coalesce(func.sum(LLMEvent.output_tokens), 0),
                ).where(*where)
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


@pytest.fixture
async def support(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> tuple[str, int, str]:
    """Two days of calls by two agents on three models, one of them unknown, some failing, some cached."""
    key, project_id, token = await project_key(sessionmaker, settings, "support-bot")
    yesterday = NOW - timedelta(hours=20)
    await send(
        client,
        key,
        [
            call(
                NOW - timedelta(minutes=30), metadata={"user_id": "u1", "session_id": "s1", "tags": ["vip"]}
            ),
            call(
                NOW - timedelta(minutes=20),
                cached_tokens=800,
                metadata={"user_id": "u1", "tags": ["vip", "eu"]},
            ),
            call(NOW - timedelta(minutes=10), success=False, error="timeout", latency_ms=30000),
            call(
                yesterday,
                agent_name="triage",
                model="claude-3-5-haiku-latest",
                provider="anthropic",
                output_tokens=50,
            ),
            call(yesterday, agent_name="triage", model="house-llm", provider=None, workflow="nightly"),
            call(NOW - timedelta(days=10), agent_name="triage", tool_name="search"),
        ],
    )
    return key, project_id, token


async def test_overview_equals_the_calls_of_the_range(
    client: TestClient, support: tuple[str, int, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    key, _, token = support
    for caller in (key, token):
        week = await get(client, caller, "overview", range="7d")
        calls, cost, input_tokens, output_tokens = await raw(
            sessionmaker, LLMEvent.timestamp >= NOW - timedelta(days=7)
        )
        assert (week["total_calls"], week["total_input_tokens"], week["total_output_tokens"]) == (
            calls,
            input_tokens,
            output_tokens,
        )
        assert week["total_cost"] == nanos_to_json_usd(cost) and cost > 0
        assert week["total_tokens"] == input_tokens + output_tokens
        assert week["unpriced_calls"] == 1  # house-llm: stored, counted, never a silent $0
        assert week["success_rate"] == round(4 * 100 / 5, 2)
        assert week["avg_latency_ms"] == round((800 * 4 + 30000) / 5, 1)
    quarter = await get(client, token, "overview", range="90d")
    assert quarter["total_calls"] == 6


async def test_agents_models_and_dimensions_split_the_same_total(
    client: TestClient, support: tuple[str, int, str]
) -> None:
    _, _, token = support
    overview = await get(client, token, "overview", range="7d")
    agents = (await get(client, token, "agents", range="7d"))["agents"]
    assert {a["agent_name"]: a["calls"] for a in agents} == {"support": 3, "triage": 2}
    assert round(sum(a["cost"] for a in agents), 6) == overview["total_cost"]
    assert round(sum(a["share"] for a in agents)) == 100
    models = (await get(client, token, "models", range="7d"))["models"]
    assert {(m["model"], m["provider"]): m["calls"] for m in models} == {
        ("gpt-4o", "openai"): 3,
        ("claude-3-5-haiku-latest", "anthropic"): 1,
        ("house-llm", ""): 1,
    }
    users = (await get(client, token, "by/user", range="7d"))["rows"]
    assert [(u["value"], u["calls"]) for u in users] == [("u1", 2)]
    tags = {t["value"]: t["calls"] for t in (await get(client, token, "by/tag", range="7d"))["rows"]}
    assert tags == {"vip": 2, "eu": 1}  # a call with two tags counts under each
    assert [w["value"] for w in (await get(client, token, "by/workflow", range="7d"))["rows"]] == ["nightly"]
    assert (await get(client, token, "by/tool", range="7d"))["rows"] == []  # the search call is 10 days old
    assert [t["value"] for t in (await get(client, token, "by/tool", range="30d"))["rows"]] == ["search"]


async def test_timeseries_is_zero_filled_by_hour_and_by_local_day(
    client: TestClient, support: tuple[str, int, str], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, _, token = support
    hours = (await get(client, token, "timeseries", range="24h"))["points"]
    assert len(hours) in (25, 26) and sum(p["calls"] for p in hours) == 5
    last_hour = {datetime.fromisoformat(p["timestamp"]): p["calls"] for p in hours}[NOW - timedelta(hours=1)]
    assert last_hour == 3  # the three calls of the hour before NOW, wherever the clock is now
    async with transaction(sessionmaker) as session:
        await session.execute(update(Organization).values(time_zone="Asia/Tokyo"))
    days = (await get(client, token, "timeseries", range="7d", granularity="day"))["points"]
    assert len(days) == 8 and sum(p["calls"] for p in days) == 5
    assert all(
        datetime.fromisoformat(p["timestamp"]).astimezone(ZoneInfo("Asia/Tokyo")).hour == 0 for p in days
    )
    full = await get(client, token, "full", range="7d", granularity="day")
    assert full["overview"]["total_calls"] == 5 and full["timeseries"] == days
    assert full["agents"][0]["agent_name"] in ("support", "triage") and len(full["models"]) == 3


async def test_cache_hit_rate_and_savings(client: TestClient, support: tuple[str, int, str]) -> None:
    _, _, token = support
    cache = await get(client, token, "cache", range="7d")
    assert (cache["input_tokens"], cache["cached_tokens"]) == (5000, 800)
    assert cache["hit_rate"] == 16.0
    # gpt-4o reads cache at half its input rate ($2.50 / $1.25 per 1M): 800 tokens save $0.001.
    assert cache["savings"] == 0.001


async def test_scope_windows_and_errors(
    client: TestClient,
    support: tuple[str, int, str],
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    key, project_id, token = support
    other_key, other_project, _ = await project_key(sessionmaker, settings, "other-bot")
    await send(client, other_key, [call(NOW - timedelta(minutes=5), agent_name="other")])
    assert (await get(client, key, "overview"))["total_calls"] == 5  # a project key reads its project
    assert (await get(client, token, "overview"))["total_calls"] == 6  # a member reads the organization
    assert (await get(client, token, "overview", project_id=other_project))["total_calls"] == 1
    headers = {"Authorization": f"Bearer {key}"}
    foreign = await client.http.get(
        "/v1/analytics/overview", params={"project_id": other_project}, headers=headers
    )
    assert foreign.status_code == 403 and "another project" in foreign.json()["detail"]
    _, _, stranger = await project_key(sessionmaker, settings, "theirs", org="elsewhere")
    outsider = await client.http.get(
        "/v1/analytics/overview",
        params={"project_id": project_id},
        headers={"Authorization": f"Bearer {stranger}"},
    )
    assert outsider.status_code == 403
    window = {"start": iso(NOW - timedelta(hours=1)), "end": iso(NOW)}
    assert (await get(client, token, "overview", **window))["total_calls"] == 4
    for params, named in (
        ({"range": "2d"}, "range"),
        ({"start": "yesterday"}, "start"),
        ({"start": iso(NOW), "end": iso(NOW - timedelta(hours=1))}, "start"),
        ({"start": "0001-01-01T00:30:00+01:00"}, "start"),
        ({"start": "1999-12-31T23:59:59Z"}, "start"),
        ({"end": "9999-12-31T23:59:59-01:00"}, "end"),
    ):
        bad = await client.http.get("/v1/analytics/overview", params=params, headers=headers)
        assert bad.status_code in (400, 422) and named in bad.json()["detail"], bad.text
    too_fine = await client.http.get(
        "/v1/analytics/timeseries", params={"range": "90d", "granularity": "hour"}, headers=headers
    )
    assert too_fine.status_code == 400 and "granularity" in too_fine.json()["detail"]
    decades = {"start": "2000-01-01T00:00:00Z", "granularity": "day"}
    too_many_days = await client.http.get("/v1/analytics/timeseries", params=decades, headers=headers)
    assert too_many_days.status_code == 400 and "granularity" in too_many_days.json()["detail"]
    assert (await client.http.get("/v1/analytics/by/planet", headers=headers)).status_code == 422


@given(
    calls=st.lists(
        st.tuples(
            st.integers(0, 24 * 6),
            st.sampled_from(["a", "b"]),
            st.sampled_from(["gpt-4o-mini", "claude-3-5-haiku-latest", "mystery-model"]),
            st.integers(0, 50_000),
            st.integers(0, 5_000),
            st.booleans(),
        ),
        min_size=1,
        max_size=25,
    )
)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_rollups_read_back_the_raw_calls_for_any_batch(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, calls: list[Any]
) -> None:
    async with transaction(sessionmaker) as session:
        await session.execute(delete(LLMProject))
    key, _, token = await project_key(sessionmaker, settings, f"p-{next_id()}")
    events = [
        call(
            NOW - timedelta(hours=hours),
            agent_name=agent,
            model=model,
            provider=None,
            input_tokens=i,
            output_tokens=o,
            success=ok,
        )
        for hours, agent, model, i, o, ok in calls
    ]
    await send(client, key, events)
    overview = await get(client, token, "overview", range="7d")
    count, cost, input_tokens, output_tokens = await raw(sessionmaker)
    assert (overview["total_calls"], overview["total_input_tokens"], overview["total_output_tokens"]) == (
        count,
        input_tokens,
        output_tokens,
    )
    assert overview["total_cost"] == nanos_to_json_usd(cost)
    agents = (await get(client, token, "agents", range="7d"))["agents"]
    assert sum(a["calls"] for a in agents) == count
    points = (await get(client, token, "timeseries", range="7d"))["points"]
    assert (
        sum(p["calls"] for p in points) == count
        and sum(p["tokens"] for p in points) == input_tokens + output_tokens
    )
