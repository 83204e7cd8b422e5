"""FOCUS files made up for the cloud tests, and a file's own sums to check imports against."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.cloud.imports.jobs import import_local_files
from cicosts.db import transaction
from cicosts.models import CloudCostRow, CloudDaily, CloudImport, CloudTagDaily, LedgerHourly

FIXTURES = Path(__file__).parent / "fixtures" / "focus"
SAMPLE = FIXTURES / "focus_1.0_sample_1000rows.csv"
SPEC_EXAMPLE = FIXTURES / "focus_1.2_spec_example_saas_spend_agreements_b2.csv"
NANO = Decimal("0.000000001")
NULLS = {"", "NULL", "null"}
COSTS = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")
HEADER = [
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "SkuId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
]


def stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def month_of(day: datetime) -> tuple[datetime, datetime]:
    start = day.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, (start + timedelta(days=32)).replace(day=1)


def row(
    cost: str = "1.25",
    *,
    at: datetime | None = None,
    hours: int = 1,
    account: str = "111111111111",
    sub_account: str | None = "222222222222",
    provider: str = "AWS",
    service: str = "Amazon Elastic Compute Cloud",
    category: str = "Compute",
    region: str | None = "us-east-1",
    currency: str = "USD",
    resource: str | None = None,
    resource_type: str | None = None,
    description: str = "Usage",
    tags: Mapping[str, str] | None = None,
    effective: str | None = None,
    list_cost: str | None = None,
    **overrides: str,
) -> dict[str, str]:
    """One valid FOCUS 1.0 row billed at `at` (by default 2024-09-10 12:00 UTC) for `hours` hours."""
    start = at or datetime(2024, 9, 10, 12, tzinfo=UTC)
    period_start, period_end = month_of(start)
    values = {
        "BilledCost": cost,
        "BillingAccountId": account,
        "BillingAccountName": f"Account {account}",
        "BillingCurrency": currency,
        "BillingPeriodEnd": stamp(period_end),
        "BillingPeriodStart": stamp(period_start),
        "ChargeCategory": "Usage",
        "ChargeClass": "",
        "ChargeDescription": description,
        "ChargePeriodEnd": stamp(start + timedelta(hours=hours)),
        "ChargePeriodStart": stamp(start),
        "ContractedCost": effective or cost,
        "EffectiveCost": effective or cost,
        "InvoiceIssuerName": provider,
        "ListCost": list_cost or cost,
        "ListUnitPrice": cost,
        "PricingQuantity": "1",
        "PricingUnit": "Hours",
        "ProviderName": provider,
        "PublisherName": provider,
        "RegionId": region or "",
        "ResourceId": resource or "",
        "ResourceName": "",
        "ResourceType": resource_type or "",
        "ServiceCategory": category,
        "ServiceName": service,
        "SkuId": "SKU1",
        "SubAccountId": sub_account or "",
        "SubAccountName": f"Team {sub_account}" if sub_account else "",
        "Tags": json.dumps(dict(tags)) if tags is not None else "",
    }
    return {**values, **overrides}


def focus_text(rows: Iterable[Mapping[str, str]], header: list[str] | None = None) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header or HEADER, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_focus(
    path: Path, rows: Iterable[Mapping[str, str]], *, header: list[str] | None = None, gz: bool = False
) -> Path:
    data = focus_text(rows, header).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


async def import_rows(
    sessionmaker: async_sessionmaker[AsyncSession],
    directory: Path,
    rows: Iterable[Mapping[str, str]],
    *,
    org: str = "acme",
    name: str = "bill.csv",
) -> CloudImport:
    path = write_focus(directory / name, rows)
    return await import_local_files(sessionmaker, org, [path])


def rounded_nanos(text: str) -> int:
    """The file's own value, rounded half to even to the nanodollar, as an integer of nanodollars."""
    return int(Decimal(text).quantize(NANO, rounding=ROUND_HALF_EVEN) / NANO)


def file_sums(path: Path) -> dict[tuple[str, str], list[int]]:
    """(provider, service) -> billed, effective, list, contracted (nanos, each row rounded) and rows."""
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    with path.open(newline="", encoding="utf-8-sig") as file:
        for values in csv.DictReader(file):
            provider = values.get("ServiceProviderName") or values["ProviderName"]
            service = values["ServiceName"] if values["ServiceName"] not in NULLS else ""
            found = sums[(provider, service)]
            for position, column in enumerate(COSTS):
                if values[column] not in NULLS:
                    found[position] += rounded_nanos(values[column])
            found[4] += 1
    return dict(sums)


async def stored_sums(session: AsyncSession) -> dict[tuple[str, str], list[int]]:
    """The same sums from the daily rollup."""
    d = CloudDaily
    rows = await session.execute(
        select(
            d.provider,
            d.service_name,
            func.sum(d.billed_nanos),
            func.sum(d.effective_nanos),
            func.sum(d.list_nanos),
            func.sum(d.contracted_nanos),
            func.sum(d.row_count),
        ).group_by(d.provider, d.service_name)
    )
    return {(p, s): [int(v) for v in rest] for p, s, *rest in rows}


async def raw_and_rollups(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    """Totals per currency from the rows, the daily rollup, the tag rollup and the ledger."""
    async with transaction(sessionmaker) as session:
        r, d = CloudCostRow, CloudDaily
        raw = {
            c: [int(v) for v in rest]
            for c, *rest in await session.execute(
                select(
                    r.billing_currency,
                    func.sum(r.billed_nanos),
                    func.sum(r.effective_nanos),
                    func.sum(r.list_nanos),
                    func.sum(func.coalesce(r.contracted_nanos, 0)),
                    func.count(),
                ).group_by(r.billing_currency)
            )
        }
        daily = {
            c: [int(v) for v in rest]
            for c, *rest in await session.execute(
                select(
                    d.currency,
                    func.sum(d.billed_nanos),
                    func.sum(d.effective_nanos),
                    func.sum(d.list_nanos),
                    func.sum(d.contracted_nanos),
                    func.sum(d.row_count),
                )
                .group_by(d.currency)
                .having(func.sum(d.row_count) != 0)
            )
        }
        tags = {
            (c, k): int(n)
            for c, k, n in await session.execute(
                select(
                    CloudTagDaily.currency, CloudTagDaily.tag_key, func.sum(CloudTagDaily.row_count)
                ).group_by(CloudTagDaily.currency, CloudTagDaily.tag_key)
            )
            if int(n)
        }
        ledger = (
            await session.execute(
                select(
                    func.coalesce(func.sum(LedgerHourly.billed_nanos), 0),
                    func.coalesce(func.sum(LedgerHourly.list_nanos), 0),
                    func.coalesce(func.sum(LedgerHourly.record_count), 0),
                ).where(LedgerHourly.source == "cloud")
            )
        ).one()
    return {"raw": raw, "daily": daily, "tags": tags, "ledger": [int(v) for v in ledger]}


def raw_tag_counts(rows: Iterable[Mapping[str, str]]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for values in rows:
        if values.get("Tags", "") not in NULLS:
            for key in json.loads(values["Tags"]):
                counts[(values["BillingCurrency"], key)] += 1
    return dict(counts)
