"""GitHub's own example payloads, signed and posted, produce what they describe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.db import transaction
from cicosts.models import Installation, Job, Organization, Repository, WorkflowJob, WorkflowRun
from cicosts.worker.runner import Worker
from tests.helpers import TestClient


def load(fixtures_dir: Path, name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((fixtures_dir / "github" / f"{name}.payload.json").read_text())
    return payload


async def deliver_all(client: TestClient, fixtures_dir: Path, names: list[str]) -> None:
    for name in names:
        response = await client.deliver(name.split(".")[0], load(fixtures_dir, name))
        assert response.status_code in (200, 202), response.text


async def test_every_fixture_is_accepted_and_processed_without_failure(
    client: TestClient, worker: Worker, fixtures_dir: Path, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    names = sorted(p.name.removesuffix(".payload.json") for p in (fixtures_dir / "github").glob("*.json"))
    await deliver_all(client, fixtures_dir, names)
    await worker.drain()
    async with transaction(sessionmaker) as session:
        statuses = {job.kind: job.status for job in await session.scalars(select(Job))}
    assert statuses and set(statuses.values()) == {"done"}, statuses


async def test_completed_job_fixture_is_priced_by_githubs_rules(
    client: TestClient, worker: Worker, fixtures_dir: Path, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await deliver_all(client, fixtures_dir, ["workflow_job.completed.success.with-organization"])
    await worker.drain()
    async with transaction(sessionmaker) as session:
        job = (await session.scalars(select(WorkflowJob))).one()
        run = (await session.scalars(select(WorkflowRun))).one()
        repo = (await session.scalars(select(Repository))).one()
    # 10:34:58 -> 10:38:16 is 3 min 18 s: billed as 4 minutes of ubuntu-latest, in a public repo.
    assert (job.github_job_id, job.status, job.conclusion) == (289782451, "completed", "success")
    assert (job.billable_minutes, job.sku, job.unit_price_nanos) == (4, "linux", 8_000_000)
    assert (job.cost_nanos, job.list_cost_nanos, job.price_source) == (0, 32_000_000, "public_repo_free")
    assert job.labels == ["ubuntu-latest"] and job.runner_group_name == "GitHub Actions"
    assert (run.github_run_id, run.name, run.described) == (2202229078, "CodeQL", False)
    assert (repo.full_name, repo.private) == ("Codertocat/Hello-World", False)


async def test_run_fixtures_describe_the_run(
    client: TestClient, worker: Worker, fixtures_dir: Path, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await deliver_all(client, fixtures_dir, ["workflow_run.completed", "workflow_run.requested"])
    await worker.drain()
    async with transaction(sessionmaker) as session:
        run = (await session.scalars(select(WorkflowRun))).one()
    delivery = load(fixtures_dir, "workflow_run.completed")
    payload = delivery["workflow_run"]
    assert run.github_run_id == payload["id"]
    # This run's own name is empty; its workflow's name stands in.
    assert (run.name, run.path, run.event) == (
        delivery["workflow"]["name"],
        payload["path"],
        payload["event"],
    )
    assert (run.head_branch, run.run_number, run.run_attempt) == (
        payload["head_branch"],
        payload["run_number"],
        payload["run_attempt"],
    )
    # The late `requested` event does not undo the completion.
    assert (run.status, run.conclusion) == ("completed", payload["conclusion"])
    assert run.actor_login == payload["actor"]["login"]


async def test_installation_fixtures_create_accounts_installations_and_repositories(
    client: TestClient, worker: Worker, fixtures_dir: Path, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await deliver_all(
        client,
        fixtures_dir,
        ["installation.created", "installation_repositories.added", "installation.suspend"],
    )
    await worker.drain()
    created = load(fixtures_dir, "installation.created")
    async with transaction(sessionmaker) as session:
        org = (await session.scalars(select(Organization))).one()
        installations = {i.github_installation_id: i for i in await session.scalars(select(Installation))}
        repos = {r.full_name: r for r in await session.scalars(select(Repository))}
    account = created["installation"]["account"]
    assert (org.login, org.github_account_id, org.account_type) == (account["login"], account["id"], "User")
    assert installations[957387].status == "active"
    assert installations[957387].permissions == created["installation"]["permissions"]
    assert installations[16598467].status == "suspended"
    assert set(repos) == {"Codertocat/Hello-World", "Codertocat/Space"}
    assert all(r.installed for r in repos.values())


async def test_uninstalling_and_removing_repositories_keeps_their_data(
    client: TestClient, worker: Worker, fixtures_dir: Path, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await deliver_all(client, fixtures_dir, ["installation_repositories.removed", "installation.deleted"])
    await worker.drain()
    async with transaction(sessionmaker) as session:
        installation = (await session.scalars(select(Installation))).one()
        repos = list(await session.scalars(select(Repository)))
    assert installation.status == "deleted"
    assert [(r.full_name, r.installed) for r in repos] == [("octocat/Hello-World", False)]


async def test_self_hosted_waiting_job_is_recorded_but_not_billed_yet(
    client: TestClient, worker: Worker, fixtures_dir: Path, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await deliver_all(client, fixtures_dir, ["workflow_job.waiting"])
    await worker.drain()
    async with transaction(sessionmaker) as session:
        job = (await session.scalars(select(WorkflowJob))).one()
    assert (job.status, job.sku, job.cost_nanos, job.unpriced) == ("waiting", "self_hosted", 0, False)
