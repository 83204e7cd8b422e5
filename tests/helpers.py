"""Test helpers: signed deliveries, tokens and payload factories of our own."""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.ci.webhooks.service import signature_for
from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.identity.service import ensure_user_with_organization
from cicosts.identity.tokens import create_access_token
from cicosts.models import CIDaily, CIHourly, CIOrgHourly, LedgerHourly, WorkflowJob, WorkflowRun

WEBHOOK_SECRET = "test-webhook-secret"
_ids = itertools.count(1_000_000)


def next_id() -> int:
    return next(_ids)


@dataclass
class TestClient:
    """An HTTP client for the app under test, with the calls tests make again and again."""

    __test__ = False
    http: httpx.AsyncClient
    settings: Settings

    async def deliver(
        self, event: str, payload: dict[str, Any] | bytes, delivery_id: str | None = None
    ) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return await self.http.post(
            "/api/v1/webhooks/github",
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": event,
                "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
                "X-Hub-Signature-256": signature_for(WEBHOOK_SECRET, body),
            },
        )

    async def get(self, path: str, token: str | None = None, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.http.get(path, params=params, headers=headers)


async def member_token(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, login: str, org_login: str
) -> tuple[str, int]:
    """A user who is a member of `org_login`; returns their token and the organization's id."""
    async with transaction(sessionmaker) as session:
        user, org = await ensure_user_with_organization(session, login, org_login)
    return create_access_token(user.id, settings), org.id


def at(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def account(login: str = "acme", account_id: int = 4242, kind: str = "Organization") -> dict[str, Any]:
    return {"id": account_id, "login": login, "type": kind}


def repository(
    name: str = "app", private: bool = True, repo_id: int = 777, owner: dict[str, Any] | None = None
) -> dict[str, Any]:
    owner = owner or account()
    return {
        "id": repo_id,
        "name": name,
        "full_name": f"{owner['login']}/{name}",
        "private": private,
        "owner": owner,
    }


def job_event(
    action: str,
    *,
    job_id: int,
    run_id: int,
    started: datetime,
    seconds: int,
    labels: list[str] | None = None,
    workflow: str = "CI",
    attempt: int = 1,
    conclusion: str = "success",
    repo: dict[str, Any] | None = None,
    runner_group: str | None = "GitHub Actions",
) -> dict[str, Any]:
    completed = started + timedelta(seconds=seconds)
    return {
        "action": action,
        "workflow_job": {
            "id": job_id,
            "run_id": run_id,
            "run_attempt": attempt,
            "workflow_name": workflow,
            "name": f"job-{job_id}",
            "head_branch": "main",
            "status": action,
            "conclusion": conclusion if action == "completed" else None,
            "created_at": iso(started - timedelta(seconds=5)),
            "started_at": iso(started),
            "completed_at": iso(completed) if action == "completed" else None,
            "labels": labels if labels is not None else ["ubuntu-latest"],
            "runner_name": "GitHub Actions 2",
            "runner_group_name": runner_group,
        },
        "repository": repo or repository(),
    }


def run_event(
    action: str,
    *,
    run_id: int,
    created: datetime,
    seconds: int = 300,
    workflow: str = "CI",
    attempt: int = 1,
    conclusion: str = "success",
    repo: dict[str, Any] | None = None,
) -> dict[str, Any]:
    status = {"requested": "queued", "in_progress": "in_progress", "completed": "completed"}[action]
    return {
        "action": action,
        "workflow_run": {
            "id": run_id,
            "name": workflow,
            "path": f".github/workflows/{workflow.lower()}.yml",
            "workflow_id": 55,
            "event": "push",
            "head_branch": "main",
            "head_sha": "a" * 40,
            "run_number": 12,
            "run_attempt": attempt,
            "status": status,
            "conclusion": conclusion if action == "completed" else None,
            "created_at": iso(created),
            "run_started_at": iso(created + timedelta(seconds=10)),
            "updated_at": iso(created + timedelta(seconds=10 + seconds)),
            "actor": {"login": "octocat"},
        },
        "workflow": {"id": 55, "name": workflow, "path": f".github/workflows/{workflow.lower()}.yml"},
        "repository": repo or repository(),
    }


@dataclass(frozen=True)
class Totals:
    cost: int
    list_cost: int
    minutes: int
    jobs: int
    unpriced: int
    runs: int


async def raw_totals(session: AsyncSession) -> Totals:
    """Sums straight from the raw rows."""
    billed = (WorkflowJob.status == "completed") & WorkflowJob.completed_at.is_not(None)
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(WorkflowJob.cost_nanos), 0),
                func.coalesce(func.sum(WorkflowJob.list_cost_nanos), 0),
                func.coalesce(func.sum(WorkflowJob.billable_minutes), 0),
                func.count(WorkflowJob.id),
                func.coalesce(func.sum(func.cast(WorkflowJob.unpriced, type_=CIHourly.jobs.type)), 0),
            ).where(billed)
        )
    ).one()
    runs = await session.scalar(select(func.count(WorkflowRun.id)))
    return Totals(*(int(v) for v in row), runs=int(runs or 0))


async def _ci_totals(session: AsyncSession, table: Any) -> Totals:
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(table.cost_nanos), 0),
                func.coalesce(func.sum(table.list_cost_nanos), 0),
                func.coalesce(func.sum(table.billable_minutes), 0),
                func.coalesce(func.sum(table.jobs), 0),
                func.coalesce(func.sum(table.unpriced_jobs), 0),
                func.coalesce(func.sum(table.runs), 0),
            )
        )
    ).one()
    return Totals(*(int(v) for v in row))


async def rollup_totals(session: AsyncSession) -> tuple[Totals, Totals]:
    """The same sums from the CI rollups (which must agree with each other) and from the ledger."""
    hourly, daily, by_org = [await _ci_totals(session, t) for t in (CIHourly, CIDaily, CIOrgHourly)]
    assert hourly == daily == by_org, (hourly, daily, by_org)
    ledger = (
        await session.execute(
            select(
                func.coalesce(func.sum(LedgerHourly.billed_nanos), 0),
                func.coalesce(func.sum(LedgerHourly.list_nanos), 0),
                func.coalesce(func.sum(LedgerHourly.quantity_micros), 0) / 1_000_000,
                func.coalesce(func.sum(LedgerHourly.record_count), 0),
                func.coalesce(func.sum(LedgerHourly.unpriced_count), 0),
            )
        )
    ).one()
    return hourly, Totals(*(int(v) for v in ledger), runs=hourly.runs)
