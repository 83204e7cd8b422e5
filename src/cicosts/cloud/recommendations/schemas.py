"""Response shapes of GET /recommendations (a plain list) and /v1/cloud/recommendations (enveloped)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, PrivateAttr

from cicosts.kit.money import nanos_to_json_usd

Verdict = Literal["downsize", "stop or terminate", "keep", "insufficient data", "no data", "unsupported"]
Confidence = Literal["high", "medium", "low"]
LOOKBACK_DAYS = 14


def _percent(milli: int | None) -> float | None:
    return None if milli is None else milli / 1000


class Recommendation(BaseModel):
    instance: str = Field(description="The instance's name in the bill, else its resource id")
    region: str | None
    cpu_avg: float | None = Field(description="Average CPU over the lookback, percent")
    recommendation: Verdict
    resource_id: str
    current_type: str | None
    recommended_type: str | None = Field(description="The smaller size to move to (downsize only)")
    cpu_p99: float | None = Field(
        description="The 99.5th percentile of CPU (each sample's peak), percent: the figure the rule sizes by"
    )
    memory_p99: float | None = Field(description="The 99.5th percentile of memory, percent, when sent")
    lookback_days: int = LOOKBACK_DAYS
    hours_of_data: int = Field(description="Distinct hours with a CPU sample in the lookback")
    estimated_monthly_savings: float | None = Field(
        description="Per 730-hour month, in `currency`; null when the instance has no bill to save from"
    )
    monthly_cost: float | None = Field(description="The instance's own billed cost carried to 730 hours")
    currency: str | None = Field(description="The currency of its bill (USD for most)")
    confidence: Confidence | None
    reason: str
    _savings_nanos: int = PrivateAttr(default=0)

    @property
    def savings_nanos(self) -> int:
        return self._savings_nanos

    @classmethod
    def of(
        cls,
        *,
        resource_id: str,
        name: str | None,
        region: str | None,
        verdict: Verdict,
        reason: str,
        current_type: str | None = None,
        recommended_type: str | None = None,
        monthly_nanos: int | None = None,
        savings_nanos: int | None = None,
        currency: str | None = None,
        hours_of_data: int = 0,
        cpu_avg_milli: int | None = None,
        cpu_p_milli: int | None = None,
        memory_p_milli: int | None = None,
        confidence: Confidence | None = None,
    ) -> Recommendation:
        found = cls(
            instance=name or resource_id,
            region=region,
            cpu_avg=_percent(cpu_avg_milli),
            recommendation=verdict,
            resource_id=resource_id,
            current_type=current_type,
            recommended_type=recommended_type,
            cpu_p99=_percent(cpu_p_milli),
            memory_p99=_percent(memory_p_milli),
            hours_of_data=hours_of_data,
            estimated_monthly_savings=nanos_to_json_usd(savings_nanos) if savings_nanos is not None else None,
            monthly_cost=nanos_to_json_usd(monthly_nanos) if monthly_nanos is not None else None,
            currency=currency,
            confidence=confidence,
            reason=reason,
        )
        found._savings_nanos = savings_nanos or 0
        return found


class Recommendations(BaseModel):
    lookback_days: int
    generated_at: datetime
    currency: str
    estimated_monthly_savings: float = Field(description="Sum over the USD-billed instances, per month")
    recommendations: list[Recommendation]
