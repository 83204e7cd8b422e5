"""POST /v1/events/batch: LLM calls validated one by one, priced, stored once per event_id, rolled up."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import warnings
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from types import ModuleType, SimpleNamespace
from typing import Any

import httpx
import pytest
import uvicorn
from agentcost import AgentCostTracker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.app import create_app
from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.identity.api_keys.service import create_api_key
from cicosts.identity.service import ensure_user_with_organization
from cicosts.identity.tokens import create_access_token
from cicosts.kit.periods import floor_hour, utc_now
from cicosts.llm.events.contributions import ledger_names
from cicosts.models import (
    LedgerHourly,
    LLMCustomPrice,
    LLMDimensionHourly,
    LLMEvent,
    LLMHourly,
    LLMOutcome,
    LLMProject,
)
from tests.helpers import TestClient, at, iso, next_id

SOURCE = "catalogue:0.2.3"
START = at("2026-02-10T09:00:00")
MB = 1024 * 1024


@dataclass(frozen=True)
class Ingester:
    """A project and its ingest key, with the organization member who made them."""

    key: str
    project_id: int
    project_name: str
    org_id: int
    user_token: str


async def ingester(
    sessionmaker: async_sessionmaker[AsyncSession], settings_: Settings, project: str = "support-bot"
) -> Ingester:
    async with transaction(sessionmaker) as session:
        user, org = await ensure_user_with_organization(session, "dev", "acme")
        row = LLMProject(org_id=org.id, name=project, created_by=user.id)
        session.add(row)
        await session.flush()
        _, key = await create_api_key(
            session, org_id=org.id, name="sdk", scopes=["ingest"], created_by=user.id, project_id=row.id
        )
    return Ingester(key, row.id, project, org.id, create_access_token(user.id, settings_))


async def post(client: TestClient, key: str, body: Any) -> httpx.Response:
    return await client.http.post("/v1/events/batch", json=body, headers={"Authorization": f"Bearer {key}"})


def event(**fields: Any) -> dict[str, Any]:
    """A gpt-4o call as the AgentCost SDK reports it, with the fields it sends that we do not use."""
    return {
        "agent_name": "triage",
        "model": "gpt-4o",
        "input_tokens": 1_000,
        "output_tokens": 500,
        "total_tokens": 1_500,
        "cost": 0.0075,
        "latency_ms": 820,
        "timestamp": iso(START),
        "success": True,
        "error": None,
        "input_hash": "5f2c",
        "streaming": False,
        **fields,
    }


async def stored_events(sessionmaker: async_sessionmaker[AsyncSession], project_id: int) -> list[LLMEvent]:
    async with transaction(sessionmaker) as session:
        rows = await session.scalars(
            select(LLMEvent).where(LLMEvent.project_id == project_id).order_by(LLMEvent.id)
        )
        return list(rows)


# --- storing and pricing ---------------------------------------------------------------------------------


async def test_a_batch_is_stored_priced_and_counted(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    who = await ingester(sessionmaker, settings)
    body = {
        "project_id": str(who.project_id),
        "events": [
            event(
                event_id="call-1",
                cached_tokens=200,
                metadata={
                    "user_id": 42,
                    "session_id": "s-1",
                    "tags": ["beta", "eu"],
                    "_ac_caps": {"tools": 1},
                },
                trace_id="t-1",
                span_id="sp-1",
                parent_span_id="sp-0",
                workflow="ticket",
                tool_name="search",
                step_name="classify",
                step_index=0,
                depth=1,
            ),
            event(
                model="claude-3-5-haiku-latest",
                input_tokens=3_200,
                cached_tokens=3_000,
                cache_write_tokens=500,
                output_tokens=400,
                success=False,
                error="overloaded",
            ),
            event(model="acme-private-llm", provider="self-hosted", latency_ms=None),
        ],
        "sessions": [{"session_id": "s-1", "name": "Checkout"}],
    }
    response = await post(client, who.key, body)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ok",
        "events_received": 3,
        "events_stored": 3,
        "events_duplicate": 0,
        "events_rejected": 0,
        "events_unpriced": 1,
        "rejected": [],
    }
    gpt, haiku, private = await stored_events(sessionmaker, who.project_id)
    # gpt-4o: 800 uncached input at $2.50/MTok, 200 cached at $1.25, 500 output at $10.
    assert (gpt.cost_nanos, gpt.cache_savings_nanos, gpt.client_cost_nanos) == (
        800 * 2_500 + 200 * 1_250 + 500 * 10_000,
        200 * 1_250,
        7_500_000,
    )
    assert (gpt.matched_model, gpt.matched_provider, gpt.price_source, gpt.unpriced) == (
        "gpt-4o",
        "openai",
        SOURCE,
        False,
    )
    assert (gpt.user_id, gpt.session_id, gpt.tags, gpt.attributes["_ac_caps"]) == (
        "42",
        "s-1",
        ["beta", "eu"],
        {"tools": 1},
    )
    assert (gpt.trace_id, gpt.span_id, gpt.workflow, gpt.tool_name, gpt.event_id) == (
        "t-1",
        "sp-1",
        "ticket",
        "search",
        "call-1",
    )
    assert (gpt.timestamp, gpt.latency_ms, gpt.agent_name, gpt.input_hash) == (START, 820, "triage", "5f2c")
    # claude-3-5-haiku: 200 uncached at $0.80, 3,000 cache reads at $0.08, 500 writes at $1, 400 out at $4.
    assert haiku.cost_nanos == 200 * 800 + 3_000 * 80 + 500 * 1_000 + 400 * 4_000
    assert (haiku.success, haiku.error, haiku.cache_write_tokens) == (False, "overloaded", 500)
    assert (private.unpriced, private.cost_nanos, private.price_source, private.provider) == (
        True,
        0,
        None,
        "self-hosted",
    )
    assert private.latency_ms is None


async def test_a_valid_event_is_stored_alike_with_or_without_an_invalid_neighbour(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """A batch whose events are all valid is read in one pass; one with a bad event, event by event."""
    who = await ingester(sessionmaker, settings)
    call = event(
        cached_tokens=300,
        cache_write_tokens=100,
        reasoning_tokens=50,
        success=None,
        error="rate limited",
        metadata={"user_id": 7, "session_id": "s-2", "tags": "eu", "_ac_caps": {"tools": 2}, "n": 1.5},
        workflow="refund",
        tool_name="sql",
        trace_id="t-2",
    )
    alone = await post(client, who.key, {"events": [call | {"event_id": "a"}]})
    neighboured = await post(client, who.key, {"events": [event(model=""), call | {"event_id": "b"}]})
    assert (alone.json()["events_stored"], neighboured.json()["events_stored"]) == (1, 1)
    assert neighboured.json()["rejected"][0]["index"] == 0
    first, second = await stored_events(sessionmaker, who.project_id)
    differing = {"id", "event_id", "created_at"}
    columns = [column.key for column in LLMEvent.__table__.columns if column.key not in differing]
    assert [getattr(first, name) for name in columns] == [getattr(second, name) for name in columns]
    assert (first.user_id, first.tags, first.success, first.attributes) == (
        "7",
        ["eu"],
        False,
        {"user_id": 7, "session_id": "s-2", "tags": "eu", "_ac_caps": {"tools": 2}, "n": 1.5},
    )


async def test_metadata_numbers_json_cannot_hold_are_stored_as_null(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Python's JSON reader lets NaN and Infinity through; JSON columns cannot store them."""
    who = await ingester(sessionmaker, settings)
    body = '{"events": [{"model": "gpt-4o", "input_tokens": 1, "output_tokens": 1, "timestamp": "%s",'
    body += ' "metadata": {"score": NaN, "ceiling": Infinity, "kept": 2}}]}'
    response = await client.http.post(
        "/v1/events/batch",
        content=(body % iso(START)).encode(),
        headers={"Authorization": f"Bearer {who.key}", "Content-Type": "application/json"},
    )
    assert (response.status_code, response.json()["events_stored"]) == (200, 1), response.text
    (stored,) = await stored_events(sessionmaker, who.project_id)
    assert stored.attributes == {"score": None, "ceiling": None, "kept": 2}


