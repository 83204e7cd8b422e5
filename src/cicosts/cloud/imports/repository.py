"""Writes behind FOCUS imports: rows (COPY on PostgreSQL), billing periods, replaced rows, accounts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, cast, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Text

from cicosts.cloud.imports.focus import ROW_COLUMNS
from cicosts.kit.upsert import dialect_name, insert_for
from cicosts.models import CloudAccount, CloudBillingPeriod, CloudCostRow, CloudImport

ROWS: Table = CloudCostRow.__table__  # type: ignore[assignment]
PERIODS: Table = CloudBillingPeriod.__table__  # type: ignore[assignment]
ACCOUNTS: Table = CloudAccount.__table__  # type: ignore[assignment]
TAGS_AT = ROW_COLUMNS.index("tags")
INSERT_CHUNK = 2_000
# (billing account, billing period start) -> (billing period end, rows the import stores in it)
Periods = dict[tuple[str, datetime], list[Any]]


async def copy_rows(session: AsyncSession, records: AsyncIterator[tuple[Any, ...]]) -> None:
    """PostgreSQL: the rows streamed into one COPY, so the server stores rows while the next are parsed."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    await driver.copy_records_to_table(ROWS.name, records=records, columns=list(ROW_COLUMNS))


async def copy_csv(session: AsyncSession, chunks: AsyncIterator[bytes]) -> None:
    """PostgreSQL: rows written as CSV (ROW_COLUMNS order) streamed into one COPY."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    await driver.copy_to_table(ROWS.name, source=chunks, columns=list(ROW_COLUMNS), format="csv")


async def insert_rows(session: AsyncSession, records: AsyncIterator[tuple[Any, ...]]) -> None:
    """Any other database: multi-row INSERTs of a few thousand rows."""
    statement = ROWS.insert()
    chunk: list[dict[str, Any]] = []
    async for record in records:
        row = dict(zip(ROW_COLUMNS, record, strict=True))
        if record[TAGS_AT] is not None:
            row["tags"] = json.loads(record[TAGS_AT])  # the JSON type serializes it again
        chunk.append(row)
        if len(chunk) >= INSERT_CHUNK:
            await session.execute(statement, chunk)
            chunk = []
    if chunk:
        await session.execute(statement, chunk)


async def store_rows(session: AsyncSession, records: AsyncIterator[tuple[Any, ...]]) -> None:
    if dialect_name(session) == "postgresql":
        await copy_rows(session, records)
    else:
        await insert_rows(session, records)


async def claim_periods(
    session: AsyncSession, org_id: int, import_id: int, periods: Periods, now: datetime
) -> None:
    """Record the import as the source of its billing periods. On PostgreSQL this locks each period's row
    until commit, so two imports of one period take turns and the later one replaces the earlier whole."""
    if not periods:
        return
    rows = [
        {
            "org_id": org_id,
            "billing_account_id": account,
            "billing_period_start": start,
            "billing_period_end": end,
            "import_id": import_id,
            "rows": count,
            "imported_at": now,
        }
        for (account, start), (end, count) in sorted(periods.items())
    ]
    insert = insert_for(session, PERIODS)
    statement = insert.on_conflict_do_update(
        index_elements=["org_id", "billing_account_id", "billing_period_start"],
        set_={
            name: insert.excluded[name] for name in ("billing_period_end", "import_id", "rows", "imported_at")
        },
    )
    for row in rows:  # one at a time, in key order: the order locks are taken in
        await session.execute(statement, row)


def _replaced(org_id: int, import_id: int, account: str, start: datetime) -> Any:
    return and_(
        CloudCostRow.org_id == org_id,
        CloudCostRow.billing_account_id == account,
        CloudCostRow.billing_period_start == start,
        CloudCostRow.import_id != import_id,
    )


async def replaced_sums(
    session: AsyncSession, org_id: int, import_id: int, account: str, start: datetime
) -> list[Any]:
    """What the rows an import replaces add to the rollups: sums per daily key and tag set."""
    row = CloudCostRow
    tags = cast(row.tags, Text)
    keys = (
        row.usage_date,
        row.billing_currency,
        row.provider,
        row.billing_account_id,
        func.coalesce(row.sub_account_id, ""),
        row.service_name,
        row.service_category,
        func.coalesce(row.region_id, ""),
        tags,
    )
    statement = (
        select(
            *keys,
            func.sum(row.billed_nanos),
            func.sum(row.effective_nanos),
            func.sum(row.list_nanos),
            func.sum(func.coalesce(row.contracted_nanos, 0)),
            func.count(),
        )
        .where(_replaced(org_id, import_id, account, start))
        .group_by(*keys)
    )
    return list((await session.execute(statement)).all())


async def delete_replaced(
    session: AsyncSession, org_id: int, import_id: int, account: str, start: datetime
) -> int:
    result = await session.execute(delete(CloudCostRow).where(_replaced(org_id, import_id, account, start)))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def upsert_accounts(
    session: AsyncSession, org_id: int, accounts: dict[tuple[str, str], tuple[str, str | None]], now: datetime
) -> None:
    """(kind, account id) -> (provider, name): the name each account last had."""
    if not accounts:
        return
    insert = insert_for(session, ACCOUNTS)
    statement = insert.on_conflict_do_update(
        index_elements=["org_id", "kind", "account_id"],
        set_={name: insert.excluded[name] for name in ("provider", "name", "updated_at")},
    )
    rows = [
        {
            "org_id": org_id,
            "kind": kind,
            "account_id": account,
            "provider": provider,
            "name": name,
            "updated_at": now,
        }
        for (kind, account), (provider, name) in sorted(accounts.items())
    ]
    await session.execute(statement, rows)


async def import_of(session: AsyncSession, org_id: int, import_id: int) -> CloudImport | None:
    found = await session.get(CloudImport, import_id)
    return found if found is not None and found.org_id == org_id else None


async def recent_imports(session: AsyncSession, org_id: int, limit: int) -> Sequence[CloudImport]:
    statement = (
        select(CloudImport)
        .where(CloudImport.org_id == org_id)
        .order_by(CloudImport.created_at.desc(), CloudImport.id.desc())
        .limit(limit)
    )
    return (await session.scalars(statement)).all()
