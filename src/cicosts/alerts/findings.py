"""Evaluating one alert: read its costs from the ledger, judge them (`evaluation`), say what is due.

Nothing is written here; `service` records a due trigger and queues its notifications.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.alerts import evaluation, repository
from cicosts.alerts.evaluation import HOUR, MIN_BASELINE_BUCKETS
from cicosts.alerts.repository import Target
from cicosts.alerts.schemas import AlertScope
from cicosts.config import Settings
from cicosts.kit.periods import Period, floor_hour, zone
from cicosts.models import Alert, Organization
from cicosts.plans.service import plan_of, repositories_in_order


def granularity_of(alert: Alert) -> str:
    if alert.anomaly_granularity:
        return alert.anomaly_granularity
    return "hour" if alert.scope.get("source") == "llm" else "day"


@dataclass
class Evaluated:
    """What an evaluation found: the cost, the level it is compared with, and what it would trigger."""

    current: int
    threshold: int
    exceeded: bool
    period: Period
    details: dict[str, Any]
    dedupe_key: str | None = None  # the trigger this finding is, when exceeded
    trigger: dict[str, Any] | None = None  # a new trigger's values, when one is due
    existing_key: str | None = None  # where an earlier trigger for this finding would be


@dataclass(frozen=True)
class Level:
    """A budget's warning level: its percent, its amount, and which cost crossed it (actual, forecast)."""

    percent: int
    amount: int
    by: str | None


async def hidden_repositories(
    session: AsyncSession, org: Organization, settings: Settings
) -> tuple[str, ...]:
    """CI repositories beyond the plan's limit: hidden from totals, so from alerts too."""
    plan = plan_of(org, settings)
    if plan.max_repos is None:
        return ()
    repositories = await repositories_in_order(session, org.id)
    return tuple(repo.full_name for repo in repositories[plan.max_repos :])


def _so_far(period: Period, now: datetime) -> datetime:
    """The end of the hours counted so far: the current hour included, never past the period."""
    return min(floor_hour(now) + HOUR, period.end)


async def _cost_threshold(
    session: AsyncSession, alert: Alert, target: Target, now: datetime, tz: ZoneInfo
) -> Evaluated:
    window = evaluation.calendar_window(alert.period, tz, now)
    actual = await repository.total_cost(session, target, window.period.start, _so_far(window.period, now))
    key = f"cost:{alert.period}:{window.first_day.isoformat()}:{alert.threshold_nanos}"
    exceeded = actual > alert.threshold_nanos
    found = Evaluated(
        actual, alert.threshold_nanos, exceeded, window.period, {"period": alert.period}, existing_key=key
    )
    if exceeded:
        found.dedupe_key = key
        found.trigger = {"level": 100, "basis": "actual", "actual_nanos": actual}
    return found


async def _budget(
    session: AsyncSession, alert: Alert, target: Target, now: datetime, tz: ZoneInfo
) -> Evaluated:
    window = evaluation.calendar_window(alert.period, tz, now)
    period, budget = window.period, alert.threshold_nanos
    end = _so_far(period, now)
    actual = await repository.total_cost(session, target, period.start, end)
    recent = evaluation.recent_window(floor_hour(now), await repository.first_cost(session, target.org_id))
    recent_start = floor_hour(recent.start)
    recent_cost = await repository.total_cost(session, target, recent_start, end)
    recent_seconds = max(int((now - recent_start).total_seconds()), 3600)
    remaining = max(int((period.end - now).total_seconds()), 0)
    projected = evaluation.projected_total(actual, recent_cost, recent_seconds, remaining)
    levels: list[Level] = []
    for percent in sorted(alert.warning_percents):
        by_actual = evaluation.crossed_percent(actual, budget, percent)
        by_forecast = alert.forecast and evaluation.crossed_percent(projected, budget, percent)
        basis = "actual" if by_actual else "forecast" if by_forecast else None
        levels.append(Level(percent, evaluation.level_amount(budget, percent), basis))
    crossed = [level for level in levels if level.by is not None]
    prefix = f"budget:{alert.period}:{window.first_day.isoformat()}:{budget}:"
    details = {
        "period": alert.period,
        "budget_nanos": budget,
        "projected_nanos": projected,
        "percent_used": float(round(Fraction(actual * 100, budget), 1)),
        "forecast": alert.forecast,
        "levels": [
            {"percent": level.percent, "amount_nanos": level.amount, "crossed_by": level.by}
            for level in levels
        ],
    }
    top = crossed[-1] if crossed else levels[0]
    found = Evaluated(
        actual,
        top.amount,
        bool(crossed),
        period,
        details,
        existing_key=f"{prefix}{top.percent}" if crossed else None,
    )
    if crossed:
        already = await repository.highest_level(session, alert.id, prefix) or 0
        new = [level for level in crossed if level.percent > already]
        if new:
            level = new[-1]
            found.dedupe_key = f"{prefix}{level.percent}"
            found.threshold = level.amount
            found.trigger = {
                "level": level.percent,
                "basis": level.by,
                "actual_nanos": actual if level.by == "actual" else projected,
            }
    return found


async def _anomaly(
    session: AsyncSession, alert: Alert, target: Target, now: datetime, tz: ZoneInfo
) -> Evaluated:
    granularity = granularity_of(alert)
    bucket = evaluation.day_bucket(tz, now) if granularity == "day" else evaluation.hour_bucket(now)
    usable = evaluation.usable_baseline(bucket.baseline, await repository.first_cost(session, target.org_id))
    start = min([bucket.period.start, *(b.start for b in usable)])
    costs = await repository.costs_by_hour(session, target, start, bucket.period.end)
    current = evaluation.sum_in(costs, bucket.period)
    k = Fraction(alert.anomaly_k_hundredths, 100)
    details: dict[str, Any] = {
        "granularity": granularity,
        "k": alert.anomaly_k_hundredths / 100,
        "minimum_nanos": alert.threshold_nanos,
        "baseline_buckets": len(usable),
    }
    key = f"anomaly:{granularity}:{bucket.period.start.strftime('%Y-%m-%dT%H:%MZ')}"
    if len(usable) < MIN_BASELINE_BUCKETS:
        details["reason"] = (
            f"not enough history: {len(usable)} of the {MIN_BASELINE_BUCKETS} {granularity}s a baseline needs"
        )
        return Evaluated(current, alert.threshold_nanos, False, bucket.period, details)
    base = evaluation.baseline([evaluation.sum_in(costs, b) for b in usable], k, alert.threshold_nanos)
    details |= {"median_nanos": int(base.median), "mad_nanos": int(base.mad), "bar_nanos": int(base.bar)}
    exceeded = evaluation.is_anomaly(current, base)
    found = Evaluated(current, int(base.bar), exceeded, bucket.period, details, existing_key=key)
    if exceeded:
        found.dedupe_key = key
        found.trigger = {"level": 0, "basis": "anomaly", "actual_nanos": current}
    return found


EVALUATORS = {"cost_threshold": _cost_threshold, "budget_limit": _budget, "anomaly": _anomaly}


async def evaluate(
    session: AsyncSession, org: Organization, alert: Alert, target: Target, now: datetime
) -> Evaluated:
    return await EVALUATORS[alert.alert_type](session, alert, target, now, zone(org.time_zone))


async def target_of(session: AsyncSession, org: Organization, alert: Alert, settings: Settings) -> Target:
    return Target(
        org.id, AlertScope.model_validate(alert.scope), await hidden_repositories(session, org, settings)
    )
