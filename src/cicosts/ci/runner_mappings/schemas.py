"""Runner mapping requests and responses."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, model_validator


class RunnerMappingIn(BaseModel):
    match_kind: Literal["label", "runner_group"]
    match_value: str = Field(min_length=1, max_length=255)
    sku: str | None = Field(default=None, min_length=1, max_length=50)
    usd_per_minute: Decimal | None = Field(default=None, ge=0, le=1000, decimal_places=9)

    @model_validator(mode="after")
    def _exactly_one_price(self) -> RunnerMappingIn:
        if (self.sku is None) == (self.usd_per_minute is None):
            raise ValueError("give exactly one of sku or usd_per_minute")
        return self


class RunnerMappingOut(BaseModel):
    id: int
    match_kind: str
    match_value: str
    sku: str | None
    usd_per_minute: Decimal | None
    created_at: datetime


class RunnerMappingSaved(RunnerMappingOut):
    repricing: bool = Field(description="Whether the organization's past jobs are being priced again")
