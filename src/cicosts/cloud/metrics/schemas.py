"""Utilization samples as POST /v1/cloud/metrics and `cicosts import metrics` take them."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from cicosts.kit.periods import UTCInstant
from cicosts.models.cloud import DIMENSION_LENGTH

MAX_SAMPLES = 10_000


class SampleIn(BaseModel):
    """One CloudWatch-style datapoint: a 5-minute or hourly period's average and maximum, in percent."""

    resource_id: str = Field(min_length=1, max_length=DIMENSION_LENGTH, description="e.g. i-0abc123 (EC2)")
    instance_type: str = Field(min_length=1, max_length=50, description="e.g. m5.2xlarge")
    region: str | None = Field(default=None, max_length=100)
    metric: Literal["cpu", "memory"]
    timestamp: UTCInstant = Field(description="The period's start, ISO 8601; without an offset, UTC")
    average: Decimal = Field(ge=0, le=100, description="Average utilization over the period, percent")
    maximum: Decimal | None = Field(default=None, ge=0, le=100, description="Peak within the period, percent")

    @model_validator(mode="after")
    def _maximum_at_least_average(self) -> SampleIn:
        if self.maximum is not None and self.maximum < self.average:
            raise ValueError("maximum is below average")
        return self


class MetricsBatch(BaseModel):
    samples: list[SampleIn] = Field(min_length=1, max_length=MAX_SAMPLES)


class MetricsResult(BaseModel):
    received: int
    stored: int = Field(description="Distinct (resource, metric, timestamp) samples stored or updated")
