"""Webhook ingestion benchmarks; prints one JSON document on stdout (progress goes to stderr).

accept:  deliveries accepted per second over HTTP. The API runs alone (no worker) in a subprocess, as
         `cicosts api [--workers N]`, and receives signed ~8 KB `workflow_job` deliveries on 127.0.0.1
         from wrk (when installed) or an httpx client. Afterwards the `jobs` table must hold every
         delivery exactly once, and redelivering a sample must store nothing new.
process: job events processed per second by one worker. N realistic deliveries (the demo organization's
         workflows) are stored in the inbox first; then `Worker.drain()` is timed.

    .venv/bin/python bench/webhooks.py [--only accept|process] [--tool auto|wrk|python] [--api-workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cicosts.ci.simulation import Delivery, Scenario, workflow_job_payload
from cicosts.ci.webhooks.service import GITHUB_QUEUE, accept_delivery, signature_for
from cicosts.config import Settings
from cicosts.db import create_engine, create_sessionmaker, transaction
from cicosts.demo import DEMO_ACCOUNT, demo_workflows
from cicosts.identity.service import ensure_github_account
from cicosts.kit.periods import utc_now
from cicosts.models import CIHourly, Job, LedgerHourly, RunnerMapping, WorkflowJob, WorkflowRun
from cicosts.worker.runner import Worker
from common import (
    BENCH_SECRET,
    bench_environment,
    bench_settings,
    database_version,
    default_database_url,
    emit,
    fresh_database,
    latency_summary_ms,
    log,
    machine,
)

BENCH_DIR = Path(__file__).resolve().parent
WRK_SCRIPT = BENCH_DIR / "webhook_load.lua"
WEBHOOK_PATH = "/api/v1/webhooks/github"
HOST = "127.0.0.1"
BODY_BYTES = 8 * 1024
WARMUP_DELIVERIES = 200
REDELIVERED_SAMPLE = 100
READY_TIMEOUT_SECONDS = 30.0
STARTUP_COMPLETE = "Application startup complete."  # uvicorn logs it once per process
PRELOAD_PER_TRANSACTION = 5_000
WRK_POLL_SECONDS = 0.005
STALL_SECONDS = 30.0
PROBLEM = re.compile(r"ERROR|CRITICAL|Traceback|\" [45]\d\d\b")
T = TypeVar("T")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--database-url", default=default_database_url())
    parser.add_argument("--only", choices=("accept", "process"), help="run one of the two benchmarks")
    parser.add_argument("--count", type=int, default=20_000, help="deliveries sent over HTTP")
    parser.add_argument("--concurrency", type=int, default=64, help="open HTTP connections")
    parser.add_argument("--api-workers", type=int, default=1, help="API processes (cicosts api --workers)")
    parser.add_argument("--access-log", action="store_true", help="cicosts api --access-log")
    parser.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--port", type=int, default=0, help="API port (default: a free one)")
    parser.add_argument("--events", type=int, default=20_000, help="deliveries processed by the worker")
    parser.add_argument("--batch-size", type=int, default=Settings.model_fields["worker_batch_size"].default)
    parser.add_argument("--max-seconds", type=float, default=600.0, help="time limit of each benchmark")
    parser.add_argument("--allow-reset", action="store_true", help="empty a database not named *bench*")
    args = parser.parse_args()
    for name in ("count", "concurrency", "api_workers", "wrk_threads", "events", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


# --- accept: the payload ----------------------------------------------------------------------


def padded_job_body(target_bytes: int = BODY_BYTES) -> bytes:
    """A completed `workflow_job` delivery grown to GitHub's typical size with `steps` (which we ignore)."""
    spec = demo_workflows()[0]
    completed = utc_now().replace(microsecond=0)
    started = completed - timedelta(minutes=7)
    payload = workflow_job_payload(
        spec,
        spec.jobs[1],
        job_id=7_000_000_001,
        run_id=7_000_000_000,
        attempt=1,
        action="completed",
        created=started - timedelta(seconds=20),
        started=started,
        completed=completed,
        conclusion="success",
        runner_name="GitHub Actions 17",
    )
    steps: list[dict[str, Any]] = payload["workflow_job"]["steps"]
    while len(json.dumps(payload)) < target_bytes:
        number = len(steps) + 1
        steps.append(
            {
                "name": f"Run step {number}: npm run test -- --shard={number}",
                "status": "completed",
                "conclusion": "success",
                "number": number,
                "started_at": payload["workflow_job"]["started_at"],
                "completed_at": payload["workflow_job"]["completed_at"],
            }
        )
    return json.dumps(payload).encode()


