"""Cloud cost figures from the daily rollups: totals, breakdowns and series, each currency apart."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.cloud.costs import repository
from cicosts.cloud.costs.schemas import (
    USD,
    AccountCost,
    Breakdown,
    CostEntry,
    CostPoint,
    CostSeries,
    CostSummary,
    CurrencyBreakdown,
    CurrencyTotal,
    Granularity,
    Item,
    Metric,
    RegionCost,
    ServiceCost,
    TagCost,
    TagCosts,
)
from cicosts.cloud.dependencies import CloudSelection
from cicosts.errors import BadRequest
from cicosts.kit.money import nanos_to_json_usd as amount
from cicosts.models import CloudCostRow

MAX_DAILY_POINTS = 366
METRIC_AT = {Metric.BILLED: 0, Metric.EFFECTIVE: 1, Metric.LIST: 2}


def _percent(part: int, whole: int) -> float:
    return round(part * 100 / whole, 1) if whole else 0.0


def _or_none(value: str) -> str | None:
    return value or None


async def summary(session: AsyncSession, selection: CloudSelection) -> CostSummary:
    rows = await repository.totals(session, selection.org.id, selection.dates.start, selection.dates.end)
    by_currency = {row[0]: [int(value) for value in row[1:]] for row in rows}
    usd = by_currency.pop(USD, [0, 0, 0, 0, 0])
    at = METRIC_AT[selection.metric]
    return CostSummary(
        start_date=selection.dates.start,
        end_date=selection.dates.end,
        metric=selection.metric,
        total=amount(usd[at]),
        billed_cost=amount(usd[0]),
        effective_cost=amount(usd[1]),
        list_cost=amount(usd[2]),
        contracted_cost=amount(usd[3]),
        savings=amount(usd[2] - usd[1]),
        records=usd[4],
        other_currencies=[
            CurrencyTotal(
                currency=currency,
                total=amount(sums[at]),
                billed_cost=amount(sums[0]),
                effective_cost=amount(sums[1]),
                list_cost=amount(sums[2]),
                contracted_cost=amount(sums[3]),
                records=sums[4],
            )
            for currency, sums in sorted(by_currency.items())
        ],
    )


def _breakdown(
    selection: CloudSelection,
    rows: Iterable[Any],
    item: Callable[[Any, int], Item],
    limit: int,
    totals: dict[str, int] | None = None,
) -> tuple[dict[str, int], dict[str, list[Item]]]:
    """Rows (currency first, costliest first) as items per currency, with each currency's total."""
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.currency, []).append(row)
    sums = totals if totals is not None else {c: sum(int(r.cost) for r in rs) for c, rs in grouped.items()}
    items = {
        currency: [item(row, sums[currency]) for row in found[:limit]] for currency, found in grouped.items()
    }
    return sums, items


def _assemble(
    selection: CloudSelection, sums: dict[str, int], items: dict[str, list[Item]]
) -> dict[str, Any]:
    return {
        "start_date": selection.dates.start,
        "end_date": selection.dates.end,
        "metric": selection.metric,
        "total": amount(sums.get(USD, 0)),
        "items": items.get(USD, []),
        "other_currencies": [
            CurrencyBreakdown[Any](currency=currency, total=amount(total), items=items.get(currency, []))
            for currency, total in sorted(sums.items())
            if currency != USD
        ],
    }


async def _grouped(session: AsyncSession, selection: CloudSelection, dimensions: list[str]) -> list[Any]:
    dates = selection.dates
    return await repository.grouped(
        session, selection.org.id, dates.start, dates.end, selection.metric, dimensions
    )


async def by_service(session: AsyncSession, selection: CloudSelection, limit: int) -> Breakdown[ServiceCost]:
    rows = await _grouped(session, selection, ["provider", "service_name", "service_category"])

    def item(row: Any, total: int) -> ServiceCost:
        return ServiceCost(
            provider=row.provider,
            service=_or_none(row.service_name),
            service_category=_or_none(row.service_category),
            cost=amount(int(row.cost)),
            records=int(row.records),
            pct_of_total=_percent(int(row.cost), total),
        )

    return Breakdown[ServiceCost](**_assemble(selection, *_breakdown(selection, rows, item, limit)))


async def by_region(session: AsyncSession, selection: CloudSelection, limit: int) -> Breakdown[RegionCost]:
    rows = await _grouped(session, selection, ["provider", "region_id"])

    def item(row: Any, total: int) -> RegionCost:
        return RegionCost(
            provider=row.provider,
            region=_or_none(row.region_id),
            cost=amount(int(row.cost)),
            records=int(row.records),
            pct_of_total=_percent(int(row.cost), total),
        )

    return Breakdown[RegionCost](**_assemble(selection, *_breakdown(selection, rows, item, limit)))


