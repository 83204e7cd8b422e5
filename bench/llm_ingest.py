"""LLM call ingestion and analytics at scale; prints one JSON document on stdout (progress goes to stderr).

ingest:    `cicosts api --workers N` in a subprocess receives `POST /v1/events/batch` with batches of 1,000
           realistic calls (a dozen agents, catalogue models of three providers and an unknown one, users,
           sessions, tags, cache reads), `--concurrency` batches in flight. Once every API process has started
           and `--warmup-batches` have opened the database connections, the clock runs over
           `--ingest-batches`. Reported: calls stored per second, pricing and rollups included, and that every
           call was stored once.
analytics: the organization then gets `--events` calls in all over 90 days. The rest beyond the ingested
           ones are loaded in bulk through the same code the route runs (validation, pricing, row building,
           rollup sums) but written with COPY; before that, the rollups ingestion wrote are checked against
           what the bulk path computes for the same calls. Every /v1/analytics route is then called in-process
           with the project's key and its p50/p95 reported against the 100 ms target.

    .venv/bin/python bench/llm_ingest.py --events 10000000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from cicosts.app import create_app
from cicosts.config import Settings
from cicosts.db import create_engine, create_sessionmaker, transaction
from cicosts.identity.api_keys.service import create_api_key
from cicosts.identity.service import ensure_user_with_organization
from cicosts.kit.gc import tune_gc_for_serving
from cicosts.kit.periods import floor_hour, utc_now
from cicosts.ledger.rollups import RollupBuffer
from cicosts.llm.events.contributions import BatchRollups
from cicosts.llm.events.schemas import validate_events
from cicosts.llm.events.service import event_row
from cicosts.llm.pricing.service import price_book_for
from cicosts.models import LedgerHourly, LLMDimensionHourly, LLMEvent, LLMHourly, LLMProject
from common import (
    asyncpg_params,
    bench_settings,
    database_version,
    default_database_url,
    emit,
    fresh_database,
    latency_summary_ms,
    log,
    machine,
)
from webhooks import HOST, free_port, start_api, stop_api, wait_until_ready

TARGET_EVENTS_PER_SECOND = 20_000
TARGET_P95_MS = 100.0
BATCH = 1000
HISTORY_DAYS = 90
MODELS = [  # (model, provider, share of calls)
    ("gpt-4o-mini", "openai", 30),
    ("gpt-4o", "openai", 15),
    ("gpt-4.1", "openai", 8),
    ("o4-mini", "openai", 5),
    ("claude-3-5-haiku-latest", "anthropic", 12),
    ("claude-sonnet-4-5", "anthropic", 12),
    ("gemini-2.5-flash", "google", 10),
    ("gemini-2.5-pro", "google", 5),
    ("house-finetune-v3", None, 3),  # nobody's catalogue: stored unpriced
]
AGENTS = [
    f"agent-{name}" for name in ("planner", "coder", "reviewer", "triage", "support", "search", "router")
]
TOOLS = ["web_search", "sql", "code_exec", "retrieval", None, None]
TAGS = ["prod", "staging", "eu", "us", "vip", "batch", "experiment"]
ROUTES = [
    ("overview", {"range": "7d"}),
    ("overview", {"range": "30d"}),
    ("agents", {"range": "7d"}),
    ("models", {"range": "30d"}),
    ("by/user", {"range": "7d"}),
    ("by/session", {"range": "24h"}),
    ("by/tag", {"range": "30d"}),
    ("timeseries", {"range": "24h", "granularity": "hour"}),
    ("timeseries", {"range": "30d", "granularity": "day"}),
    ("cache", {"range": "7d"}),
    ("full", {"range": "7d", "granularity": "day"}),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument(
        "--database-url", default=default_database_url().replace("cicosts_bench", "cicosts_bench_llm")
    )
    parser.add_argument("--events", type=int, default=10_000_000, help="calls the analytics read in all")
    parser.add_argument("--ingest-batches", type=int, default=200, help="batches of 1,000 timed over HTTP")
    parser.add_argument("--warmup-batches", type=int, default=8, help="batches sent before the clock starts")
    parser.add_argument("--concurrency", type=int, default=4, help="batches in flight")
    parser.add_argument("--api-workers", type=int, default=2, help="cicosts api --workers")
    parser.add_argument("--requests", type=int, default=100, help="measured requests per analytics route")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--allow-reset", action="store_true", help="empty a database not named *bench*")
    parser.add_argument(
        "--no-load", action="store_true", help="measure the analytics of an earlier run's data"
    )
    return parser.parse_args()


class Calls:
    """Realistic calls, as the AgentCost SDK sends them, at given instants."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.serial = 0
        self.weights = [share for _, _, share in MODELS]

    def call(self, at: datetime) -> dict[str, Any]:
        r = self.random
        self.serial += 1
        model, provider, _ = r.choices(MODELS, self.weights)[0]
        agent = AGENTS[int(r.paretovariate(1.2)) % len(AGENTS)]
        input_tokens = int(r.lognormvariate(7.0, 1.0)) + 20
        cached = int(input_tokens * r.choice((0, 0, 0.5, 0.9))) if provider != "google" else 0
        session = self.serial // 20 + r.randrange(3)
        event: dict[str, Any] = {
            "event_id": f"c{self.serial}",
            "timestamp": at.isoformat(),
            "agent_name": agent,
            "model": model,
            "provider": provider,
            "input_tokens": input_tokens,
            "output_tokens": int(r.lognormvariate(5.0, 1.0)) + 1,
            "cached_tokens": cached,
            "total_tokens": input_tokens,
            "latency_ms": int(r.lognormvariate(6.8, 0.6)),
            "success": r.random() > 0.03,
            "streaming": False,
            "metadata": {
                "user_id": f"user-{int(r.paretovariate(1.1)) % 2000}",
                "session_id": f"session-{session}",
                "tags": r.sample(TAGS, r.randrange(3)),
            },
        }
        tool = r.choice(TOOLS)
        if tool is not None:
            event["tool_name"] = tool
        return event

    def spread(self, count: int, start: datetime, end: datetime) -> Iterator[list[dict[str, Any]]]:
        """`count` calls in time order between `start` and `end`, in batches."""
        step = (end - start) / max(count, 1)
        for first in range(0, count, BATCH):
            yield [self.call(start + step * i) for i in range(first, min(first + BATCH, count))]


