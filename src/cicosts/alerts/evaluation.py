"""The arithmetic of alerts, apart from any database: calendar periods, budget projection, anomaly baselines.

Money is integer nanodollars throughout; medians and spreads are exact fractions, never floats.

- **Calendar periods** (daily, weekly from Monday, monthly) start at local midnight in the organization's time
  zone; a period is `[start, end)` in UTC, and the cost of a period so far is that of its hours up to now.
- **Budget projection**: `projected = actual + recent_cost * remaining / recent_length`, where
  `recent_cost` is what the scope cost over the trailing 7 days up to now (or since the organization's first
  cost, if that is later; at least one hour) and `remaining` is the time left in the period: the trailing
  burn rate carried to the end of the period, added to what is already spent.
- **Anomaly**: the bucket (the last complete local day, or hour) is compared with the same scope's trailing
  28 buckets (days, or the same hour of each of the 28 days before, since hourly costs follow the clock).
  `bar = median + max(k * MAD, minimum)`, where MAD is the median absolute deviation from the median and
  `minimum` is the alert's amount: the bucket must rise more than `minimum` above the median, so a $0.01 blip
  over a zero baseline never alerts. It is an anomaly when `cost > bar`. Buckets before the organization's
  first cost do not count, and at least 7 must remain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from cicosts.kit.periods import Period, floor_hour, local_midnight, local_today

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
RECENT = timedelta(days=7)  # the trailing window a budget's burn rate comes from
BASELINE_BUCKETS = 28
MIN_BASELINE_BUCKETS = 7


@dataclass(frozen=True)
class CalendarWindow:
    """A whole calendar period: its UTC bounds and the local date it starts on (its name in dedupe keys)."""

    period: Period
    first_day: date


def calendar_window(period: str, tz: ZoneInfo, now: datetime) -> CalendarWindow:
    """The daily, weekly (Monday to Sunday) or monthly period in `tz` that `now` falls in."""
    today = local_today(tz, now)
    if period == "daily":
        first, following = today, today + DAY
    elif period == "weekly":
        first = today - timedelta(days=today.weekday())
        following = first + timedelta(days=7)
    elif period == "monthly":
        first = today.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(f"unknown period {period!r}")
    return CalendarWindow(Period(local_midnight(first, tz), local_midnight(following, tz)), first)


def median(values: Sequence[Fraction | int]) -> Fraction:
    if not values:
        raise ValueError("the median of nothing")
    ordered = sorted(Fraction(v) for v in values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def mad(values: Sequence[int]) -> Fraction:
    """The median absolute deviation from the median."""
    center = median(values)
    return median([abs(v - center) for v in values])


@dataclass(frozen=True)
class Baseline:
    median: Fraction
    mad: Fraction
    bar: Fraction  # median + max(k * MAD, minimum)
    buckets: int


def baseline(values: Sequence[int], k: Fraction, minimum: int) -> Baseline:
    center = median(values)
    spread = mad(values)
    return Baseline(center, spread, center + max(k * spread, Fraction(minimum)), len(values))


def is_anomaly(cost: int, base: Baseline) -> bool:
    return cost > base.bar


def projected_total(actual: int, recent_cost: int, recent_seconds: int, remaining_seconds: int) -> int:
    """What the period will have cost by its end at the recent burn rate (nanodollars, rounded down)."""
    if recent_seconds <= 0 or remaining_seconds <= 0 or recent_cost <= 0:
        return actual
    return actual + recent_cost * remaining_seconds // recent_seconds


def recent_window(now: datetime, first_cost: datetime | None) -> Period:
    """The trailing window a burn rate is measured over: 7 days, or since the first cost; at least an hour."""
    start = now - RECENT
    if first_cost is not None and first_cost > start:
        start = min(first_cost, now - HOUR)
    return Period(start, now)


def crossed_percent(amount: int, budget: int, percent: int) -> bool:
    """amount >= budget * percent / 100, in integers."""
    return amount * 100 >= budget * percent


def level_amount(budget: int, percent: int) -> int:
    return budget * percent // 100


@dataclass(frozen=True)
class Bucket:
    """The bucket an anomaly alert judges and the trailing buckets it is compared with."""

    period: Period
    baseline: list[Period]


def day_bucket(tz: ZoneInfo, now: datetime) -> Bucket:
    """Yesterday in `tz`, and the 28 local days before it."""
    yesterday = local_today(tz, now) - DAY
    days = [yesterday - timedelta(days=i) for i in range(BASELINE_BUCKETS + 1)]
    periods = [Period(local_midnight(d, tz), local_midnight(d + DAY, tz)) for d in days]
    return Bucket(periods[0], periods[1:])


def hour_bucket(now: datetime) -> Bucket:
    """The last complete hour, and the same hour on each of the 28 days before."""
    last = floor_hour(now) - HOUR
    starts = [last - DAY * i for i in range(BASELINE_BUCKETS + 1)]
    periods = [Period(start, start + HOUR) for start in starts]
    return Bucket(periods[0], periods[1:])


def usable_baseline(buckets: Sequence[Period], first_cost: datetime | None) -> list[Period]:
    """The baseline buckets that end after the organization's first cost (earlier ones say nothing)."""
    if first_cost is None:
        return []
    return [bucket for bucket in buckets if bucket.end > first_cost]


def sum_in(costs: dict[datetime, int], period: Period) -> int:
    """The costs of the hours (or days) starting in `period`."""
    return sum(cost for hour, cost in costs.items() if period.start <= hour < period.end)
