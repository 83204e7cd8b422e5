"""`cicosts reprice`: a project's calls over some days priced again with the prices known now."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.identity.service import ensure_user_with_organization
from cicosts.identity.tokens import create_access_token
from cicosts.kit.money import format_usd, nanos_to_json_usd
from cicosts.llm.prices.repricing import reprice_project
from cicosts.llm.pricing import catalogue
from cicosts.models import LedgerHourly, LLMEvent, LLMProject
from tests.helpers import TestClient
from tests.test_cli import cicosts
from tests.test_llm_prices import bearer, call, priced, rollups_match_events, send

WINDOW = {"start": "2025-12-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"}  # every call of these tests
BEFORE, FIRST, MIDDLE, LAST, AFTER = (
    "2025-12-31T23:59:59Z",
    "2026-01-01T00:00:00Z",
    "2026-01-15T12:00:00Z",
    "2026-01-31T23:59:59Z",
    "2026-02-01T00:00:00Z",
)
# gpt-4o-mini at $1 input, $0.50 cached input and $10 output per million tokens, for `call`'s tokens:
# 800k uncached input, 200k cached and 100k output.
CUSTOM_COST = 800_000_000 + 100_000_000 + 1_000_000_000


@dataclass
class Acme:
    token: str
    project_id: int
    project_key: str
    other_project_key: str


@pytest.fixture
async def acme(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> Acme:
    async with transaction(sessionmaker) as session:
        owner, _ = await ensure_user_with_organization(session, "owner-user", "acme")
    token = create_access_token(owner.id, settings)
    projects: list[dict[str, Any]] = []
    for name in ("agents", "other"):
        response = await client.http.post("/v1/projects", json={"name": name}, headers=bearer(token))
        assert response.status_code == 201, response.text
        projects.append(response.json())
    return Acme(token, projects[0]["id"], projects[0]["api_key"], projects[1]["api_key"])


async def reprice(
    settings: Settings, start: str, end: str, *, org: str = "acme", project: str = "agents"
) -> tuple[int, str]:
    """`cicosts reprice` run as a person runs it; its exit code and output."""
    return await cicosts(
        settings, "reprice", "--org", org, "--project", project, "--start", start, "--end", end
    )


async def events_by_id(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, LLMEvent]:
    async with transaction(sessionmaker) as session:
        return {str(e.event_id): e for e in await session.scalars(select(LLMEvent))}


async def totals_agree_with_the_calls(
    client: TestClient, token: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """The analytics and the ledger say what the stored calls add up to, and no rollup row is left at zero."""
    events = list((await events_by_id(sessionmaker)).values())
    headers = bearer(token)
    overview = (await client.http.get("/v1/analytics/overview", params=WINDOW, headers=headers)).json()
    assert overview["total_calls"] == len(events)
    assert overview["total_cost"] == nanos_to_json_usd(sum(e.cost_nanos for e in events))
    assert overview["unpriced_calls"] == sum(e.unpriced for e in events)

    expected: dict[tuple[str, str], Counter[str]] = {}
    for event in events:
        row = expected.setdefault((event.model, event.matched_provider or event.provider or ""), Counter())
        row.update(calls=1, cost=event.cost_nanos, unpriced=int(event.unpriced))
    models = (await client.http.get("/v1/analytics/models", params=WINDOW, headers=headers)).json()
    assert {
        (row["model"], row["provider"]): (row["calls"], row["cost"], row["unpriced_calls"])
        for row in models["models"]
    } == {
        key: (sums["calls"], nanos_to_json_usd(sums["cost"]), sums["unpriced"])
        for key, sums in expected.items()
    }

    async with transaction(sessionmaker) as session:
        names = {
            project_id: name
            for project_id, name in await session.execute(select(LLMProject.id, LLMProject.name))
        }
        ledger = await session.execute(
            select(
                LedgerHourly.sub_account,
                func.sum(LedgerHourly.record_count),
                func.sum(LedgerHourly.billed_nanos),
                func.sum(LedgerHourly.unpriced_count),
            )
            .where(LedgerHourly.source == "llm")
            .group_by(LedgerHourly.sub_account)
        )
        by_project = {name: (int(n), int(cost), int(unpriced)) for name, n, cost, unpriced in ledger}
    per_project: dict[str, Counter[str]] = {}
    for event in events:
        per_project.setdefault(names[event.project_id], Counter()).update(
            calls=1, cost=event.cost_nanos, unpriced=int(event.unpriced)
        )
    assert by_project == {
        name: (sums["calls"], sums["cost"], sums["unpriced"]) for name, sums in per_project.items()
    }
    await rollups_match_events(sessionmaker)


async def a_month_of_calls(client: TestClient, acme: Acme) -> None:
    """gpt-4o-mini calls on both sides of January and inside it, an unknown model, and another project's."""
    await send(
        client,
        acme.project_key,
        *(call("gpt-4o-mini", provider="openai", event_id=at, timestamp=at) for at in (BEFORE, AFTER)),
        *(call("gpt-4o-mini", provider="openai", event_id=at, timestamp=at) for at in (FIRST, MIDDLE, LAST)),
        call("mystery-model", event_id="mystery", timestamp=MIDDLE),
    )
    await send(
        client,
        acme.other_project_key,
        call("gpt-4o-mini", provider="openai", event_id="other", timestamp=MIDDLE),
    )


