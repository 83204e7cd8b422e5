"""Pricing requests and responses: plain JSON objects, as the AgentCost SDK reads them.

Rates are USD per million tokens as decimal strings (`"2.5"`), exact to the nanodollar. The `pricing` map
also carries AgentCost's per-1,000-token numbers (`input`, `output`, `cached_input`, `cache_write`), which
its SDK uses for its own estimates.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    Field,
    PlainSerializer,
    StringConstraints,
    field_validator,
)

from cicosts.kit.ids import MAX_ID
from cicosts.kit.money import NANOS_PER_USD
from cicosts.kit.periods import utc_instant

MAX_USD_PER_MTOK = Decimal(100_000)  # the dearest catalogue model costs $600 per MTok; past this is a typo
UsdPerMTok = Annotated[
    Decimal,
    Field(ge=0, le=MAX_USD_PER_MTOK, allow_inf_nan=False, description='USD per 1M tokens, e.g. 2.5 or "2.5"'),
]
# Written out in full ("0.000000001", not "1E-9"), so any JSON reader can take the string as it is.
Usd = Annotated[Decimal, PlainSerializer(lambda usd: format(usd, "f"), return_type=str, when_used="json")]
ModelName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
ProviderName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
PriceSource = Literal["catalogue", "custom"]


class CustomPriceCreate(BaseModel):
    """An organization's own price for a model (or one project's), from `effective_from` on."""

    model: ModelName
    provider: ProviderName | None = Field(default=None, description="Only calls reported with this provider")
    project_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="Only this project's calls")
    input: UsdPerMTok
    output: UsdPerMTok
    cache_read: UsdPerMTok | None = Field(default=None, description="Default: the input rate")
    cache_write: UsdPerMTok | None = Field(default=None, description="Default: the input rate")
    reasoning: UsdPerMTok | None = Field(default=None, description="Default: the output rate")
    effective_from: Annotated[AwareDatetime, AfterValidator(utc_instant)] | None = Field(
        default=None, description="ISO 8601 with a zone; default now"
    )

    @field_validator("input", "output", "cache_read", "cache_write", "reasoning")
    @classmethod
    def _whole_nanodollars(cls, usd: Decimal | None) -> Decimal | None:
        if usd is not None and usd * NANOS_PER_USD != (usd * NANOS_PER_USD).to_integral_value():
            raise ValueError("finer than a nanodollar (0.000000001 USD) per million tokens")
        return usd


class CustomPriceOut(BaseModel):
    id: int
    model: str
    provider: str | None
    project_id: int | None
    effective_from: datetime
    input: Usd
    output: Usd
    cache_read: Usd | None
    cache_write: Usd | None
    reasoning: Usd | None
    created_at: datetime


class ModelRates(BaseModel):
    """One model's current rates: AgentCost's per-1K numbers, and exact per-1M strings."""

    input: float = Field(description="USD per 1,000 input tokens (AgentCost SDK)")
    output: float = Field(description="USD per 1,000 output tokens (AgentCost SDK)")
    cached_input: float | None = Field(description="USD per 1,000 cache-read tokens, when priced apart")
    cache_write: float | None = Field(description="USD per 1,000 cache-write tokens, when priced apart")
    provider: str | None
    source: PriceSource
    input_mtok: Usd
    output_mtok: Usd
    cache_read_mtok: Usd | None
    cache_write_mtok: Usd | None


class PriceList(BaseModel):
    pricing: dict[str, ModelRates] = Field(description="Model -> its current rates; custom prices win")
    source: str = Field(description="Where catalogue prices come from")
    catalogue_version: str
    model_count: int = Field(description="Models in `pricing`")
    custom_prices: list[CustomPriceOut] = Field(
        description="The organization's custom prices, past and future"
    )


class ModelPricing(BaseModel):
    """What a call to `model` would be priced at now, and where that price comes from."""

    model: str
    matched_to: str = Field(description="The catalogue model or custom price's model that matched")
    provider: str | None
    source: PriceSource
    input: float = Field(description="USD per 1,000 input tokens (AgentCost SDK)")
    output: float = Field(description="USD per 1,000 output tokens (AgentCost SDK)")
    input_mtok: Usd
    output_mtok: Usd
    cache_read_mtok: Usd | None
    cache_write_mtok: Usd | None
    reasoning_mtok: Usd | None
    tiered: bool = Field(description="Rates change with a call's input size (the base tier is shown)")
    effective_from: datetime | None = Field(description="A custom price's start")
    custom_prices: list[CustomPriceOut] = Field(description="Custom prices set for this model")


class SyncReport(BaseModel):
    status: Literal["ok"] = "ok"
    catalogue_version: str
    model_count: int = Field(description="Models (per provider) in the catalogue")
    unpriced_events: int = Field(description="The organization's unpriced calls before the sync")
    repriced_events: int = Field(description="Of those, calls that have a price now")
    still_unpriced: int
