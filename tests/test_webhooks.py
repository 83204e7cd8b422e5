"""POST /api/v1/webhooks/github: verify, store once, answer at once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from cicosts.ci.webhooks import inbox
from cicosts.ci.webhooks.inbox import Inbox
from cicosts.ci.webhooks.service import Accepted, Delivery, parse_delivery, signature_for
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


def test_the_route_is_documented_in_the_openapi_schema(app: FastAPI) -> None:
    operation = app.openapi()["paths"]["/api/v1/webhooks/github"]["post"]
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert headers == {"X-GitHub-Event", "X-GitHub-Delivery", "X-Hub-Signature-256"}
    assert {"202", "400", "401", "413"} <= set(operation["responses"])


async def test_concurrent_deliveries_are_each_stored_once(
    client: TestClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    payload = {"action": "requested"}
    responses = await asyncio.gather(
        *(client.deliver("workflow_run", payload, delivery_id=f"many-{n}") for n in range(20)),
        *(client.deliver("workflow_run", payload, delivery_id="same") for _ in range(5)),
    )
    assert {r.status_code for r in responses} == {202}
    statuses = [r.json()["status"] for r in responses]
    assert statuses[:20] == ["queued"] * 20
    assert sorted(statuses[20:]) == ["duplicate"] * 4 + ["queued"]
    keys = [job.dedupe_key for job in await stored_jobs(sessionmaker)]
    assert sorted(keys) == sorted([f"many-{n}" for n in range(20)] + ["same"])


def delivery(delivery_id: str, event: str = "workflow_job") -> Delivery:
    parsed = parse_delivery(event=event, delivery_id=delivery_id, body=b'{"action": "completed"}')
    assert parsed is not None
    return parsed


async def test_deliveries_that_arrive_together_share_one_transaction(
    app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[list[str]] = []
    real = inbox.store_deliveries

    async def recording(connection: AsyncConnection, deliveries: Sequence[Delivery]) -> list[Accepted]:
        batches.append([d.delivery_id for d in deliveries])
        return await real(connection, deliveries)

    monkeypatch.setattr(inbox, "store_deliveries", recording)
    box = Inbox(app.state.engine)
    outcomes = await asyncio.gather(
        box.store(delivery("a")),
        box.store(delivery("b")),
        box.store(delivery("a")),
        box.store(delivery("c", "star")),
    )
    assert outcomes == [Accepted.QUEUED, Accepted.QUEUED, Accepted.DUPLICATE, Accepted.IGNORED]
    assert batches == [["a", "b", "a", "c"]]
    assert await box.store(delivery("b")) is Accepted.DUPLICATE  # stored before, by another transaction
    jobs = await stored_jobs(sessionmaker)
    assert sorted((j.dedupe_key, j.status) for j in jobs) == [
        ("a", "queued"),
        ("b", "queued"),
        ("c", "ignored"),
    ]


async def test_a_delivery_the_database_refuses_fails_alone(
    app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse_poison(ids: list[str]) -> None:
        if "poison" in ids:
            raise DBAPIError("INSERT INTO jobs ...", None, ValueError("value too long"))

    real_many, real_one = inbox.store_deliveries, inbox.store_delivery

    async def many(connection: AsyncConnection, deliveries: Sequence[Delivery]) -> list[Accepted]:
        refuse_poison([d.delivery_id for d in deliveries])
        return await real_many(connection, deliveries)

    async def one(connection: AsyncConnection, delivery: Delivery) -> Accepted:
        refuse_poison([delivery.delivery_id])
        return await real_one(connection, delivery)

    monkeypatch.setattr(inbox, "store_deliveries", many)
    monkeypatch.setattr(inbox, "store_delivery", one)
    box = Inbox(app.state.engine)
    outcomes = await asyncio.gather(
        box.store(delivery("ok-1")),
        box.store(delivery("poison")),
        box.store(delivery("ok-2")),
        return_exceptions=True,
    )
    assert outcomes[0] is Accepted.QUEUED and outcomes[2] is Accepted.QUEUED
    assert isinstance(outcomes[1], DBAPIError)
    assert sorted(j.dedupe_key for j in await stored_jobs(sessionmaker)) == ["ok-1", "ok-2"]
