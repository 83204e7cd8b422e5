"""Public CI costs API at scale; prints one JSON document on stdout (progress goes to stderr).

Loads the same organization as `bench/dashboard.py` (N jobs over a year, rollups written as ingestion would),
then:
- latency: every `/v1/costs*` route and `/v1/workflows`, called in-process (httpx ASGI transport) with a
  `read` API key over the last `--window` days, p50/p95 against the 15 ms target;
- export: `cicosts api` in a subprocess streams `/v1/costs/export?granularity=per-job&format=csv` for the
  whole year to this process, which counts the rows; the server's resident memory is sampled every 50 ms
  and its growth over the idle server is reported against the 100 MB target, the rate against 150,000 rows/s.

    .venv/bin/python bench/public_api.py --jobs 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from cicosts.app import create_app
from cicosts.config import Settings
from cicosts.db import create_engine, create_sessionmaker, transaction
from cicosts.identity.api_keys.service import create_api_key
from cicosts.kit.gc import tune_gc_for_serving
from cicosts.kit.periods import utc_now
from common import (
    bench_settings,
    default_database_url,
    emit,
    log,
    machine,
)
from dashboard import TARGET_P95_MS, loaded_organization, time_endpoint
from webhooks import HOST, free_port, start_api, stop_api, wait_until_ready

TARGET_EXPORT_ROWS_PER_SECOND = 150_000
TARGET_EXPORT_RSS_GROWTH_MB = 100.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--database-url", default=default_database_url())
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, help="default: jobs / 10")
    parser.add_argument("--days", type=int, default=365, help="days of history loaded, ending now")
    parser.add_argument("--window", type=int, default=30, help="days each route reads")
    parser.add_argument("--requests", type=int, default=200, help="measured requests per route")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests per route first")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-load", action="store_true", help="measure the data an earlier run loaded")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="time limit of the route measuring")
    parser.add_argument("--skip-export", action="store_true")
    parser.add_argument("--allow-reset", action="store_true", help="empty a database not named *bench*")
    args = parser.parse_args()
    args.runs = args.runs or max(args.jobs // 10, 1)
    return args


def routes(window: int) -> list[tuple[str, dict[str, Any]]]:
    today = utc_now().date()
    span = {"start_date": str(today - timedelta(days=window - 1)), "end_date": str(today)}
    return [
        ("/v1/costs", span),
        ("/v1/costs?granularity=week", {**span, "granularity": "week"}),
        ("/v1/costs/summary", {}),
        ("/v1/costs/by-repository", span),
        ("/v1/costs/by-workflow", span),
        ("/v1/costs/by-runner", span),
        ("/v1/workflows", span),
    ]


async def read_key(settings: Settings, org_id: int) -> str:
    engine = create_engine(settings)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            _, key = await create_api_key(
                session, org_id=org_id, name="bench", scopes=["read"], created_by=None
            )
    finally:
        await engine.dispose()
    return key


async def measure_routes(options: argparse.Namespace, settings: Settings, key: str) -> dict[str, Any]:
    deadline = time.monotonic() + options.max_seconds
    app = create_app(settings)
    tune_gc_for_serving()  # as `cicosts api` does once its app is built
    results: dict[str, Any] = {}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://bench",
            headers={"Authorization": f"Bearer {key}"},
        ) as client:
            for path, params in routes(options.window):
                log(f"measuring GET {path}")
                results[path] = await time_endpoint(client, path.split("?")[0], params, options, deadline)
    finally:
        await app.state.engine.dispose()
    return results


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def sample_peak(pid: int, stop: asyncio.Event) -> float:
    peak = 0.0
    while not stop.is_set():
        peak = max(peak, resident_mb(pid))
        await asyncio.sleep(0.05)
    return max(peak, resident_mb(pid))


async def download(url: str, params: dict[str, str], key: str) -> tuple[int, int]:
    """(lines, bytes) of the export, read by curl and counted by wc, so the client takes little of the two
    cores the server and PostgreSQL share; httpx when curl is missing."""
    full = f"{url}?{urlencode(params)}"
    if shutil.which("curl") and shutil.which("wc"):
        header = shlex.quote(f"Authorization: Bearer {key}")
        command = f"set -o pipefail; curl -sS --fail -H {header} {shlex.quote(full)} | wc -lc"
        process = await asyncio.create_subprocess_shell(
            command, stdout=asyncio.subprocess.PIPE, executable="/bin/bash"
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"curl failed with {process.returncode}")
        lines, received = (int(value) for value in output.split())
        return lines, received
    lines = received = 0
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(60.0)) as client,
        client.stream("GET", full, headers={"Authorization": f"Bearer {key}"}) as response,
    ):
        response.raise_for_status()
        async for chunk in response.aiter_bytes():
            lines += chunk.count(b"\n")
            received += len(chunk)
    return lines, received


async def measure_export(options: argparse.Namespace, key: str) -> dict[str, Any]:
    today = utc_now().date()
    params = {
        "start_date": str(today - timedelta(days=options.days)),
        "end_date": str(today),
        "format": "csv",
        "granularity": "per-job",
    }
    with tempfile.TemporaryDirectory() as log_dir:
        server = start_api(options.database_url, free_port(), 1, False, Path(log_dir))
        try:
            await wait_until_ready(server)
            url = f"http://{HOST}:{server.port}/v1/costs/export"
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(timeout=httpx.Timeout(60.0)) as client:
                await client.get(f"http://{HOST}:{server.port}/v1/costs/summary", headers=headers)
                idle = resident_mb(server.process.pid)
                stop = asyncio.Event()
                sampler = asyncio.create_task(sample_peak(server.process.pid, stop))
                started = time.perf_counter()
                lines, received = await download(url, params, key)
                seconds = time.perf_counter() - started
                stop.set()
                peak = await sampler
        finally:
            stop_api(server)
    rows = lines - 1  # the header
    growth = peak - idle
    rate = rows / seconds
    return {
        "rows": rows,
        "client": "curl | wc" if shutil.which("curl") and shutil.which("wc") else "httpx",
        "megabytes": round(received / 2**20, 1),
        "seconds": round(seconds, 2),
        "rows_per_second": round(rate),
        "server_rss_idle_mb": round(idle, 1),
        "server_rss_peak_mb": round(peak, 1),
        "server_rss_growth_mb": round(growth, 1),
        "within_target": rate >= TARGET_EXPORT_ROWS_PER_SECOND and growth < TARGET_EXPORT_RSS_GROWTH_MB,
    }


async def main() -> None:
    options = parse_args()
    result: dict[str, Any] = {"benchmark": "public_api", "machine": machine()}
    settings = bench_settings(options.database_url)
    org_id, _ = await loaded_organization(options, settings, result)
    key = await read_key(settings, org_id)
    result["window_days"] = options.window
    result["target_p95_ms"] = TARGET_P95_MS
    result["routes"] = await measure_routes(options, settings, key)
    result["all_routes_within_target"] = all(item["within_target"] for item in result["routes"].values())
    if not options.skip_export:
        log("exporting every job of the year as CSV")
        result["export"] = await measure_export(options, key)
    emit(result)


if __name__ == "__main__":
    asyncio.run(main())
