"""Rightsizing the way AWS Compute Optimizer does it, from utilization samples and billed cost.

For each instance, over the last 14 days (the lookback), using the samples of its current instance type:
1. billed but without samples: "no data" (nothing is guessed);
2. under 30 distinct hours with a CPU sample: "insufficient data";
3. CPU never above 5 % (each sample's maximum, else its average): idle, "stop or terminate", saving all of
   its monthly cost;
4. otherwise the 99.5th percentile of CPU (each sample's peak: its maximum, else its average), and of memory
   when samples of it exist, plus 20 % headroom, must fit a smaller size of the same family: the capacity
   needed is p99.5 x 1.2 of the current size's, and a size with normalization factor F offers F / F_current
   of it. The smallest size that fits both is recommended ("downsize"); none fits: "keep". A type without a
   normalization factor, or of a family not resized from CPU and memory (see `sizing`): "unsupported".

Money: the monthly cost is the instance's own billed cost in the lookback, carried to 730 hours over the
hours the bill covers (from its first charge in the lookback, or the lookback's start, to where the
organization's billing data ends); a downsize saves monthly cost x (1 - F_new / F_current). Both are exact
integer nanodollars (rounded half to even once). An instance with samples but no bill gets no money figure.

Confidence: high from 80 % of the lookback's hours with samples, medium from 50 %, low below; a downsize
without memory samples is at most medium (memory was not checked).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.cloud.costs.schemas import USD
from cicosts.cloud.recommendations import repository
from cicosts.cloud.recommendations.schemas import LOOKBACK_DAYS, Confidence, Recommendation, Recommendations
from cicosts.cloud.recommendations.sizing import parse_type, resizable, smaller_sizes, type_in_description
from cicosts.kit.money import nanos_to_json_usd
from cicosts.kit.periods import Period, as_utc, floor_hour

MIN_HOURS = 30
IDLE_BELOW_MILLI = 5_000  # 5 %
PERCENTILE = Fraction(995, 1000)
HEADROOM = Fraction(12, 10)
FULL_MILLI = 100_000
HOURS_PER_MONTH = 730
HIGH_SHARE, MEDIUM_SHARE = Fraction(8, 10), Fraction(5, 10)


@dataclass
class Usage:
    """One resource's samples in the lookback: (timestamp, metric, instance type, region, average, peak)."""

    resource_id: str
    rows: list[tuple[datetime, str, str, str | None, int, int]] = field(default_factory=list)

    def add(self, row: Any) -> None:
        peak = row.maximum_milli if row.maximum_milli is not None else row.average_milli
        self.rows.append(
            (as_utc(row.timestamp), row.metric, row.instance_type, row.region, row.average_milli, peak)
        )

    def current(self) -> tuple[str, str | None, dict[str, list[tuple[datetime, int, int]]]]:
        """The latest instance type and region, and the samples taken on that type (a resized instance's
        earlier samples measured another size), per metric: (timestamp, average, peak)."""
        _, _, instance_type, region, _, _ = max(self.rows, key=lambda row: row[0])
        samples: dict[str, list[tuple[datetime, int, int]]] = {}
        for stamp, metric, kind, _, average, peak in self.rows:
            if kind == instance_type:
                samples.setdefault(metric, []).append((stamp, average, peak))
        return instance_type, region, samples


@dataclass(frozen=True)
class Bill:
    billed: int
    currency: str
    first_charge: datetime
    name: str | None
    region: str | None
    instance_type: str | None


def key_of(resource_id: str) -> str:
    """An instance id, also at the end of its ARN or Azure resource id."""
    return resource_id.rsplit("/", 1)[-1]


def percentile(values: Sequence[int], point: Fraction) -> int:
    """Nearest rank: the smallest value with at least `point` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(math.ceil(point * len(ordered)), 1) - 1]


def monthly_nanos(billed: int, covered: timedelta) -> int | None:
    seconds = int(covered.total_seconds())
    if seconds <= 0:
        return None
    return round(Fraction(billed * HOURS_PER_MONTH * 3600, seconds))


def _confidence(hours: int, lookback_hours: int) -> Confidence:
    share = Fraction(hours, lookback_hours)
    return "high" if share >= HIGH_SHARE else "medium" if share >= MEDIUM_SHARE else "low"


async def _usages(session: AsyncSession, org_id: int, window: Period) -> AsyncIterator[Usage]:
    """Each resource's samples in turn (they come ordered by resource), never all of them at once."""
    usage: Usage | None = None
    async for row in repository.samples(session, org_id, window):
        if usage is None or usage.resource_id != row.resource_id:
            if usage is not None:
                yield usage
            usage = Usage(row.resource_id)
        usage.add(row)
    if usage is not None:
        yield usage


async def _bills(
    session: AsyncSession, org_id: int, window: Period
) -> tuple[dict[str, tuple[str, Bill]], datetime]:
    """Per instance key: its resource id and bill (the currency it was billed most in); and the bills' end."""
    until = await repository.billed_until(session, org_id, window)
    end = min(window.end, as_utc(until)) if until is not None else window.start
    bills: dict[str, tuple[str, Bill]] = {}
    for row in await repository.billed_instances(session, org_id, window):
        bill = Bill(
            billed=int(row.billed),
            currency=row.billing_currency,
            first_charge=as_utc(row.first_charge),
            name=row.name,
            region=row.region,
            instance_type=type_in_description(row.description),
        )
        key = key_of(row.resource_id)
        found = bills.get(key)
        if (
            found is None
            or (found[1].currency != USD and bill.currency == USD)
            or bill.billed > found[1].billed
        ):
            bills[key] = (row.resource_id, bill)
    return bills, end


