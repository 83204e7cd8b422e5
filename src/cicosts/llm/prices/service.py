"""Prices as users see them: the catalogue with the organization's custom prices in front, and setting those.

What a call is charged is decided by the price book (`cicosts.llm.pricing.service`); these views ask it
which price applies, so what they show is what ingestion charges.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from genai_prices.types import TieredPrices
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.errors import NotFound
from cicosts.kit.money import nanos_to_decimal, usd_to_nanos
from cicosts.kit.periods import as_utc, floor_hour, utc_now
from cicosts.llm.prices import repository
from cicosts.llm.prices.repricing import reprice_unpriced
from cicosts.llm.prices.schemas import (
    CustomPriceCreate,
    CustomPriceOut,
    ModelPricing,
    ModelRates,
    PriceList,
    SyncReport,
)
from cicosts.llm.pricing import catalogue
from cicosts.llm.pricing.catalogue import CATALOGUE_VERSION, CatalogueModel, catalogue_models
from cicosts.llm.pricing.service import TokenUsage, price_book_for
from cicosts.models import LLMCustomPrice, Organization

CATALOGUE_SOURCE = "genai-prices"
PER_THOUSAND = Decimal(1000)  # AgentCost's SDK reads rates per 1,000 tokens; ours are per million


def _per_thousand(per_mtok: Decimal | None) -> float | None:
    return None if per_mtok is None else float(per_mtok / PER_THOUSAND)


def _usd(nanos: int | None) -> Decimal | None:
    return None if nanos is None else nanos_to_decimal(nanos)


def custom_out(row: LLMCustomPrice) -> CustomPriceOut:
    return CustomPriceOut(
        id=row.id,
        model=row.model,
        provider=row.provider,
        project_id=row.project_id,
        effective_from=as_utc(row.effective_from),
        input=nanos_to_decimal(row.input_nanos_per_mtok),
        output=nanos_to_decimal(row.output_nanos_per_mtok),
        cache_read=_usd(row.cache_read_nanos_per_mtok),
        cache_write=_usd(row.cache_write_nanos_per_mtok),
        reasoning=_usd(row.reasoning_nanos_per_mtok),
        created_at=as_utc(row.created_at),
    )


def _rates(
    provider: str | None,
    source: str,
    input_mtok: Decimal,
    output_mtok: Decimal,
    cache_read_mtok: Decimal | None,
    cache_write_mtok: Decimal | None,
) -> ModelRates:
    return ModelRates(
        input=float(input_mtok / PER_THOUSAND),
        output=float(output_mtok / PER_THOUSAND),
        cached_input=_per_thousand(cache_read_mtok),
        cache_write=_per_thousand(cache_write_mtok),
        provider=provider,
        source="custom" if source == "custom" else "catalogue",
        input_mtok=input_mtok,
        output_mtok=output_mtok,
        cache_read_mtok=cache_read_mtok,
        cache_write_mtok=cache_write_mtok,
    )


def _catalogue_rates(model: CatalogueModel) -> ModelRates:
    # A missing input or output price makes those tokens free, in the catalogue's own arithmetic too.
    return _rates(
        model.provider,
        "catalogue",
        model.input_mtok or Decimal(0),
        model.output_mtok or Decimal(0),
        model.cache_read_mtok,
        model.cache_write_mtok,
    )


def _custom_rates(row: LLMCustomPrice) -> ModelRates:
    return _rates(
        row.provider,
        "custom",
        nanos_to_decimal(row.input_nanos_per_mtok),
        nanos_to_decimal(row.output_nanos_per_mtok),
        _usd(row.cache_read_nanos_per_mtok),
        _usd(row.cache_write_nanos_per_mtok),
    )


def catalogue_rates(hour: datetime, provider: str | None) -> dict[str, ModelRates]:
    """The catalogue by model name as of `hour` (built once an hour: 2,000 models take 50 ms).

    A model several providers sell is shown at the provider the price book picks when a call names none.
    A provider the catalogue does not know has no models: answered at once, so that a public query naming
    ever new providers neither costs a build each nor pushes the real ones out of the cache.
    """
    if provider is None:
        return _catalogue_rates_of(hour, None)
    if catalogue.provider_name(provider.lower()) is None:
        return {}
    return _catalogue_rates_of(hour, provider.lower())


@lru_cache(maxsize=64)
def _catalogue_rates_of(hour: datetime, provider: str | None) -> dict[str, ModelRates]:
    models = [m for m in catalogue_models(hour) if provider is None or m.provider == provider]
    rates: dict[str, ModelRates] = {}
    for model in models:
        if model.model not in rates:
            rates[model.model] = _catalogue_rates(model)
            continue
        preferred = catalogue.find(model.model, None)
        if preferred is not None and preferred.provider_id == model.provider:
            rates[model.model] = _catalogue_rates(model)
    return rates


def _precedence(row: LLMCustomPrice) -> tuple[bool, datetime, bool, int]:
    # The price book's order: a project's price, then the latest start, then one naming its provider.
    return row.project_id is not None, as_utc(row.effective_from), row.provider is not None, row.id


def _with_custom(
    pricing: dict[str, ModelRates], rows: list[LLMCustomPrice], now: datetime
) -> dict[str, ModelRates]:
    """The catalogue with the custom prices in force now in front (looked up without regard to case)."""
    keys = {name.lower(): name for name in pricing}
    for row in sorted((r for r in rows if as_utc(r.effective_from) <= now), key=_precedence):
        key = keys.setdefault(row.model.lower(), row.model)
        shown = pricing.get(key)
        if _other_provider(row, shown):
            continue  # a price for another provider's calls than the catalogue's shown here
        pricing[key] = _custom_rates(row)
    return pricing


def _other_provider(row: LLMCustomPrice, shown: ModelRates | None) -> bool:
    if shown is None or shown.source != "catalogue" or not row.provider or not shown.provider:
        return False
    return row.provider.lower() != shown.provider.lower()


def catalogue_list(provider: str | None) -> PriceList:
    """The public catalogue alone: what the AgentCost SDK fetches, without credentials, for its estimates."""
    pricing = dict(catalogue_rates(floor_hour(utc_now()), provider))
    return PriceList(
        pricing=pricing,
        source=CATALOGUE_SOURCE,
        catalogue_version=CATALOGUE_VERSION,
        model_count=len(pricing),
        custom_prices=[],
    )


async def price_list(
    session: AsyncSession, organization: Organization, project_id: int | None, provider: str | None
) -> PriceList:
    if project_id is not None:
        await _project(session, organization, project_id)
    now = utc_now()
    applicable = await repository.custom_prices(session, organization.id, project_id)
    if provider is not None:
        applicable = [r for r in applicable if r.provider is None or r.provider.lower() == provider.lower()]
    pricing = _with_custom(dict(catalogue_rates(floor_hour(now), provider)), applicable, now)
    listed = await repository.custom_prices(
        session, organization.id, project_id, every_project=project_id is None
    )
    return PriceList(
        pricing=pricing,
        source=CATALOGUE_SOURCE,
        catalogue_version=CATALOGUE_VERSION,
        model_count=len(pricing),
        custom_prices=[custom_out(row) for row in listed],
    )


async def model_pricing(
    session: AsyncSession,
    organization: Organization,
    model: str,
    provider: str | None,
    project_id: int | None,
) -> ModelPricing:
    """The price a call to `model` would get now, as the price book decides it."""
    if project_id is not None:
        await _project(session, organization, project_id)
    now = utc_now()
    book = await price_book_for(session, organization.id, project_id)
    priced = book.price(model, provider, TokenUsage(0, 0), now)
    rows = await repository.custom_prices_for_model(session, organization.id, project_id, model)
    history = [custom_out(row) for row in rows]
    if priced.unpriced or priced.price_source is None or priced.matched_model is None:
        raise NotFound(f"model: no price known for {model!r}" + (f" from {provider!r}" if provider else ""))
    if priced.price_source.startswith("custom"):
        row = _custom_in_force(rows, priced.price_source == "custom:project", priced.matched_provider, now)
        rates = _custom_rates(row)
        return ModelPricing(
            model=model,
            matched_to=row.model,
            provider=priced.matched_provider,
            source="custom",
            input=rates.input,
            output=rates.output,
            input_mtok=rates.input_mtok,
            output_mtok=rates.output_mtok,
            cache_read_mtok=rates.cache_read_mtok,
            cache_write_mtok=rates.cache_write_mtok,
            reasoning_mtok=_usd(row.reasoning_nanos_per_mtok),
            tiered=False,
            effective_from=as_utc(row.effective_from),
            custom_prices=history,
        )
    match = catalogue.find(model, provider)
    assert match is not None  # the book priced it from the catalogue
    price = match.model.get_prices(now)
    listed = [price.input_mtok, price.output_mtok, price.cache_read_mtok, price.cache_write_mtok]
    input_mtok, output_mtok, cache_read_mtok, cache_write_mtok = (_base(rate) for rate in listed)
    return ModelPricing(
        model=model,
        matched_to=match.model_id,
        provider=match.provider_id,
        source="catalogue",
        input=float((input_mtok or Decimal(0)) / PER_THOUSAND),
        output=float((output_mtok or Decimal(0)) / PER_THOUSAND),
        input_mtok=input_mtok or Decimal(0),
        output_mtok=output_mtok or Decimal(0),
        cache_read_mtok=cache_read_mtok,
        cache_write_mtok=cache_write_mtok,
        reasoning_mtok=_base(price.output_reasoning_mtok),
        tiered=any(isinstance(rate, TieredPrices) for rate in listed),
        effective_from=None,
        custom_prices=history,
    )


def _base(rate: Decimal | TieredPrices | None) -> Decimal | None:
    """A catalogue rate, or a tiered one's base (the rate below its first threshold)."""
    return rate.base if isinstance(rate, TieredPrices) else rate


