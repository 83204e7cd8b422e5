"""The `cicosts` command, run as a user runs it: in its own process, against the test database."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.models import Job, Organization, Repository, Workflow, WorkflowJob
from tests.helpers import WEBHOOK_SECRET, TestClient, at, job_event, next_id


async def cicosts(settings: Settings, *args: str, environment: str = "development") -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cicosts",
        *args,
        env={
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "JWT_SECRET": settings.jwt_secret,
            "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "ENVIRONMENT": environment,
            "COLUMNS": "200",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_token_creates_an_owner_whose_token_opens_the_dashboard(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    code, output = await cicosts(settings, "token", "--login", "bob", "--org", "bobs-org")
    assert code == 0, output
    async with transaction(sessionmaker) as session:
        org_id = await session.scalar(select(Organization.id).where(Organization.login == "bobs-org"))
    response = await client.get("/api/v1/dashboard/summary", output.strip(), org_id=org_id)
    assert response.status_code == 200, response.text


async def test_token_is_refused_in_production(settings: Settings) -> None:
    code, output = await cicosts(settings, "token", "--login", "bob", environment="production")
    assert code == 2
    assert "must be set" in output  # production without real secrets does not even start


async def test_deliveries_lists_failures_and_replays_one(
    client: TestClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await client.deliver(
        "workflow_job",
        job_event(
            "completed", job_id=next_id(), run_id=next_id(), started=at("2026-01-05T10:00:00"), seconds=30
        ),
        delivery_id="dead-one",
    )
    async with transaction(sessionmaker) as session:
        await session.execute(update(Job).values(status="dead", attempts=8, last_error="ValueError: boom"))
        job_id = await session.scalar(select(Job.id))
    code, output = await cicosts(settings, "deliveries")
    assert code == 0 and "dead-one" in output and "ValueError: boom" in output
    code, output = await cicosts(settings, "deliveries", "replay", str(job_id))
    assert code == 0, output
    code, output = await cicosts(settings, "deliveries", "replay", "987654")
    assert code == 1 and "No delivery" in output
    async with transaction(sessionmaker) as session:
        assert await session.scalar(select(Job.status)) == "queued"


async def test_demo_loads_a_realistic_organization_through_ingestion(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    code, output = await cicosts(settings, "demo", "--days", "7")
    assert code == 0, output
    async with transaction(sessionmaker) as session:
        repos = list(await session.scalars(select(Repository)))
        workflows = await session.scalar(select(func.count(Workflow.id)))
        skus = set(await session.scalars(select(WorkflowJob.sku).distinct()))
        unpriced = await session.scalar(select(func.count(WorkflowJob.id)).where(WorkflowJob.unpriced))
        pending = await session.scalar(select(func.count(Job.id)).where(Job.status != "done"))
    assert len(repos) == 8 and {r.private for r in repos} == {True, False}
    assert workflows is not None and workflows >= 15
    assert {"linux", "windows", "macos", "self_hosted", "linux_8_core"} <= skus
    assert unpriced and pending == 0
    code, output = await cicosts(settings, "demo", "--days", "7")
    assert code == 0 and "already loaded" in output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def running_server(settings: Settings) -> AsyncIterator[str]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cicosts",
        "api",
        "--port",
        str(port),
        env={**os.environ, "DATABASE_URL": settings.database_url, "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(300):  # wait until it answers (bounded)
                try:
                    if (await http.get(f"{base}/health/live")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        yield base
    finally:
        process.terminate()
        await process.wait()


async def test_simulate_webhooks_sends_signed_deliveries_a_server_stores(
    running_server: str, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    code, output = await cicosts(
        settings,
        "simulate-webhooks",
        "--url",
        f"{running_server}/api/v1/webhooks/github",
        "--secret",
        WEBHOOK_SECRET,
        "--count",
        "40",
    )
    assert code == 0, output
    assert "Sent 40, refused 0" in output
    async with transaction(sessionmaker) as session:
        assert await session.scalar(select(func.count(Job.id)).where(Job.status == "queued")) == 40
