"""CI recommendations from an organization's own jobs: what each would save a month, and the figures why.

Every rule prices only what the organization ran in the period, and a rule without a saving to show is left
out. A saving over the period is scaled to 30 days. Rules may count the same job (a re-run job on macOS is
in two of them), so their savings are not added up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.ci.dashboard.repository import Scope
from cicosts.ci.dashboard.service import DashboardView
from cicosts.ci.recommendations import repository
from cicosts.ci.recommendations.repository import RateEra, RunnerMinutes
from cicosts.ci.recommendations.schemas import (
    FailingJob,
    PublicRepositoryEvidence,
    PublicRepositoryRecommendation,
    Recommendation,
    Recommendations,
    RerunEvidence,
    RerunRecommendation,
    RoundingEvidence,
    RoundingRecommendation,
    RunnerEvidence,
    RunnerRecommendation,
    SupersededEvidence,
    SupersededRecommendation,
)
from cicosts.ci.runners import standard_sku
from cicosts.kit.envelope import CappedRange
from cicosts.kit.money import nanos_to_decimal, nanos_to_json_usd
from cicosts.kit.periods import Period, last_days, local_today, zone

DAYS_PER_MONTH = 30
# Merging short jobs is worth suggesting once a workflow has this many in runs that had two or more.
MIN_SHORT_JOBS = 10
# Jobs whose median is at most this many billable minutes are not long builds that need a big machine.
SHORT_MEDIAN_MINUTES = 5
TOP_FAILING_JOBS = 5
# The runners savings are measured against, named by the image labels GitHub documents for them.
STANDARD_LINUX = standard_sku("ubuntu-latest")
MACOS = standard_sku("macos-latest")
CONCURRENCY = "concurrency:\n  group: ${{ github.workflow }}-${{ github.ref }}\n  cancel-in-progress: true"


@dataclass(frozen=True)
class Found:
    monthly_nanos: int
    # Orders recommendations of equal monthly saving (public repository savings are all 0 a month).
    amount_nanos: int
    recommendation: Recommendation


def monthly(nanos: int, days: int) -> int:
    """A saving over `days` days as one over 30 days, rounded half to even to a whole nanodollar."""
    quotient, remainder = divmod(nanos * DAYS_PER_MONTH, days)
    if 2 * remainder > days or (2 * remainder == days and quotient % 2 == 1):
        quotient += 1
    return quotient


def _usd(nanos: int) -> str:
    return f"${nanos_to_decimal(nanos).quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN)}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


async def recommendations(
    session: AsyncSession, view: DashboardView, days: int, now: datetime
) -> Recommendations:
    days = view.days(days)
    period = last_days(days, zone(view.org.time_zone), now)
    scope = view.scope
    found = [
        *await _reruns(session, scope, period, days),
        *await _superseded(session, scope, period, days),
        *await _rounding(session, scope, period, days),
        *await _expensive_runners(session, scope, period, days),
        *await _public_repositories(session, scope, period, days),
    ]
    found.sort(
        key=lambda f: (
            -f.monthly_nanos,
            -f.amount_nanos,
            f.recommendation.type,
            f.recommendation.repository or "",
            f.recommendation.workflow or "",
        )
    )
    return Recommendations(period_days=days, recommendations=[f.recommendation for f in found])


def capped_range(view: DashboardView, days: int, now: datetime) -> CappedRange | None:
    """Set when the plan's history is shorter than the days asked for (the response says so in `meta`)."""
    allowed = view.days(days)
    if allowed == days or view.max_days is None:
        return None
    today = local_today(zone(view.org.time_zone), now)
    return CappedRange(
        requested_start=today - timedelta(days=days - 1),
        start=today - timedelta(days=allowed - 1),
        max_history_days=view.max_days,
    )