def _custom_in_force(
    rows: list[LLMCustomPrice], for_project: bool, provider: str | None, now: datetime
) -> LLMCustomPrice:
    candidates = [
        row
        for row in rows
        if (row.project_id is not None) == for_project
        and as_utc(row.effective_from) <= now
        and (row.provider is None or (provider is not None and row.provider.lower() == provider.lower()))
    ]
    return max(candidates, key=_precedence)


async def _project(session: AsyncSession, organization: Organization, project_id: int) -> None:
    if await repository.project_of_org(session, organization.id, project_id) is None:
        raise NotFound(f"project_id: organization {organization.login} has no project {project_id}")


async def set_custom_price(
    session: AsyncSession, organization: Organization, body: CustomPriceCreate, created_by: int | None
) -> CustomPriceOut:
    """A new price from `effective_from` on; earlier prices stay, so calls before it keep theirs."""
    if body.project_id is not None:
        await _project(session, organization, body.project_id)
    row = LLMCustomPrice(
        org_id=organization.id,
        project_id=body.project_id,
        model=body.model,
        provider=body.provider,
        effective_from=body.effective_from or utc_now(),
        input_nanos_per_mtok=usd_to_nanos(body.input),
        output_nanos_per_mtok=usd_to_nanos(body.output),
        cache_read_nanos_per_mtok=_nanos(body.cache_read),
        cache_write_nanos_per_mtok=_nanos(body.cache_write),
        reasoning_nanos_per_mtok=_nanos(body.reasoning),
        created_by=created_by,
    )
    session.add(row)
    await session.flush()
    return custom_out(row)


def _nanos(usd: Decimal | None) -> int | None:
    return None if usd is None else usd_to_nanos(usd)


async def sync_defaults(session: AsyncSession, organization: Organization) -> SyncReport:
    """The pinned catalogue's version and size, and the organization's unpriced calls repriced with it.

    The catalogue ships with the app (genai-prices, pinned), so there is nothing to download: a new catalogue
    arrives with an upgrade, and this is how calls stored before it get the prices it brings.
    """
    result = await reprice_unpriced(session, organization.id, utc_now())
    return SyncReport(
        catalogue_version=CATALOGUE_VERSION,
        model_count=len(catalogue_models()),
        unpriced_events=result.unpriced_before,
        repriced_events=result.repriced,
        still_unpriced=result.unpriced_before - result.repriced,
    )
