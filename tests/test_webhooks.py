"""POST /api/v1/webhooks/github: verify, store once, answer at once."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.ci.webhooks.service import signature_for
from cicosts.db import transaction
from cicosts.models import Job
from tests.helpers import TestClient, at, job_event, next_id


async def stored_jobs(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Job]:
    async with transaction(sessionmaker) as session:
        return list((await session.scalars(select(Job).order_by(Job.id))).all())


def test_signature_matches_githubs_published_test_vector() -> None:
    assert signature_for("It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


async def test_missing_signature_is_refused_and_nothing_is_stored(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    response = await client.http.post(
        "/api/v1/webhooks/github",
        content=b"{}",
        headers={"X-GitHub-Event": "workflow_job", "X-GitHub-Delivery": "d-1"},
    )
    assert response.status_code == 401
    assert "X-Hub-Signature-256" in response.json()["detail"]
    assert await stored_jobs(sessionmaker) == []


async def test_wrong_signature_is_refused(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    body = json.dumps({"action": "queued"}).encode()
    response = await client.http.post(
        "/api/v1/webhooks/github",
        content=body,
        headers={
            "X-GitHub-Event": "workflow_job",
            "X-GitHub-Delivery": "d-2",
            "X-Hub-Signature-256": signature_for("another secret", body),
        },
    )
    assert response.status_code == 401
    assert await stored_jobs(sessionmaker) == []


async def test_invalid_json_is_a_400(client: TestClient) -> None:
    response = await client.deliver("workflow_job", b"{not json")
    assert response.status_code == 400
    assert "JSON" in response.json()["detail"]


async def test_body_over_25_mb_is_a_413(client: TestClient) -> None:
    body = b'{"pad": "' + b"x" * (25 * 1024 * 1024) + b'"}'
    response = await client.deliver("workflow_job", body)
    assert response.status_code == 413


async def test_ping_answers_200_and_stores_nothing(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    response = await client.deliver("ping", {"zen": "Keep it logically awesome.", "hook_id": 1})
    assert response.status_code == 200
    assert response.json()["status"] == "pong"
    assert await stored_jobs(sessionmaker) == []


async def test_a_redelivery_is_accepted_and_stored_once(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    payload = job_event(
        "completed", job_id=next_id(), run_id=next_id(), started=at("2026-03-02T10:00:00"), seconds=90
    )
    first = await client.deliver("workflow_job", payload, delivery_id="guid-1")
    again = await client.deliver("workflow_job", payload, delivery_id="guid-1")
    assert (first.status_code, first.json()["status"]) == (202, "queued")
    assert (again.status_code, again.json()["status"]) == (202, "duplicate")
    jobs = await stored_jobs(sessionmaker)
    assert [(j.dedupe_key, j.kind, j.status) for j in jobs] == [
        ("guid-1", "workflow_job.completed", "queued")
    ]
    assert json.loads(jobs[0].payload) == payload


async def test_events_nobody_handles_are_stored_and_marked_ignored(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    response = await client.deliver("star", {"action": "created", "starred_at": None})
    assert response.status_code == 202
    assert response.json()["status"] == "ignored"
    async with transaction(sessionmaker) as session:
        statuses = (await session.execute(select(Job.kind, Job.status))).all()
    assert [tuple(s) for s in statuses] == [("star.created", "ignored")]


async def test_missing_delivery_header_is_a_400(client: TestClient) -> None:
    body = b"{}"
    response = await client.http.post(
        "/api/v1/webhooks/github",
        content=body,
        headers={"X-GitHub-Event": "workflow_job", "X-Hub-Signature-256": signature_for("x", body)},
    )
    # The signature is checked first: an unsigned caller learns nothing about the headers.
    assert response.status_code == 401
    signed = await client.http.post(
        "/api/v1/webhooks/github",
        content=body,
        headers={
            "X-GitHub-Event": "workflow_job",
            "X-Hub-Signature-256": signature_for("test-webhook-secret", body),
        },
    )
    assert signed.status_code == 400
    assert "X-GitHub-Delivery" in signed.json()["detail"]


async def test_deliveries_count_in_metrics(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await client.deliver("workflow_run", {"action": "requested"})
    metrics = (await client.http.get("/metrics")).text
    assert 'cicosts_webhook_deliveries_received_total{event="workflow_run",outcome="queued"}' in metrics
    assert 'cicosts_queue_depth{queue="github_webhooks"} 1.0' in metrics
    async with transaction(sessionmaker) as session:
        assert await session.scalar(select(func.count(Job.id))) == 1