async def _reruns(session: AsyncSession, scope: Scope, period: Period, days: int) -> list[Found]:
    """Saving: the cost of the jobs of failed attempts that ran again in a later attempt."""
    failing: dict[int, list[FailingJob]] = defaultdict(list)
    for workflow_id, name, failures in await repository.failures_before_reruns(session, scope, period):
        failing[workflow_id].append(FailingJob(name=name, failures=failures))
    found = []
    for waste in await repository.rerun_waste(session, scope, period):
        if waste.cost_nanos <= 0:
            continue
        jobs = sorted(failing[waste.workflow_id], key=lambda j: (-j.failures, j.name))[:TOP_FAILING_JOBS]
        actions = [
            "Retry the step that flakes (a network call, a download) inside the job rather than re-running",
            'When a re-run is needed, choose "Re-run failed jobs": jobs that passed are not billed again',
        ]
        if jobs:
            names = ", ".join(f"{j.name} ({j.failures})" for j in jobs)
            actions.insert(0, f"Find out why these jobs fail and then pass on a re-run: {names}")
        found.append(
            Found(
                monthly(waste.cost_nanos, days),
                waste.cost_nanos,
                RerunRecommendation(
                    title=f"Re-runs after failures in {waste.workflow}",
                    description=(
                        f"{_count(waste.reruns, 'run')} of {waste.workflow} needed another attempt after a"
                        f" failure in the last {days} days. {_count(waste.jobs, 'job')} ran again, so"
                        f" the {waste.minutes} minutes ({_usd(waste.cost_nanos)}) billed for their failed"
                        " attempts bought nothing."
                    ),
                    repository=waste.repository,
                    workflow=waste.workflow,
                    estimated_savings_monthly=nanos_to_json_usd(monthly(waste.cost_nanos, days)),
                    evidence=RerunEvidence(
                        reruns=waste.reruns,
                        repeated_jobs=waste.jobs,
                        repeated_minutes=waste.minutes,
                        saving_in_period=nanos_to_json_usd(waste.cost_nanos),
                        failing_jobs=jobs,
                    ),
                    action_items=actions,
                ),
            )
        )
    return found


async def _superseded(session: AsyncSession, scope: Scope, period: Period, days: int) -> list[Found]:
    """Saving: what the older run's jobs billed after a newer run of the same branch was created."""
    found = []
    for runs in await repository.superseded_runs(session, scope, period):
        if runs.saving_nanos <= 0:
            continue
        found.append(
            Found(
                monthly(runs.saving_nanos, days),
                runs.saving_nanos,
                SupersededRecommendation(
                    title=f"Cancel superseded runs of {runs.workflow}",
                    description=(
                        f"{_count(runs.runs, 'run')} of {runs.workflow} kept going after a newer run of the"
                        f" same branch started in the last {days} days; their jobs billed"
                        f" {runs.minutes_after} minutes ({_usd(runs.saving_nanos)}) after that, which"
                        " cancel-in-progress would have saved."
                    ),
                    repository=runs.repository,
                    workflow=runs.workflow,
                    estimated_savings_monthly=nanos_to_json_usd(monthly(runs.saving_nanos, days)),
                    evidence=SupersededEvidence(
                        superseded_runs=runs.runs,
                        jobs=runs.jobs,
                        minutes_after_newer_run=runs.minutes_after,
                        saving_in_period=nanos_to_json_usd(runs.saving_nanos),
                    ),
                    action_items=[
                        f"Cancel a branch's older run when a newer one starts; add:\n{CONCURRENCY}",
                        "If the workflow deploys from the default branch, cancel pull request runs only:"
                        " cancel-in-progress: ${{ github.event_name == 'pull_request' }}",
                    ],
                ),
            )
        )
    return found


async def _rounding(session: AsyncSession, scope: Scope, period: Period, days: int) -> list[Found]:
    """Saving: per run, the minutes its short jobs billed less the whole minutes of their summed seconds."""
    found = []
    for waste in await repository.rounding_waste(session, scope, period):
        if waste.jobs < MIN_SHORT_JOBS or waste.waste_nanos <= 0:
            continue
        found.append(
            Found(
                monthly(waste.waste_nanos, days),
                waste.waste_nanos,
                RoundingRecommendation(
                    title=f"Merge short jobs in {waste.workflow}",
                    description=(
                        f"{_count(waste.jobs, 'job')} of {waste.workflow} in {_count(waste.runs, 'run')}"
                        f" ran a minute or less in the last {days} days. GitHub bills each job a whole"
                        f" minute ({waste.jobs} minutes); one job per run would bill"
                        f" {waste.merged_minutes}, {_usd(waste.waste_nanos)} less."
                    ),
                    repository=waste.repository,
                    workflow=waste.workflow,
                    estimated_savings_monthly=nanos_to_json_usd(monthly(waste.waste_nanos, days)),
                    evidence=RoundingEvidence(
                        runs=waste.runs,
                        short_jobs=waste.jobs,
                        billed_minutes=waste.jobs,
                        merged_minutes=waste.merged_minutes,
                        saving_in_period=nanos_to_json_usd(waste.waste_nanos),
                    ),
                    action_items=[
                        "Run the short checks of a run as steps of one job (or one composite action):"
                        " GitHub rounds every job up to a whole minute",
                        "Keep separate jobs only where they need another runner or must run in parallel",
                    ],
                ),
            )
        )
    return found


def _minutes_at(buckets: Sequence[RunnerMinutes], position: int) -> int:
    """The billed minutes of the job at `position` when jobs are sorted by billed minutes."""
    seen = 0
    for bucket in buckets:
        seen += bucket.jobs
        if position < seen:
            return bucket.minutes
    raise IndexError(position)