def delivery_headers(signature: str, delivery_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": "workflow_job",
        "X-GitHub-Delivery": delivery_id,
        "X-Hub-Signature-256": signature,
    }


# --- accept: the API subprocess ----------------------------------------------------------------


@dataclass
class ApiServer:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    workers: int

    def workers_started(self) -> int:
        return self.log_path.read_text(errors="replace").count(STARTUP_COMPLETE)

    @property
    def webhook_url(self) -> str:
        return f"http://{HOST}:{self.port}{WEBHOOK_PATH}"

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def problems(self, limit: int = 20) -> list[str]:
        """The API's log lines about errors and non-2xx answers (the first `limit` of them)."""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [line for line in lines if PROBLEM.search(line)][:limit]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def server_command(port: int, workers: int, access_log: bool) -> list[str]:
    """`cicosts api`, as it is run in production."""
    command = [str(Path(sys.executable).with_name("cicosts")), "api", "--host", HOST, "--port", str(port)]
    command += ["--workers", str(workers)]
    return [*command, "--access-log"] if access_log else command


async def wait_until_ready(server: ApiServer) -> None:
    """Until every API process has started: the parent listens from the start, so a load generator's
    keep-alive connections opened sooner all go to the first process and stay there."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"the API exited with {server.process.returncode}:\n{server.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                ready = await client.get(f"http://{HOST}:{server.port}/health/ready")
                if ready.status_code == 200 and server.workers_started() >= server.workers:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the API was not ready within {READY_TIMEOUT_SECONDS:.0f}s:\n{server.log_tail()}")


def start_api(database_url: str, port: int, workers: int, access_log: bool, log_dir: Path) -> ApiServer:
    env = bench_environment(database_url)
    log_path = log_dir / "api.log"
    with log_path.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            server_command(port, workers, access_log), env=env, stdout=output, stderr=subprocess.STDOUT
        )
    return ApiServer(process, port, log_path, workers)


def stop_api(server: ApiServer) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=5)


# --- accept: load generators --------------------------------------------------------------------


@dataclass
class LoadResult:
    tool: str
    sent_ids: list[str]
    seconds: float
    latency_ms: dict[str, float]
    statuses: dict[str, int] = field(default_factory=dict)


async def python_load(
    url: str, body: bytes, signature: str, delivery_ids: list[str], concurrency: int, max_seconds: float
) -> LoadResult:
    """`concurrency` senders share one list of deliveries; each sends the next one until none are left.

    A delivery whose connection fails is sent once more under the same id, as GitHub redelivers it.
    """
    pending = iter(delivery_ids)
    sent: list[str] = []
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    deadline = time.perf_counter() + max_seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def send(client: httpx.AsyncClient, delivery_id: str) -> str:
        headers = delivery_headers(signature, delivery_id)
        for attempt in range(2):
            try:
                return str((await client.post(url, content=body, headers=headers)).status_code)
            except httpx.TransportError as exc:
                statuses[f"{type(exc).__name__} (sent again)" if attempt == 0 else type(exc).__name__] += 1
        return "failed"

    async def sender(client: httpx.AsyncClient) -> None:
        for delivery_id in pending:
            if time.perf_counter() > deadline:
                return
            started = time.perf_counter()
            statuses[await send(client, delivery_id)] += 1
            latencies.append(time.perf_counter() - started)
            sent.append(delivery_id)

    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(sender(client) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return LoadResult("python", sent, seconds, latency_summary_ms(latencies), dict(statuses))


def wrk_thread_count(options: argparse.Namespace) -> int:
    return min(options.wrk_threads, options.concurrency, options.count)


def thread_quotas(count: int, threads: int) -> list[int]:
    return [count // threads + (1 if index < count % threads else 0) for index in range(threads)]


def wrk_command(
    url: str, body_path: Path, signature: str, prefix: str, quotas: list[int], options: argparse.Namespace
) -> list[str]:
    command = ["wrk", "-t", str(len(quotas)), "-c", str(max(options.concurrency, len(quotas)))]
    command += ["-d", f"{math.ceil(options.max_seconds)}s", "--timeout", "30s", "-s", str(WRK_SCRIPT)]
    arguments = [str(body_path), signature, ",".join(map(str, quotas)), prefix, str(body_path.parent)]
    return [*command, url, "--", *arguments]


def wrk_progress(done_dir: Path) -> int:
    """Responses so far, as webhook_load.lua's threads record them every 500."""
    return sum(int(path.read_text() or 0) for path in done_dir.glob("*.progress"))