async def test_each_call_is_priced_at_its_own_time_and_custom_prices_win(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    who = await ingester(sessionmaker, settings)
    async with transaction(sessionmaker) as session:
        session.add(
            LLMCustomPrice(
                org_id=who.org_id,
                project_id=who.project_id,
                model="gpt-4o",
                effective_from=at("2026-01-01T00:00:00"),
                input_nanos_per_mtok=1_000_000_000,
                output_nanos_per_mtok=4_000_000_000,
            )
        )
    million = {"input_tokens": 1_000_000, "output_tokens": 1_000_000}
    events = [
        event(model="o3", timestamp="2025-06-09T23:59:00Z", **million),  # before OpenAI's price cut
        event(model="o3", timestamp="2025-06-10T00:01:00+00:00", **million),
        event(model="gpt-4o", timestamp="2025-12-31T23:00:00Z", **million),
        event(model="gpt-4o", timestamp="2026-01-01T01:00:00Z", **million),
    ]
    assert (await post(client, who.key, {"events": events})).status_code == 200
    rows = await stored_events(sessionmaker, who.project_id)
    assert [(row.cost_nanos, row.price_source) for row in rows] == [
        (50 * 10**9, SOURCE),
        (10 * 10**9, SOURCE),
        (125 * 10**8, SOURCE),
        (5 * 10**9, "custom:project"),
    ]


# --- validation ----------------------------------------------------------------------------------------


async def test_invalid_events_are_rejected_one_by_one_naming_the_field(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    who = await ingester(sessionmaker, settings)
    now = utc_now()
    events: list[Any] = [
        event(),
        {key: value for key, value in event().items() if key != "model"},
        event(output_tokens=-1),
        "not an event",
        event(timestamp="yesterday"),
        event(cached_tokens=2_000),
        event(metadata={"user_id": "u" * 300}),
        event(timestamp=iso(now + timedelta(minutes=10))),
        event(timestamp=iso(now + timedelta(minutes=1))),  # within the 5 minutes allowed for clock skew
    ]
    response = await post(client, who.key, {"events": events})
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["events_received"], result["events_stored"], result["events_rejected"]) == (9, 2, 7)
    reasons = {item["index"]: item["reason"] for item in result["rejected"]}
    assert reasons.keys() == {1, 2, 3, 4, 5, 6, 7}
    assert reasons[1].startswith("model: Field required")
    assert reasons[2].startswith("output_tokens: Input should be greater than or equal to 0")
    assert reasons[3] == "event: must be an object, not str"
    assert reasons[4].startswith("timestamp: ")
    assert reasons[5].startswith("cached_tokens: cannot exceed input_tokens")
    assert reasons[6].startswith("metadata.user_id: String should have at most 255 characters")
    assert reasons[7].startswith("timestamp: ") and "in the future" in reasons[7]
    assert len(await stored_events(sessionmaker, who.project_id)) == 2


async def test_timestamps_without_a_utc_equivalent_are_rejected_alone(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    who = await ingester(sessionmaker, settings)
    earliest, latest = "0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59-01:00"
    events = [event(timestamp=earliest), event(), event(timestamp=latest)]
    response = await post(client, who.key, {"events": events})
    assert response.status_code == 200, response.text
    reasons = {item["index"]: item["reason"] for item in response.json()["rejected"]}
    assert reasons.keys() == {0, 2}
    assert all(reason.startswith("timestamp: ") and "UTC" in reason for reason in reasons.values())
    assert len(await stored_events(sessionmaker, who.project_id)) == 1


async def test_a_long_model_name_fits_the_ledger(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """An unknown model's ledger service is its family, the name's first word, cut to the column's length."""
    who = await ingester(sessionmaker, settings)
    response = await post(client, who.key, {"events": [event(model="x" * 255)]})
    assert (response.status_code, response.json()["events_unpriced"]) == (200, 1), response.text
    async with transaction(sessionmaker) as session:
        (service,) = await session.scalars(select(LedgerHourly.service).where(LedgerHourly.source == "llm"))
    assert service == "x" * 200


async def test_a_body_nested_too_deeply_is_refused_whole(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    who = await ingester(sessionmaker, settings)
    for depth in (300, 5_000):
        nested = "[" * depth + "]" * depth
        body = '{"events": [{"model": "gpt-4o", "input_tokens": 1, "output_tokens": 1, "timestamp": "%s",'
        body += ' "metadata": {"deep": %s}}]}'
        response = await client.http.post(
            "/v1/events/batch",
            content=(body % (iso(START), nested)).encode(),
            headers={"Authorization": f"Bearer {who.key}", "Content-Type": "application/json"},
        )
        assert response.status_code == 422, response.text
        assert response.json()["detail"].startswith("body: not valid JSON")
    assert await stored_events(sessionmaker, who.project_id) == []


async def test_a_batch_with_nothing_valid_is_refused(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    who = await ingester(sessionmaker, settings)
    response = await post(client, who.key, {"events": [event(input_tokens="many"), event(model="")]})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("None of the 2 events is valid: event 0: input_tokens: ")
    assert "event 1: model: " in detail
    for body in ({"events": "all of them"}, {"project_id": who.project_id}, [event()]):
        refused = await post(client, who.key, body)
        assert refused.status_code == 422, body
        assert "events" in refused.json()["detail"]
    bad_json = await client.http.post(
        "/v1/events/batch", content=b"{not json", headers={"Authorization": f"Bearer {who.key}"}
    )
    assert (bad_json.status_code, bad_json.json()["detail"][:20]) == (422, "body: not valid JSON")
    assert await stored_events(sessionmaker, who.project_id) == []


async def test_an_empty_batch_of_events_may_still_carry_outcomes(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """The SDK sends an outcome when a workflow closes, sometimes in a batch of its own."""
    who = await ingester(sessionmaker, settings)
    body = {
        "events": [],
        "outcomes": [{"trace_id": "t-9", "workflow": "ticket", "success": True, "label": "ok"}],
    }
    response = await post(client, who.key, body)
    assert (response.status_code, response.json()["events_stored"]) == (200, 0)
    async with transaction(sessionmaker) as session:
        assert await session.scalar(select(func.count(LLMOutcome.id))) == 1


async def test_too_many_events_or_too_large_a_body_is_refused(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    who = await ingester(sessionmaker, settings)
    assert (await post(client, who.key, {"events": [event()] * 1_000})).status_code == 200
    too_many = await post(client, who.key, {"events": [event()] * 1_001})
    assert too_many.status_code == 413
    assert "at most 1,000" in too_many.json()["detail"]
    huge = {"events": [event(metadata={"notes": "x" * (5 * MB)})]}
    too_large = await post(client, who.key, huge)
    assert too_large.status_code == 413
    assert "over 5 MB" in too_large.json()["detail"]

    async def chunks() -> AsyncIterator[bytes]:  # a body sent without a Content-Length
        yield b'{"events": [], "notes": "'
        for _ in range(6):
            yield b"x" * MB
        yield b'"}'

    streamed = await client.http.post(
        "/v1/events/batch", content=chunks(), headers={"Authorization": f"Bearer {who.key}"}
    )
    assert streamed.status_code == 413
    assert len(await stored_events(sessionmaker, who.project_id)) == 1_000


# --- idempotency and outcomes -----------------------------------------------------------------------------


async def test_an_event_id_is_stored_once_within_and_across_batches(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    who = await ingester(sessionmaker, settings)
    first = await post(client, who.key, {"events": [event(event_id="a"), event(event_id="a"), event()]})
    assert (first.json()["events_stored"], first.json()["events_duplicate"]) == (2, 1)
    again = await post(client, who.key, {"events": [event(event_id="a"), event(event_id="b")]})
    assert (again.json()["events_stored"], again.json()["events_duplicate"]) == (1, 1)
    assert [row.event_id for row in await stored_events(sessionmaker, who.project_id)] == ["a", None, "b"]
    async with transaction(sessionmaker) as session:
        assert await session.scalar(select(func.sum(LLMHourly.calls))) == 3
        assert await session.scalar(select(func.sum(LedgerHourly.record_count))) == 3
    # Another project may use the same event ids.
    other = await ingester(sessionmaker, settings, project="research")
    elsewhere = await post(client, other.key, {"events": [event(event_id="a")]})
    assert elsewhere.json()["events_stored"] == 1


async def test_batches_sent_at_once_with_shared_event_ids_store_and_count_each_call_once(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """An SDK retrying while its first attempt is still in flight: the same calls in concurrent transactions.

    They wait on each other's event_ids and rollup rows (taken in one order, so none deadlocks), and only what
    each stored is added to the rollups.
    """
    who = await ingester(sessionmaker, settings)
    users = ("u1", "u2", "u3")
    calls = [
        event(event_id=f"c{i}", metadata={"user_id": users[i % 3], "tags": ["eu"]}, agent_name=f"a{i % 2}")
        for i in range(60)
    ]
    batches = [calls[start : start + 40] for start in (0, 20, 0, 10)]
    answers = await asyncio.gather(*(post(client, who.key, {"events": batch}) for batch in batches))
    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
    assert sum(answer.json()["events_stored"] for answer in answers) == 60
    assert sum(answer.json()["events_duplicate"] for answer in answers) == 160 - 60
    assert await assert_rollups_equal_raw_sums(sessionmaker, who) == 60


async def test_outcomes_are_stored_per_trace_and_a_later_one_wins(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    who = await ingester(sessionmaker, settings)
    outcomes = [
        {"trace_id": "t-1", "workflow": "ticket", "success": True, "label": "resolved"},
        {"trace_id": "t-2", "workflow": "ticket", "success": False, "label": None},
        {"workflow": "no trace"},
    ]
    assert (await post(client, who.key, {"events": [event()], "outcomes": outcomes})).status_code == 200
    later = [{"trace_id": "t-2", "success": True, "label": "escalated"}]
    assert (await post(client, who.key, {"events": [event()], "outcomes": later})).status_code == 200
    async with transaction(sessionmaker) as session:
        rows = await session.scalars(select(LLMOutcome).order_by(LLMOutcome.trace_id))
        assert [(r.project_id, r.trace_id, r.success, r.label) for r in rows] == [
            (who.project_id, "t-1", True, "resolved"),
            (who.project_id, "t-2", True, "escalated"),
        ]


# --- who may send ------------------------------------------------------------------------------------------


async def test_only_the_projects_ingest_key_may_send_for_it(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    who = await ingester(sessionmaker, settings)
    other = await ingester(sessionmaker, settings, project="research")
    wrong = await post(client, who.key, {"project_id": other.project_id, "events": [event()]})
    assert wrong.status_code == 403
    assert f"ingests for project {who.project_id}" in wrong.json()["detail"]
    as_user = await post(client, who.user_token, {"events": [event()]})
    assert (as_user.status_code, as_user.json()["detail"][:22]) == (403, "Send LLM calls with a ")
    async with transaction(sessionmaker) as session:
        _, read_key = await create_api_key(
            session, org_id=who.org_id, name="ci", scopes=["read"], created_by=None
        )
        _, orphan = await create_api_key(
            session, org_id=who.org_id, name="i", scopes=["ingest"], created_by=None
        )
    assert (await post(client, read_key, {"events": [event()]})).status_code == 403
    assert (await post(client, orphan, {"events": [event()]})).status_code == 403
    assert (await post(client, "sk_" + "0" * 64, {"events": [event()]})).status_code == 401
    assert (await client.http.post("/v1/events/batch", json={"events": [event()]})).status_code == 401
    assert await stored_events(sessionmaker, who.project_id) == []
    assert await stored_events(sessionmaker, other.project_id) == []


# --- rollups ---------------------------------------------------------------------------------------------

MEASURES = (
    "calls",
    "failed_calls",
    "unpriced_calls",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_nanos",
    "failed_cost_nanos",
    "cache_savings_nanos",
    "latency_ms_sum",
    "latency_calls",
)


def raw_measures(row: LLMEvent) -> Counter[str]:
    """What one stored call should add to a rollup, worked out from the raw row alone."""
    return Counter(
        {
            "calls": 1,
            "failed_calls": int(not row.success),
            "unpriced_calls": int(row.unpriced),
            "input_tokens": row.input_tokens,
            "output_tokens": row.output_tokens,
            "cached_tokens": row.cached_tokens,
            "cache_write_tokens": row.cache_write_tokens,
            "reasoning_tokens": row.reasoning_tokens,
            "cost_nanos": row.cost_nanos,
            "failed_cost_nanos": 0 if row.success else row.cost_nanos,
            "cache_savings_nanos": row.cache_savings_nanos,
            "latency_ms_sum": row.latency_ms or 0,
            "latency_calls": int(row.latency_ms is not None),
        }
    )


def rollup_measures(row: Any) -> Counter[str]:
    return Counter({name: getattr(row, name) for name in MEASURES})


def nonzero(sums: dict[Any, Counter[str]]) -> dict[Any, dict[str, int]]:
    return {key: {name: value for name, value in counter.items() if value} for key, counter in sums.items()}


async def assert_rollups_equal_raw_sums(sessionmaker: async_sessionmaker[AsyncSession], who: Ingester) -> int:
    """Every rollup equals the sums of the stored calls; returns how many calls are stored."""
    async with transaction(sessionmaker) as session:
        events = list(await session.scalars(select(LLMEvent).where(LLMEvent.project_id == who.project_id)))
        hourly = list(await session.scalars(select(LLMHourly).where(LLMHourly.project_id == who.project_id)))
        dimensions = list(
            await session.scalars(
                select(LLMDimensionHourly).where(LLMDimensionHourly.project_id == who.project_id)
            )
        )
        ledger = list(
            await session.scalars(
                select(LedgerHourly).where(
                    LedgerHourly.source == "llm", LedgerHourly.sub_account == who.project_name
                )
            )
        )
    expected_hourly: dict[Any, Counter[str]] = {}
    expected_dimensions: dict[Any, Counter[str]] = {}
    expected_ledger: dict[Any, Counter[str]] = {}
    for row in events:
        hour = floor_hour(row.timestamp)
        provider = row.matched_provider or row.provider or ""
        measures = raw_measures(row)
        expected_hourly.setdefault((hour, row.agent_name, row.model, provider), Counter()).update(measures)
        values = [("user", row.user_id), ("session", row.session_id), ("workflow", row.workflow)]
        values += [("tool", row.tool_name)] + [("tag", tag) for tag in set(row.tags)]
        for dimension, value in values:
            if value:
                expected_dimensions.setdefault((hour, dimension, value), Counter()).update(measures)
        tokens = row.input_tokens + row.cache_write_tokens + row.output_tokens
        names = ledger_names(
            {"matched_provider": row.matched_provider, "provider": row.provider, "model": row.model}
        )
        expected_ledger.setdefault((hour, *names, row.agent_name, row.model), Counter()).update(
            billed_nanos=row.cost_nanos,
            list_nanos=row.cost_nanos,
            quantity_micros=tokens * 1_000_000,
            record_count=1,
            unpriced_count=int(row.unpriced),
        )
    got_hourly = {(r.hour, r.agent_name, r.model, r.provider): rollup_measures(r) for r in hourly}
    assert nonzero(got_hourly) == nonzero(expected_hourly)
    got_dimensions = {(r.hour, r.dimension, r.value): rollup_measures(r) for r in dimensions}
    assert nonzero(got_dimensions) == nonzero(expected_dimensions)
    got_ledger: dict[Any, Counter[str]] = {}
    for r in ledger:
        got_ledger.setdefault((r.hour, r.provider, r.service, r.resource, r.sku), Counter()).update(
            billed_nanos=r.billed_nanos,
            list_nanos=r.list_nanos,
            quantity_micros=r.quantity_micros,
            record_count=r.record_count,
            unpriced_count=r.unpriced_count,
        )
        assert r.unit == "tokens"
    assert nonzero(got_ledger) == nonzero(expected_ledger)
    return len(events)


@st.composite
def calls(draw: st.DrawFn) -> dict[str, Any]:
    input_tokens = draw(st.integers(min_value=0, max_value=400_000))
    output_tokens = draw(st.integers(min_value=0, max_value=20_000))
    call: dict[str, Any] = {
        "model": draw(
            st.sampled_from(["gpt-4o", "claude-3-5-haiku-latest", "gemini-2.5-pro", "o3", "acme-llm"])
        ),
        "agent_name": draw(st.sampled_from(["router", "writer", None])),
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_tokens": draw(st.integers(min_value=0, max_value=input_tokens)),
        "cache_write_tokens": draw(st.sampled_from([0, 0, 1_000, 50_000])),
        "reasoning_tokens": draw(st.integers(min_value=0, max_value=output_tokens)),
        "timestamp": iso(START + timedelta(minutes=draw(st.integers(min_value=0, max_value=72 * 60)))),
        "success": draw(st.booleans()),
        "latency_ms": draw(st.none() | st.integers(min_value=0, max_value=60_000)),
    }
    optional = {
        "event_id": st.sampled_from([f"e{i}" for i in range(12)]),
        "workflow": st.sampled_from(["ticket", "refund"]),
        "tool_name": st.sampled_from(["search", "sql"]),
        "provider": st.sampled_from(["openai", "acme-gateway"]),
        "metadata": st.fixed_dictionaries(
            {},
            optional={
                "user_id": st.sampled_from(["u1", "u2"]),
                "session_id": st.sampled_from(["s1", "s2", "s3"]),
                "tags": st.lists(st.sampled_from(["beta", "eu", "vip"]), max_size=4),
            },
        ),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            call[name] = draw(strategy)
    return call


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(calls(), min_size=1, max_size=25), min_size=1, max_size=4))
async def test_rollups_equal_the_sums_of_the_stored_calls(
    client: TestClient,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    batches: list[list[dict[str, Any]]],
) -> None:
    who = await ingester(sessionmaker, settings, project=f"p{next_id()}")
    expected_ids: set[str] = set()
    without_id = 0
    for batch in batches:
        response = await post(client, who.key, {"events": batch})
        assert response.status_code == 200, response.text
        for call in batch:
            if "event_id" in call:
                expected_ids.add(call["event_id"])
            else:
                without_id += 1
    assert await assert_rollups_equal_raw_sums(sessionmaker, who) == len(expected_ids) + without_id


# --- the published AgentCost SDK against the running app ---------------------------------------------------


def stand_in_provider_sdks(monkeypatch: pytest.MonkeyPatch) -> tuple[type, type]:
    """`openai` and `anthropic` as far as AgentCost patches them, answering with usage and no network.

    Their usage is shaped as each provider reports it: OpenAI counts cache reads inside the prompt, Anthropic
    beside it, with cache writes.
    """

    class Completions:
        def create(self, *args: Any, **kwargs: Any) -> Any:
            details = SimpleNamespace(cached_tokens=1_000)
            usage = SimpleNamespace(prompt_tokens=1_200, completion_tokens=300, prompt_tokens_details=details)
            return SimpleNamespace(model=kwargs["model"], usage=usage)

    class Messages:
        def create(self, *args: Any, **kwargs: Any) -> Any:
            usage = SimpleNamespace(
                input_tokens=200,
                cache_read_input_tokens=3_000,
                cache_creation_input_tokens=500,
                output_tokens=400,
            )
            return SimpleNamespace(model=kwargs["model"], usage=usage)

    packages = {
        "openai.resources.chat.completions": {"Completions": Completions},
        "anthropic.resources.messages": {"Messages": Messages},
    }
    for dotted, attributes in packages.items():
        parts = dotted.split(".")
        for depth in range(1, len(parts) + 1):
            monkeypatch.setitem(sys.modules, ".".join(parts[:depth]), ModuleType(".".join(parts[:depth])))
        for name, value in attributes.items():
            setattr(sys.modules[dotted], name, value)
    return Completions, Messages


@asynccontextmanager
async def serving(settings_: Settings) -> AsyncIterator[str]:
    """The app in a real uvicorn server on a free port, in a thread, until the block ends."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings_), log_level="warning", ws="none"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name="uvicorn")
    thread.start()
    base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        await until_ready(base_url, thread)
        yield base_url
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join)
        listener.close()


async def until_ready(base_url: str, thread: threading.Thread) -> None:
    """Poll /health/ready until the server answers (the only waiting this test does)."""
    deadline = asyncio.get_running_loop().time() + 30
    async with httpx.AsyncClient(base_url=base_url) as http:
        while asyncio.get_running_loop().time() < deadline:
            assert thread.is_alive(), "the server stopped while starting"
            try:
                if (await http.get("/health/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.02)
    raise AssertionError("the server did not become ready")


def sdk_tracker(ingester_: Ingester, base_url: str) -> AgentCostTracker:
    """The SDK pointed at our server. Our project ids are no UUIDs: the SDK warns, then sends them."""
    tracker = AgentCostTracker()
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"AgentCost: project_id=.* is not a UUID", category=RuntimeWarning
        )
        tracker.init(
            api_key=ingester_.key,
            project_id=str(ingester_.project_id),
            base_url=base_url,
            batch_size=100,
            flush_interval=0.1,  # its flush thread's tick, so that shutdown() joins it at once
            default_agent_name="support",
        )
    return tracker


async def test_the_published_agentcost_sdk_reports_into_the_running_app(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    who = await ingester(sessionmaker, settings)
    completions, messages = stand_in_provider_sdks(monkeypatch)
    async with serving(settings) as base_url:
        tracker = sdk_tracker(who, base_url)
        try:
            with (
                tracker.metadata(user_id="u-42", tags=["beta"]),
                tracker.workflow("ticket", trace_id="trace-1"),
            ):
                with tracker.agent("classifier"), tracker.step("classify"):
                    completions().create(model="gpt-4o", messages=[{"role": "user", "content": "Refund?"}])
                with tracker.tool("search"):
                    messages().create(
                        model="claude-3-5-haiku-latest",
                        max_tokens=100,
                        messages=[{"role": "user", "content": "Find the order"}],
                    )
                tracker.outcome(True, label="resolved")
        finally:
            await asyncio.to_thread(tracker.shutdown)  # sends what is batched and waits for it
        assert tracker.get_stats()["batcher"]["events_sent"] == 3  # two calls and the outcome
    gpt, haiku = await stored_events(sessionmaker, who.project_id)
    assert (gpt.model, gpt.agent_name, gpt.input_tokens, gpt.cached_tokens, gpt.output_tokens) == (
        "gpt-4o",
        "classifier",
        1_200,
        1_000,
        300,
    )
    assert (gpt.cost_nanos, gpt.price_source, gpt.matched_provider) == (
        200 * 2_500 + 1_000 * 1_250 + 300 * 10_000,
        SOURCE,
        "openai",
    )
    # The SDK folds Anthropic's cache reads into input_tokens and keeps cache writes apart, as we count them.
    assert (haiku.input_tokens, haiku.cached_tokens, haiku.cache_write_tokens, haiku.agent_name) == (
        3_200,
        3_000,
        500,
        "support",
    )
    assert haiku.cost_nanos == 200 * 800 + 3_000 * 80 + 500 * 1_000 + 400 * 4_000
    assert (gpt.trace_id, haiku.trace_id, gpt.workflow, haiku.tool_name) == (
        "trace-1",
        "trace-1",
        "ticket",
        "search",
    )
    assert (gpt.user_id, gpt.tags, gpt.client_cost_nanos is not None) == ("u-42", ["beta"], True)
    async with transaction(sessionmaker) as session:
        outcome = await session.scalar(select(LLMOutcome).where(LLMOutcome.trace_id == "trace-1"))
        assert outcome is not None and (outcome.success, outcome.label) == (True, "resolved")
    assert await assert_rollups_equal_raw_sums(sessionmaker, who) == 2
