"""GitHub's billing rules: minutes rounded up per job, the SKU from the labels, the rate in force."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cicosts.ci.pricing import PriceBook, PriceSource, billable_minutes, price_job
from cicosts.ci.runners import OrgRunnerRule, RunnerMatch, match_runner
from cicosts.kit.money import usd_to_nanos
from cicosts.kit.periods import Period, split_at_utc_days

OLD, NEW = date(2000, 1, 1), date(2026, 1, 1)
PRICES = PriceBook(
    [
        ("linux", OLD, 8_000_000, True),
        ("linux", NEW, 6_000_000, True),
        ("windows", OLD, 16_000_000, True),
        ("windows", NEW, 10_000_000, True),
        ("macos", OLD, 80_000_000, True),
        ("macos", NEW, 62_000_000, True),
        ("macos_xl", NEW, 102_000_000, False),
        ("linux_8_core", NEW, 22_000_000, False),
    ]
)
JAN_2026 = datetime(2026, 1, 15, 12, tzinfo=UTC)


def price(match: RunnerMatch, minutes: int, *, private: bool = True, when: datetime = JAN_2026) -> tuple:
    result = price_job(
        match=match,
        minutes=minutes,
        completed_at=when,
        private_repository=private,
        prices=PRICES,
        self_hosted_nanos_per_minute=2_000_000,
    )
    return result.sku, result.cost_nanos, result.list_cost_nanos, result.price_source, result.unpriced


def test_nine_twenty_second_jobs_bill_nine_minutes() -> None:
    start = JAN_2026
    assert sum(billable_minutes(start, start + timedelta(seconds=20)) for _ in range(9)) == 9


def test_three_minutes_eighteen_seconds_bills_four() -> None:
    assert billable_minutes(JAN_2026, JAN_2026 + timedelta(minutes=3, seconds=18)) == 4


def test_a_skipped_job_bills_nothing() -> None:
    assert billable_minutes(JAN_2026, JAN_2026) == 0
    assert billable_minutes(None, JAN_2026) == 0


@given(st.integers(min_value=0, max_value=10 * 24 * 3600 * 1000))
def test_minutes_are_runtime_rounded_up(milliseconds: int) -> None:
    minutes = billable_minutes(JAN_2026, JAN_2026 + timedelta(milliseconds=milliseconds))
    assert minutes == math.ceil(milliseconds / 60_000)


@given(
    minutes=st.integers(min_value=0, max_value=100_000),
    sku=st.sampled_from(["linux", "windows", "macos"]),
    day=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
)
def test_cost_is_minutes_times_the_rate_in_force_exactly(minutes: int, sku: str, day: date) -> None:
    completed = datetime(day.year, day.month, day.day, 23, 59, tzinfo=UTC)
    rate = PRICES.rate(sku, day)
    assert rate is not None
    _, cost, list_cost, source, unpriced = price(RunnerMatch(sku), minutes, when=completed)
    assert cost == list_cost == minutes * rate.nanos_per_minute
    assert (source, unpriced) == (PriceSource.GITHUB_LIST, False)
    assert rate.nanos_per_minute == (
        {"linux": 6_000_000, "windows": 10_000_000, "macos": 62_000_000}[sku]
        if day >= NEW
        else {"linux": 8_000_000, "windows": 16_000_000, "macos": 80_000_000}[sku]
    )


def test_the_rate_changes_at_midnight_utc_on_2026_01_01() -> None:
    before = datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
    after = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert price(RunnerMatch("linux"), 10, when=before)[1] == usd_to_nanos("0.08")
    assert price(RunnerMatch("linux"), 10, when=after)[1] == usd_to_nanos("0.06")


@pytest.mark.parametrize(
    ("labels", "sku"),
    [
        (["ubuntu-latest"], "linux"),
        (["ubuntu-24.04"], "linux"),
        (["ubuntu-22.04"], "linux"),
        (["ubuntu-slim"], "linux_slim"),
        (["ubuntu-24.04-arm"], "linux_2_core_arm"),
        (["ubuntu-22.04-arm"], "linux_2_core_arm"),
        (["windows-latest"], "windows"),
        (["windows-2025"], "windows"),
        (["windows-2022"], "windows"),
        (["windows-11-arm"], "windows_2_core_arm"),
        (["macos-latest"], "macos"),
        (["macos-15"], "macos"),
        (["macos-13"], "macos"),
        (["macos-15-large"], "macos_l"),
        (["macos-latest-large"], "macos_l"),
        (["macos-14-xlarge"], "macos_xl"),
        (["macos-latest-xlarge"], "macos_xl"),
        (["self-hosted", "linux", "x64"], "self_hosted"),
        (["Self-Hosted", "gpu"], "self_hosted"),
        (["ubuntu-latest-16-cores"], None),
        (["my-big-runner"], None),
        ([], None),
    ],
)
def test_sku_from_labels(labels: list[str], sku: str | None) -> None:
    assert match_runner(labels, "GitHub Actions", {}, {}).sku == sku


def test_organization_mappings_come_first_by_label_then_by_runner_group() -> None:
    labels = {"big-linux": OrgRunnerRule("linux_8_core", None)}
    groups = {"gpu fleet": OrgRunnerRule(None, 150_000_000)}
    assert match_runner(["big-linux"], "Default", labels, groups).sku == "linux_8_core"
    by_group = match_runner(["self-hosted", "gpu"], "GPU Fleet", labels, groups)
    assert by_group.rule == OrgRunnerRule(None, 150_000_000)


def test_standard_runners_are_free_in_public_repositories_but_keep_their_list_cost() -> None:
    assert price(RunnerMatch("linux"), 10, private=False) == (
        "linux",
        0,
        60_000_000,
        PriceSource.PUBLIC_REPO_FREE,
        False,
    )


def test_larger_runners_are_billed_in_public_repositories() -> None:
    match = match_runner(["macos-15-xlarge"], "GitHub Actions", {}, {})
    assert price(match, 10, private=False) == ("macos_xl", 1_020_000_000, 1_020_000_000, "github_list", False)
    mapped = match_runner(["big"], None, {"big": OrgRunnerRule("linux_8_core", None)}, {})
    assert price(mapped, 3, private=False) == ("linux_8_core", 66_000_000, 66_000_000, "org_mapping", False)


def test_a_custom_rate_is_the_organizations_own_cost_everywhere() -> None:
    match = match_runner(["gpu"], None, {"gpu": OrgRunnerRule(None, 250_000_000)}, {})
    assert price(match, 4, private=False) == (None, 1_000_000_000, 1_000_000_000, "org_custom_rate", False)


def test_self_hosted_runners_cost_the_configured_rate_in_private_repositories() -> None:
    match = match_runner(["self-hosted"], "Default", {}, {})
    assert price(match, 5) == ("self_hosted", 10_000_000, 10_000_000, "self_hosted", False)
    assert price(match, 5, private=False) == ("self_hosted", 0, 10_000_000, "self_hosted", False)


def test_labels_that_match_nothing_are_unpriced_never_linux() -> None:
    match = match_runner(["custom-arm-large"], "Large runners", {}, {})
    assert price(match, 30) == (None, 0, 0, PriceSource.UNPRICED, True)


def test_a_mapping_to_an_unknown_sku_is_unpriced() -> None:
    match = match_runner(["x"], None, {"x": OrgRunnerRule("linux_9000_core", None)}, {})
    assert price(match, 3)[3:] == (PriceSource.UNPRICED, True)


def test_usd_conversion_refuses_sub_nanodollar_rates() -> None:
    assert usd_to_nanos("0.006") == 6_000_000
    with pytest.raises(ValueError, match="nanodollars"):
        usd_to_nanos("0.0000000001")


@given(
    start=st.datetimes(
        min_value=datetime(2025, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive; values get UTC
        max_value=datetime(2027, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    length=st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=70)),
)
def test_a_period_splits_into_whole_utc_days_and_edges_that_cover_it_exactly(
    start: datetime, length: timedelta
) -> None:
    period = Period(start, start + length)
    edges, days = split_at_utc_days(period)
    pieces = list(edges)
    if days is not None:
        first, last = (datetime(d.year, d.month, d.day, tzinfo=UTC) for d in days)
        assert first < last
        pieces.append(Period(first, last))
    pieces.sort(key=lambda p: p.start)
    assert pieces[0].start == period.start and pieces[-1].end == period.end
    assert all(a.end == b.start for a, b in itertools.pairwise(pieces))
    if days is None:
        assert edges == [period]  # no whole UTC day inside: read it all by the hour
    else:
        assert all(edge.length < timedelta(days=1) for edge in edges)