async def create_project(settings: Settings) -> tuple[int, int, str]:
    engine = create_engine(settings)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            user, org = await ensure_user_with_organization(session, "bench", "bench-org")
            project = LLMProject(org_id=org.id, name="agents", created_by=user.id)
            session.add(project)
            await session.flush()
            _, key = await create_api_key(
                session,
                org_id=org.id,
                name="sdk",
                scopes=["ingest"],
                created_by=user.id,
                project_id=project.id,
            )
    finally:
        await engine.dispose()
    return org.id, project.id, key


# --- ingest over HTTP ---------------------------------------------------------------------------------


async def ingest(options: argparse.Namespace, key: str, calls: Calls) -> dict[str, Any]:
    now = utc_now()
    batches = options.warmup_batches + options.ingest_batches
    bodies = [
        json.dumps({"events": batch}).encode()
        for batch in calls.spread(batches * BATCH, now - timedelta(hours=6), now)
    ]
    warmup, measured = bodies[: options.warmup_batches], bodies[options.warmup_batches :]
    log(f"sending {len(warmup)} batches to warm up, then {len(measured)} batches of {BATCH}")
    stored = duplicates = 0
    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as log_dir:
        server = start_api(options.database_url, free_port(), options.api_workers, False, Path(log_dir))
        try:
            await wait_until_ready(server)
            url = f"http://{HOST}:{server.port}/v1/events/batch"
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            async with httpx.AsyncClient(timeout=httpx.Timeout(120.0)) as client:

                async def send_all(pending: list[bytes], timed: bool) -> None:
                    async def sender() -> None:
                        nonlocal stored, duplicates
                        while pending:
                            body = pending.pop()
                            sent = time.perf_counter()
                            response = await client.post(url, content=body, headers=headers)
                            if timed:
                                latencies.append(time.perf_counter() - sent)
                            if response.status_code != 200:
                                raise RuntimeError(
                                    f"batch answered {response.status_code}: {response.text[:300]}"
                                )
                            answer = response.json()
                            stored += answer["events_stored"]
                            duplicates += answer["events_duplicate"]

                    await asyncio.gather(*(sender() for _ in range(options.concurrency)))

                # Each connection's first batches also open its database connections and prepare statements.
                await send_all(list(reversed(warmup)), timed=False)
                warm_stored = stored
                started = time.perf_counter()
                await send_all(list(reversed(measured)), timed=True)
                seconds = time.perf_counter() - started
        finally:
            stop_api(server)
    rate = (stored - warm_stored) / seconds
    return {
        "batches": len(measured),
        "warmup_batches": len(warmup),
        "events_sent": len(bodies) * BATCH,
        "events_stored": stored,
        "events_duplicate": duplicates,
        "seconds": round(seconds, 2),
        "events_per_second": round(rate),
        "batch_latency_ms": latency_summary_ms(latencies),
        "api_workers": options.api_workers,
        "concurrency": options.concurrency,
        "within_target": rate >= TARGET_EVENTS_PER_SECOND and stored == len(bodies) * BATCH,
    }


