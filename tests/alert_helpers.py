"""For the alert tests: a real HTTP server on loopback that records what it receives, CI costs written through
the webhook route, and the organization, tokens and clock the tests need."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.identity.service import ensure_user_with_organization
from cicosts.identity.tokens import create_access_token
from cicosts.models import Job, Organization
from tests.helpers import TestClient, job_event, next_id, repository

LINUX_NANOS_PER_MINUTE = 6_000_000  # ubuntu-latest from 2026-01-01: $0.006 a minute
_runs = itertools.count(900_000)
_repositories: dict[str, int] = {"app": 777}


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HookServer:
    """An HTTP/1.1 server on 127.0.0.1 answering each request with the next status of `statuses`
    (the last one repeats), and keeping every request it got."""

    statuses: list[int] = field(default_factory=lambda: [200])
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> HookServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path, _ = (await reader.readline()).decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            status = self.statuses[min(len(self.requests), len(self.statuses) - 1)]
            self.requests.append(Received(method, path, headers, body))
            reply = b"ok" if status < 300 else b"no_service"
            writer.write(
                f"HTTP/1.1 {status} Status\r\nContent-Type: text/plain\r\nContent-Length: {len(reply)}\r\n"
                f"Connection: close\r\n\r\n".encode()
                + reply
            )
            await writer.drain()
        finally:
            writer.close()


async def ci_job(
    client: TestClient,
    completed: datetime,
    minutes: int,
    *,
    repo: str = "app",
    workflow: str = "CI",
    labels: list[str] | None = None,
) -> None:
    """A completed GitHub Actions job, delivered through the webhook route (the worker then prices it)."""
    payload = job_event(
        "completed",
        job_id=next_id(),
        run_id=next(_runs),
        started=completed - timedelta(minutes=minutes),
        seconds=minutes * 60,
        labels=labels,
        workflow=workflow,
        repo=repository(repo, repo_id=_repositories.setdefault(repo, 5000 + len(_repositories))),
    )
    response = await client.deliver("workflow_job", payload)
    assert response.status_code == 202, response.text


async def organization(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    time_zone: str = "UTC",
    login: str = "acme",
) -> tuple[int, dict[str, str]]:
    """The organization (the one CI deliveries of `acme` go to) and a token per role, with emails set."""
    tokens = {}
    async with transaction(sessionmaker) as session:
        for role in ("owner", "admin", "member", "viewer"):
            user, org = await ensure_user_with_organization(session, f"{login}-{role}", login, role=role)
            user.email = f"{role}@{login}.example"
            tokens[role] = create_access_token(user.id, settings)
        org.time_zone = time_zone
        org_id = org.id
    return org_id, tokens


async def set_time_zone(sessionmaker: async_sessionmaker[AsyncSession], org_id: int, time_zone: str) -> None:
    async with transaction(sessionmaker) as session:
        await session.execute(
            update(Organization).where(Organization.id == org_id).values(time_zone=time_zone)
        )


async def make_due(sessionmaker: async_sessionmaker[AsyncSession], queue: str) -> None:
    """Jobs waiting for their time (a debounce, a retry's backoff) become due now."""
    async with transaction(sessionmaker) as session:
        await session.execute(update(Job).where(Job.queue == queue).values(run_at=Job.created_at))


async def jobs_of(sessionmaker: async_sessionmaker[AsyncSession], queue: str) -> list[Job]:
    async with transaction(sessionmaker) as session:
        return list(await session.scalars(select(Job).where(Job.queue == queue).order_by(Job.id)))


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Clock:
    """A settable clock for the worker: evaluation and scheduling happen at `now`."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def body(**fields: Any) -> dict[str, Any]:
    """An alert to create: a monthly cost threshold of $1 over everything, email off, unless told."""
    return {
        "name": "Spend",
        "alert_type": "cost_threshold",
        "threshold_amount": 1,
        "period": "monthly",
        "notify_email": False,
        **fields,
    }