async def test_reprice_gives_the_days_calls_a_custom_price_set_in_the_past(
    client: TestClient, acme: Acme, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await a_month_of_calls(client, acme)
    before = await events_by_id(sessionmaker)
    january = [before[at] for at in (FIRST, MIDDLE, LAST)]
    assert all(e.price_source == catalogue.CATALOGUE_SOURCE and e.cost_nanos > 0 for e in january)
    await priced(
        client,
        acme.token,
        model="gpt-4o-mini",
        input=1,
        output=10,
        cache_read="0.5",
        effective_from="2025-12-01T00:00:00Z",
    )

    code, output = await reprice(settings, "2026-01-01", "2026-01-31")

    assert code == 0, output
    was = format_usd(sum(e.cost_nanos for e in january))
    assert (
        f"Repriced 3 of 4 calls of project agents from 2026-01-01 to 2026-01-31: cost {was} -> $5.700000;"
        " 1 still unpriced." in output
    )
    after = await events_by_id(sessionmaker)
    for at in (FIRST, MIDDLE, LAST):
        assert (after[at].cost_nanos, after[at].cache_savings_nanos) == (CUSTOM_COST, 100_000_000)
        assert (after[at].price_source, after[at].matched_provider) == ("custom:org", "openai")
    for kept in (BEFORE, AFTER, "other"):  # outside the days, or another project's
        assert after[kept].price_source == catalogue.CATALOGUE_SOURCE
        assert after[kept].cost_nanos == before[kept].cost_nanos != CUSTOM_COST
    assert after["mystery"].unpriced and after["mystery"].cost_nanos == 0
    await totals_agree_with_the_calls(client, acme.token, sessionmaker)


async def test_reprice_twice_changes_nothing_the_second_time(
    client: TestClient, acme: Acme, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await a_month_of_calls(client, acme)
    await priced(client, acme.token, model="gpt-4o-mini", input=1, output=10, effective_from=BEFORE)
    code, output = await reprice(settings, "2025-12-31", "2026-02-01")
    assert code == 0 and "Repriced 5 of 6 calls of project agents" in output, output
    repriced = {key: (e.cost_nanos, e.price_source) for key, e in (await events_by_id(sessionmaker)).items()}

    # The project named by its id this time.
    code, output = await reprice(settings, "2025-12-31", "2026-02-01", project=str(acme.project_id))

    assert code == 0, output
    assert (
        "Repriced 0 of 6 calls of project agents from 2025-12-31 to 2026-02-01:"
        " cost $10.000000 -> $10.000000; 1 still unpriced."
        in output  # five calls at $2 (cache read as input)
    )
    again = {key: (e.cost_nanos, e.price_source) for key, e in (await events_by_id(sessionmaker)).items()}
    assert again == repriced
    await totals_agree_with_the_calls(client, acme.token, sessionmaker)


async def test_reprice_after_a_catalogue_upgrade_moves_calls_to_the_provider_it_names(
    client: TestClient,
    acme: Acme,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with monkeypatch.context() as older:
        older.setattr(catalogue, "find", lambda model, provider: None)  # a catalogue without the model
        result = await send(
            client, acme.project_key, call("gpt-4o-mini", event_id="unnamed", timestamp=MIDDLE)
        )
    assert result["events_unpriced"] == 1
    await send(client, acme.other_project_key, call("gpt-4o-mini", event_id="reference", timestamp=MIDDLE))

    code, output = await reprice(settings, "2026-01-15", "2026-01-15")

    assert code == 0, output
    assert "Repriced 1 of 1 calls of project agents" in output and "; 0 still unpriced." in output
    events = await events_by_id(sessionmaker)
    repriced, reference = events["unnamed"], events["reference"]
    assert not repriced.unpriced and repriced.matched_provider == "openai"
    assert repriced.cost_nanos == reference.cost_nanos > 0
    models = (await client.http.get("/v1/analytics/models", params=WINDOW, headers=bearer(acme.token))).json()
    assert {(row["model"], row["provider"], row["calls"]) for row in models["models"]} == {
        ("gpt-4o-mini", "openai", 2)  # the provider-less row the unpriced call was counted in is gone
    }
    await totals_agree_with_the_calls(client, acme.token, sessionmaker)


async def test_a_call_nothing_prices_any_more_is_stored_unpriced_as_ingestion_would_store_it(
    client: TestClient,
    acme: Acme,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await send(client, acme.project_key, call("gpt-4o-mini", event_id="dropped", timestamp=MIDDLE))
    monkeypatch.setattr(catalogue, "find", lambda model, provider: None)  # a catalogue without the model
    async with transaction(sessionmaker) as session:
        project = await session.get(LLMProject, acme.project_id)
        assert project is not None
        january = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
        result = await reprice_project(session, project, *january)

    assert (result.examined, result.repriced, result.still_unpriced) == (1, 1, 1)
    assert result.cost_before_nanos > 0 and result.cost_after_nanos == 0
    dropped = (await events_by_id(sessionmaker))["dropped"]
    assert dropped.unpriced and dropped.cost_nanos == 0 and dropped.matched_provider is None
    await totals_agree_with_the_calls(client, acme.token, sessionmaker)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--org", "initech", "--project", "agents"), "no organization 'initech'"),
        (("--org", "acme", "--project", "chatbot"), "organization acme has no project 'chatbot'"),
        (("--org", "acme", "--project", "987654"), "organization acme has no project '987654'"),
    ],
)
async def test_reprice_refuses_an_unknown_organization_or_project(
    acme: Acme, settings: Settings, arguments: tuple[str, ...], message: str
) -> None:
    code, output = await cicosts(
        settings, "reprice", *arguments, "--start", "2026-01-01", "--end", "2026-01-31"
    )
    assert code == 1 and message in output, output


async def test_reprice_refuses_an_end_before_the_start(acme: Acme, settings: Settings) -> None:
    code, output = await reprice(settings, "2026-01-31", "2026-01-01")
    assert code == 1 and "end: 2026-01-01 is before start 2026-01-31" in output, output


def test_dollars_are_printed_to_the_micro_dollar_rounding_half_to_even() -> None:
    assert format_usd(12_345_678_000) == "$12.345678"
    assert format_usd(1_234_567_890_123) == "$1,234.567890"
    assert (format_usd(1_500), format_usd(2_500), format_usd(2_501)) == (
        "$0.000002",
        "$0.000002",
        "$0.000003",
    )
    assert (format_usd(0), format_usd(-400), format_usd(-1_500)) == ("$0.000000", "$0.000000", "-$0.000002")
