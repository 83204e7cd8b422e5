"""The arithmetic alerts rest on, for any input: calendar periods in any time zone, median and MAD, the
anomaly bar, the budget projection and warning levels."""

from __future__ import annotations

import itertools
import statistics
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from cicosts.alerts import evaluation
from cicosts.kit.periods import Period

ZONES = [
    "UTC",
    "America/Los_Angeles",
    "America/New_York",
    "America/St_Johns",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Chatham",
]
instants = st.datetimes(  # hypothesis wants naive bounds and adds the zone
    min_value=datetime(2001, 1, 1),  # noqa: DTZ001
    max_value=datetime(2099, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)
zones = st.sampled_from(ZONES).map(ZoneInfo)
periods = st.sampled_from(["daily", "weekly", "monthly"])
nanos = st.integers(min_value=0, max_value=10**15)
baselines = st.lists(nanos, min_size=1, max_size=60)
ks = st.integers(min_value=50, max_value=5000).map(lambda hundredths: Fraction(hundredths, 100))


@given(periods, zones, instants)
def test_a_calendar_period_holds_now_starts_at_local_midnight_and_meets_the_next(
    period: str, tz: ZoneInfo, now: datetime
) -> None:
    window = evaluation.calendar_window(period, tz, now)
    start, end = window.period.start, window.period.end
    assert start <= now < end
    local = start.astimezone(tz)
    assert (local.hour, local.minute, local.date()) == (0, 0, window.first_day)
    if period == "weekly":
        assert window.first_day.weekday() == 0
    if period == "monthly":
        assert window.first_day.day == 1
    following = evaluation.calendar_window(period, tz, end)
    assert following.period.start == end  # periods tile time: nothing is counted twice or lost
    days = {"daily": (1, 1), "weekly": (7, 7), "monthly": (28, 31)}[period]
    assert timedelta(days=days[0], hours=-1) <= end - start <= timedelta(days=days[1], hours=1)


@given(baselines)
def test_the_median_is_the_statistics_median_exactly(values: list[int]) -> None:
    assert evaluation.median(values) == statistics.median(Fraction(v) for v in values)


@given(baselines, st.integers(min_value=-(10**12), max_value=10**12))
def test_the_median_and_mad_move_with_a_shift_and_the_mad_does_not(values: list[int], shift: int) -> None:
    moved = [v + shift for v in values]
    assert evaluation.median(moved) == evaluation.median(values) + shift
    assert evaluation.mad(moved) == evaluation.mad(values) >= 0


@given(baselines, ks, nanos)
def test_the_bar_is_the_median_plus_the_larger_of_k_mads_and_the_minimum(
    values: list[int], k: Fraction, minimum: int
) -> None:
    base = evaluation.baseline(values, k, minimum)
    assert base.bar == base.median + max(k * base.mad, minimum)
    assert base.bar >= base.median + minimum
    ceiling = base.bar.__floor__() + 1
    assert evaluation.is_anomaly(ceiling, base) and not evaluation.is_anomaly(base.bar.__floor__(), base)


@given(st.integers(min_value=1, max_value=10**9), st.integers(min_value=7, max_value=60), nanos, ks)
def test_a_blip_over_a_flat_baseline_needs_the_minimum_rise(
    level: int, days: int, minimum: int, k: Fraction
) -> None:
    base = evaluation.baseline([level] * days, k, minimum)  # MAD is 0: only the minimum guards
    assert not evaluation.is_anomaly(level + minimum, base)
    assert evaluation.is_anomaly(level + minimum + 1, base)


@given(
    st.lists(nanos, min_size=7, max_size=28),
    st.integers(min_value=2, max_value=1000),
    ks,
    nanos,
)
def test_the_bar_scales_with_the_costs(values: list[int], factor: int, k: Fraction, minimum: int) -> None:
    base = evaluation.baseline(values, k, minimum)
    scaled = evaluation.baseline([v * factor for v in values], k, minimum * factor)
    assert scaled.bar == base.bar * factor


@given(
    nanos,
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=3600, max_value=7 * 86400),
    st.integers(min_value=0, max_value=31 * 86400),
)
def test_a_constant_burn_rate_projects_exactly(
    actual: int, per_second: int, recent: int, remaining: int
) -> None:
    projected = evaluation.projected_total(actual, per_second * recent, recent, remaining)
    assert projected == actual + per_second * remaining


@given(nanos, nanos, st.integers(min_value=1, max_value=10**7), st.integers(min_value=0, max_value=10**7))
def test_the_projection_is_the_floor_of_the_exact_rate_and_grows_with_time_left(
    actual: int, recent_cost: int, recent: int, remaining: int
) -> None:
    projected = evaluation.projected_total(actual, recent_cost, recent, remaining)
    exact = actual + Fraction(recent_cost * remaining, recent)
    assert projected <= exact < projected + 1 and projected >= actual
    assert evaluation.projected_total(actual, recent_cost, recent, remaining + 3600) >= projected
    assert evaluation.projected_total(actual, recent_cost, recent, 0) == actual


@given(nanos, st.integers(min_value=1, max_value=10**12), st.integers(min_value=1, max_value=1000))
def test_a_level_is_crossed_exactly_at_its_amount(amount: int, budget: int, percent: int) -> None:
    assert evaluation.crossed_percent(amount, budget, percent) == (
        Fraction(amount) >= Fraction(budget * percent, 100)
    )
    assert evaluation.level_amount(budget, percent) <= Fraction(budget * percent, 100)


@given(instants, st.one_of(st.none(), instants))
def test_the_recent_window_is_a_week_or_the_history_there_is_and_never_under_an_hour(
    now: datetime, first: datetime | None
) -> None:
    window = evaluation.recent_window(now, first)
    assert window.end == now and timedelta(hours=1) <= window.length <= timedelta(days=7)
    if first is None or first <= now - timedelta(days=7):
        assert window.length == timedelta(days=7)


@given(zones, instants)
def test_the_day_bucket_is_yesterday_and_its_baseline_the_28_days_before(tz: ZoneInfo, now: datetime) -> None:
    bucket = evaluation.day_bucket(tz, now)
    today = now.astimezone(tz).date()
    assert bucket.period.start.astimezone(tz).date() == today - timedelta(days=1)
    assert bucket.period.end <= now
    assert len(bucket.baseline) == 28
    chain = [bucket.period, *bucket.baseline]
    assert all(later.start == earlier.end for later, earlier in itertools.pairwise(chain))


@given(instants)
def test_the_hour_bucket_is_the_last_complete_hour_and_the_same_hour_of_the_days_before(
    now: datetime,
) -> None:
    bucket = evaluation.hour_bucket(now)
    assert bucket.period.end <= now < bucket.period.end + timedelta(hours=1)
    assert [now_bucket.start for now_bucket in bucket.baseline] == [
        bucket.period.start - timedelta(days=i) for i in range(1, 29)
    ]
    first = bucket.baseline[9].start
    assert len(evaluation.usable_baseline(bucket.baseline, first)) == 10
    assert evaluation.usable_baseline(bucket.baseline, None) == []


def test_sum_in_counts_the_hours_starting_in_a_period() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    costs = {
        start - timedelta(hours=1): 1,
        start: 2,
        start + timedelta(hours=5): 4,
        start + timedelta(days=1): 8,
    }
    assert evaluation.sum_in(costs, Period(start, start + timedelta(days=1))) == 6