# --- bulk load: the route's code, written with COPY -----------------------------------------------------

COPY_COLUMNS = [c.name for c in LLMEvent.__table__.columns if c.name != "id"]


def copy_record(row: dict[str, Any]) -> tuple[Any, ...]:
    values = []
    for name in COPY_COLUMNS:
        value = row["metadata"] if name == "metadata" else row.get(name)
        values.append(json.dumps(value) if name in ("tags", "metadata") else value)
    return tuple(values)


async def bulk_load(
    options: argparse.Namespace, engine: AsyncEngine, project_id: int, count: int, calls: Calls
) -> tuple[dict[str, float], RollupBuffer]:
    """`count` more calls over the 90 days before the ingested ones; their rollups, summed in memory."""
    sessionmaker = create_sessionmaker(engine)
    async with transaction(sessionmaker) as session:
        project = await session.get(LLMProject, project_id)
        assert project is not None
        prices = await price_book_for(session, project.org_id, project.id)
        session.expunge(project)
    buffer = RollupBuffer()
    connection = await asyncpg.connect(**asyncpg_params(make_url(options.database_url)))
    started = time.perf_counter()
    building = 0.0
    try:
        now = utc_now()
        end = now - timedelta(hours=7)
        for number, batch in enumerate(calls.spread(count, end - timedelta(days=HISTORY_DAYS), end)):
            began = time.perf_counter()
            accepted, rejected = validate_events(batch, now)
            assert not rejected, rejected[:3]
            rows = [event_row(project, event, prices, now) for _, event in accepted]
            rollups = BatchRollups(project)
            for row in rows:
                rollups.add(row, floor_hour(row["timestamp"]), row["tags"])
            rollups.record(buffer)
            building += time.perf_counter() - began
            await connection.copy_records_to_table(
                "llm_events", records=[copy_record(row) for row in rows], columns=COPY_COLUMNS
            )
            if number % 500 == 0:
                log(f"bulk loaded {(number + 1) * BATCH:,} of {count:,} calls")
    finally:
        await connection.close()
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "building_seconds": round(building, 1),
    }, buffer


async def rollup_totals(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(
                    func.sum(LLMHourly.calls),
                    func.sum(LLMHourly.cost_nanos),
                    func.sum(LLMHourly.input_tokens),
                )
            )
        ).one()
        raw = (
            await connection.execute(
                select(func.count(), func.sum(LLMEvent.cost_nanos), func.sum(LLMEvent.input_tokens))
            )
        ).one()
        ledger = await connection.scalar(
            select(func.sum(LedgerHourly.billed_nanos)).where(LedgerHourly.source == "llm")
        )
        dimensions = await connection.scalar(select(func.count()).select_from(LLMDimensionHourly))
    return {
        "events": int(raw[0]),
        "events_cost_nanos": int(raw[1] or 0),
        "hourly_calls": int(row[0] or 0),
        "hourly_cost_nanos": int(row[1] or 0),
        "ledger_cost_nanos": int(ledger or 0),
        "events_input_tokens": int(raw[2] or 0),
        "hourly_input_tokens": int(row[2] or 0),
        "dimension_rows": int(dimensions or 0),
    }


