"""The public CI costs API (/v1/costs*, /v1/workflows): figures, time zones, ranges and the envelope."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.app import create_app
from cicosts.ci.costs import service
from cicosts.ci.costs.repository import HourlyCost
from cicosts.ci.costs.schemas import Granularity
from cicosts.ci.costs.service import Selection
from cicosts.ci.dashboard.repository import Scope
from cicosts.ci.dashboard.service import DashboardView, view_of
from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.identity.api_keys.service import create_api_key
from cicosts.identity.service import ensure_user_with_organization
from cicosts.kit.date_range import DateRange
from cicosts.kit.periods import local_today, utc_now
from cicosts.models import Organization, Repository
from cicosts.worker.runner import Worker
from tests.helpers import TestClient, account, at, job_event, member_token, next_id, repository, run_event

OWNER = account("acme", 4242)
API = repository("api", private=True, repo_id=801, owner=OWNER)
SDK = repository("sdk", private=False, repo_id=802, owner=OWNER)
WEEK = {"start_date": "2026-03-09", "end_date": "2026-03-15"}


async def ship(
    client: TestClient,
    *,
    repo: dict[str, Any],
    workflow: str,
    created: datetime,
    seconds: int,
    labels: list[str],
    conclusion: str = "success",
) -> None:
    """A completed run of one job that starts when the run is created and lasts `seconds`."""
    run_id = next_id()
    run = run_event(
        "completed",
        run_id=run_id,
        created=created,
        seconds=seconds,
        workflow=workflow,
        repo=repo,
        conclusion=conclusion,
    )
    await client.deliver("workflow_run", run)
    job = job_event(
        "completed",
        job_id=next_id(),
        run_id=run_id,
        started=created,
        seconds=seconds,
        labels=labels,
        workflow=workflow,
        repo=repo,
        conclusion=conclusion,
    )
    await client.deliver("workflow_job", job)


@pytest.fixture
async def acme(
    client: TestClient, worker: Worker, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> tuple[str, int]:
    """March 2026 at the 2026 rates (Linux $0.006/min, macOS $0.062/min), in UTC unless a test moves it."""
    await ship(
        client,
        repo=API,
        workflow="CI",
        created=at("2026-03-10T10:00:00"),
        seconds=600,
        labels=["ubuntu-latest"],
    )
    await ship(
        client,
        repo=API,
        workflow="Deploy",
        created=at("2026-03-11T10:00:00"),
        seconds=300,
        labels=["macos-latest"],
    )
    await ship(
        client,
        repo=SDK,
        workflow="Docs",
        created=at("2026-03-12T03:00:00"),
        seconds=180,
        labels=["ubuntu-latest"],
    )
    await ship(
        client,
        repo=API,
        workflow="CI",
        created=at("2026-03-16T12:00:00"),
        seconds=120,
        labels=["mystery"],
        conclusion="failure",
    )
    await worker.drain()
    return await member_token(sessionmaker, settings, "alice", "acme")


async def move_to(sessionmaker: async_sessionmaker[AsyncSession], org_id: int, time_zone: str) -> None:
    async with transaction(sessionmaker) as session:
        await session.execute(
            update(Organization).where(Organization.id == org_id).values(time_zone=time_zone)
        )


def data(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"data", "meta"}
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"]
    assert datetime.fromisoformat(body["meta"]["timestamp"]).tzinfo is not None
    return body["data"]


def points(series: dict[str, Any]) -> dict[str, tuple[float, int, int]]:
    return {p["date"]: (p["cost"], p["runs"], p["minutes"]) for p in series["costs"]}


async def test_daily_costs_are_zero_filled_totals_of_the_range(
    client: TestClient, acme: tuple[str, int]
) -> None:
    token, _ = acme
    series = data(await client.get("/v1/costs", token, **WEEK))
    assert points(series) == {
        "2026-03-09": (0.0, 0, 0),
        "2026-03-10": (0.06, 1, 10),
        "2026-03-11": (0.31, 1, 5),
        "2026-03-12": (0.0, 1, 3),  # a public repository's standard runner is free
        "2026-03-13": (0.0, 0, 0),
        "2026-03-14": (0.0, 0, 0),
        "2026-03-15": (0.0, 0, 0),
    }
    assert (series["total_cost"], series["total_runs"], series["total_minutes"]) == (0.37, 3, 18)
    assert (series["start_date"], series["end_date"], series["granularity"]) == (
        "2026-03-09",
        "2026-03-15",
        "day",
    )
    assert series["unpriced_jobs"] == 0


async def test_weeks_and_months_are_buckets_labelled_inside_the_range(
    client: TestClient, acme: tuple[str, int]
) -> None:
    token, _ = acme
    weeks = data(
        await client.get(
            "/v1/costs", token, start_date="2026-03-04", end_date="2026-03-22", granularity="week"
        )
    )
    assert points(weeks) == {
        "2026-03-04": (0.0, 0, 0),
        "2026-03-09": (0.37, 3, 18),
        "2026-03-16": (0.0, 1, 2),
    }
    assert weeks["unpriced_jobs"] == 1  # the unknown runner is counted, never a silent $0
    months = data(
        await client.get(
            "/v1/costs", token, start_date="2026-02-15", end_date="2026-04-10", granularity="month"
        )
    )
    assert points(months) == {
        "2026-02-15": (0.0, 0, 0),
        "2026-03-01": (0.37, 4, 20),
        "2026-04-01": (0.0, 0, 0),
    }


async def test_days_follow_the_organizations_time_zone(
    client: TestClient, acme: tuple[str, int], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    token, org_id = acme
    await move_to(sessionmaker, org_id, "America/Los_Angeles")
    series = data(await client.get("/v1/costs", token, **WEEK))
    # 2026-03-12 03:00 UTC is the evening of the 11th in Los Angeles (PDT, UTC-7).
    assert points(series)["2026-03-11"] == (0.31, 2, 8)
    assert points(series)["2026-03-12"] == (0.0, 0, 0)
    assert series["total_cost"] == 0.37


async def test_repository_and_workflow_filters_narrow_the_series(
    client: TestClient, acme: tuple[str, int]
) -> None:
    token, _ = acme
    assert data(await client.get("/v1/costs", token, repo="acme/sdk", **WEEK))["total_minutes"] == 3
    api = data(await client.get("/v1/costs", token, repo="api", **WEEK))
    assert (api["total_cost"], api["total_runs"]) == (0.37, 2)
    deploy = data(await client.get("/v1/costs", token, workflow="Deploy", **WEEK))
    assert points(deploy)["2026-03-11"] == (0.31, 1, 5) and deploy["total_cost"] == 0.31
    missing = await client.get("/v1/costs", token, repo="nope", **WEEK)
    assert missing.status_code == 404 and "repo" in missing.json()["detail"]
    missing = await client.get("/v1/costs", token, repo="sdk", workflow="Deploy", **WEEK)
    assert missing.status_code == 404 and "workflow" in missing.json()["detail"]


async def test_breakdowns_by_repository_workflow_and_runner(
    client: TestClient, acme: tuple[str, int]
) -> None:
    token, _ = acme
    span = {"start_date": "2026-03-09", "end_date": "2026-03-22"}
    repos = data(await client.get("/v1/costs/by-repository", token, **span))
    assert repos["total_cost"] == 0.37
    assert [
        (r["name"], r["org"], r["cost"], r["runs"], r["pct_of_total"]) for r in repos["repositories"]
    ] == [
        ("api", "acme", 0.37, 3, 100.0),
        ("sdk", "acme", 0.0, 1, 0.0),
    ]
    assert len(data(await client.get("/v1/costs/by-repository", token, limit=1, **span))["repositories"]) == 1
    flows = data(await client.get("/v1/costs/by-workflow", token, **span))["workflows"]
    assert [(w["name"], w["repository"], w["cost"], w["runs"], w["avg_cost"]) for w in flows] == [
        ("Deploy", "acme/api", 0.31, 1, 0.31),
        ("CI", "acme/api", 0.06, 2, 0.03),
        ("Docs", "acme/sdk", 0.0, 1, 0.0),
    ]
    assert flows[0]["avg_duration_minutes"] == 5.0  # each run lasts its job's length
    only_sdk = data(await client.get("/v1/costs/by-workflow", token, repo="sdk", **span))["workflows"]
    assert [w["name"] for w in only_sdk] == ["Docs"]
    runners = data(await client.get("/v1/costs/by-runner", token, **span))
    by_sku = {r["sku"]: r for r in runners["runners"]}
    assert [r["sku"] for r in runners["runners"]] == ["macos", "linux", "unknown"]
    assert (by_sku["linux"]["cost"], by_sku["linux"]["list_cost"], by_sku["linux"]["minutes"]) == (
        0.06,
        0.078,
        13,
    )
    assert by_sku["linux"]["public_repository_savings"] == 0.018
    assert (by_sku["macos"]["cost"], by_sku["macos"]["jobs"]) == (0.31, 1)
    assert by_sku["unknown"]["unpriced_jobs"] == 1
    assert (runners["total_cost"], runners["public_repository_savings"]) == (0.37, 0.018)


async def test_a_repository_recreated_under_the_same_name_counts_once_by_runner(
    client: TestClient, acme: tuple[str, int], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    token, org_id = acme
    span = {"start_date": "2026-03-09", "end_date": "2026-03-22"}
    before = data(await client.get("/v1/costs/by-runner", token, **span))
    async with transaction(sessionmaker) as session:
        for full_name, private in (("acme/api", True), ("acme/sdk", False)):
            name = full_name.split("/")[1]
            session.add(
                Repository(
                    github_repository_id=next_id(),
                    org_id=org_id,
                    name=name,
                    full_name=full_name,
                    private=private,
                    installed=False,
                )
            )
    after = data(await client.get("/v1/costs/by-runner", token, **span))
    assert after == before
    assert (after["total_cost"], after["public_repository_savings"]) == (0.37, 0.018)


async def test_workflows_list_and_detail(client: TestClient, acme: tuple[str, int]) -> None:
    token, _ = acme
    span = {"start_date": "2026-03-09", "end_date": "2026-03-22"}
    page = data(await client.get("/v1/workflows", token, per_page=2, **span))
    assert (page["total"], page["page"], page["per_page"]) == (3, 1, 2)
    deploy, ci = page["workflows"]
    assert (deploy["name"], deploy["cost"], deploy["success_rate"], deploy["last_run_status"]) == (
        "Deploy",
        0.31,
        100.0,
        "success",
    )
    assert (ci["name"], ci["runs"], ci["success_rate"], ci["unpriced_jobs"]) == ("CI", 2, 50.0, 1)
    assert [
        w["name"]
        for w in data(await client.get("/v1/workflows", token, page=2, per_page=2, **span))["workflows"]
    ] == ["Docs"]
    detail = data(await client.get(f"/v1/workflows/{ci['id']}", token, **span))
    assert (detail["name"], detail["repository"], detail["cost"], detail["runs"]) == (
        "CI",
        "acme/api",
        0.06,
        2,
    )
    assert [(j["billable_minutes"], j["cost"], j["sku"]) for j in detail["most_expensive_jobs"]] == [
        (10, 0.06, "linux"),
        (2, 0.0, None),
    ]
    daily = {p["date"]: p["cost"] for p in detail["daily_costs"]}
    assert len(daily) == 14 and daily["2026-03-10"] == 0.06 and sum(daily.values()) == 0.06
    assert (await client.get("/v1/workflows/987654", token, **span)).status_code == 404


@pytest.mark.parametrize(
    ("params", "status", "named"),
    [
        ({"start_date": "2026-03-10", "end_date": "2026-03-09"}, 400, "start_date"),
        ({"start_date": "2026-13-01"}, 422, "start_date"),
        ({"end_date": "yesterday"}, 422, "end_date"),
        ({"granularity": "hour"}, 422, "granularity"),
        ({"start_date": "2025-01-01", "end_date": "2026-01-02"}, 400, "granularity"),
        ({"limit": 0}, 422, "limit"),
    ],
)
async def test_bad_parameters_are_refused_naming_them(
    client: TestClient, acme: tuple[str, int], params: dict[str, str], status: int, named: str
) -> None:
    token, _ = acme
    path = "/v1/costs/by-repository" if "limit" in params else "/v1/costs"
    response = await client.get(path, token, **params)
    assert response.status_code == status, response.text
    assert named in response.json()["detail"]


@pytest.mark.parametrize(
    "path", ["/v1/costs", "/v1/costs/by-runner", "/v1/costs/export", "/v1/cloud/costs/timeseries"]
)
@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"start_date": "2026-03-01", "end_date": "9999-12-31"}, "end_date"),
        ({"start_date": "0001-01-01", "end_date": "2026-03-15"}, "start_date"),
        ({"start_date": "0001-01-01", "end_date": "9999-12-31"}, "end_date"),
    ],
)
async def test_days_far_off_are_refused_naming_them(
    client: TestClient,
    acme: tuple[str, int],
    sessionmaker: async_sessionmaker[AsyncSession],
    path: str,
    params: dict[str, str],
    named: str,
) -> None:
    """East of UTC, local midnight on 0001-01-01 is before datetime.min; 9999-12-31 has no next day."""
    token, org_id = acme
    await move_to(sessionmaker, org_id, "Asia/Tokyo")
    response = await client.get(path, token, **params)
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(named)


async def test_a_year_by_week_is_fine_where_by_day_is_too_long(
    client: TestClient, acme: tuple[str, int]
) -> None:
    token, _ = acme
    series = data(
        await client.get(
            "/v1/costs", token, start_date="2025-01-01", end_date="2026-12-31", granularity="week"
        )
    )
    assert series["total_cost"] == 0.37 and len(series["costs"]) == 105


async def test_default_range_is_the_last_seven_days(client: TestClient, acme: tuple[str, int]) -> None:
    token, _ = acme
    series = data(await client.get("/v1/costs", token))
    today = utc_now().date()
    assert [p["date"] for p in series["costs"]] == [str(today - timedelta(days=6 - i)) for i in range(7)]


async def test_api_keys_default_to_their_organization_and_stay_in_it(
    client: TestClient, acme: tuple[str, int], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, org_id = acme
    async with transaction(sessionmaker) as session:
        _, key = await create_api_key(
            session, org_id=org_id, name="reports", scopes=["read"], created_by=None
        )
        await ensure_user_with_organization(session, "eve", "elsewhere")
    assert data(await client.get("/v1/costs", key, **WEEK))["total_cost"] == 0.37
    assert data(await client.get("/v1/costs", key, org="acme", **WEEK))["total_cost"] == 0.37
    foreign = await client.get("/v1/costs", key, org="elsewhere", **WEEK)
    assert foreign.status_code == 403 and "another organization" in foreign.json()["detail"]
    assert (await client.get("/v1/costs", key, org="nowhere")).status_code == 404


async def test_a_member_of_several_organizations_must_name_one(
    client: TestClient,
    acme: tuple[str, int],
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    token, _ = acme
    assert data(await client.get("/v1/costs", token, **WEEK))["total_cost"] == 0.37
    token, _ = await member_token(sessionmaker, settings, "alice", "second-org")
    ambiguous = await client.get("/v1/costs", token, **WEEK)
    assert ambiguous.status_code == 400 and "org" in ambiguous.json()["detail"]
    assert data(await client.get("/v1/costs", token, org="acme", **WEEK))["total_cost"] == 0.37


async def test_ranges_beyond_the_plans_history_are_capped_and_say_so(
    acme: tuple[str, int], app_with_billing: httpx.AsyncClient
) -> None:
    token, _ = acme
    headers = {"Authorization": f"Bearer {token}"}
    today = local_today(ZoneInfo("UTC"), utc_now())
    response = await app_with_billing.get("/v1/costs", params={"start_date": "2026-01-01"}, headers=headers)
    capped = response.json()["meta"]["capped"]
    first = today - timedelta(days=29)  # the free plan keeps 30 days
    assert capped == {"requested_start": "2026-01-01", "start": str(first), "max_history_days": 30}
    assert data(response)["start_date"] == str(first) and len(data(response)["costs"]) == 30
    recent = await app_with_billing.get("/v1/costs", headers=headers)
    assert recent.json()["meta"]["capped"] is None


@pytest.fixture
async def app_with_billing(settings: Settings) -> Any:
    app = create_app(settings.model_copy(update={"billing_enabled": True}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http
    await app.state.http.aclose()
    await app.state.rate_limiter.close()
    await app.state.engine.dispose()


async def test_summary_compares_each_period_with_the_same_stretch_before(
    acme: tuple[str, int], sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    _, org_id = acme
    now = at("2026-03-11T12:00:00")  # a Wednesday noon
    async with transaction(sessionmaker) as session:
        org = await session.get(Organization, org_id)
        assert org is not None
        summary = await service.cost_summary(session, await view_of(session, org, settings), now)
    assert (summary.today.cost, summary.today.runs) == (0.31, 1)
    assert summary.today.change_pct == round((0.31 - 0.06) * 100 / 0.06, 1)  # yesterday morning: $0.06
    assert (summary.this_week.cost, summary.this_week.runs, summary.this_week.change_pct) == (0.37, 2, None)
    assert (summary.this_month.cost, summary.this_month.runs) == (0.37, 2)
    # 10.5 days have cost $0.37; March has 31.
    assert summary.projected.cost == round(0.37 * 31 / 10.5, 6)
    assert summary.projected.based_on == "current_trend"


async def test_summary_over_http_counts_what_just_ran(
    client: TestClient, worker: Worker, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    token, org_id = await member_token(sessionmaker, settings, "alice", "acme")
    # A zone where it is mid-day, so "a minute ago" is today, this week and this month whenever the test runs.
    zone_name = next(
        z
        for z in ("UTC", "Asia/Tokyo", "America/Los_Angeles")
        if 2 <= utc_now().astimezone(ZoneInfo(z)).hour <= 21
    )
    await move_to(sessionmaker, org_id, zone_name)
    started = utc_now().replace(microsecond=0) - timedelta(minutes=11)
    await ship(client, repo=API, workflow="CI", created=started, seconds=600, labels=["ubuntu-latest"])
    await ship(client, repo=API, workflow="CI", created=started, seconds=60, labels=["mystery"])
    await worker.drain()
    summary = data(await client.get("/v1/costs/summary", token))
    for period in ("today", "this_week", "this_month"):
        assert (summary[period]["cost"], summary[period]["runs"]) == (0.06, 2)
    assert summary["unpriced_jobs"] == 1
    assert summary["projected"]["cost"] >= 0.06


@given(
    hours=st.lists(
        st.tuples(
            st.integers(0, 24 * 120 - 1), st.integers(0, 10**12), st.integers(0, 50), st.integers(0, 10**4)
        ),
        max_size=60,
    ),
    zone_name=st.sampled_from(
        ["UTC", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Chatham", "Europe/London"]
    ),
    granularity=st.sampled_from(list(Granularity)),
    first=st.dates(date(2025, 1, 1), date(2026, 12, 1)),
)
@hypothesis_settings(max_examples=200, deadline=None)
def test_buckets_hold_exactly_the_hours_of_their_days(
    hours: list[tuple[int, int, int, int]], zone_name: str, granularity: Granularity, first: date
) -> None:
    org = Organization(id=1, login="acme", name="acme", time_zone=zone_name)
    dates = DateRange(first, first + timedelta(days=119))
    selection = Selection(DashboardView(org, Scope(1)), dates)
    period = selection.period
    rows = [
        HourlyCost(period.start + timedelta(hours=h), cost, runs, minutes, 0)
        for h, cost, runs, minutes in hours
        if period.start + timedelta(hours=h) < period.end
    ]
    buckets = service.bucketed(rows, selection, granularity)
    labels = sorted(buckets)
    assert labels[0] == first and all(first <= label <= dates.end for label in labels)
    assert [sum(b[i] for b in buckets.values()) for i in range(3)] == [
        sum(r.cost for r in rows),
        sum(r.runs for r in rows),
        sum(r.minutes for r in rows),
    ]
    tz = ZoneInfo(zone_name)
    for label, following in zip(labels, [*labels[1:], dates.end + timedelta(days=1)], strict=True):
        inside = [r for r in rows if label <= r.hour.astimezone(tz).date() < following]
        assert buckets[label] == [
            sum(r.cost for r in inside),
            sum(r.runs for r in inside),
            sum(r.minutes for r in inside),
        ]


@pytest.mark.parametrize("time_zone", ["UTC", "America/Los_Angeles", "Asia/Kolkata"])
async def test_exports_add_up_to_the_costs_of_the_same_range(
    client: TestClient, acme: tuple[str, int], sessionmaker: async_sessionmaker[AsyncSession], time_zone: str
) -> None:
    token, org_id = acme
    await move_to(sessionmaker, org_id, time_zone)
    span = {"start_date": "2026-03-10", "end_date": "2026-03-16"}
    series = data(await client.get("/v1/costs", token, **span))
    daily = await client.get("/v1/costs/export", token, granularity="daily", **span)
    rows = list(csv.DictReader(io.StringIO(daily.text)))
    assert sum(Decimal(row["total_cost"]) for row in rows) == Decimal(str(series["total_cost"]))
    assert sum(int(row["runs"]) for row in rows) == series["total_runs"]
    per_day = {p["date"]: Decimal(str(p["cost"])) for p in series["costs"]}
    for day in per_day:
        assert sum(Decimal(r["total_cost"]) for r in rows if r["date"] == day) == per_day[day]
    jobs = await client.get("/v1/costs/export", token, granularity="per-job", format="json", **span)
    job_rows = jobs.json()["data"]["rows"]
    assert sum(Decimal(row["cost"]) for row in job_rows) == Decimal(str(series["total_cost"]))
    assert sum(row["billable_minutes"] for row in job_rows) == series["total_minutes"]
