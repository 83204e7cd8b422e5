"""The demo organization: eight repositories, 25 workflows and 90 days of runs, fed through real ingestion."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.ci.simulation import Account, JobSpec, Repo, Scenario, WorkflowSpec
from cicosts.ci.webhooks.service import accept_delivery
from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.identity import repository as identity_repository
from cicosts.identity.service import ensure_github_account
from cicosts.kit.periods import utc_now
from cicosts.models import RunnerMapping
from cicosts.worker.runner import Worker

DEMO_ACCOUNT = Account(id=90_000_001, login="acme-demo")
DEMO_TIME_ZONE = "America/New_York"


def _repo(repo_id: int, name: str, private: bool = True) -> Repo:
    return Repo(repo_id, name, DEMO_ACCOUNT, private)


def demo_workflows() -> list[WorkflowSpec]:
    web = _repo(91_001, "web-app")
    api = _repo(91_002, "api-server")
    ios = _repo(91_003, "mobile-ios")
    desktop = _repo(91_004, "desktop-client")
    infra = _repo(91_005, "infrastructure")
    ml = _repo(91_006, "ml-pipeline")
    docs = _repo(91_007, "docs-site", private=False)
    sdk = _repo(91_008, "open-sdk", private=False)
    linux = ("ubuntu-latest",)
    specs: list[tuple[Repo, str, list[tuple[str, tuple[str, ...], float]], float]] = [
        (web, "CI", [("lint", linux, 2), ("unit-tests", linux, 7), ("build", linux, 4)], 7),
        (web, "E2E", [("playwright", ("ubuntu-24.04",), 12)], 3),
        (web, "Deploy", [("deploy", linux, 3)], 1.5),
        (web, "CodeQL", [("analyze", linux, 9)], 0.5),
        (api, "CI", [("test", linux, 9), ("integration", ("linux-8-core",), 14)], 6),
        (api, "Release", [("docker", ("ubuntu-22.04",), 6), ("publish", linux, 2)], 0.5),
        (api, "Nightly load test", [("k6", ("linux-8-core",), 35)], 0.5),
        (ios, "iOS build", [("build", ("macos-15",), 18), ("test", ("macos-15",), 22)], 2.5),
        (ios, "TestFlight", [("archive", ("macos-15-xlarge",), 25)], 0.5),
        (ios, "Lint", [("swiftlint", ("ubuntu-latest",), 2)], 3),
        (desktop, "Windows build", [("msbuild", ("windows-latest",), 16)], 2.5),
        (desktop, "Installer", [("wix", ("windows-2022",), 11)], 0.5),
        (desktop, "ARM build", [("build", ("ubuntu-24.04-arm",), 9)], 1.5),
        (infra, "Terraform plan", [("plan", ("self-hosted", "linux", "x64"), 4)], 3),
        (infra, "Terraform apply", [("apply", ("self-hosted", "linux", "x64"), 6)], 0.5),
        (infra, "Ansible lint", [("lint", ("ubuntu-slim",), 1)], 2),
        (ml, "Train", [("train", ("gpu-runner",), 45)], 0.5),
        (ml, "Evaluate", [("eval", ("linux-8-core",), 20)], 1),
        (ml, "Data checks", [("validate", ("custom-arm-large",), 8)], 2),
        (ml, "Unit tests", [("pytest", linux, 6)], 3),
        (docs, "Docs", [("build", linux, 3), ("link-check", linux, 2)], 2.5),
        (docs, "Preview", [("preview", linux, 2)], 2),
        (
            sdk,
            "Test matrix",
            [
                ("linux", linux, 5),
                ("windows", ("windows-latest",), 9),
                ("macos", ("macos-latest",), 8),
            ],
            4,
        ),
        (sdk, "Benchmarks", [("bench", ("linux-8-core",), 15)], 0.5),
        (sdk, "Release", [("publish", linux, 3)], 0.5),
    ]
    return [
        WorkflowSpec(
            id=92_000 + index,
            name=name,
            path=f".github/workflows/{name.lower().replace(' ', '-')}.yml",
            repo=repo,
            jobs=tuple(JobSpec(job, labels, minutes) for job, labels, minutes in jobs),
            runs_per_day=rate,
        )
        for index, (repo, name, jobs, rate) in enumerate(specs)
    ]


async def _prepare_organization(session: AsyncSession) -> None:
    organization = await ensure_github_account(session, DEMO_ACCOUNT.payload())
    organization.name = "Acme (demo)"
    organization.time_zone = DEMO_TIME_ZONE
    # Larger and GPU runners carry the organization's own labels; it maps them to GitHub's SKUs.
    session.add_all(
        [
            RunnerMapping(
                org_id=organization.id,
                match_kind="label",
                match_value="linux-8-core",
                sku="linux_8_core",
            ),
            RunnerMapping(
                org_id=organization.id,
                match_kind="label",
                match_value="gpu-runner",
                sku="linux_4_core_gpu",
            ),
        ]
    )


async def demo_exists(sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    async with transaction(sessionmaker) as session:
        return await identity_repository.organization_by_login(session, DEMO_ACCOUNT.login) is not None


async def load_demo(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    days: int = 90,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Send the demo's deliveries through the inbox and the worker; returns how many were sent."""
    now = now or utc_now()
    async with transaction(sessionmaker) as session:
        await _prepare_organization(session)
    scenario = Scenario(demo_workflows(), job_events=("queued", "completed"))
    start = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    worker = Worker(sessionmaker, settings)
    sent = 0
    pending: list[tuple[str, str, bytes]] = []
    for delivery in scenario.runs_between(start, now):
        pending.append((delivery.event, delivery.delivery_id, json.dumps(delivery.payload).encode()))
        if len(pending) >= 500:
            sent += await _ingest(sessionmaker, worker, pending)
            pending = []
            if progress:
                progress(sent)
    sent += await _ingest(sessionmaker, worker, pending)
    if progress:
        progress(sent)
    return sent


async def _ingest(
    sessionmaker: async_sessionmaker[AsyncSession],
    worker: Worker,
    deliveries: list[tuple[str, str, bytes]],
) -> int:
    async with transaction(sessionmaker) as session:
        for event, delivery_id, body in deliveries:
            await accept_delivery(session, event=event, delivery_id=delivery_id, body=body)
    await worker.drain()
    return len(deliveries)