async def run_wrk_until_done(
    command: list[str], done_dir: Path, threads: int, max_seconds: float
) -> tuple[str, bool]:
    """wrk's main thread sleeps for the whole -d duration: interrupt it once every thread is done, or when
    no response has come for STALL_SECONDS (a request lost to a socket error is never answered)."""
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    deadline = time.monotonic() + max_seconds
    progress, progressed_at, stalled = 0, time.monotonic(), False
    while process.returncode is None and time.monotonic() < deadline:
        if all((done_dir / str(thread)).exists() for thread in range(threads)):
            break
        if (now := wrk_progress(done_dir)) != progress:
            progress, progressed_at = now, time.monotonic()
        elif stalled := time.monotonic() - progressed_at > STALL_SECONDS:
            log(f"accept: no response for {STALL_SECONDS:.0f}s, stopping wrk")
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), timeout=WRK_POLL_SECONDS)
    if process.returncode is None:
        process.send_signal(signal.SIGINT)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    if process.returncode:
        raise RuntimeError(f"wrk exited with {process.returncode}:\n{stdout.decode()}\n{stderr.decode()}")
    return stdout.decode(), stalled


def parse_wrk_result(stdout: str) -> tuple[float, dict[str, float], dict[str, int]]:
    """(seconds, latency percentiles in ms, response and error counts) from webhook_load.lua's done()."""
    marker = "WRK_RESULT "
    line = next((ln for ln in stdout.splitlines() if ln.startswith(marker)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{stdout}")
    result = json.loads(line.removeprefix(marker))
    latency = {f"p{p}": round(result[f"p{p}_us"] / 1000, 3) for p in (50, 95, 99)}
    latency["max"] = round(result["max_us"] / 1000, 3)
    names = ("requests", "status_errors", "connect_errors", "read_errors", "write_errors", "timeouts")
    return result["duration_us"] / 1e6, latency, {name: result[name] for name in names}


async def wrk_load(
    url: str, body_path: Path, signature: str, prefix: str, options: argparse.Namespace
) -> LoadResult:
    """wrk sends one body under a new delivery id each time (see webhook_load.lua), `count` in all."""
    quotas = thread_quotas(options.count, wrk_thread_count(options))
    command = wrk_command(url, body_path, signature, prefix, quotas, options)
    stdout, stalled = await run_wrk_until_done(command, body_path.parent, len(quotas), options.max_seconds)
    seconds, latency, counts = parse_wrk_result(stdout)
    counts["stalled"] = int(stalled)
    sent_ids = [f"{prefix}-{thread}-{n}" for thread, quota in enumerate(quotas) for n in range(1, quota + 1)]
    return LoadResult("wrk", sent_ids, seconds, latency, counts)


def choose_tool(requested: str) -> str:
    if requested == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if requested == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install -y wrk), or use --tool python")
    return requested


# --- accept: the run and its verification ------------------------------------------------------------


async def send_deliveries(
    tool: str, server: ApiServer, body: bytes, body_path: Path, prefix: str, options: argparse.Namespace
) -> LoadResult:
    signature = signature_for(BENCH_SECRET, body)
    log(f"accept: sending {options.count} deliveries with {tool}, {options.concurrency} connections")
    if tool == "wrk":
        return await wrk_load(server.webhook_url, body_path, signature, prefix, options)
    ids = [f"{prefix}-{index}" for index in range(1, options.count + 1)]
    return await python_load(
        server.webhook_url, body, signature, ids, options.concurrency, options.max_seconds
    )


async def stored_ids(engine: AsyncEngine, prefix: str) -> list[str]:
    """The delivery ids in the inbox that start with `prefix` (one per row)."""
    async with engine.connect() as connection:
        rows = await connection.scalars(
            select(Job.dedupe_key).where(Job.queue == GITHUB_QUEUE, Job.dedupe_key.startswith(prefix))
        )
        return list(rows)


async def check_storage(engine: AsyncEngine, prefix: str, sent_ids: list[str]) -> dict[str, Any]:
    """Every delivery sent is in the inbox, once, and nothing else is."""
    stored = await stored_ids(engine, prefix)
    expected, found = set(sent_ids), set(stored)
    return {
        "stored_rows": len(stored),
        "missing": len(expected - found),
        "unexpected": len(found - expected),
        "stored_exactly_once": len(stored) == len(found) and found == expected,
    }


async def redeliver(
    url: str, body: bytes, signature: str, delivery_ids: list[str], engine: AsyncEngine, prefix: str
) -> dict[str, Any]:
    """GitHub redelivers under the same id: each must be answered `duplicate` and add no row."""
    before = len(await stored_ids(engine, prefix))
    answers: Counter[str] = Counter()
    async with httpx.AsyncClient(timeout=30) as client:
        for delivery_id in delivery_ids:
            response = await client.post(url, content=body, headers=delivery_headers(signature, delivery_id))
            answers[response.json().get("status", str(response.status_code))] += 1
    new_rows = len(await stored_ids(engine, prefix)) - before
    return {"sent": len(delivery_ids), "answers": dict(answers), "new_rows": new_rows}


async def bench_accept(options: argparse.Namespace) -> dict[str, Any]:
    tool = choose_tool(options.tool)
    await fresh_database(options.database_url, allow_reset=options.allow_reset)
    body = padded_job_body()
    signature = signature_for(BENCH_SECRET, body)
    prefix = f"bench-{int(time.time())}"
    engine = create_engine(bench_settings(options.database_url))
    try:
        with tempfile.TemporaryDirectory(prefix="cicosts-bench-") as scratch:
            body_path = Path(scratch) / "body.json"
            body_path.write_bytes(body)
            port = options.port or free_port()
            server = start_api(
                options.database_url, port, options.api_workers, options.access_log, Path(scratch)
            )
            try:
                await wait_until_ready(server)
                warmup = [f"warmup-{index}" for index in range(WARMUP_DELIVERIES)]
                await python_load(server.webhook_url, body, signature, warmup, 16, options.max_seconds)
                load = await send_deliveries(tool, server, body, body_path, prefix, options)
                storage = await check_storage(engine, prefix, load.sent_ids)
                sample = load.sent_ids[:REDELIVERED_SAMPLE]
                redelivered = await redeliver(server.webhook_url, body, signature, sample, engine, prefix)
            finally:
                stop_api(server)
            problems = server.problems()
        version = await database_version(engine)
    finally:
        await engine.dispose()
    return {
        "database": version,
        "tool": load.tool,
        "api_workers": options.api_workers,
        "access_log": options.access_log,
        "concurrency": options.concurrency,
        "body_bytes": len(body),
        "deliveries": options.count,
        "seconds": round(load.seconds, 3),
        "accepted_per_second": round(storage["stored_rows"] / load.seconds, 1) if load.seconds else 0.0,
        "latency_ms": load.latency_ms,
        "responses": load.statuses,
        **storage,
        "redelivered": redelivered,
        "api_log_problems": problems,
    }


# --- process: one worker drains the inbox ---------------------------------------------------------


async def prepare_demo_organization(session: AsyncSession) -> None:
    """The demo organization and its runner mappings, so that larger and GPU runners are priced."""
    organization = await ensure_github_account(session, DEMO_ACCOUNT.payload())
    organization.time_zone = "America/New_York"
    for label, sku in (("linux-8-core", "linux_8_core"), ("gpu-runner", "linux_4_core_gpu")):
        session.add(RunnerMapping(org_id=organization.id, match_kind="label", match_value=label, sku=sku))


def realistic_deliveries(count: int) -> Iterator[Delivery]:
    """The first `count` deliveries of a year of the demo's workflows (queued, in_progress, completed)."""
    now = utc_now()
    return islice(Scenario(demo_workflows()).runs_between(now - timedelta(days=365), now), count)


async def preload_inbox(sessionmaker: async_sessionmaker[AsyncSession], count: int) -> Counter[str]:
    async with transaction(sessionmaker) as session:
        await prepare_demo_organization(session)
    kinds: Counter[str] = Counter()
    for chunk in batched(realistic_deliveries(count), PRELOAD_PER_TRANSACTION):
        async with transaction(sessionmaker) as session:
            for delivery in chunk:
                body = json.dumps(delivery.payload).encode()
                await accept_delivery(
                    session, event=delivery.event, delivery_id=delivery.delivery_id, body=body
                )
                kinds[f"{delivery.event}.{delivery.payload['action']}"] += 1
    return kinds


class StatementCounter:
    """Counts SQL statements sent to the database (one round trip each)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.count = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        self.count += 1


async def inbox_statuses(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Job.status, func.count()).group_by(Job.status))
    return {status: int(count) for status, count in rows}


async def rollups_match(session: AsyncSession) -> dict[str, Any]:
    """The rollups the worker wrote against the raw rows it wrote (totals over everything)."""
    completed = WorkflowJob.status == "completed"
    raw_jobs, raw_cost = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(WorkflowJob.cost_nanos), 0)).where(completed)
        )
    ).one()
    ci_jobs, ci_cost, ci_runs = (
        await session.execute(
            select(
                func.coalesce(func.sum(CIHourly.jobs), 0),
                func.coalesce(func.sum(CIHourly.cost_nanos), 0),
                func.coalesce(func.sum(CIHourly.runs), 0),
            )
        )
    ).one()
    ledger_cost = await session.scalar(select(func.coalesce(func.sum(LedgerHourly.billed_nanos), 0)))
    runs = await session.scalar(select(func.count()).select_from(WorkflowRun))
    return {
        "workflow_runs": int(runs or 0),
        "completed_workflow_jobs": int(raw_jobs),
        "consistent": (int(raw_jobs), int(raw_cost), int(runs or 0))
        == (int(ci_jobs), int(ci_cost), int(ci_runs))
        and int(ledger_cost or 0) == int(raw_cost),
    }


async def bench_process(options: argparse.Namespace) -> dict[str, Any]:
    await fresh_database(options.database_url, allow_reset=options.allow_reset)
    settings = bench_settings(options.database_url).model_copy(
        update={"worker_batch_size": options.batch_size}
    )
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    try:
        log(f"process: storing {options.events} deliveries in the inbox")
        started = time.perf_counter()
        kinds = await preload_inbox(sessionmaker, options.events)
        preload_seconds = time.perf_counter() - started
        statements = StatementCounter(engine)
        log("process: draining the inbox with one worker")
        started = time.perf_counter()
        async with asyncio.timeout(options.max_seconds):
            processed = await Worker(sessionmaker, settings).drain()
        seconds = time.perf_counter() - started
        async with transaction(sessionmaker) as session:
            statuses = await inbox_statuses(session)
            rollups = await rollups_match(session)
        version = await database_version(engine)
    finally:
        await engine.dispose()
    return {
        "database": version,
        "deliveries": sum(kinds.values()),
        "by_kind": dict(sorted(kinds.items())),
        "batch_size": options.batch_size,
        "preload_seconds": round(preload_seconds, 3),
        "processed": processed,
        "seconds": round(seconds, 3),
        "events_per_second": round(processed / seconds, 1) if seconds else 0.0,
        "sql_statements_per_event": round(statements.count / processed, 2) if processed else None,
        "inbox_after": statuses,
        "rollups": rollups,
    }


async def main() -> None:
    options = parse_args()
    result: dict[str, Any] = {"benchmark": "webhooks", "machine": machine()}
    if options.only in (None, "accept"):
        result["accept"] = await bench_accept(options)
    if options.only in (None, "process"):
        result["process"] = await bench_process(options)
    emit(result)


if __name__ == "__main__":
    asyncio.run(main())
