"""FOCUS import at scale; prints one JSON document on stdout (progress goes to stderr).

A FOCUS 1.0 CSV of `--rows` rows (1,000,000 by default) is generated first: one billing month of hourly
charges for `--resources` resources (EC2 instances, EBS volumes, S3 buckets, RDS databases, load balancers,
NAT gateways) in 20 sub-accounts and 6 regions, with three tags per resource, costs of up to ten decimals (so
some are rounded to the nanodollar), 2 % of the rows billed in EUR to a second billing account, and one row in
100,000 with a cost that is not a number (rejected). Then, on an empty database:

    cicosts import focus FILE --org acme-bench

runs as a subprocess, as a user runs it (progress bar off the terminal). Reported: rows per second (rows read
over the command's wall time, start-up, reading, parsing, COPY, replacement and rollups included), and the
importing process's peak resident memory (its `ru_maxrss`, from wait4) and CPU time. The script then checks
that every row was stored or rejected, and that the daily rollup, the tag rollup and the ledger add up to the
stored rows.
`--reimport` imports the same file again and times that too (every row of the billing period is replaced).

    .venv/bin/python bench/cloud_import.py --rows 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from cicosts.db import create_engine, create_sessionmaker, transaction
from cicosts.identity.service import ensure_user_with_organization
from cicosts.models import CloudCostRow, CloudDaily, CloudTagDaily, LedgerHourly
from common import bench_environment, bench_settings, database_version, emit, fresh_database, log, machine

TARGET_ROWS_PER_SECOND = 50_000
TARGET_PEAK_RSS_MB = 300
ORG = "acme-bench"
MONTH = datetime(2024, 9, 1, tzinfo=UTC)
HEADER = [
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "SkuId",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
]
REGIONS = [
    ("us-east-1", "US East (N. Virginia)"),
    ("us-west-2", "US West (Oregon)"),
    ("eu-west-1", "Europe (Ireland)"),
    ("eu-central-1", "Europe (Frankfurt)"),
    ("ap-south-1", "Asia Pacific (Mumbai)"),
    ("ap-northeast-1", "Asia Pacific (Tokyo)"),
]
INSTANCES = [("t3.medium", "0.0416"), ("m5.large", "0.096"), ("m5.2xlarge", "0.384"), ("c5.xlarge", "0.17")]
# (service, category, resource type, pricing unit, unit price, id prefix)
KINDS = [
    ("Amazon Elastic Compute Cloud", "Compute", "instance", "Hours", None, "i-"),
    ("Amazon Elastic Compute Cloud", "Storage", "volume", "GB-Mo", "0.0001369863", "vol-"),
    ("Amazon Simple Storage Service", "Storage", "bucket", "Requests", "0.0000004", "bucket-"),
    ("Amazon Relational Database Service", "Databases", "db", "Hours", "0.171", "db-"),
    ("Elastic Load Balancing", "Networking", "loadbalancer", "LCU-Hours", "0.008", "lb-"),
    ("Amazon Virtual Private Cloud", "Networking", "natgateway", "Hours", "0.045", "nat-"),
]
TEAMS = ["payments", "search", "platform", "data", "growth", "mobile", "infra", "ml"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/cicosts_bench_cloud"
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--resources", type=int, default=1_400, help="resources billed every hour")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--file", type=Path, help="import this FOCUS file instead of generating one")
    parser.add_argument("--reimport", action="store_true", help="import the same file a second time")
    parser.add_argument("--allow-reset", action="store_true", help="empty a database not named *bench*")
    return parser.parse_args()


def generate(path: Path, rows: int, resources: int, seed: int) -> int:
    """Write the FOCUS CSV; how many of its rows are meant to be rejected."""
    r = random.Random(seed)
    hour = timedelta(hours=1)
    stamp = "%Y-%m-%d %H:%M:%S"
    period = (MONTH.strftime(stamp), datetime(2024, 10, 1, tzinfo=UTC).strftime(stamp))
    accounts = [f"{r.randrange(10**11, 10**12)}" for _ in range(20)]
    catalog = []
    for index in range(resources):
        service, category, kind, unit, price, prefix = KINDS[index % len(KINDS)]
        region = REGIONS[r.randrange(len(REGIONS))]
        instance, unit_price = r.choice(INSTANCES) if price is None else (None, price)
        euro = r.random() < 0.02
        account = accounts[r.randrange(len(accounts))]
        description = (
            f"${unit_price} per On Demand Linux {instance} Instance Hour"
            if instance
            else f"${unit_price} per {unit} ({service})"
        )
        tags = json.dumps(
            {"env": r.choice(["prod", "staging", "dev"]), "team": r.choice(TEAMS), "app": f"app-{index % 60}"}
        )
        catalog.append(
            (
                region,
                f"{prefix}{seed:02x}{index:08x}",
                service,
                category,
                kind,
                unit,
                unit_price,
                description,
                euro,
                account,
                tags,
            )
        )
    bad = 0
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        for number in range(rows):
            region, resource, service, category, kind, unit, unit_price, description, euro, account, tags = (
                catalog[number % resources]
            )
            start = MONTH + hour * (number // resources % 720)
            quantity = "1" if unit == "Hours" else f"{r.uniform(0.001, 50):.6f}"
            cost = f"{float(unit_price) * float(quantity):.10f}"
            billed = cost
            if number % 100_000 == 99_999:
                billed, bad = "n/a", bad + 1
            writer.writerow(
                [
                    f"{region[0]}a",
                    billed,
                    "2000000000002" if euro else "1000000000001",
                    "Bench EU" if euro else "Bench",
                    "EUR" if euro else "USD",
                    period[1],
                    period[0],
                    "Usage",
                    "NULL",
                    description,
                    "Usage-Based",
                    (start + hour).strftime(stamp),
                    start.strftime(stamp),
                    "NULL",
                    "NULL",
                    "NULL",
                    "NULL",
                    "NULL",
                    quantity,
                    unit,
                    cost,
                    unit_price,
                    cost,
                    "Amazon Web Services, Inc.",
                    cost,
                    unit_price,
                    "Standard",
                    quantity,
                    unit,
                    "AWS",
                    "Amazon Web Services, Inc.",
                    region[0],
                    region[1],
                    resource,
                    "NULL",
                    kind,
                    category,
                    service,
                    f"SKU{hash(service) % 10**6:06d}",
                    f"SKU{hash(service) % 10**6:06d}.{unit}",
                    account,
                    f"Team {account[-3:]}",
                    tags,
                ]
            )
    return bad


def import_file(database_url: str, path: Path) -> dict[str, Any]:
    """`cicosts import focus` in its own process: wall time, exit code and the process's peak RSS."""
    env = {**bench_environment(database_url), "COLUMNS": "120"}
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - our own command line
        [sys.executable, "-m", "cicosts", "import", "focus", str(path), "--org", ORG],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return {
        "exit_code": process.returncode,
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # kilobytes on Linux
        # CPU the importer used: with a core taken by other work, wall time is about this plus the server's.
        "importer_cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "load_average_1m_after": round(os.getloadavg()[0], 2),
        "output_tail": output.strip().splitlines()[-3:],
    }


