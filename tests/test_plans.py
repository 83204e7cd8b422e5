"""Plans and limits, rate limits, and HTTP hygiene (request ids, CORS, docs)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from cicosts.app import create_app
from cicosts.config import REQUIRED_SECRETS, Settings
from cicosts.db import transaction
from cicosts.kit.request_id import RequestIdLogFilter, RequestIdMiddleware
from cicosts.models import Organization
from cicosts.worker.runner import Worker
from tests.helpers import TestClient, account, job_event, member_token, next_id, repository

OWNER = account("acme", 4242)


@pytest.fixture
async def app_with(settings: Settings) -> AsyncIterator[object]:
    apps: list[FastAPI] = []

    async def make(**changes: object) -> httpx.AsyncClient:
        app = create_app(settings.model_copy(update=changes))
        apps.append(app)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")

    yield make
    for app in apps:
        await app.state.http.aclose()
        await app.state.rate_limiter.close()
        await app.state.engine.dispose()


async def ship(client: TestClient, repo_number: int, days_ago: int, minutes: int = 10) -> None:
    repo = repository(f"repo{repo_number}", repo_id=6000 + repo_number, owner=OWNER)
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days_ago)
    await client.deliver(
        "workflow_job",
        job_event(
            "completed", job_id=next_id(), run_id=next_id(), started=started, seconds=minutes * 60, repo=repo
        ),
    )


async def test_self_hosted_installs_are_unlimited(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    token, org_id = await member_token(sessionmaker, settings, "ada", "acme")
    plan = (await client.get("/api/v1/limits/plan", token, org_id=org_id)).json()
    assert plan == {"max_repos": None, "max_history_days": None, "max_team_members": None}
    response = await client.get("/api/v1/limits/usage", token, org_id=org_id)
    assert response.json()["tier"] == "self_hosted" and "X-RateLimit-Limit" not in response.headers


async def test_free_plan_hides_repositories_over_the_limit_and_caps_history(
    client: TestClient,
    worker: Worker,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    app_with: object,
) -> None:
    for number in range(4):  # four repositories, each $0.06 two days ago
        await ship(client, number, days_ago=2)
    await ship(client, 0, days_ago=45)  # older than the free plan's 30 days
    await worker.drain()
    token, org_id = await member_token(sessionmaker, settings, "ada", "acme")
    unlimited = (await client.get("/api/v1/dashboard/summary", token, org_id=org_id, days=60)).json()
    assert unlimited["total_cost"] == 0.3
    billed = await app_with(billing_enabled=True)  # type: ignore[operator]
    headers = {"Authorization": f"Bearer {token}"}
    summary = (
        await billed.get("/api/v1/dashboard/summary", params={"org_id": org_id, "days": 60}, headers=headers)
    ).json()
    assert (summary["total_cost"], summary["period_days"]) == (0.18, 30)  # 3 repositories, 30 days
    usage = (await billed.get("/api/v1/limits/usage", params={"org_id": org_id}, headers=headers)).json()
    assert (usage["tier"], usage["repos_used"], usage["repos_limit"], usage["repos_at_limit"]) == (
        "free",
        4,
        3,
        True,
    )
    assert [r["over_limit"] for r in usage["tracked_repos"]] == [False, False, False, True]
    suggestion = (
        await billed.get("/api/v1/limits/upgrade-suggestion", params={"org_id": org_id}, headers=headers)
    ).json()
    assert suggestion["should_upgrade"] and suggestion["suggested_tier"] == "pro"
    async with transaction(sessionmaker) as session:
        await session.execute(update(Organization).values(plan="pro"))
    upgraded = (
        await billed.get("/api/v1/dashboard/summary", params={"org_id": org_id, "days": 60}, headers=headers)
    ).json()
    assert upgraded["total_cost"] == 0.3  # nothing was dropped: it shows again after the upgrade
    plan = (await billed.get("/api/v1/limits/plan", params={"org_id": org_id}, headers=headers)).json()
    assert plan == {"max_repos": None, "max_history_days": 365, "max_team_members": 1}


async def test_rate_limits_count_per_principal_and_answer_429_with_headers(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], app_with: object
) -> None:
    token, org_id = await member_token(sessionmaker, settings, "ada", "acme")
    limited = await app_with(rate_limit_per_minute=2, cors_origins="https://costs.example.com")  # type: ignore[operator]
    headers = {"Authorization": f"Bearer {token}", "Origin": "https://costs.example.com"}
    first = await limited.get("/api/v1/limits/plan", params={"org_id": org_id}, headers=headers)
    assert (first.headers["X-RateLimit-Limit"], first.headers["X-RateLimit-Remaining"]) == ("2", "1")
    assert int(first.headers["X-RateLimit-Reset"]) > datetime.now(UTC).timestamp() - 1
    await limited.get("/api/v1/limits/plan", params={"org_id": org_id}, headers=headers)
    third = await limited.get("/api/v1/limits/plan", params={"org_id": org_id}, headers=headers)
    assert third.status_code == 429 and "Rate limit" in third.json()["detail"]
    assert int(third.headers["Retry-After"]) >= 1 and third.headers["X-RateLimit-Remaining"] == "0"
    assert third.headers["access-control-allow-origin"] == "https://costs.example.com"
    for _ in range(3):  # health and webhooks are never limited
        assert (await limited.get("/health/live")).status_code == 200
    other, _ = await member_token(sessionmaker, settings, "bob", "bobco")
    fresh = await limited.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {other}"})
    assert fresh.status_code == 200  # another principal has its own budget


async def test_two_app_instances_share_one_budget_in_redis(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], app_with: object
) -> None:
    token, _ = await member_token(sessionmaker, settings, f"r-{uuid.uuid4().hex[:8]}", "acme")
    changes = {"rate_limit_per_minute": 3, "redis_url": "redis://127.0.0.1:6379/0"}
    first, second = [await app_with(**changes) for _ in range(2)]  # type: ignore[operator]
    await first._transport.app.state.rate_limiter.reset()  # type: ignore[attr-defined]  # earlier runs' budgets
    headers = {"Authorization": f"Bearer {token}"}
    statuses = [
        (await instance.get("/api/v1/auth/me", headers=headers)).status_code
        for instance in (first, second, first, second)
    ]
    assert statuses == [200, 200, 200, 429]


async def test_request_ids_are_echoed_or_made(client: TestClient) -> None:
    given = await client.http.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = await client.http.get("/health/live", headers={"X-Request-ID": "bad id\nwith newline"})
    assert len(made.headers["X-Request-ID"]) == 32
    error = await client.http.get("/api/v1/auth/me")
    assert error.status_code == 401 and error.headers["X-Request-ID"]


async def test_docs_are_served_outside_production_only(client: TestClient, app_with: object) -> None:
    assert (await client.http.get("/docs")).status_code == 200
    assert (await client.http.get("/redoc")).status_code == 200
    secrets = {name: f"real-{name}-value-0123456789abcdef" for name in REQUIRED_SECRETS}
    production = await app_with(environment="production", **secrets)  # type: ignore[operator]
    assert (await production.get("/docs")).status_code == 404
    assert (await production.get("/openapi.json")).status_code == 404


async def test_log_lines_written_during_a_request_carry_its_id() -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.addFilter(RequestIdLogFilter())
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("cicosts.test-request-id")
    logger.addHandler(handler)

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        logger.warning("inside the request")
        await PlainTextResponse("ok")(scope, receive, send)

    app = RequestIdMiddleware(endpoint)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            response = await http.get("/", headers={"X-Request-ID": "req-42"})
    finally:
        logger.removeHandler(handler)
    assert response.headers["X-Request-ID"] == "req-42"
    assert [getattr(record, "request_id", None) for record in records] == ["req-42"]