async def hourly_mismatches(engine: AsyncEngine) -> int:
    """Rollup rows of `llm_hourly` that differ from the calls themselves grouped the same way (0 expected)."""
    query = """
        SELECT count(*) FROM (
            SELECT org_id, date_trunc('hour', timestamp AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS hour,
                   project_id, agent_name, model, coalesce(matched_provider, provider, '') AS provider,
                   count(*) AS calls, sum(cost_nanos) AS cost, sum(input_tokens) AS input_tokens
            FROM llm_events GROUP BY 1, 2, 3, 4, 5, 6
        ) AS raw
        FULL JOIN (SELECT * FROM llm_hourly WHERE calls <> 0) AS rollup
            USING (org_id, hour, project_id, agent_name, model, provider)
        WHERE raw.calls IS DISTINCT FROM rollup.calls OR raw.cost IS DISTINCT FROM rollup.cost_nanos
            OR raw.input_tokens IS DISTINCT FROM rollup.input_tokens
    """
    async with engine.connect() as connection:
        return int(await connection.scalar(text(query)) or 0)


async def measure(options: argparse.Namespace, settings: Settings, key: str) -> dict[str, Any]:
    app = create_app(settings)
    tune_gc_for_serving()
    results: dict[str, Any] = {}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://bench",
            headers={"Authorization": f"Bearer {key}"},
        ) as client:
            for route, params in ROUTES:
                name = f"/v1/analytics/{route}?" + "&".join(f"{k}={v}" for k, v in params.items())
                log(f"measuring GET {name}")
                latencies = []
                for index in range(options.warmup + options.requests):
                    started = time.perf_counter()
                    response = await client.get(f"/v1/analytics/{route}", params=params)
                    elapsed = time.perf_counter() - started
                    if response.status_code != 200:
                        raise RuntimeError(f"{name} answered {response.status_code}: {response.text[:300]}")
                    if index >= options.warmup:
                        latencies.append(elapsed)
                summary = latency_summary_ms(latencies)
                results[name] = {"latency_ms": summary, "within_target": summary["p95"] <= TARGET_P95_MS}
    finally:
        await app.state.engine.dispose()
    return results


async def project_key(settings: Settings) -> str:
    """A fresh ingest key for the project an earlier run loaded."""
    engine = create_engine(settings)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            project = (await session.scalars(select(LLMProject))).first()
            if project is None:
                raise SystemExit("no data: run without --no-load first")
            _, key = await create_api_key(
                session,
                org_id=project.org_id,
                name="bench",
                scopes=["ingest"],
                created_by=None,
                project_id=project.id,
            )
    finally:
        await engine.dispose()
    return key


async def load_everything(options: argparse.Namespace, settings: Settings, result: dict[str, Any]) -> str:
    await fresh_database(options.database_url, allow_reset=options.allow_reset)
    _, project_id, key = await create_project(settings)
    calls = Calls(options.seed)
    result["ingest"] = await ingest(options, key, calls)
    engine = create_engine(settings)
    try:
        result["ingested_hourly_rows_differing_from_calls"] = await hourly_mismatches(engine)
        remaining = max(options.events - result["ingest"]["events_stored"], 0)
        log(f"bulk loading {remaining:,} more calls over {HISTORY_DAYS} days")
        load, buffer = await bulk_load(options, engine, project_id, remaining, calls)
        started = time.perf_counter()
        async with transaction(create_sessionmaker(engine)) as session:
            await buffer.flush(session)
        load["rollup_flush_seconds"] = round(time.perf_counter() - started, 1)
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM (ANALYZE)"))
        result["bulk_load"] = load
    finally:
        await engine.dispose()
    return key


async def main() -> None:
    options = parse_args()
    result: dict[str, Any] = {"benchmark": "llm_ingest", "machine": machine()}
    settings = bench_settings(options.database_url)
    key = await project_key(settings) if options.no_load else await load_everything(options, settings, result)
    engine = create_engine(settings)
    try:
        result["database"] = await database_version(engine)
        totals = await rollup_totals(engine)
        result["rows"] = totals
        result["hourly_rows_differing_from_calls"] = await hourly_mismatches(engine)
        result["rollups_match_events"] = (
            totals["events_cost_nanos"] == totals["hourly_cost_nanos"] == totals["ledger_cost_nanos"]
            and totals["events"] == totals["hourly_calls"]
            and totals["events_input_tokens"] == totals["hourly_input_tokens"]
        )
    finally:
        await engine.dispose()
    result["target_p95_ms"] = TARGET_P95_MS
    result["analytics"] = await measure(options, settings, key)
    result["all_analytics_within_target"] = all(
        item["within_target"] for item in result["analytics"].values()
    )
    emit(result)


if __name__ == "__main__":
    asyncio.run(main())
