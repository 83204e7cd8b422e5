"""GitHub's billing rules: per job, minutes rounded up, at the SKU's rate in force when the job completed."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from cicosts.ci.runners import RunnerMatch

MINUTE = timedelta(minutes=1)


class PriceSource:
    GITHUB_LIST = "github_list"
    PUBLIC_REPO_FREE = "public_repo_free"
    ORG_MAPPING = "org_mapping"
    ORG_CUSTOM_RATE = "org_custom_rate"
    SELF_HOSTED = "self_hosted"
    UNPRICED = "unpriced"


@dataclass(frozen=True)
class Rate:
    nanos_per_minute: int
    standard: bool


class PriceBook:
    """Every SKU's dated list prices; `rate(sku, day)` is the price in force on that day."""

    def __init__(self, prices: Iterable[tuple[str, date, int, bool]]) -> None:
        by_sku: dict[str, list[tuple[date, Rate]]] = {}
        for sku, effective_from, nanos, standard in prices:
            by_sku.setdefault(sku, []).append((effective_from, Rate(nanos, standard)))
        self._dates = {sku: [d for d, _ in sorted(rows)] for sku, rows in by_sku.items()}
        self._rates = {sku: [r for _, r in sorted(rows, key=lambda x: x[0])] for sku, rows in by_sku.items()}

    def rate(self, sku: str, day: date) -> Rate | None:
        dates = self._dates.get(sku)
        if not dates:
            return None
        index = bisect.bisect_right(dates, day) - 1
        return self._rates[sku][index] if index >= 0 else None


@dataclass(frozen=True)
class JobPrice:
    billable_minutes: int
    sku: str | None
    unit_price_nanos: int | None
    cost_nanos: int
    list_cost_nanos: int
    price_source: str
    unpriced: bool


def billable_minutes(started_at: datetime | None, completed_at: datetime | None) -> int:
    """Runtime (queue time excluded) rounded up to the next whole minute; 0 when the job never ran."""
    if started_at is None or completed_at is None or completed_at <= started_at:
        return 0
    whole, remainder = divmod(completed_at - started_at, MINUTE)
    return int(whole) + (1 if remainder else 0)


def price_job(
    *,
    match: RunnerMatch,
    minutes: int,
    completed_at: datetime,
    private_repository: bool,
    prices: PriceBook,
    self_hosted_nanos_per_minute: int,
) -> JobPrice:
    rule = match.rule
    if rule is not None and rule.nanos_per_minute is not None:
        cost = minutes * rule.nanos_per_minute
        return JobPrice(
            minutes,
            match.sku,
            rule.nanos_per_minute,
            cost,
            cost,
            PriceSource.ORG_CUSTOM_RATE,
            False,
        )
    if match.self_hosted and rule is None:
        list_cost = minutes * self_hosted_nanos_per_minute
        cost = list_cost if private_repository else 0
        return JobPrice(
            minutes,
            match.sku,
            self_hosted_nanos_per_minute,
            cost,
            list_cost,
            PriceSource.SELF_HOSTED,
            False,
        )
    rate = prices.rate(match.sku, completed_at.date()) if match.sku else None
    if rate is None:
        return JobPrice(minutes, match.sku, None, 0, 0, PriceSource.UNPRICED, True)
    list_cost = minutes * rate.nanos_per_minute
    if rate.standard and not private_repository:
        return JobPrice(
            minutes,
            match.sku,
            rate.nanos_per_minute,
            0,
            list_cost,
            PriceSource.PUBLIC_REPO_FREE,
            False,
        )
    source = PriceSource.ORG_MAPPING if rule is not None else PriceSource.GITHUB_LIST
    return JobPrice(minutes, match.sku, rate.nanos_per_minute, list_cost, list_cost, source, False)
