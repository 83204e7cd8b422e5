"""Queries behind the cloud cost routes: the daily rollups for breakdowns, the rows for GET /costs.

Every query is scoped by organization and reads whole UTC charge days [start, end].
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.cloud.costs.schemas import Metric
from cicosts.models import CloudAccount, CloudCostRow, CloudDaily, CloudTagDaily

METRIC_COLUMNS = {
    Metric.BILLED: "billed_nanos",
    Metric.EFFECTIVE: "effective_nanos",
    Metric.LIST: "list_nanos",
}


def _in_range(table: Any, org_id: int, start: date, end: date) -> Any:
    return (table.org_id == org_id) & (table.day >= start) & (table.day <= end)


async def totals(session: AsyncSession, org_id: int, start: date, end: date) -> list[Any]:
    """Per currency: billed, effective, list and contracted cost, and rows."""
    d = CloudDaily
    statement = (
        select(
            d.currency,
            func.sum(d.billed_nanos),
            func.sum(d.effective_nanos),
            func.sum(d.list_nanos),
            func.sum(d.contracted_nanos),
            func.sum(d.row_count),
        )
        .where(_in_range(d, org_id, start, end))
        .group_by(d.currency)
    )
    return list((await session.execute(statement)).all())


async def grouped(
    session: AsyncSession, org_id: int, start: date, end: date, metric: Metric, dimensions: Sequence[str]
) -> list[Any]:
    """Per currency and the given dimensions of `cloud_daily`: the metric's cost and rows, costliest first."""
    d = CloudDaily
    columns = [d.__table__.c[name] for name in dimensions]
    cost = func.sum(d.__table__.c[METRIC_COLUMNS[metric]])
    statement = (
        select(d.currency, *columns, cost.label("cost"), func.sum(d.row_count).label("records"))
        .where(_in_range(d, org_id, start, end))
        .group_by(d.currency, *columns)
        .order_by(d.currency, cost.desc(), *columns)
    )
    return list((await session.execute(statement)).all())


async def by_tag(
    session: AsyncSession, org_id: int, start: date, end: date, metric: Metric, key: str
) -> list[Any]:
    t = CloudTagDaily
    cost = func.sum(t.__table__.c[METRIC_COLUMNS[metric]])
    statement = (
        select(t.currency, t.tag_value, cost.label("cost"), func.sum(t.row_count).label("records"))
        .where(_in_range(t, org_id, start, end), t.tag_key == key)
        .group_by(t.currency, t.tag_value)
        .order_by(t.currency, cost.desc(), t.tag_value)
    )
    return list((await session.execute(statement)).all())


async def account_names(
    session: AsyncSession, org_id: int, kind: str, ids: Sequence[str]
) -> dict[str, str | None]:
    if not ids:
        return {}
    statement = select(CloudAccount.account_id, CloudAccount.name).where(
        CloudAccount.org_id == org_id,
        CloudAccount.kind == kind,
        CloudAccount.account_id.in_(sorted(set(ids))),
    )
    return {account: name for account, name in (await session.execute(statement)).all()}


async def cost_rows(
    session: AsyncSession,
    org_id: int,
    start: date,
    end: date,
    *,
    service: str | None,
    region: str | None,
    provider: str | None,
    offset: int,
    limit: int,
) -> Sequence[CloudCostRow]:
    """Rows by charge day (latest first), narrowed by service, region and provider names."""
    row = CloudCostRow
    statement = select(row).where(row.org_id == org_id, row.usage_date >= start, row.usage_date <= end)
    if service is not None:
        statement = statement.where(row.service_name == service)
    if region is not None:
        statement = statement.where(row.region_id == region)
    if provider is not None:
        statement = statement.where(row.provider == provider)
    statement = statement.order_by(row.usage_date.desc(), row.id.desc()).offset(offset).limit(limit)
    return (await session.scalars(statement)).all()
