"""The dashboard API: who may call it, and the figures it shows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.app import create_app
from cicosts.ci.dashboard import service
from cicosts.ci.dashboard.repository import Scope
from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.models import Organization
from cicosts.worker.runner import Worker
from tests.helpers import TestClient, account, at, job_event, member_token, next_id, repository, run_event

OWNER = account("acme", 4242)
PRIVATE = repository("api", private=True, repo_id=501, owner=OWNER)
PUBLIC = repository("sdk", private=False, repo_id=502, owner=OWNER)
ENDPOINTS = ["summary", "trends", "top-workflows", "recent-runs", "workflows", "workflows/summary", "runs/1"]


async def ship_run(
    client: TestClient,
    *,
    repo: dict,
    workflow: str,
    created: datetime,
    jobs: list[tuple[int, list[str]]],
    conclusion: str = "success",
) -> int:
    run_id = next_id()
    total = max(seconds for seconds, _ in jobs)
    await client.deliver(
        "workflow_run",
        run_event(
            "completed",
            run_id=run_id,
            created=created,
            seconds=total,
            workflow=workflow,
            repo=repo,
            conclusion=conclusion,
        ),
    )
    for seconds, labels in jobs:
        await client.deliver(
            "workflow_job",
            job_event(
                "completed",
                job_id=next_id(),
                run_id=run_id,
                started=created,
                seconds=seconds,
                labels=labels,
                workflow=workflow,
                repo=repo,
            ),
        )
    return run_id


@pytest.fixture
async def acme(
    client: TestClient, worker: Worker, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> tuple[str, int]:
    """Two days ago: a private 10-minute Linux job ($0.06), a public one (free), and an unpriced one."""
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    await ship_run(client, repo=PRIVATE, workflow="CI", created=when, jobs=[(600, ["ubuntu-latest"])])
    await ship_run(client, repo=PUBLIC, workflow="Docs", created=when, jobs=[(300, ["ubuntu-latest"])])
    await ship_run(
        client,
        repo=PRIVATE,
        workflow="Nightly",
        created=when + timedelta(minutes=1),
        jobs=[(120, ["mystery"])],
        conclusion="failure",
    )
    await worker.drain()
    return await member_token(sessionmaker, settings, "alice", "acme")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_every_dashboard_endpoint_needs_a_token_and_membership(
    client: TestClient,
    acme: tuple[str, int],
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    endpoint: str,
) -> None:
    token, org_id = acme
    path = f"/api/v1/dashboard/{endpoint}"
    assert (await client.get(path, org_id=org_id)).status_code == 401
    assert (await client.get(path, "not-a-jwt", org_id=org_id)).status_code == 401
    outsider, _ = await member_token(sessionmaker, settings, "mallory", "evilcorp")
    forbidden = await client.get(path, outsider, org_id=org_id)
    assert forbidden.status_code == 403
    assert "not a member" in forbidden.json()["detail"]
    assert (await client.get(path, token, org_id=999_999)).status_code == 404
    assert (await client.get(path, token, org_id=org_id)).status_code == 200


@pytest.mark.parametrize(
    ("endpoint", "params", "named"),
    [
        ("summary", {"days": 0}, "days"),
        ("trends", {"days": 366}, "days"),
        ("top-workflows", {"limit": 0}, "limit"),
        ("recent-runs", {"limit": 101}, "limit"),
        ("workflows", {"per_page": 500}, "per_page"),
        ("workflows", {"sort_by": "price"}, "sort_by"),
        ("workflows", {"page": 0}, "page"),
    ],
)
async def test_out_of_range_parameters_are_a_422_naming_them(
    client: TestClient, acme: tuple[str, int], endpoint: str, params: dict, named: str
) -> None:
    token, org_id = acme
    response = await client.get(f"/api/v1/dashboard/{endpoint}", token, org_id=org_id, **params)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(named)


async def test_summary_totals_count_unpriced_jobs_apart(client: TestClient, acme: tuple[str, int]) -> None:
    token, org_id = acme
    body = (await client.get("/api/v1/dashboard/summary", token, org_id=org_id, days=7)).json()
    assert body["total_cost"] == 0.06
    assert (body["total_runs"], body["unpriced_jobs"], body["period_days"]) == (3, 1, 7)
    assert body["avg_cost_per_run"] == 0.02
    assert body["trend_percent"] is None  # nothing the week before to compare with
    assert set(body["today"]) == {"amount", "change"}


async def test_trends_have_exactly_days_points_zero_filled(client: TestClient, acme: tuple[str, int]) -> None:
    token, org_id = acme
    points = (await client.get("/api/v1/dashboard/trends", token, org_id=org_id, days=5)).json()
    today = datetime.now(UTC).date()
    assert [p["date"] for p in points] == [str(today - timedelta(days=4 - i)) for i in range(5)]
    two_days_ago = points[2]
    assert (two_days_ago["cost"], two_days_ago["runs"]) == (0.06, 3)
    assert sum(p["runs"] for p in points) == 3 and sum(p["cost"] for p in points) == 0.06


async def test_top_workflows_and_recent_runs(client: TestClient, acme: tuple[str, int]) -> None:
    token, org_id = acme
    top = (await client.get("/api/v1/dashboard/top-workflows", token, org_id=org_id, limit=2)).json()
    assert [(w["name"], w["repo"], w["runs"], w["cost"]) for w in top] == [
        ("CI", "acme/api", 1, 0.06),
        ("Docs", "acme/sdk", 1, 0.0),
    ]
    assert top[0]["avg_duration"] == 600.0
    recent = (await client.get("/api/v1/dashboard/recent-runs", token, org_id=org_id, limit=3)).json()
    assert [(r["workflow"], r["repo"], r["status"], r["cost"]) for r in recent] == [
        ("Nightly", "acme/api", "failure", 0.0),
        ("Docs", "acme/sdk", "success", 0.0),
        ("CI", "acme/api", "success", 0.06),
    ]
    assert recent[2]["duration"] == 600.0


async def test_workflow_list_filters_sorts_and_pages(client: TestClient, acme: tuple[str, int]) -> None:
    token, org_id = acme
    listing = (await client.get("/api/v1/dashboard/workflows", token, org_id=org_id)).json()
    assert listing["total"] == 3 and listing["repositories"] == ["acme/api", "acme/sdk"]
    assert [w["name"] for w in listing["workflows"]] == ["CI", "Docs", "Nightly"]
    nightly = listing["workflows"][2]
    assert (nightly["success_rate"], nightly["run_count"], nightly["unpriced_jobs"]) == (0.0, 1, 1)
    by_name = await client.get(
        "/api/v1/dashboard/workflows",
        token,
        org_id=org_id,
        sort_by="name",
        sort_order="desc",
        per_page=1,
        page=2,
    )
    assert [w["name"] for w in by_name.json()["workflows"]] == ["Docs"]
    failing = await client.get("/api/v1/dashboard/workflows", token, org_id=org_id, status="failure")
    assert [w["name"] for w in failing.json()["workflows"]] == ["Nightly"]
    in_repo = await client.get("/api/v1/dashboard/workflows", token, org_id=org_id, repo="acme/sdk")
    assert [w["name"] for w in in_repo.json()["workflows"]] == ["Docs"]
    searched = await client.get("/api/v1/dashboard/workflows", token, org_id=org_id, search="nIGH")
    assert [w["name"] for w in searched.json()["workflows"]] == ["Nightly"]
    summary = (await client.get("/api/v1/dashboard/workflows/summary", token, org_id=org_id)).json()
    assert summary == {
        "total_workflows": 3,
        "total_runs": 3,
        "total_cost": 0.06,
        "avg_cost_per_run": 0.02,
        "unpriced_jobs": 1,
    }


async def test_calendar_periods_follow_the_organizations_time_zone(
    client: TestClient, worker: Worker, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # 05:00 UTC on 10 March is still 9 March in Los Angeles.
    await ship_run(
        client,
        repo=PRIVATE,
        workflow="CI",
        created=at("2026-03-10T04:50:00"),
        jobs=[(600, ["ubuntu-latest"])],
    )
    await ship_run(
        client,
        repo=PRIVATE,
        workflow="CI",
        created=at("2026-03-11T17:00:00"),
        jobs=[(300, ["ubuntu-latest"])],
    )
    await worker.drain()
    async with transaction(sessionmaker) as session:
        await session.execute(update(Organization).values(time_zone="America/Los_Angeles"))
    now = at("2026-03-11T20:00:00")
    async with transaction(sessionmaker) as session:
        org = await session.get(Organization, 1)
        assert org is not None
        view = service.DashboardView(org, Scope(org.id))
        points = await service.trends(session, view, 3, now)
        summary = await service.summary(session, view, 3, now)
    assert [(str(p.date), p.cost) for p in points] == [
        ("2026-03-09", 0.06),
        ("2026-03-10", 0.0),
        ("2026-03-11", 0.03),
    ]
    assert (summary.today.amount, summary.today.change) == (0.03, None)  # nothing on the 10th
    assert summary.month.amount == 0.09
    assert summary.week.amount == 0.09  # Monday 9 March starts the week in Los Angeles


async def test_dashboard_reads_no_other_organizations_costs(
    client: TestClient,
    acme: tuple[str, int],
    worker: Worker,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    other = repository("secret", repo_id=990, owner=account("other", 5151))
    await ship_run(
        client,
        repo=other,
        workflow="CI",
        created=datetime.now(UTC) - timedelta(days=1),
        jobs=[(6000, ["macos-15"])],
    )
    await worker.drain()
    token, org_id = acme
    body = (await client.get("/api/v1/dashboard/summary", token, org_id=org_id)).json()
    assert body["total_cost"] == 0.06
    listing = (await client.get("/api/v1/dashboard/workflows", token, org_id=org_id)).json()
    assert "other/secret" not in listing["repositories"]


@pytest.fixture
async def billed(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app as a hosted install runs it: plans apply (the free plan shows three repositories)."""
    app = create_app(settings.model_copy(update={"billing_enabled": True}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    await app.state.http.aclose()
    await app.state.rate_limiter.close()
    await app.state.engine.dispose()


async def test_a_run_in_a_repository_the_plan_hides_is_not_found(
    client: TestClient, acme: tuple[str, int], worker: Worker, billed: httpx.AsyncClient
) -> None:
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    for name, repo_id in (("web", 503), ("hidden", 504)):  # the third repository tracked, and the fourth
        repo = repository(name, private=True, repo_id=repo_id, owner=OWNER)
        await ship_run(client, repo=repo, workflow="CI", created=when, jobs=[(60, ["ubuntu-latest"])])
    await worker.drain()
    token, org_id = acme
    recent = (await client.get("/api/v1/dashboard/recent-runs", token, org_id=org_id, limit=10)).json()
    run_ids = {r["repo"]: r["id"] for r in recent}
    headers = {"Authorization": f"Bearer {token}"}

    async def run(run_id: int) -> httpx.Response:
        return await billed.get(
            f"/api/v1/dashboard/runs/{run_id}", params={"org_id": org_id}, headers=headers
        )

    shown = await run(run_ids["acme/web"])
    assert shown.status_code == 200 and shown.json()["repo"] == "acme/web"
    hidden, unknown = await run(run_ids["acme/hidden"]), await run(999_999)
    assert (hidden.status_code, unknown.status_code) == (404, 404)
    assert hidden.json() == {"detail": f"Run {run_ids['acme/hidden']} not found"}
    listed = await billed.get("/api/v1/dashboard/recent-runs", params={"org_id": org_id}, headers=headers)
    assert "acme/hidden" not in {r["repo"] for r in listed.json()}
    unlimited = await client.get(f"/api/v1/dashboard/runs/{run_ids['acme/hidden']}", token, org_id=org_id)
    assert unlimited.status_code == 200  # self-hosted installs hide nothing


async def test_ids_beyond_any_stored_one_are_refused_naming_them(
    client: TestClient, acme: tuple[str, int]
) -> None:
    """Ids are BIGINT: a larger number names nothing, and the database driver cannot even bind it."""
    token, org_id = acme
    huge = 2**64
    for path, params, named in (
        ("/api/v1/dashboard/summary", {"org_id": huge}, "org_id"),
        (f"/api/v1/dashboard/runs/{huge}", {"org_id": org_id}, "run_id"),
        (f"/api/v1/alerts/{huge}", {"org_id": org_id}, "alert_id"),
        (f"/v1/projects/{huge}", {}, "project_id"),
    ):
        response = await client.get(path, token, **params)
        assert response.status_code == 422, (path, response.text)
        assert named in response.json()["detail"], (path, response.text)
