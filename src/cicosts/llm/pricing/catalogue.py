"""The genai-prices catalogue (pinned): a model's price for a provider at a moment, and exact costs with it.

Looking a model up takes genai-prices 50-90 us a call, too slow to do per event at 20,000 events a second. So
each (provider, model) is looked up once, the library resolves which of its prices applies at the call's
timestamp (its price history: `ModelInfo.get_prices`), and each such price is compiled once into integer
per-token rates (a `Ladder`, one `Rates` per tier). A call then costs a dictionary look-up and a few integer
multiplications, with the library's own semantics (tests prove equality with `calc_price` over the whole
catalogue). Prices the ladder cannot express (a per-request fee) are left to the library itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import genai_prices
from genai_prices import data_snapshot
from genai_prices.types import ModelInfo, ModelPrice, PriceCalculation, Provider, TieredPrices, Usage

from cicosts.kit.periods import utc_now
from cicosts.llm.pricing.rates import Rates, TokenUsage, cost_nanos

CATALOGUE_VERSION: str = genai_prices.__version__
CATALOGUE_SOURCE = f"catalogue:{CATALOGUE_VERSION}"
NANOS_PER_USD = 10**9
# The price keys our token counts feed. Every other key prices usage we never report (images, audio, web
# searches...), which genai-prices then counts as zero, except the one fee every request pays.
TOKEN_PRICE_KEYS = (
    "input_mtok",
    "output_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "output_reasoning_mtok",
)
PER_REQUEST_KEY = "requests_kcount"
# Model names come from clients; a flood of made-up ones must not grow the cache without bound.
MAX_CACHED_LOOKUPS = 10_000


@dataclass(frozen=True)
class Ladder:
    """One price period's rates by tier: `tiers[i]` applies when the call's input exceeds its threshold.

    genai-prices' tiers are cliffs: past a threshold every token of the call pays the tier's rate, and the
    threshold is compared with all input tokens (cache reads and writes included).
    """

    base: Rates
    tiers: tuple[tuple[int, Rates], ...] = ()

    def rates_for(self, total_input_tokens: int) -> Rates:
        rates = self.base
        for start, tier_rates in self.tiers:
            if total_input_tokens <= start:
                break
            rates = tier_rates
        return rates


def library_usage(usage: TokenUsage) -> Usage:
    """Our token counts as genai-prices counts them: its input includes cache reads and cache writes."""
    values = {"input_tokens": usage.total_input_tokens, "output_tokens": usage.output_tokens}
    if usage.cached_tokens:
        values["cache_read_tokens"] = usage.cached_tokens
    if usage.cache_write_tokens:
        values["cache_write_tokens"] = usage.cache_write_tokens
    if usage.reasoning_tokens:
        values["output_reasoning_tokens"] = usage.reasoning_tokens
    return Usage(**values)


def usd_to_nanos(usd: Decimal) -> int:
    """A library result in USD to nanodollars, rounded half to even like our own arithmetic."""
    with localcontext() as context:
        context.prec = 60  # wide enough that scaling never rounds; the quantize below is the one rounding
        return int((usd * NANOS_PER_USD).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def library_cost(match: CatalogueMatch, usage: TokenUsage, at: datetime) -> int:
    """genai-prices' own calculation, in nanodollars. Raises ValueError when it cannot price the usage."""
    calculation: PriceCalculation = match.model.calc_price(
        library_usage(usage), match.provider, genai_request_timestamp=at
    )
    return usd_to_nanos(calculation.total_price)


@dataclass(frozen=True)
class CatalogueMatch:
    """A catalogue model as matched for a provider; `cost` prices a call at its own timestamp."""

    provider: Provider
    model: ModelInfo

    @property
    def provider_id(self) -> str:
        return self.provider.id

    @property
    def model_id(self) -> str:
        return self.model.id

    def cost(self, usage: TokenUsage, at: datetime) -> tuple[int, int]:
        """(cost, cache savings) in nanodollars; ValueError when the catalogue cannot price the usage."""
        model_price = self.model.get_prices(at)
        ladder = compiled(model_price)
        if ladder is not None:
            return cost_nanos(ladder.rates_for(usage.total_input_tokens), usage)
        cost = library_cost(self, usage, at)
        savings = 0
        if usage.cached_tokens and model_price.cache_read_mtok is not None:
            as_uncached = TokenUsage(
                usage.input_tokens, usage.output_tokens, 0, usage.cache_write_tokens, usage.reasoning_tokens
            )
            savings = library_cost(self, as_uncached, at) - cost
        return cost, savings


# --- compiling a price period into exact integer rates -------------------------------------------------

_LADDERS: dict[int, tuple[ModelPrice, Ladder | None]] = {}


def compiled(model_price: ModelPrice) -> Ladder | None:
    """The price's ladder, built once per (long-lived) price object; None: leave it to the library."""
    entry = _LADDERS.get(id(model_price))
    if entry is None or entry[0] is not model_price:
        entry = (model_price, compile_price(model_price))
        _LADDERS[id(model_price)] = entry  # keeps the price alive, so its id is never reused
    return entry[1]


def compile_price(model_price: ModelPrice) -> Ladder | None:
    values = {key: value for key, value in vars(model_price).items() if not key.startswith("_")}
    values = {key: value for key, value in values.items() if value is not None}
    if PER_REQUEST_KEY in values:
        return None
    if not all(_valid(value) for value in values.values()) or not _library_accepts(model_price):
        return None
    token_prices = {key: values[key] for key in TOKEN_PRICE_KEYS if key in values}
    tiered = [price for price in token_prices.values() if isinstance(price, TieredPrices)]
    thresholds = sorted({tier.start for price in tiered for tier in price.tiers})
    levels = [
        {key: _price_above(price, start) for key, price in token_prices.items()}
        for start in [None, *thresholds]
    ]
    denominator = 10 ** max([0] + [_decimals_beyond_nanos(p) for level in levels for p in level.values()])
    rates = [_rates(level, denominator) for level in levels]
    return Ladder(rates[0], tuple(zip(thresholds, rates[1:], strict=True)))


