"""What both benchmarks share: a fresh, migrated database, percentiles, and how results are printed.

A benchmark run starts from an empty schema, so it drops everything in the database it is given. To keep a
typo from emptying a real database, the database (or SQLite file) name must contain "bench" unless
`--allow-reset` is passed.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from cicosts.config import Settings
from cicosts.db import create_engine
from cicosts.migrations import upgrade_database

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/cicosts_bench"
BENCH_SECRET = "bench-webhook-secret-not-for-production"


def default_database_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emit(result: dict[str, Any]) -> None:
    print(json.dumps(result, indent=2, default=str))


def bench_settings(database_url: str) -> Settings:
    """A self-hosted install: no plan limits, no rate limits, whatever the environment or `.env` say."""
    return Settings(
        environment="development",
        database_url=database_url,
        jwt_secret=BENCH_SECRET,
        github_webhook_secret=BENCH_SECRET,
        billing_enabled=False,
        rate_limit_per_minute=None,
    )


def bench_environment(database_url: str) -> dict[str, str]:
    """The same settings for a server started in a subprocess."""
    env = {name: value for name, value in os.environ.items() if name != "RATE_LIMIT_PER_MINUTE"}
    return {
        **env,
        "ENVIRONMENT": "development",
        "DATABASE_URL": database_url,
        "GITHUB_WEBHOOK_SECRET": BENCH_SECRET,
        "JWT_SECRET": BENCH_SECRET,
        "BILLING_ENABLED": "false",
    }


def is_sqlite(database_url: str) -> bool:
    return database_url.startswith("sqlite")


def asyncpg_params(url: URL, database: str | None = None) -> dict[str, Any]:
    return {
        "host": url.host or "127.0.0.1",
        "port": url.port or 5432,
        "user": url.username or "postgres",
        "password": url.password,
        "database": database or url.database,
    }


def _check_resettable(url: URL, allow_reset: bool) -> None:
    name = Path(url.database or "").name
    if not name or name == ":memory:":
        raise SystemExit(f"{url.render_as_string(hide_password=True)}: a file or database name is needed")
    if "bench" not in name.lower() and not allow_reset:
        raise SystemExit(
            f"Refusing to empty {name!r}: its name does not contain 'bench' (pass --allow-reset to do it)"
        )


async def _reset_postgresql(url: URL) -> None:
    admin = await asyncpg.connect(**asyncpg_params(url, "postgres"))
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", url.database)
        if not exists:
            quoted = '"' + str(url.database).replace('"', '""') + '"'
            await admin.execute(f"CREATE DATABASE {quoted}")
    finally:
        await admin.close()
    connection = await asyncpg.connect(**asyncpg_params(url))
    try:
        await connection.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await connection.close()


def _reset_sqlite(url: URL) -> None:
    path = Path(str(url.database))
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def fresh_database(database_url: str, *, allow_reset: bool = False) -> None:
    """Empty the database (creating it first on PostgreSQL) and migrate it to the current schema."""
    url = make_url(database_url)
    _check_resettable(url, allow_reset)
    if is_sqlite(database_url):
        _reset_sqlite(url)
    else:
        await _reset_postgresql(url)
    engine = create_engine(bench_settings(database_url))
    try:
        await upgrade_database(engine)
    finally:
        await engine.dispose()


async def database_version(engine: AsyncEngine) -> str:
    query = "SELECT sqlite_version()" if engine.dialect.name == "sqlite" else "SHOW server_version"
    async with engine.connect() as connection:
        version = await connection.scalar(text(query))
    return f"{engine.dialect.name} {version}"


def machine() -> dict[str, Any]:
    memory_gib = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        first = meminfo.read_text().split("\n", 1)[0].split()
        memory_gib = round(int(first[1]) / 1024 / 1024, 1)
    return {
        "cpus": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        # Other work on the machine skews every figure: check this is near zero before a run.
        "load_average_1m_before": round(os.getloadavg()[0], 2),
    }


def percentile(sorted_samples: Sequence[float], point: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not sorted_samples:
        return math.nan
    rank = max(math.ceil(point / 100 * len(sorted_samples)), 1)
    return sorted_samples[rank - 1]


def latency_summary_ms(samples_seconds: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples_seconds)
    summary = {f"p{point}": percentile(ordered, point) for point in (50, 95, 99)}
    summary["mean"] = sum(ordered) / len(ordered) if ordered else math.nan
    summary["max"] = ordered[-1] if ordered else math.nan
    return {name: round(value * 1000, 3) for name, value in summary.items()}
