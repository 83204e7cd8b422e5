"""GET /v1/recommendations: each rule fires on the waste it is about, with the saving worked out by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.app import create_app
from cicosts.ci.recommendations.service import monthly
from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.identity.api_keys.service import create_api_key
from cicosts.models import Organization
from cicosts.worker.runner import Worker
from tests.helpers import TestClient, account, job_event, member_token, next_id, repository, run_event

PATH = "/v1/recommendations"
OWNER = account("acme", 4242)
API = repository("api", private=True, repo_id=601, owner=OWNER)
SITE = repository("site", private=False, repo_id=602, owner=OWNER)
# GitHub's rates since 2026-01-01, in nanodollars a minute; every job below completed in the last few days.
LINUX, MACOS, MACOS_LARGE = 6_000_000, 62_000_000, 77_000_000
UBUNTU, MACOS_15, MACOS_15_LARGE = ["ubuntu-latest"], ["macos-15"], ["macos-15-large"]


def two_days_ago() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)


def usd(nanos: int) -> float:
    """What the API shows for an amount worked out here: USD rounded to 6 places."""
    return round(nanos / 10**9, 6)


async def ship_run(
    client: TestClient,
    run_id: int,
    created: datetime,
    *,
    workflow: str = "CI",
    repo: dict[str, Any] = API,
    attempt: int = 1,
    conclusion: str = "success",
    branch: str = "main",
    event: str = "push",
) -> None:
    payload = run_event(
        "completed",
        run_id=run_id,
        created=created,
        workflow=workflow,
        attempt=attempt,
        conclusion=conclusion,
        repo=repo,
    )
    payload["workflow_run"].update(head_branch=branch, event=event)
    assert (await client.deliver("workflow_run", payload)).status_code < 300


async def ship_job(
    client: TestClient,
    run_id: int,
    started: datetime,
    seconds: int,
    *,
    name: str = "build",
    workflow: str = "CI",
    repo: dict[str, Any] = API,
    attempt: int = 1,
    conclusion: str = "success",
    labels: list[str] = UBUNTU,
) -> None:
    payload = job_event(
        "completed",
        job_id=next_id(),
        run_id=run_id,
        started=started,
        seconds=seconds,
        labels=labels,
        workflow=workflow,
        attempt=attempt,
        conclusion=conclusion,
        repo=repo,
    )
    payload["workflow_job"]["name"] = name
    assert (await client.deliver("workflow_job", payload)).status_code < 300


async def recommendations(client: TestClient, token: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(PATH, token, **params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]["recommendations"]
    return found


@pytest.fixture
async def token(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> str:
    """A member of acme (the organization the deliveries below create, found by its login)."""
    token, _ = await member_token(sessionmaker, settings, "alice", "acme")
    return token


async def ship_rerun_waste(client: TestClient, start: datetime, repo: dict[str, Any] = API) -> None:
    """Two runs re-run after a failed build: $0.138 of repeated jobs (see the test below)."""
    all_again = next_id()  # attempt 1 failed; "Re-run all jobs": build and lint both run again
    await ship_run(client, all_again, start, conclusion="failure", repo=repo)
    await ship_job(client, all_again, start, 600, conclusion="failure", repo=repo)
    await ship_job(client, all_again, start, 180, name="lint", repo=repo)
    later = start + timedelta(minutes=20)
    await ship_run(client, all_again, start, attempt=2, repo=repo)
    await ship_job(client, all_again, later, 600, attempt=2, repo=repo)
    await ship_job(client, all_again, later, 180, name="lint", attempt=2, repo=repo)
    failed_only = next_id()  # "Re-run failed jobs": lint passed and is not run (nor billed) again
    start += timedelta(hours=1)
    await ship_run(client, failed_only, start, conclusion="failure", repo=repo)
    await ship_job(client, failed_only, start, 600, conclusion="failure", repo=repo)
    await ship_job(client, failed_only, start, 180, name="lint", repo=repo)
    await ship_run(client, failed_only, start, attempt=2, repo=repo)
    await ship_job(client, failed_only, start + timedelta(minutes=20), 600, attempt=2, repo=repo)


async def test_envelope_and_nothing_to_recommend_without_waste(
    client: TestClient, worker: Worker, token: str
) -> None:
    clean = next_id()
    await ship_run(client, clean, two_days_ago())
    await ship_job(client, clean, two_days_ago(), 600)
    failed = next_id()  # a failure that nobody re-ran wastes nothing worth a suggestion
    await ship_run(
        client, failed, two_days_ago() + timedelta(hours=1), workflow="Deploy", conclusion="failure"
    )
    await ship_job(client, failed, two_days_ago() + timedelta(hours=1), 300, workflow="Deploy")
    await worker.drain()
    response = await client.get(PATH, token, org="acme")
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"period_days": 30, "recommendations": []}
    assert set(body["meta"]) == {"request_id", "timestamp", "capped"} and body["meta"]["capped"] is None
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"]
    assert datetime.fromisoformat(body["meta"]["timestamp"]) > datetime.now(UTC) - timedelta(minutes=1)


async def test_rerun_waste_counts_the_jobs_that_ran_again(
    client: TestClient, worker: Worker, token: str
) -> None:
    await ship_rerun_waste(client, two_days_ago())
    await worker.drain()
    # First run: build (10 min) and lint (3 min) again; second run: build (10 min) only.
    waste = (10 + 3 + 10) * LINUX
    [found] = await recommendations(client, token)
    assert found["type"] == "rerun_waste"
    assert (found["repository"], found["workflow"]) == ("acme/api", "CI")
    assert found["estimated_savings_monthly"] == usd(waste) == 0.138
    assert found["evidence"] == {
        "reruns": 2,
        "repeated_jobs": 3,
        "repeated_minutes": 23,
        "saving_in_period": 0.138,
        "failing_jobs": [{"name": "build", "failures": 2}],
    }
    assert "build (2)" in found["action_items"][0]
    assert "$0.14" in found["description"] and found["title"] == "Re-runs after failures in CI"
    [weekly] = await recommendations(client, token, days=7)
    assert weekly["estimated_savings_monthly"] == usd(waste * 30 // 7) == 0.591429  # 0.591428571... a month
    assert weekly["evidence"]["saving_in_period"] == 0.138


async def test_superseded_runs_count_what_ran_after_the_newer_run_started(
    client: TestClient, worker: Worker, token: str
) -> None:
    t0 = two_days_ago()
    older = next_id()
    await ship_run(client, older, t0, branch="feature")
    await ship_job(client, older, t0 + timedelta(seconds=10), 600)  # 2 of its 10 minutes before the cut
    await ship_job(client, older, t0 + timedelta(seconds=200), 300, name="e2e")  # all 5 after it
    await ship_job(client, older, t0 + timedelta(seconds=10), 60, name="lint")  # done before it
    await ship_job(client, older, t0 + timedelta(seconds=10), 300, name="docs", conclusion="cancelled")
    # Neither a pull request run of the branch nor a push to another branch supersedes it.
    pull_request, other_branch = next_id(), next_id()
    await ship_run(client, pull_request, t0 + timedelta(seconds=40), branch="feature", event="pull_request")
    await ship_job(client, pull_request, t0 + timedelta(seconds=50), 600)
    await ship_run(client, other_branch, t0 + timedelta(seconds=40), branch="other")
    await ship_job(client, other_branch, t0 + timedelta(seconds=50), 600)
    newer = next_id()  # the cut: created 130 s after the older run
    await ship_run(client, newer, t0 + timedelta(seconds=130), branch="feature")
    await ship_job(client, newer, t0 + timedelta(seconds=140), 600)
    await worker.drain()
    saving = (10 - 2 + 5) * LINUX
    [found] = await recommendations(client, token)
    assert (found["type"], found["repository"], found["workflow"]) == ("superseded_runs", "acme/api", "CI")
    assert found["estimated_savings_monthly"] == usd(saving) == 0.078
    assert found["evidence"] == {
        "superseded_runs": 1,
        "jobs": 2,
        "minutes_after_newer_run": 13,
        "saving_in_period": 0.078,
    }
    assert any("cancel-in-progress: true" in item for item in found["action_items"])


async def test_rounding_waste_merges_short_jobs_of_a_run(
    client: TestClient, worker: Worker, token: str
) -> None:
    start = two_days_ago()
    for number, seconds in enumerate((10, 20)):  # 6 x 10 s bill 6 minutes for 1; 6 x 20 s bill 6 for 2
        run_id = next_id()
        await ship_run(client, run_id, start + timedelta(hours=number), workflow="Checks")
        for job in range(6):
            await ship_job(
                client,
                run_id,
                start + timedelta(hours=number),
                seconds,
                name=f"check-{job}",
                workflow="Checks",
            )
        await ship_job(client, run_id, start + timedelta(hours=number), 300, name="test", workflow="Checks")
    few = next_id()  # three short jobs waste 2 minutes: too few to be worth merging
    await ship_run(client, few, start, workflow="Lint")
    for job in range(3):
        await ship_job(client, few, start, 10, name=f"lint-{job}", workflow="Lint")
    await worker.drain()
    waste = ((6 - 1) + (6 - 2)) * LINUX
    [found] = await recommendations(client, token)
    assert (found["type"], found["workflow"]) == ("rounding_waste", "Checks")
    assert found["estimated_savings_monthly"] == usd(waste) == 0.054
    assert found["evidence"] == {
        "runs": 2,
        "short_jobs": 12,
        "billed_minutes": 12,
        "merged_minutes": 3,
        "saving_in_period": 0.054,
    }


async def test_expensive_runners_on_short_jobs_against_standard_linux(
    client: TestClient, worker: Worker, token: str
) -> None:
    start = two_days_ago()

    async def ship(workflow: str, labels: list[str], seconds: int, repo: dict[str, Any] = API) -> None:
        nonlocal start
        start += timedelta(hours=1)  # runs one after another: nothing supersedes anything
        run_id = next_id()
        await ship_run(client, run_id, start, workflow=workflow, repo=repo)
        await ship_job(client, run_id, start, seconds, workflow=workflow, repo=repo, labels=labels)

    for seconds in (120, 180, 1200):  # median 3 minutes on macOS
        await ship("iOS", MACOS_15, seconds)
    for seconds in (60, 60):
        await ship("Lint", MACOS_15_LARGE, seconds)
    for seconds in (1800, 2400):  # long builds: the big runner is likely needed
        await ship("Release", MACOS_15, seconds)
    await ship("Preview", MACOS_15_LARGE, 120, repo=SITE)  # larger runners are billed in public repos too
    await worker.drain()
    found = await recommendations(client, token)
    assert [(f["type"], f["repository"], f["workflow"]) for f in found] == [
        ("expensive_runners", "acme/api", "iOS"),
        ("expensive_runners", "acme/site", "Preview"),
        ("expensive_runners", "acme/api", "Lint"),
    ]
    ios, preview, lint = found
    assert ios["estimated_savings_monthly"] == usd(25 * (MACOS - LINUX)) == 1.4
    assert ios["evidence"] == {
        "sku": "macos",
        "jobs": 3,
        "billable_minutes": 25,
        "median_minutes": 3.0,
        "cost": 1.55,
        "standard_linux_cost": 0.15,
        "saving_in_period": 1.4,
    }
    # Standard runners are free in a public repository, so all of it would be saved there.
    assert preview["estimated_savings_monthly"] == usd(2 * MACOS_LARGE) == 0.154
    assert preview["evidence"]["standard_linux_cost"] == 0.0
    assert lint["estimated_savings_monthly"] == usd(2 * (MACOS_LARGE - LINUX)) == 0.142
    assert (lint["evidence"]["sku"], lint["evidence"]["median_minutes"]) == ("macos_l", 1.0)
    assert "runs-on: ubuntu-latest" in lint["action_items"][0]


async def test_public_repository_savings_are_shown_as_already_gained(
    client: TestClient, worker: Worker, token: str
) -> None:
    start = two_days_ago()
    for workflow, labels, seconds in (("Docs", UBUNTU, 600), ("Mac", MACOS_15, 60)):
        run_id = next_id()
        await ship_run(client, run_id, start, workflow=workflow, repo=SITE)
        await ship_job(client, run_id, start, seconds, workflow=workflow, repo=SITE, labels=labels)
    await worker.drain()
    saved = 10 * LINUX + 1 * MACOS
    [found] = await recommendations(client, token, days=7)
    assert (found["type"], found["repository"], found["workflow"]) == (
        "public_repository_savings",
        "acme/site",
        None,
    )
    assert found["estimated_savings_monthly"] == 0.0
    assert found["evidence"] == {
        "jobs": 2,
        "billable_minutes": 11,
        "saved_in_period": usd(saved),
        "saved_monthly": 0.522857,  # $0.122 x 30 / 7 = $0.5228571...
    }
    assert usd(saved) == 0.122


@pytest.fixture
async def billed_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app as a hosted install runs it: plans enforced (the free plan: 3 repositories, 30 days)."""
    app = create_app(settings.model_copy(update={"billing_enabled": True}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http
    await app.state.http.aclose()
    await app.state.rate_limiter.close()
    await app.state.engine.dispose()


async def test_hidden_repositories_do_not_count_and_history_is_capped(
    client: TestClient, worker: Worker, token: str, billed_client: httpx.AsyncClient
) -> None:
    for number in range(3):  # the first three repositories stay visible on the free plan
        repo = repository(f"repo{number}", repo_id=6100 + number, owner=OWNER)
        run_id = next_id()
        await ship_run(client, run_id, two_days_ago(), repo=repo)
        await ship_job(client, run_id, two_days_ago(), 60, repo=repo)
    await worker.drain()
    hidden = repository("beyond", repo_id=6199, owner=OWNER)
    await ship_rerun_waste(client, two_days_ago(), repo=hidden)
    await worker.drain()
    [unlimited] = await recommendations(client, token)  # billing off: nothing is hidden
    assert unlimited["repository"] == "acme/beyond"
    response = await billed_client.get(
        PATH, params={"org": "acme", "days": 60}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"period_days": 30, "recommendations": []}
    today = datetime.now(UTC).date()
    assert body["meta"]["capped"] == {
        "requested_start": str(today - timedelta(days=59)),
        "start": str(today - timedelta(days=29)),
        "max_history_days": 30,
    }


async def test_api_keys_read_their_own_organization_only(
    client: TestClient,
    worker: Worker,
    token: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    other = repository("secret", repo_id=990, owner=account("globex", 5151))
    await ship_rerun_waste(client, two_days_ago(), repo=other)
    clean = next_id()
    await ship_run(client, clean, two_days_ago())
    await ship_job(client, clean, two_days_ago(), 600)
    await worker.drain()
    async with transaction(sessionmaker) as session:
        orgs = {org.login: org.id for org in await session.scalars(select(Organization))}
        keys = {}
        for login, org_id in orgs.items():
            _, keys[login] = await create_api_key(
                session, org_id=org_id, name="r", scopes=["read"], created_by=None
            )
        _, ingest = await create_api_key(
            session, org_id=orgs["acme"], name="i", scopes=["ingest"], created_by=None
        )
    assert await recommendations(client, keys["acme"]) == []  # the key's own organization by default
    assert await recommendations(client, keys["acme"], org="acme") == []
    [theirs] = await recommendations(client, keys["globex"])
    assert theirs["repository"] == "globex/secret"
    foreign = await client.get(PATH, keys["globex"], org="acme")
    assert foreign.status_code == 403 and "another organization" in foreign.json()["detail"]
    assert (await client.get(PATH, ingest, org="acme")).status_code == 403
    assert (await client.get(PATH, None, org="acme")).status_code == 401
    outsider, _ = await member_token(sessionmaker, settings, "mallory", "evilcorp")
    refused = await client.get(PATH, outsider, org="acme")
    assert refused.status_code == 403 and "not a member" in refused.json()["detail"]
    assert (await client.get(PATH, token, org="nobody")).status_code == 404
    for days in (0, 366):
        invalid = await client.get(PATH, token, org="acme", days=days)
        assert invalid.status_code == 422 and invalid.json()["detail"].startswith("days")


def test_monthly_savings_are_whole_nanodollars_rounded_half_to_even() -> None:
    assert monthly(7, 60) == 4  # 3.5
    assert monthly(5, 60) == 2  # 2.5
    assert monthly(138_000_000, 7) == 591_428_571  # 591_428_571.43
    assert monthly(10**18, 30) == 10**18  # exact however large: no float on the way