async def recommendations(session: AsyncSession, org_id: int, now: datetime) -> Recommendations:
    window = Period(now - timedelta(days=LOOKBACK_DAYS), now)
    bills, billed_end = await _bills(session, org_id, window)
    found: list[Recommendation] = []
    async for usage in _usages(session, org_id, window):
        billed = bills.pop(key_of(usage.resource_id), None)
        found.append(_assess(usage, billed[1] if billed else None, window, billed_end))
    for resource_id, bill in bills.values():  # billed, but nothing was measured
        found.append(_no_data(resource_id, bill, window, billed_end))
    found.sort(key=lambda r: (-(r.estimated_monthly_savings or 0), r.resource_id))
    usd = [r for r in found if r.currency in (USD, None)]
    return Recommendations(
        lookback_days=LOOKBACK_DAYS,
        generated_at=now,
        currency=USD,
        estimated_monthly_savings=nanos_to_json_usd(sum(r.savings_nanos for r in usd)),
        recommendations=found,
    )


def _money(bill: Bill | None, window: Period, billed_end: datetime) -> int | None:
    if bill is None:
        return None
    return monthly_nanos(bill.billed, billed_end - max(window.start, bill.first_charge))


def _no_data(resource_id: str, bill: Bill, window: Period, billed_end: datetime) -> Recommendation:
    monthly = _money(bill, window, billed_end)
    return Recommendation.of(
        resource_id=resource_id,
        name=bill.name,
        region=bill.region,
        verdict="no data",
        current_type=bill.instance_type,
        monthly_nanos=monthly,
        currency=bill.currency,
        reason=f"Billed, but no utilization samples in the last {LOOKBACK_DAYS} days: nothing is guessed",
    )


def _assess(usage: Usage, bill: Bill | None, window: Period, billed_end: datetime) -> Recommendation:
    monthly = _money(bill, window, billed_end)
    instance_type, region, samples = usage.current()
    cpu = samples.get("cpu", [])
    memory = samples.get("memory", [])
    hours = len({floor_hour(stamp) for stamp, _, _ in cpu})
    lookback_hours = LOOKBACK_DAYS * 24
    common: dict[str, Any] = {
        "resource_id": usage.resource_id,
        "name": bill.name if bill else None,
        "region": region or (bill.region if bill else None),
        "current_type": instance_type,
        "monthly_nanos": monthly,
        "currency": bill.currency if bill else None,
        "hours_of_data": hours,
    }
    if hours < MIN_HOURS:
        return Recommendation.of(
            **common,
            verdict="insufficient data",
            cpu_avg_milli=_average(cpu),
            reason=f"{hours} hours with CPU samples in the last {LOOKBACK_DAYS} days; {MIN_HOURS} are needed",
        )
    cpu_avg = _average(cpu)
    cpu_max = max(peak for _, _, peak in cpu)
    cpu_p = percentile([peak for _, _, peak in cpu], PERCENTILE)
    memory_p = percentile([peak for _, _, peak in memory], PERCENTILE) if memory else None
    common |= {"cpu_avg_milli": cpu_avg, "cpu_p_milli": cpu_p, "memory_p_milli": memory_p}
    confidence = _confidence(hours, lookback_hours)
    if cpu_max < IDLE_BELOW_MILLI:
        return Recommendation.of(
            **common,
            verdict="stop or terminate",
            savings_nanos=monthly,
            confidence=confidence,
            reason=f"Idle: CPU never above {cpu_max / 1000}% in {hours} hours (under 5% is idle)",
        )
    current = parse_type(instance_type)
    if current is None or not resizable(current):
        return Recommendation.of(
            **common,
            verdict="unsupported",
            confidence=confidence,
            reason=f"{instance_type} is not resized from CPU and memory by size normalization factors",
        )
    needed = [p * HEADROOM / FULL_MILLI for p in (cpu_p, memory_p) if p is not None]
    fitting = [
        size for size in smaller_sizes(current) if all(n <= size.factor / current.factor for n in needed)
    ]
    if not fitting:
        return Recommendation.of(
            **common,
            verdict="keep",
            confidence=confidence,
            reason="p99.5 plus 20% headroom does not fit a smaller size of the family",
        )
    target = fitting[-1]
    if memory_p is None and confidence == "high":
        confidence = "medium"
    savings = None if monthly is None else round(monthly * (1 - target.factor / current.factor))
    return Recommendation.of(
        **common,
        verdict="downsize",
        recommended_type=target.name,
        savings_nanos=savings,
        confidence=confidence,
        reason=(
            f"p99.5 CPU {cpu_p / 1000}%"
            + (f" and memory {memory_p / 1000}%" if memory_p is not None else " (no memory samples)")
            + f" plus 20% headroom fit {target.name}"
            + f" ({float(target.factor / current.factor):.0%} of the capacity)"
        ),
    )


def _average(samples: Sequence[tuple[datetime, int, int]]) -> int | None:
    if not samples:
        return None
    return round(Fraction(sum(average for _, average, _ in samples), len(samples)))
