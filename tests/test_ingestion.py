"""Deliveries converge to one state whatever their order, and rollups always equal the raw rows."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.db import transaction
from cicosts.models import Organization, RunnerMapping, WorkflowJob, WorkflowRun
from cicosts.worker.runner import Worker
from tests.helpers import (
    TestClient,
    account,
    at,
    job_event,
    member_token,
    next_id,
    raw_totals,
    repository,
    rollup_totals,
    run_event,
)

RATES_2026 = {"ubuntu-latest": 6_000_000, "windows-latest": 10_000_000, "macos-15": 62_000_000}
START = at("2026-02-10T09:00:00")


async def jobs_by_id(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[int, WorkflowJob]:
    async with transaction(sessionmaker) as session:
        return {job.github_job_id: job for job in await session.scalars(select(WorkflowJob))}


async def runs_by_id(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[int, WorkflowRun]:
    async with transaction(sessionmaker) as session:
        return {run.github_run_id: run for run in await session.scalars(select(WorkflowRun))}


async def test_a_late_in_progress_never_undoes_a_completed(
    client: TestClient, worker: Worker, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    job_id, run_id = next_id(), next_id()
    common: dict[str, Any] = {"job_id": job_id, "run_id": run_id, "started": START, "seconds": 200}
    await client.deliver("workflow_job", job_event("completed", **common))
    await worker.drain()
    await client.deliver("workflow_job", job_event("in_progress", **common))
    await client.deliver("workflow_job", job_event("queued", **common))
    await worker.drain()
    job = (await jobs_by_id(sessionmaker))[job_id]
    assert (job.status, job.conclusion, job.billable_minutes, job.cost_nanos) == (
        "completed",
        "success",
        4,
        4 * 6_000_000,
    )


async def test_a_run_first_seen_through_its_jobs_gets_its_fields_later(
    client: TestClient, worker: Worker, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    run_id = next_id()
    await client.deliver(
        "workflow_job", job_event("completed", job_id=next_id(), run_id=run_id, started=START, seconds=61)
    )
    await worker.drain()
    stub = (await runs_by_id(sessionmaker))[run_id]
    assert (stub.described, stub.event, stub.cost_nanos) == (False, None, 2 * 6_000_000)
    await client.deliver("workflow_run", run_event("completed", run_id=run_id, created=START))
    await worker.drain()
    run = (await runs_by_id(sessionmaker))[run_id]
    assert (run.described, run.event, run.path, run.status, run.conclusion) == (
        True,
        "push",
        ".github/workflows/ci.yml",
        "completed",
        "success",
    )
    assert run.cost_nanos == 2 * 6_000_000


async def test_a_rerun_bills_every_attempt(
    client: TestClient, worker: Worker, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    run_id = next_id()
    first = job_event(
        "completed", job_id=next_id(), run_id=run_id, started=START, seconds=300, conclusion="failure"
    )
    second = job_event(
        "completed",
        job_id=next_id(),
        run_id=run_id,
        started=START + timedelta(hours=1),
        seconds=100,
        attempt=2,
    )
    for action, attempt, conclusion in [("completed", 1, "failure"), ("completed", 2, "success")]:
        await client.deliver(
            "workflow_run",
            run_event(action, run_id=run_id, created=START, attempt=attempt, conclusion=conclusion),
        )
    await client.deliver("workflow_job", first)
    await client.deliver("workflow_job", second)
    # A late event of the first attempt does not roll the run back.
    await client.deliver(
        "workflow_run", run_event("completed", run_id=run_id, created=START, conclusion="failure")
    )
    await worker.drain()
    run = (await runs_by_id(sessionmaker))[run_id]
    assert (run.run_attempt, run.conclusion) == (2, "success")
    assert (run.billable_minutes, run.cost_nanos) == (5 + 2, 7 * 6_000_000)
    jobs = await jobs_by_id(sessionmaker)
    assert sorted(job.run_attempt for job in jobs.values()) == [1, 2]
    token, org_id = await member_token(sessionmaker, client.settings, "ann", "acme")
    detail = (await client.get(f"/api/v1/dashboard/runs/{run.id}", token, org_id=org_id)).json()
    assert [(a["attempt"], a["billable_minutes"], a["cost"]) for a in detail["attempts"]] == [
        (1, 5, 0.03),
        (2, 2, 0.012),
    ]
    assert (detail["cost"], detail["run_attempt"], len(detail["jobs"])) == (0.042, 2, 2)
    assert detail["jobs"][0]["unit_price"] == 0.006
    other_token, other_org = await member_token(sessionmaker, client.settings, "eve", "elsewhere")
    assert (
        await client.get(f"/api/v1/dashboard/runs/{run.id}", other_token, org_id=other_org)
    ).status_code == 404


async def test_mapped_larger_runner_and_unmatched_labels(
    client: TestClient, worker: Worker, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    owner = account("bigco", 8080)
    async with transaction(sessionmaker) as session:
        org = Organization(github_account_id=8080, login="bigco", name="BigCo")
        session.add(org)
        await session.flush()
        session.add(
            RunnerMapping(org_id=org.id, match_kind="label", match_value="linux-16", sku="linux_16_core")
        )
    repo = repository("oss", private=False, repo_id=9191, owner=owner)
    mapped, unknown = next_id(), next_id()
    for job_id, labels in [(mapped, ["linux-16"]), (unknown, ["mystery-runner"])]:
        await client.deliver(
            "workflow_job",
            job_event(
                "completed",
                job_id=job_id,
                run_id=next_id(),
                started=START,
                seconds=120,
                labels=labels,
                repo=repo,
                runner_group="Larger runners",
            ),
        )
    await worker.drain()
    jobs = await jobs_by_id(sessionmaker)
    assert (jobs[mapped].sku, jobs[mapped].cost_nanos, jobs[mapped].price_source) == (
        "linux_16_core",
        2 * 42_000_000,
        "org_mapping",
    )
    assert (jobs[unknown].unpriced, jobs[unknown].cost_nanos, jobs[unknown].price_source) == (
        True,
        0,
        "unpriced",
    )


job_spec = st.tuples(
    st.integers(min_value=0, max_value=3 * 3600),  # seconds
    st.sampled_from([*RATES_2026, "mystery-runner"]),
    st.integers(min_value=1, max_value=2),  # attempt
)
run_spec = st.tuples(st.lists(job_spec, min_size=1, max_size=3), st.booleans())  # jobs, private


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    runs=st.lists(run_spec, min_size=1, max_size=3),
    order=st.randoms(use_true_random=False),
    duplicates=st.integers(min_value=0, max_value=4),
    drain_every=st.sampled_from([1, 4, 1000]),
)
async def test_any_order_converges_and_rollups_equal_raw_sums(
    client: TestClient,
    worker: Worker,
    sessionmaker: async_sessionmaker[AsyncSession],
    runs: list[tuple[list[tuple[int, str, int]], bool]],
    order: Any,
    duplicates: int,
    drain_every: int,
) -> None:
    deliveries: list[tuple[str, dict[str, Any], str]] = []
    expected: dict[int, int] = {}
    for jobs, private in runs:
        repo = repository(f"r{next_id()}", private=private, repo_id=next_id())
        run_id = next_id()
        created = START + timedelta(minutes=next_id() % 5000)
        for action in ("requested", "completed"):
            deliveries.append(
                (
                    "workflow_run",
                    run_event(action, run_id=run_id, created=created, repo=repo),
                    f"d{next_id()}",
                )
            )
        for seconds, label, attempt in jobs:
            job_id = next_id()
            rate = RATES_2026.get(label)
            expected[job_id] = 0 if rate is None or not private else math.ceil(seconds / 60) * rate
            for action in ("queued", "in_progress", "completed"):
                payload = job_event(
                    action,
                    job_id=job_id,
                    run_id=run_id,
                    started=created,
                    seconds=seconds,
                    labels=[label],
                    attempt=attempt,
                    repo=repo,
                )
                deliveries.append(("workflow_job", payload, f"d{next_id()}"))
    deliveries += [order.choice(deliveries) for _ in range(duplicates)]  # redeliveries, same GUID
    order.shuffle(deliveries)
    for index, (event, payload, guid) in enumerate(deliveries, start=1):
        assert (await client.deliver(event, payload, delivery_id=guid)).status_code == 202
        if index % drain_every == 0:
            await worker.drain()
    await worker.drain()

    jobs_now = await jobs_by_id(sessionmaker)
    for job_id, cost in expected.items():
        assert (jobs_now[job_id].status, jobs_now[job_id].cost_nanos) == ("completed", cost)
    runs_now = await runs_by_id(sessionmaker)
    for run in runs_now.values():
        assert run.cost_nanos == sum(j.cost_nanos for j in jobs_now.values() if j.run_id == run.id)
        assert run.status == "completed"
    async with transaction(sessionmaker) as session:
        raw = await raw_totals(session)
        ci, ledger = await rollup_totals(session)
    assert ci == raw
    assert ledger == raw