async def check(database_url: str) -> dict[str, Any]:
    """Stored rows against the rollups and the ledger."""
    engine = create_engine(bench_settings(database_url))
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            raw = (
                await session.execute(
                    select(
                        CloudCostRow.billing_currency,
                        func.count(),
                        func.sum(CloudCostRow.billed_nanos),
                        func.sum(CloudCostRow.effective_nanos),
                    ).group_by(CloudCostRow.billing_currency)
                )
            ).all()
            daily = (
                await session.execute(
                    select(
                        CloudDaily.currency,
                        func.sum(CloudDaily.row_count),
                        func.sum(CloudDaily.billed_nanos),
                        func.sum(CloudDaily.effective_nanos),
                    ).group_by(CloudDaily.currency)
                )
            ).all()
            tag_rows = (
                await session.execute(
                    select(func.sum(CloudTagDaily.row_count)).where(CloudTagDaily.tag_key == "team")
                )
            ).scalar()
            ledger = (
                await session.execute(
                    select(func.sum(LedgerHourly.billed_nanos), func.sum(LedgerHourly.record_count)).where(
                        LedgerHourly.source == "cloud"
                    )
                )
            ).one()
            daily_rows = await session.scalar(select(func.count()).select_from(CloudDaily))
        version = await database_version(engine)
    finally:
        await engine.dispose()
    by_currency = {currency: [int(v) for v in rest] for currency, *rest in raw}
    rollup = {currency: [int(v) for v in rest] for currency, *rest in daily}
    usd = by_currency.get("USD", [0, 0, 0])
    return {
        "database": version,
        "stored_rows": sum(v[0] for v in by_currency.values()),
        "stored_by_currency": {c: v[0] for c, v in by_currency.items()},
        "daily_rollup_rows": int(daily_rows or 0),
        "rollups_match_rows": rollup == by_currency
        and int(tag_rows or 0) == sum(v[0] for v in by_currency.values())
        and [int(ledger[0] or 0), int(ledger[1] or 0)] == [usd[1], usd[0]],
    }


async def prepare(database_url: str, allow_reset: bool) -> None:
    await fresh_database(database_url, allow_reset=allow_reset)
    engine = create_engine(bench_settings(database_url))
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            await ensure_user_with_organization(session, "bench-admin", ORG)
    finally:
        await engine.dispose()


def main() -> None:
    options = parse_args()
    result: dict[str, Any] = {"benchmark": "cloud_import", "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="cicosts-bench-focus-") as scratch:
        if options.file is not None:
            path, bad = options.file, None
        else:
            path = Path(scratch) / "focus.csv"
            log(f"generating {options.rows:,} FOCUS rows in {path}")
            started = time.perf_counter()
            bad = generate(path, options.rows, options.resources, options.seed)
            log(f"generated in {time.perf_counter() - started:.1f} s")
        size = path.stat().st_size
        asyncio.run(prepare(options.database_url, options.allow_reset))
        log("importing with `cicosts import focus`")
        first = import_file(options.database_url, path)
        rows = options.rows if options.file is None else None
        result["import"] = {
            **first,
            "rows_in_file": rows,
            "file_mb": round(size / 1024 / 1024, 1),
            "rows_per_second": round(rows / first["seconds"]) if rows else None,
        }
        if options.reimport:
            log("importing the same file again (every row replaced)")
            second = import_file(options.database_url, path)
            result["reimport"] = {
                **second,
                "rows_per_second": round(rows / second["seconds"]) if rows else None,
            }
        checked = asyncio.run(check(options.database_url))
    result["check"] = {**checked, "rejected_rows_expected": bad}
    if rows:
        result["check"]["every_row_accounted_for"] = checked["stored_rows"] + (bad or 0) == rows
    result["targets"] = {
        "rows_per_second": TARGET_ROWS_PER_SECOND,
        "peak_rss_mb": TARGET_PEAK_RSS_MB,
        "met": bool(
            rows
            and result["import"]["rows_per_second"] >= TARGET_ROWS_PER_SECOND
            and first["peak_rss_mb"] <= TARGET_PEAK_RSS_MB
        ),
    }
    emit(result)


if __name__ == "__main__":
    main()
