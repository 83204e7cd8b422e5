"""Response shapes of /v1/recommendations. Money is USD (JSON numbers, 6 decimal places).

Each recommendation's `type` names its kind and the shape of its `evidence`: the figures from the
organization's own jobs in the period that its saving is computed from.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

SAVING_IN_PERIOD = "USD the period would have saved; the monthly figure is this times 30 / period_days"


class FailingJob(BaseModel):
    name: str
    failures: int = Field(description="Failed attempts of this job that were followed by a re-run")


class RerunEvidence(BaseModel):
    reruns: int = Field(description="Runs re-run after a failed attempt")
    repeated_jobs: int = Field(description="Jobs of failed attempts that ran again in a later attempt")
    repeated_minutes: int = Field(description="Billable minutes of those jobs")
    saving_in_period: float = Field(description=SAVING_IN_PERIOD)
    failing_jobs: list[FailingJob] = Field(description="The jobs that failed most often before a re-run")


class SupersededEvidence(BaseModel):
    superseded_runs: int = Field(description="Runs still going when a newer run of the same branch started")
    jobs: int = Field(description="Their jobs that were still running, or not yet started, at that moment")
    minutes_after_newer_run: int = Field(description="Billable minutes those jobs ran after it")
    saving_in_period: float = Field(description=SAVING_IN_PERIOD)


class RoundingEvidence(BaseModel):
    runs: int = Field(description="Runs with two or more jobs of a minute or less on the same runner")
    short_jobs: int = Field(description="Those jobs; each is billed a whole minute")
    billed_minutes: int
    merged_minutes: int = Field(description="What the same jobs would bill merged into one job per run")
    saving_in_period: float = Field(description=SAVING_IN_PERIOD)


class RunnerEvidence(BaseModel):
    sku: str = Field(description="The runner SKU the jobs were billed as")
    jobs: int
    billable_minutes: int
    median_minutes: float = Field(description="Median billable minutes of these jobs")
    cost: float = Field(description="USD the jobs cost on this runner")
    standard_linux_cost: float = Field(
        description="USD the same minutes cost on the standard Linux runner (free in public repositories)"
    )
    saving_in_period: float = Field(description=SAVING_IN_PERIOD)


class PublicRepositoryEvidence(BaseModel):
    jobs: int = Field(
        description="Jobs on standard runners, which GitHub does not bill in public repositories"
    )
    billable_minutes: int
    saved_in_period: float = Field(description="USD those minutes would cost in a private repository")
    saved_monthly: float = Field(description="The same as a month: saved_in_period times 30 / period_days")


class _Recommendation(BaseModel):
    title: str
    description: str
    repository: str | None = Field(description="Repository, `owner/name`")
    workflow: str | None
    estimated_savings_monthly: float = Field(description="USD a month, from the period's saving")
    action_items: list[str]


class RerunRecommendation(_Recommendation):
    type: Literal["rerun_waste"] = "rerun_waste"
    evidence: RerunEvidence


class SupersededRecommendation(_Recommendation):
    type: Literal["superseded_runs"] = "superseded_runs"
    evidence: SupersededEvidence


class RoundingRecommendation(_Recommendation):
    type: Literal["rounding_waste"] = "rounding_waste"
    evidence: RoundingEvidence


class RunnerRecommendation(_Recommendation):
    type: Literal["expensive_runners"] = "expensive_runners"
    evidence: RunnerEvidence


class PublicRepositoryRecommendation(_Recommendation):
    type: Literal["public_repository_savings"] = "public_repository_savings"
    evidence: PublicRepositoryEvidence


Recommendation = Annotated[
    RerunRecommendation
    | SupersededRecommendation
    | RoundingRecommendation
    | RunnerRecommendation
    | PublicRepositoryRecommendation,
    Field(discriminator="type"),
]


class Recommendations(BaseModel):
    period_days: int = Field(description="Days the figures cover, today included (capped by the plan)")
    recommendations: list[Recommendation] = Field(
        description="Largest monthly saving first; savings may overlap (a re-run job can also be on macOS)"
    )