async def by_account(session: AsyncSession, selection: CloudSelection, limit: int) -> Breakdown[AccountCost]:
    rows = await _grouped(session, selection, ["provider", "billing_account_id", "sub_account_id"])
    org_id = selection.org.id
    billing = await repository.account_names(session, org_id, "billing", [r.billing_account_id for r in rows])
    sub = await repository.account_names(
        session, org_id, "sub", [r.sub_account_id for r in rows if r.sub_account_id]
    )

    def item(row: Any, total: int) -> AccountCost:
        return AccountCost(
            provider=row.provider,
            billing_account_id=row.billing_account_id,
            billing_account_name=billing.get(row.billing_account_id),
            sub_account_id=_or_none(row.sub_account_id),
            sub_account_name=sub.get(row.sub_account_id),
            cost=amount(int(row.cost)),
            records=int(row.records),
            pct_of_total=_percent(int(row.cost), total),
        )

    return Breakdown[AccountCost](**_assemble(selection, *_breakdown(selection, rows, item, limit)))


async def by_tag(session: AsyncSession, selection: CloudSelection, key: str, limit: int) -> TagCosts:
    """Cost per value of one tag key; the rows without the key are the item with value null."""
    dates, org_id = selection.dates, selection.org.id
    tagged = await repository.by_tag(session, org_id, dates.start, dates.end, selection.metric, key)
    at = METRIC_AT[selection.metric]
    everything = {
        row[0]: (int(row[1 + at]), int(row[5]))
        for row in await repository.totals(session, org_id, dates.start, dates.end)
    }
    rows: list[Any] = list(tagged)
    for currency, (cost, records) in everything.items():
        tagged_cost = sum(int(r.cost) for r in tagged if r.currency == currency)
        tagged_records = sum(int(r.records) for r in tagged if r.currency == currency)
        if records > tagged_records:
            rows.append(_Untagged(currency, cost - tagged_cost, records - tagged_records))
    rows.sort(key=lambda r: (r.currency, -int(r.cost)))

    def item(row: Any, total: int) -> TagCost:
        return TagCost(
            value=row.tag_value,
            cost=amount(int(row.cost)),
            records=int(row.records),
            pct_of_total=_percent(int(row.cost), total),
        )

    sums = {currency: cost for currency, (cost, _) in everything.items()}
    return TagCosts(key=key, **_assemble(selection, *_breakdown(selection, rows, item, limit, sums)))


class _Untagged:
    tag_value = None

    def __init__(self, currency: str, cost: int, records: int) -> None:
        self.currency, self.cost, self.records = currency, cost, records


def bucket_start(day: date, granularity: Granularity) -> date:
    if granularity is Granularity.WEEK:
        return day - timedelta(days=day.weekday())
    if granularity is Granularity.MONTH:
        return day.replace(day=1)
    return day


async def timeseries(
    session: AsyncSession, selection: CloudSelection, granularity: Granularity
) -> CostSeries:
    """Cost per day, week or month, zero-filled, each currency apart."""
    dates = selection.dates
    if granularity is Granularity.DAY and dates.days > MAX_DAILY_POINTS:
        raise BadRequest(
            f"granularity: a range of {dates.days} days is too long for day granularity "
            f"(at most {MAX_DAILY_POINTS}); use week or month"
        )
    rows = await _grouped(session, selection, ["day"])
    buckets: dict[str, dict[date, list[int]]] = {USD: {}}
    for row in rows:
        buckets.setdefault(row.currency, {})
    for series in buckets.values():
        for day in dates.dates():
            series.setdefault(max(bucket_start(day, granularity), dates.start), [0, 0])
    for row in rows:
        point = buckets[row.currency][max(bucket_start(row.day, granularity), dates.start)]
        point[0] += int(row.cost)
        point[1] += int(row.records)
    points = {
        currency: [
            CostPoint(date=day, cost=amount(cost), records=records) for day, (cost, records) in series.items()
        ]
        for currency, series in buckets.items()
    }
    sums = {currency: sum(cost for cost, _ in series.values()) for currency, series in buckets.items()}
    return CostSeries(granularity=granularity, **_assemble(selection, sums, points))


async def entries(
    session: AsyncSession,
    selection: CloudSelection,
    *,
    service: str | None,
    region: str | None,
    provider: str | None,
    page: int,
    per_page: int,
) -> list[CostEntry]:
    dates = selection.dates
    rows = await repository.cost_rows(
        session,
        selection.org.id,
        dates.start,
        dates.end,
        service=service,
        region=region,
        provider=provider,
        offset=(page - 1) * per_page,
        limit=per_page,
    )
    return [_entry(row, selection.metric) for row in rows]


def _entry(row: CloudCostRow, metric: Metric) -> CostEntry:
    nanos = {
        Metric.BILLED: row.billed_nanos,
        Metric.EFFECTIVE: row.effective_nanos,
        Metric.LIST: row.list_nanos,
    }
    return CostEntry(
        id=row.id,
        service=row.service_name or None,
        amount=amount(nanos[metric]),
        currency=row.billing_currency,
        usage_date=row.usage_date,
        region=row.region_id,
        tag=row.tags,
        provider=row.provider,
        account=row.sub_account_id or row.billing_account_id,
        resource_id=row.resource_id,
    )
