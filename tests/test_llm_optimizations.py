"""GET /v1/optimizations and /v1/optimizations/summary: savings found in an organization's own LLM calls.

Every expected saving is worked out here by hand from the genai-prices prices (checked against the pinned
catalogue first), from calls sent through POST /v1/events/batch.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.identity.api_keys.service import create_api_key
from cicosts.identity.service import ensure_user_with_organization
from cicosts.identity.tokens import create_access_token
from cicosts.kit.money import nanos_to_json_usd
from cicosts.kit.periods import utc_now
from cicosts.llm.optimizations.ladder import LADDERS
from cicosts.llm.optimizations.rules import monthly, priority, summed_cost
from cicosts.llm.optimizations.schemas import Priority
from cicosts.llm.optimizations.service import combined_saving, monthly_of, period_for
from cicosts.llm.pricing import catalogue
from cicosts.llm.pricing.rates import TokenUsage
from cicosts.models import LLMCustomPrice, LLMProject
from tests.helpers import TestClient, iso

NANOS_PER_USD = 10**9
TYPES = {"model_downgrade", "prompt_caching", "error_waste", "runaway_agents"}


@dataclass(frozen=True)
class Project:
    key: str
    project_id: int
    org_id: int
    member_token: str


async def project(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    org: str = "acme",
    user: str = "dev",
    name: str = "support-bot",
) -> Project:
    async with transaction(sessionmaker) as session:
        member, organization = await ensure_user_with_organization(session, user, org)
        row = LLMProject(org_id=organization.id, name=name, created_by=member.id)
        session.add(row)
        await session.flush()
        _, key = await create_api_key(
            session,
            org_id=organization.id,
            name="sdk",
            scopes=["ingest"],
            created_by=member.id,
            project_id=row.id,
        )
    return Project(key, row.id, organization.id, create_access_token(member.id, settings))


def call(
    agent: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    at: datetime,
    provider: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    return {
        "agent_name": agent,
        "model": model,
        "provider": provider or catalogue.find(model, None).provider_id,  # type: ignore[union-attr]
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "timestamp": iso(at),
        "success": True,
        **fields,
    }


def ago(days: int, hours: int = 0) -> datetime:
    return utc_now() - timedelta(days=days, hours=hours, minutes=1)


async def send(client: TestClient, key: str, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 1_000):
        response = await client.http.post(
            "/v1/events/batch",
            json={"events": events[start : start + 1_000]},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["events_rejected"] == 0, response.text
        assert response.json()["events_unpriced"] == 0, response.text


async def optimizations(client: TestClient, token: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/v1/optimizations", token, **params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["optimizations"]
    return found


def of_type(found: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [item for item in found if item["type"] == kind]


def rates(provider: str, model: str) -> tuple[Decimal | None, ...]:
    """USD per million tokens today: input, output, cache read, cache write."""
    (row,) = [m for m in catalogue.catalogue_models() if m.provider == provider and m.model == model]
    assert not row.tiered
    return row.input_mtok, row.output_mtok, row.cache_read_mtok, row.cache_write_mtok


def nanos(tokens_times_usd_per_mtok: Decimal | int) -> int:
    """Tokens times a price per million tokens, in nanodollars (exact for these figures)."""
    value = Decimal(tokens_times_usd_per_mtok) * 1000
    assert value == value.to_integral_value()
    return int(value)


def usd(value: int) -> float:
    return nanos_to_json_usd(value)


def test_the_hand_computed_prices_are_the_catalogues() -> None:
    assert rates("openai", "gpt-4o") == (Decimal("2.5"), Decimal(10), Decimal("1.25"), None)
    assert rates("openai", "gpt-4o-mini") == (Decimal("0.15"), Decimal("0.6"), Decimal("0.075"), None)
    assert rates("anthropic", "claude-3-5-haiku-latest") == (
        Decimal("0.8"),
        Decimal(4),
        Decimal("0.08"),
        Decimal(1),
    )
    assert catalogue.find("gpt-4o-mini", "openai").model.context_window == 128_000  # type: ignore[union-attr]


# --- the ladder ------------------------------------------------------------------------------------------


def test_every_ladder_id_is_in_the_catalogue_for_its_provider_and_each_rung_is_cheaper() -> None:
    listed = {(m.provider, m.model): m for m in catalogue.catalogue_models()}
    for provider, models in LADDERS:
        for position, model in enumerate(models):
            match = catalogue.find(model, provider)
            assert match is not None, model
            assert (match.provider_id, match.model_id) == (provider, model)
            if position:  # an alternative: its context window decides what fits
                assert match.model.context_window, model
        for upper, lower in itertools.pairwise(models):
            above, below = listed[(provider, upper)], listed[(provider, lower)]
            assert above.input_mtok is not None and above.output_mtok is not None
            assert below.input_mtok is not None and below.output_mtok is not None
            assert below.input_mtok < above.input_mtok, (provider, upper, lower)
            assert below.output_mtok < above.output_mtok, (provider, upper, lower)


# --- model downgrade -------------------------------------------------------------------------------------


async def test_an_agent_with_short_answers_is_offered_the_cheaper_model_of_its_family(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    acme = await project(sessionmaker, settings)
    events = [
        call("triage", "gpt-4o", 2_000, 300, ago(1 + i % 2), cached_tokens=1_000, input_hash=f"h{i}")
        for i in range(10)
    ]
    await send(client, acme.key, events)

    # gpt-4o: 10,000 uncached input at $2.50, 10,000 cached at $1.25 and 3,000 output at $10 per MTok;
    # gpt-4o-mini: the same tokens at $0.15, $0.075 and $0.60.
    current = nanos(10_000 * Decimal("2.5") + 10_000 * Decimal("1.25") + 3_000 * 10)
    cheaper = nanos(10_000 * Decimal("0.15") + 10_000 * Decimal("0.075") + 3_000 * Decimal("0.6"))
    assert (current, cheaper) == (67_500_000, 4_050_000)
    saving = current - cheaper

    found = await optimizations(client, acme.key)
    assert found == [
        {
            "type": "model_downgrade",
            "title": "Try gpt-4o-mini for triage",
            "description": found[0]["description"],
            "agent_name": "triage",
            "model": "gpt-4o",
            "alternative_model": "gpt-4o-mini",
            "estimated_savings_monthly": usd(saving),
            "estimated_savings_percent": 94.0,
            "priority": "low",
            "evidence": {
                "provider": "openai",
                "calls": 10,
                "input_tokens": 20_000,
                "cached_tokens": 10_000,
                "cache_write_tokens": 0,
                "output_tokens": 3_000,
                "reasoning_tokens": 0,
                "avg_output_tokens": 300.0,
                "largest_call_tokens": 2_300,
                "alternative_context_window": 128_000,
                "cost_at_model_prices": usd(current),
                "cost_at_alternative_prices": usd(cheaper),
                "spend": usd(current),
                "saving_in_period": usd(saving),
            },
            "action_items": found[0]["action_items"],
        }
    ]
    assert "300.0 output tokens on average" in found[0]["description"]
    assert "$0.0675 at gpt-4o's prices and $0.00405 at gpt-4o-mini's" in found[0]["description"]
    assert found[0]["action_items"]

    # A week's saving is scaled to 30 days, rounded half to even to the nanodollar.
    week = await optimizations(client, acme.key, days=7)
    assert week[0]["estimated_savings_monthly"] == usd(monthly(saving, 7)) == usd(271_928_571)


async def test_no_downgrade_without_evidence_the_cheaper_model_fits(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    acme = await project(sessionmaker, settings)
    async with transaction(sessionmaker) as session:
        session.add(
            LLMCustomPrice(
                org_id=acme.org_id,
                model="gpt-4.1",
                provider="openai",
                effective_from=utc_now() - timedelta(days=60),
                input_nanos_per_mtok=1_000_000_000,
                output_nanos_per_mtok=4_000_000_000,
            )
        )
    events = [
        *[call("essayist", "gpt-4o", 1_000, 1_000, ago(1)) for _ in range(10)],  # long answers
        *[call("rare", "gpt-4o", 1_000, 100, ago(1)) for _ in range(9)],  # too few calls to judge
        *[call("bulky", "gpt-4o", 1_000, 100, ago(1)) for _ in range(9)],
        call("bulky", "gpt-4o", 130_000, 100, ago(1)),  # larger than gpt-4o-mini's context window
        *[call("smallest", "gpt-4o-mini", 1_000, 100, ago(1)) for _ in range(10)],  # nothing cheaper
        *[call("negotiated", "gpt-4.1", 1_000, 100, ago(1)) for _ in range(10)],  # a custom price
        *[call("elsewhere", "gpt-4o", 1_000, 100, ago(31)) for _ in range(10)],  # before the period
    ]
    await send(client, acme.key, events)
    assert await optimizations(client, acme.key) == []
    fitting = [call("elsewhere", "gpt-4o", 1_000, 100, ago(1)) for _ in range(10)]
    await send(client, acme.key, fitting)
    assert [(o["type"], o["agent_name"]) for o in await optimizations(client, acme.key)] == [
        ("model_downgrade", "elsewhere")
    ]


def test_summed_tokens_are_priced_as_the_calls_were_and_never_across_a_price_tier() -> None:
    at = utc_now()
    match = catalogue.find("gemini-2.5-pro", "google")
    assert match is not None
    calls = [TokenUsage(150_000, 900, 20_000), TokenUsage(3_000, 200)]
    summed = TokenUsage(153_000, 1_100, 20_000)
    one_by_one = sum(match.cost(usage, at)[0] for usage in calls)
    assert abs((summed_cost(match, summed, 150_000, at) or 0) - one_by_one) <= len(calls)
    assert summed_cost(match, summed, 200_001, at) is None  # a call in the dearer tier: sums cannot tell


# --- prompt caching --------------------------------------------------------------------------------------


async def test_prompts_sent_again_and_again_without_cache_reads_are_found(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    acme = await project(sessionmaker, settings)
    events = [
        *[call("writer", "gpt-4o", 5_000, 100, ago(1, i), input_hash="h1") for i in range(4)],
        *[call("writer", "gpt-4o", 2_000, 100, ago(2, i), input_hash="h2") for i in range(3)],
        *[call("writer", "gpt-4o", 5_000, 100, ago(2, i), input_hash="h3") for i in range(2)],  # twice
        *[call("writer", "gpt-4o", 500, 100, ago(2, i), input_hash="h4") for i in range(3)],  # too short
        *[call("writer", "gpt-4o", 3_000, 100, ago(3), input_hash="h5") for _ in range(2)],
        call("writer", "gpt-4o", 3_000, 100, ago(3), input_hash="h5", cached_tokens=2_000),  # a cache read
        *[call("writer", "gpt-4o", 3_000, 100, ago(3)) for _ in range(3)],  # no hash reported
        *[
            call("summarizer", "claude-3-5-haiku-latest", 4_000, 50, ago(1, i), input_hash="a1")
            for i in range(3)
        ],
    ]
    await send(client, acme.key, events)
    found = of_type(await optimizations(client, acme.key), "prompt_caching")

    # writer: h1's last 3 calls and h2's last 2 could have read their 15,000 + 4,000 tokens from the cache,
    # at $1.25 rather than $2.50 per MTok; OpenAI charges nothing more to write the cache.
    writer_saving = nanos(19_000 * (Decimal("2.5") - Decimal("1.25")))
    # summarizer: 8,000 tokens at $0.08 rather than $0.80, but writing the 4,000 once costs $1.00, not $0.80.
    discount = nanos(8_000 * (Decimal("0.8") - Decimal("0.08")))
    premium = nanos(4_000 * (Decimal(1) - Decimal("0.8")))
    assert (writer_saving, discount, premium) == (23_750_000, 5_760_000, 800_000)
    writer_spend = nanos(
        (4 * 5_000 + 3 * 2_000 + 2 * 5_000 + 3 * 500 + 3 * 3_000 + 3 * 3_000) * Decimal("2.5")
        - 2_000 * Decimal("1.25")
        + 18 * 100 * 10
    )
    summarizer_spend = nanos(3 * 4_000 * Decimal("0.8") + 3 * 50 * 4)

    assert [(o["agent_name"], o["estimated_savings_monthly"]) for o in found] == [
        ("writer", usd(writer_saving)),
        ("summarizer", usd(discount - premium)),
    ]
    writer, summarizer = found
    assert writer["model"] == "gpt-4o" and writer["alternative_model"] is None
    assert writer["estimated_savings_percent"] == round(writer_saving * 100 / writer_spend, 1)
    assert writer["evidence"] == {
        "provider": "openai",
        "repeated_prompts": 2,
        "calls": 7,
        "repeated_calls": 5,
        "repeated_input_tokens": 19_000,
        "first_call_input_tokens": 7_000,
        "cache_read_discount": usd(writer_saving),
        "cache_write_premium": 0.0,
        "spend": usd(writer_spend),
        "saving_in_period": usd(writer_saving),
    }
    assert summarizer["model"] == "claude-3-5-haiku-latest"
    assert summarizer["evidence"]["cache_read_discount"] == usd(discount)
    assert summarizer["evidence"]["cache_write_premium"] == usd(premium)
    assert summarizer["evidence"]["spend"] == usd(summarizer_spend)
    assert (
        "would cost $0.00576 less; writing each prompt to the cache once costs $0.0008 more"
        in (summarizer["description"])
    )


# --- error waste -----------------------------------------------------------------------------------------


async def test_what_failed_calls_cost_is_error_waste(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    acme = await project(sessionmaker, settings)
    events = [
        *[call("extractor", "gpt-4o", 1_000, 200, ago(1), success=False) for _ in range(4)],
        call("extractor", "gpt-4o", 1_000, 200, ago(1), success=None, error="rate limited"),
        *[call("extractor", "gpt-4o", 1_000, 200, ago(2)) for _ in range(5)],
        *[call("steady", "gpt-4o", 1_000, 200, ago(2)) for _ in range(5)],
    ]
    await send(client, acme.key, events)
    found = of_type(await optimizations(client, acme.key), "error_waste")

    per_call = nanos(1_000 * Decimal("2.5") + 200 * 10)
    failed = 5 * per_call
    assert failed == 22_500_000
    assert len(found) == 1
    assert found[0] | {"description": "", "action_items": []} == {
        "type": "error_waste",
        "title": "Stop paying for extractor's failed calls",
        "description": "",
        "agent_name": "extractor",
        "model": "gpt-4o",
        "alternative_model": None,
        "estimated_savings_monthly": usd(failed),
        "estimated_savings_percent": 50.0,
        "priority": "low",
        "evidence": {
            "provider": "openai",
            "calls": 10,
            "failed_calls": 5,
            "failure_rate": 50.0,
            "failed_cost": usd(failed),
            "spend": usd(2 * failed),
            "saving_in_period": usd(failed),
        },
        "action_items": [],
    }
    assert "those failed calls cost $0.0225" in found[0]["description"]
    assert any("backoff" in item for item in found[0]["action_items"])


# --- runaway agents --------------------------------------------------------------------------------------


def runaway_calls(agent: str, baseline_days: int, spike_calls: int, spike_input: int) -> list[dict[str, Any]]:
    """10 calls a day of 1,000 input and 100 output tokens ($0.0035 each on gpt-4o), then one day of
    `spike_calls` calls of `spike_input` input and 1,000 output tokens."""
    calls = [
        call(agent, "gpt-4o", 1_000, 100, ago(day)) for day in range(1, baseline_days + 1) for _ in range(10)
    ]
    spike = [call(agent, "gpt-4o", spike_input, 1_000, ago(baseline_days + 1)) for _ in range(spike_calls)]
    return calls + spike


async def test_an_agent_spending_far_more_per_call_than_usual_is_a_runaway(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    acme = await project(sessionmaker, settings)
    events = runaway_calls("planner", 8, 40, 100_000)
    await send(client, acme.key, events)
    found = of_type(await optimizations(client, acme.key), "runaway_agents")

    usual = nanos(1_000 * Decimal("2.5") + 100 * 10)  # the median of 9 days' cost per call: 8 are usual
    spike = 40 * nanos(100_000 * Decimal("2.5") + 1_000 * 10)
    saving = spike - 40 * usual
    spend = 80 * usual + spike
    assert (usual, spike, saving) == (3_500_000, 10_400_000_000, 10_260_000_000)
    assert len(found) == 1
    runaway = found[0]
    assert runaway["agent_name"] == "planner" and runaway["model"] == "gpt-4o"
    assert runaway["estimated_savings_monthly"] == usd(saving)
    assert runaway["estimated_savings_percent"] == 96.1  # 10.26 / 10.68
    assert runaway["priority"] == "medium"
    assert runaway["evidence"] == {
        "days_with_calls": 9,
        "baseline_cost_per_call": usd(usual),
        "threshold_multiple": 3,
        "runaway_days": [
            {
                "day": events[-1]["timestamp"][:10],  # the UTC day of the spike
                "calls": 40,
                "cost": usd(spike),
                "cost_per_call": usd(spike // 40),
                "excess_cost": usd(saving),
            }
        ],
        "models": ["gpt-4o"],
        "spend": usd(spend),
        "saving_in_period": usd(saving),
    }


async def test_no_runaway_without_a_week_of_baseline_or_for_a_small_blip(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    acme = await project(sessionmaker, settings)
    # sparse: 5 usual days and a spike, 6 days in all; blip: 8 usual days and a day 7 times dearer per
    # call, but only $0.225 above the usual.
    await send(
        client, acme.key, runaway_calls("sparse", 5, 40, 100_000) + runaway_calls("blip", 8, 10, 10_000)
    )
    assert of_type(await optimizations(client, acme.key), "runaway_agents") == []


# --- the summary -----------------------------------------------------------------------------------------


async def test_the_summary_counts_calls_two_optimizations_save_on_once(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    acme = await project(sessionmaker, settings)
    # planner's calls (from the runaway test) fit gpt-4o-mini too: two optimizations on the same calls.
    await send(client, acme.key, runaway_calls("planner", 8, 40, 100_000))
    await send(client, acme.key, [call("extractor", "gpt-4o", 1_000, 200, ago(1), success=False)])
    found = await optimizations(client, acme.key)
    assert [(o["type"], o["agent_name"]) for o in found] == [
        ("runaway_agents", "planner"),
        ("model_downgrade", "planner"),
        ("error_waste", "extractor"),
    ]

    planner_spend = 80 * 3_500_000 + 10_400_000_000
    # 4,080,000 input and 48,000 output tokens, at gpt-4o's and gpt-4o-mini's prices
    downgrade = planner_spend - nanos(4_080_000 * Decimal("0.15") + 48_000 * Decimal("0.6"))
    runaway = 10_260_000_000
    failed = nanos(1_000 * Decimal("2.5") + 200 * 10)
    assert found[1]["estimated_savings_monthly"] == usd(downgrade) == 10.0392
    combined = planner_spend * (
        1 - (1 - Fraction(downgrade, planner_spend)) * (1 - Fraction(runaway, planner_spend))
    )
    total = combined + failed
    spend = planner_spend + failed

    response = await client.get("/v1/optimizations/summary", acme.member_token, org="acme")
    assert response.status_code == 200, response.text
    summary = response.json()
    expected_total = usd(round(total))  # days=30: the period's figure is the month's
    assert summary == {
        "total_spend": usd(spend),
        "total_estimated_savings_monthly": expected_total,
        "savings_percent": round(float(total * 100 / spend), 1),
        "by_type": {
            "model_downgrade": {"count": 1, "estimated_savings_monthly": usd(downgrade)},
            "prompt_caching": {"count": 0, "estimated_savings_monthly": 0.0},
            "error_waste": {"count": 1, "estimated_savings_monthly": usd(failed)},
            "runaway_agents": {"count": 1, "estimated_savings_monthly": usd(runaway)},
        },
        "top": found,
        "period_days": 30,
    }
    assert max(o["estimated_savings_monthly"] for o in found) <= expected_total <= summary["total_spend"]
    assert sum(o["estimated_savings_monthly"] for o in found) > expected_total  # naive sum double counts

    # Ten days hold the same calls: the same savings, scaled to 30 days.
    ten_days = (await client.get("/v1/optimizations/summary", acme.key, days=10)).json()
    assert ten_days["total_estimated_savings_monthly"] == usd(monthly_of(total, 10))
    assert ten_days["by_type"]["error_waste"]["estimated_savings_monthly"] == usd(failed * 3)
    assert ten_days["period_days"] == 10


async def test_no_calls_no_optimizations(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    acme = await project(sessionmaker, settings)
    before = period_for(30, utc_now())
    response = await client.get("/v1/optimizations", acme.key)
    after = period_for(30, utc_now())
    assert response.status_code == 200
    body = response.json()
    assert body["optimizations"] == [] and body["period_days"] == 30
    period = (datetime.fromisoformat(body["period_start"]), datetime.fromisoformat(body["period_end"]))
    assert period in {(before.start, before.end), (after.start, after.end)}  # whole hours, this one's end
    assert period[1] - period[0] == timedelta(days=30) and period[1].minute == 0
    summary = (await client.get("/v1/optimizations/summary", acme.key)).json()
    assert summary == {
        "total_spend": 0.0,
        "total_estimated_savings_monthly": 0.0,
        "savings_percent": 0.0,
        "by_type": {kind: {"count": 0, "estimated_savings_monthly": 0.0} for kind in TYPES},
        "top": [],
        "period_days": 30,
    }


async def test_days_must_be_from_1_to_90(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    acme = await project(sessionmaker, settings)
    for path in ("/v1/optimizations", "/v1/optimizations/summary"):
        for days in (0, 91, "week"):
            response = await client.get(path, acme.key, days=days)
            assert response.status_code == 422, (path, days)
            assert response.json()["detail"].startswith("days:")
        assert (await client.get(path, acme.key, days=90)).status_code == 200


# --- who sees what ---------------------------------------------------------------------------------------


async def test_optimizations_are_read_within_the_organization_and_project(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    acme = await project(sessionmaker, settings)
    other_project = await project(sessionmaker, settings, name="billing-bot")
    globex = await project(sessionmaker, settings, org="globex", user="eve")
    await send(client, acme.key, [call("triage", "gpt-4o", 2_000, 300, ago(1)) for _ in range(10)])
    await send(client, acme.key, [call("triage", "gpt-4o", 2_000, 300, ago(1), success=False)])

    mine = await optimizations(client, acme.key)
    assert {o["type"] for o in mine} == {"model_downgrade", "error_waste"}
    assert await optimizations(client, acme.member_token, org="acme") == mine
    assert await optimizations(client, acme.member_token, project_id=acme.project_id) == mine
    # Another project of the same organization, and another organization, see none of it.
    assert await optimizations(client, other_project.key) == []
    assert await optimizations(client, acme.member_token, project_id=other_project.project_id) == []
    assert await optimizations(client, globex.key) == []
    assert await optimizations(client, globex.member_token) == []
    summary = (await client.get("/v1/optimizations/summary", globex.key)).json()
    assert summary["total_spend"] == 0.0 and summary["top"] == []
    for path in ("/v1/optimizations", "/v1/optimizations/summary"):
        denied: list[httpx.Response] = [
            await client.get(path, globex.key, project_id=acme.project_id),
            await client.get(path, globex.member_token, org="acme"),
            await client.get(path, globex.member_token, project_id=acme.project_id),
            await client.get(path, acme.key, project_id=other_project.project_id),
        ]
        assert [r.status_code for r in denied] == [403, 403, 403, 403], [r.text for r in denied]
        assert (await client.get(path)).status_code == 401


# --- the arithmetic --------------------------------------------------------------------------------------


def test_priority_and_monthly_figures() -> None:
    assert priority(100 * NANOS_PER_USD) is Priority.HIGH
    assert priority(100 * NANOS_PER_USD - 1) is Priority.MEDIUM
    assert priority(10 * NANOS_PER_USD) is Priority.MEDIUM
    assert priority(10 * NANOS_PER_USD - 1) is Priority.LOW
    assert monthly(7, 7) == 30
    assert monthly(1, 60) == 0 and monthly(3, 60) == 2  # 0.5 and 1.5: half to even
    assert monthly_of(Fraction(1, 3), 10) == 1


Keys = st.sampled_from([("a", "gpt-4o", "openai"), ("a", "gpt-4o-mini", "openai"), ("b", "gpt-4o", "openai")])


@st.composite
def suggestion_sets(draw: st.DrawFn) -> tuple[dict[tuple[str, str, str], int], list[dict[Any, Fraction]]]:
    keys = draw(st.sets(Keys, min_size=1))
    spends = {key: draw(st.integers(min_value=1, max_value=10**13)) for key in keys}
    suggestions = []
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        covered = draw(st.sets(st.sampled_from(sorted(keys)), min_size=1))
        saving = {}
        for key in covered:
            share = draw(st.fractions(min_value=0, max_value=1, max_denominator=10**6))
            saving[key] = share * spends[key]
        suggestions.append(saving)
    return spends, suggestions


@given(suggestion_sets(), st.integers(min_value=1, max_value=90))
def test_combined_savings_never_exceed_the_spend_nor_fall_below_the_largest_suggestion(
    drawn: tuple[dict[tuple[str, str, str], int], list[dict[Any, Fraction]]], days: int
) -> None:
    spends, suggestions = drawn
    total = combined_saving(spends, suggestions)
    largest = max(sum(saving.values(), Fraction(0)) for saving in suggestions)
    assert largest <= total <= sum(spends.values())
    assert monthly_of(largest, days) <= monthly_of(total, days) <= monthly(sum(spends.values()), days)
    if len(suggestions) == 1:
        assert total == largest