def _valid(value: object) -> bool:
    if isinstance(value, TieredPrices):
        return _valid(value.base) and all(
            isinstance(t.start, int) and t.start >= 0 and _valid(t.price) for t in value.tiers
        )
    return isinstance(value, Decimal) and value.is_finite() and value >= 0


def _library_accepts(model_price: ModelPrice) -> bool:
    """genai-prices refuses some price sets (a cache price without an input price...): so do we, then."""
    try:
        model_price.calc_price(Usage(input_tokens=1, output_tokens=1))
    except ValueError:
        return False
    return True


def _price_above(price: Decimal | TieredPrices, start: int | None) -> Decimal:
    """The price per MTok when a call's input exceeds `start` tokens (None: the base price)."""
    if not isinstance(price, TieredPrices):
        return price
    applicable = price.base
    for tier in price.tiers:  # sorted by start
        if start is not None and tier.start <= start:
            applicable = tier.price
    return applicable


def _decimals_beyond_nanos(price_per_mtok: Decimal) -> int:
    """How many decimal places a $/MTok price has past nanodollars per token (10**-3 $/MTok)."""
    exponent = price_per_mtok.as_tuple().exponent
    assert isinstance(exponent, int), "finite prices only"
    return max(0, -exponent - 3)


def _scaled(price_per_mtok: Decimal, denominator: int) -> int:
    """$/MTok as nanodollars per token times `denominator`: $1/MTok is 1,000 nanodollars a token."""
    scaled = price_per_mtok * 1000 * denominator
    assert scaled == scaled.to_integral_value(), "the denominator covers every decimal place"
    return int(scaled)


def _rates(level: dict[str, Decimal], denominator: int) -> Rates:
    def rate(key: str) -> int | None:
        return _scaled(level[key], denominator) if key in level else None

    return Rates(
        # A missing input or output price makes those tokens free, as it does in the library.
        input=rate("input_mtok") or 0,
        output=rate("output_mtok") or 0,
        cache_read=rate("cache_read_mtok"),
        cache_write=rate("cache_write_mtok"),
        reasoning=rate("output_reasoning_mtok"),
        denominator=denominator,
    )


# --- finding models -------------------------------------------------------------------------------------

_MATCHES: dict[tuple[str | None, str], CatalogueMatch | None] = {}


def find(model: str, provider: str | None) -> CatalogueMatch | None:
    """The catalogue's model for this name and provider; looked up once per (provider, model)."""
    key = (provider.lower() if provider else None, model.lower())
    try:
        return _MATCHES[key]
    except KeyError:
        pass
    match = _lookup(*key)
    if len(_MATCHES) >= MAX_CACHED_LOOKUPS:
        _MATCHES.clear()
    _MATCHES[key] = match
    return match


def _lookup(provider: str | None, model: str) -> CatalogueMatch | None:
    """A provider the catalogue knows is held to its own models (and those it resells); an unknown one (a
    gateway's or a self-chosen name) leaves the model name alone to find its provider."""
    snapshot = data_snapshot.get_snapshot()
    try:
        return CatalogueMatch(*snapshot.find_provider_model(model, None, provider, None))
    except LookupError:
        if provider is None or data_snapshot.find_provider_by_id(snapshot.providers, provider) is not None:
            return None
    try:
        return CatalogueMatch(*snapshot.find_provider_model(model, None, None, None))
    except LookupError:
        return None


def provider_name(provider_id: str) -> str | None:
    """The catalogue's display name of a provider ("OpenAI" for "openai"), if it knows the provider."""
    found = data_snapshot.find_provider_by_id(data_snapshot.get_snapshot().providers, provider_id)
    return found.name if found is not None else None


# --- listing --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogueModel:
    """A catalogue model with its prices at a moment, USD per million tokens (the base tier when tiered)."""

    provider: str  # genai-prices provider id, e.g. "openai"
    provider_name: str
    model: str  # the model's id in the catalogue
    name: str | None
    input_mtok: Decimal | None
    output_mtok: Decimal | None
    cache_read_mtok: Decimal | None
    cache_write_mtok: Decimal | None
    tiered: bool  # some rate changes with the call's input size


def catalogue_models(at: datetime | None = None) -> list[CatalogueModel]:
    """Every model of every provider in the catalogue, priced as of `at` (default: now)."""
    moment = at or utc_now()
    models = []
    for provider in data_snapshot.get_snapshot().providers:
        for model in provider.models:
            price = model.get_prices(moment)
            rates = [price.input_mtok, price.output_mtok, price.cache_read_mtok, price.cache_write_mtok]
            models.append(
                CatalogueModel(
                    provider=provider.id,
                    provider_name=provider.name,
                    model=model.id,
                    name=model.name,
                    input_mtok=_base(price.input_mtok),
                    output_mtok=_base(price.output_mtok),
                    cache_read_mtok=_base(price.cache_read_mtok),
                    cache_write_mtok=_base(price.cache_write_mtok),
                    tiered=any(isinstance(rate, TieredPrices) for rate in rates),
                )
            )
    return models


def _base(rate: Decimal | TieredPrices | None) -> Decimal | None:
    return rate.base if isinstance(rate, TieredPrices) else rate
