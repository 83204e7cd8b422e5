"""What an LLM call cost: the project's or organization's own price if one applies, else the catalogue's.

A call is priced at its own timestamp: custom prices by their `effective_from`, the catalogue by its price
history. A model nobody can price is flagged unpriced with cost 0, never passed off as free. Token counts
follow AgentCost's convention (see `cicosts.llm.pricing.rates`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.kit.periods import as_utc
from cicosts.llm.pricing import catalogue, repository
from cicosts.llm.pricing.rates import Rates, TokenUsage, cost_nanos
from cicosts.models import LLMCustomPrice

__all__ = ["UNPRICED", "CustomPrice", "PriceBook", "Priced", "TokenUsage", "price_book_for"]

PER_MTOK = 1_000_000  # custom prices are nanodollars per million tokens: per token, that denominator


@dataclass(frozen=True)
class Priced:
    cost_nanos: int
    cache_savings_nanos: int
    matched_model: str | None
    matched_provider: str | None
    price_source: str | None  # "catalogue:<genai-prices version>", "custom:project", "custom:org" or None
    unpriced: bool


UNPRICED = Priced(0, 0, None, None, None, True)


@dataclass(frozen=True)
class CustomPrice:
    """An organization's or project's own price for a model, from `effective_from` on."""

    id: int
    model: str
    provider: str | None  # lower case; None prices the model whatever its provider
    for_project: bool
    effective_from: datetime
    rates: Rates

    @property
    def source(self) -> str:
        return "custom:project" if self.for_project else "custom:org"

    @classmethod
    def of(cls, row: LLMCustomPrice) -> CustomPrice:
        rates = Rates(
            input=row.input_nanos_per_mtok,
            output=row.output_nanos_per_mtok,
            # Unset cache and reasoning rates price those tokens as the input and output they are part of.
            cache_read=row.cache_read_nanos_per_mtok,
            cache_write=row.cache_write_nanos_per_mtok,
            reasoning=row.reasoning_nanos_per_mtok,
            denominator=PER_MTOK,
        )
        provider = row.provider.lower() if row.provider else None
        return cls(row.id, row.model, provider, row.project_id is not None, as_utc(row.effective_from), rates)


def _precedence(price: CustomPrice) -> tuple[bool, datetime, bool, int]:
    """Project prices beat organization prices; then the latest start; then one naming the provider."""
    return price.for_project, price.effective_from, price.provider is not None, price.id


class PriceBook:
    """One per batch: the organization's and project's custom prices, in front of the catalogue."""

    def __init__(self, custom_prices: Iterable[CustomPrice] = ()) -> None:
        self._custom: dict[str, list[CustomPrice]] = {}
        for price in sorted(custom_prices, key=_precedence, reverse=True):
            self._custom.setdefault(price.model.lower(), []).append(price)

    def price(self, model: str, provider: str | None, usage: TokenUsage, at: datetime) -> Priced:
        custom = self._custom.get(model.lower())
        if custom:
            priced = self._custom_price(custom, model, provider, usage, at)
            if priced is not None:
                return priced
        match = catalogue.find(model, provider)
        if match is None:
            return UNPRICED
        try:
            cost, savings = match.cost(usage, at)
        except ValueError:  # the catalogue's model cannot price this usage: say so rather than guess
            return UNPRICED
        return Priced(cost, savings, match.model_id, match.provider_id, catalogue.CATALOGUE_SOURCE, False)

    def _custom_price(
        self, prices: list[CustomPrice], model: str, provider: str | None, usage: TokenUsage, at: datetime
    ) -> Priced | None:
        # A client that names no provider gets the catalogue's provider for the model, if it has one.
        provider = provider.lower() if provider else _catalogue_provider(model)
        for price in prices:  # most precedent first
            if price.effective_from > at:
                continue
            if price.provider is not None and price.provider != provider:
                continue
            cost, savings = cost_nanos(price.rates, usage)
            return Priced(cost, savings, price.model, price.provider or provider, price.source, False)
        return None


def _catalogue_provider(model: str) -> str | None:
    match = catalogue.find(model, None)
    return match.provider_id if match is not None else None


async def price_book_for(session: AsyncSession, org_id: int, project_id: int | None) -> PriceBook:
    rows = await repository.custom_prices(session, org_id, project_id)
    return PriceBook(CustomPrice.of(row) for row in rows)