def _median_twice(histogram: Sequence[RunnerMinutes]) -> int:
    """Twice the median of the billed minutes (the two middle values added), so that it stays whole."""
    buckets = sorted(histogram, key=lambda b: b.minutes)
    jobs = sum(bucket.jobs for bucket in buckets)
    return _minutes_at(buckets, (jobs - 1) // 2) + _minutes_at(buckets, jobs // 2)


def _expensive_skus(rates: dict[str, list[RateEra]]) -> list[str]:
    """macOS and larger runners, as the runner price table marks them (standard or not)."""
    return [
        sku
        for sku, eras in rates.items()
        if sku != STANDARD_LINUX and (sku == MACOS or not eras[-1].standard)
    ]


async def _expensive_runners(session: AsyncSession, scope: Scope, period: Period, days: int) -> list[Found]:
    """Saving: the jobs' cost less the same billed minutes at the standard Linux rate of each job's day."""
    rates = await repository.runner_rates(session)
    reference = rates.get(STANDARD_LINUX or "")
    skus = _expensive_skus(rates)
    if not reference or not skus:
        return []
    histograms: dict[tuple[int, str], list[RunnerMinutes]] = defaultdict(list)
    for bucket in await repository.runner_minutes(session, scope, period, skus, reference):
        histograms[(bucket.workflow_id, bucket.sku)].append(bucket)
    found = []
    for histogram in histograms.values():
        median_twice = _median_twice(histogram)
        cost = sum(b.cost_nanos for b in histogram)
        saving = cost - sum(b.reference_nanos for b in histogram)
        if median_twice > 2 * SHORT_MEDIAN_MINUTES or saving <= 0:
            continue
        found.append(Found(monthly(saving, days), saving, _runner_recommendation(histogram, days)))
    return found


def _runner_recommendation(histogram: Sequence[RunnerMinutes], days: int) -> RunnerRecommendation:
    first = histogram[0]
    jobs = sum(b.jobs for b in histogram)
    minutes = sum(b.minutes * b.jobs for b in histogram)
    cost = sum(b.cost_nanos for b in histogram)
    reference = sum(b.reference_nanos for b in histogram)
    median = _median_twice(histogram) / 2
    return RunnerRecommendation(
        title=f"Run short {first.sku} jobs of {first.workflow} on standard Linux runners",
        description=(
            f"{_count(jobs, 'job')} of {first.workflow} ran on {first.sku} in the last {days} days, with a"
            f" median of {median:g} billable minutes: short work that rarely needs that runner. They cost"
            f" {_usd(cost)}; the same {minutes} minutes cost {_usd(reference)} on the standard Linux runner"
            " (if they take as long there)."
        ),
        repository=first.repository,
        workflow=first.workflow,
        estimated_savings_monthly=nanos_to_json_usd(monthly(cost - reference, days)),
        evidence=RunnerEvidence(
            sku=first.sku,
            jobs=jobs,
            billable_minutes=minutes,
            median_minutes=median,
            cost=nanos_to_json_usd(cost),
            standard_linux_cost=nanos_to_json_usd(reference),
            saving_in_period=nanos_to_json_usd(cost - reference),
        ),
        action_items=[
            f"Move the jobs that do not need {first.sku} to `runs-on: ubuntu-latest`",
            f"Keep {first.sku} for the steps that need it (an Xcode or a heavy build), in a job of their own",
        ],
    )


async def _public_repositories(session: AsyncSession, scope: Scope, period: Period, days: int) -> list[Found]:
    """Already saved, so 0 a month: what GitHub did not bill for public repositories' standard runners."""
    found = []
    for saved in await repository.public_repository_savings(session, scope, period):
        if saved.saved_nanos <= 0:
            continue
        found.append(
            Found(
                0,
                saved.saved_nanos,
                PublicRepositoryRecommendation(
                    title=f"Free minutes in public repository {saved.repository}",
                    description=(
                        f"{_count(saved.jobs, 'job')} in {saved.repository} used {saved.minutes} minutes of"
                        f" standard runners in the last {days} days, which GitHub does not bill in public"
                        f" repositories: {_usd(saved.saved_nanos)} already saved."
                    ),
                    repository=saved.repository,
                    workflow=None,
                    estimated_savings_monthly=0.0,
                    evidence=PublicRepositoryEvidence(
                        jobs=saved.jobs,
                        billable_minutes=saved.minutes,
                        saved_in_period=nanos_to_json_usd(saved.saved_nanos),
                        saved_monthly=nanos_to_json_usd(monthly(saved.saved_nanos, days)),
                    ),
                    action_items=[
                        "Nothing to do: GitHub does not bill standard runners in public repositories",
                        "Larger runners are billed even here; keep this repository's jobs on standard"
                        " runners to keep the saving",
                    ],
                ),
            )
        )
    return found
