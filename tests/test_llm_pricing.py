"""LLM calls cost exactly what genai-prices says at their own timestamp, unless a custom price applies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import genai_prices
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.db import transaction
from cicosts.identity.service import ensure_user_with_organization
from cicosts.llm.pricing import catalogue
from cicosts.llm.pricing.catalogue import CATALOGUE_VERSION, catalogue_models
from cicosts.llm.pricing.rates import round_half_even
from cicosts.llm.pricing.service import PriceBook, TokenUsage, price_book_for
from cicosts.models import LLMCustomPrice, LLMProject
from tests.helpers import at

SOURCE = f"catalogue:{genai_prices.__version__}"
# Flat, tiered (claude-sonnet-4-5, gemini-2.5-pro), dated (o3), time-of-day (deepseek-chat), cache writes.
MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("openai", "o3"),
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-3-5-haiku-latest"),
    ("anthropic", "claude-opus-4-1"),
    ("google", "gemini-2.5-pro"),
    ("google", "gemini-2.5-flash"),
    ("deepseek", "deepseek-chat"),
    (None, "gpt-4.1"),
]
MILLION = 1_000_000


def reference_nanos(model: str, provider: str | None, usage: TokenUsage, when: datetime) -> int:
    """genai-prices' answer (its input counts cache reads and writes), in nanodollars rounded half-even."""
    library_usage = genai_prices.Usage(
        input_tokens=usage.input_tokens + usage.cache_write_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cached_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        output_reasoning_tokens=usage.reasoning_tokens,
    )
    price = genai_prices.calc_price(library_usage, model, provider_id=provider, genai_request_timestamp=when)
    return int((price.total_price * 10**9).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


@st.composite
def usages(draw: st.DrawFn) -> TokenUsage:
    # Up to 2M input tokens, so calls fall on both sides of the 200K tiers.
    input_tokens = draw(st.integers(min_value=0, max_value=2 * MILLION))
    output_tokens = draw(st.integers(min_value=0, max_value=200_000))
    return TokenUsage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_tokens=draw(st.integers(min_value=0, max_value=input_tokens)),
        cache_write_tokens=draw(st.integers(min_value=0, max_value=300_000)),
        reasoning_tokens=draw(st.integers(min_value=0, max_value=output_tokens)),
    )


moments = st.datetimes(
    min_value=datetime(2024, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive; values get UTC
    max_value=datetime(2026, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@given(st.sampled_from(MODELS), usages(), moments)
def test_a_call_costs_what_genai_prices_says_to_the_nanodollar(
    model: tuple[str | None, str], usage: TokenUsage, when: datetime
) -> None:
    provider, name = model
    priced = PriceBook().price(name, provider, usage, when)
    assert priced.cost_nanos == reference_nanos(name, provider, usage, when)
    assert (priced.unpriced, priced.price_source, priced.matched_model) == (False, SOURCE, name)


def test_every_catalogue_model_costs_what_genai_prices_says() -> None:
    """Not a sample: each price of each model of each provider, on both sides of tier thresholds."""
    usage_sets = [
        TokenUsage(999, 333, 0, 0, 0),
        TokenUsage(250_001, 40_000, 120_000, 7_777, 10_000),
        TokenUsage(3_000_000, 1, 2_999_999, 0, 1),
    ]
    moments_ = [at("2024-03-01T00:00:00"), at("2025-07-01T03:00:00"), at("2026-06-01T20:00:00")]
    compared = 0
    for provider in genai_prices.data_snapshot.get_snapshot().providers:
        for model in provider.models:
            match = catalogue.CatalogueMatch(provider, model)
            for when in moments_:
                for usage in usage_sets:
                    try:
                        expected: int | None = catalogue.library_cost(match, usage, when)
                    except ValueError:
                        expected = None
                    try:
                        got: int | None = match.cost(usage, when)[0]
                    except ValueError:
                        got = None
                    assert got == expected, (provider.id, model.id, when, usage)
                    compared += 1
    assert compared > 20_000


def test_cache_reads_and_writes_and_reasoning_are_priced_at_their_own_rates() -> None:
    when = at("2026-01-15T12:00:00")
    book = PriceBook()
    # gpt-4o: $2.50 input, $1.25 cached input, $10 output per MTok. A million-token prompt, 400K of it cached.
    gpt = book.price("gpt-4o", "openai", TokenUsage(MILLION, MILLION, 400_000), when)
    assert gpt.cost_nanos == 600_000 * 2_500 + 400_000 * 1_250 + MILLION * 10_000
    assert gpt.cache_savings_nanos == 400_000 * 1_250
    # claude-3-5-haiku: $0.80 input, $0.08 cache read, $1 cache write, $4 output. Writes come on top of input.
    haiku = book.price(
        "claude-3-5-haiku-latest", None, TokenUsage(MILLION, 0, 500_000, cache_write_tokens=MILLION), when
    )
    assert haiku.cost_nanos == 500_000 * 800 + 500_000 * 80 + MILLION * 1_000
    assert haiku.cache_savings_nanos == 500_000 * 720
    assert (haiku.matched_provider, haiku.matched_model) == ("anthropic", "claude-3-5-haiku-latest")


def test_a_model_whose_price_changed_is_priced_by_the_call_time() -> None:
    """OpenAI cut o3 from $10/$40 to $2/$8 per MTok on 2025-06-10 (UTC days, as genai-prices has it)."""
    usage = TokenUsage(MILLION, MILLION)
    book = PriceBook()
    before = book.price("o3", "openai", usage, at("2025-06-09T23:59:59"))
    after = book.price("o3", "openai", usage, at("2025-06-10T00:00:00"))
    assert (before.cost_nanos, after.cost_nanos) == (50 * 10**9, 10 * 10**9)


def test_a_long_prompt_pays_the_tier_price_on_every_token() -> None:
    """gemini-2.5-pro: $1.25/$10 per MTok up to 200K input tokens, $2.50/$15 on all of a longer prompt's."""
    book = PriceBook()
    when = at("2026-01-15T12:00:00")
    short = book.price("gemini-2.5-pro", "google", TokenUsage(200_000, 1_000), when)
    long = book.price("gemini-2.5-pro", "google", TokenUsage(200_001, 1_000), when)
    assert short.cost_nanos == 200_000 * 1_250 + 1_000 * 10_000
    assert long.cost_nanos == 200_001 * 2_500 + 1_000 * 15_000


def test_a_model_nobody_prices_is_flagged_not_free() -> None:
    priced = PriceBook().price(
        "acme-llama-finetune-7b", None, TokenUsage(1000, 1000), at("2026-01-01T00:00:00")
    )
    assert (priced.unpriced, priced.cost_nanos, priced.price_source, priced.matched_model) == (
        True,
        0,
        None,
        None,
    )


def test_a_known_provider_is_held_to_its_models_and_an_unknown_one_is_not() -> None:
    when, usage = at("2026-01-01T00:00:00"), TokenUsage(MILLION, 0)
    book = PriceBook()
    assert book.price("gpt-4o", "anthropic", usage, when).unpriced
    gateway = book.price("gpt-4o", "acme-gateway", usage, when)
    assert (gateway.unpriced, gateway.matched_provider, gateway.cost_nanos) == (
        False,
        "openai",
        2_500 * MILLION,
    )
    assert book.price("GPT-4o", "OpenAI", usage, when).cost_nanos == 2_500 * MILLION


def test_pricing_a_call_is_a_lookup_not_a_library_call() -> None:
    """The catalogue is searched once per (provider, model), not per call (genai-prices takes 50-90 us)."""
    book = PriceBook()
    when = at("2026-01-01T00:00:00")
    book.price("claude-sonnet-4-5", None, TokenUsage(10, 10), when)
    first = catalogue.find("claude-sonnet-4-5", None)
    book.price("claude-sonnet-4-5", None, TokenUsage(20, 20), when)
    assert catalogue.find("claude-sonnet-4-5", None) is first
    assert first is not None and catalogue.compiled(first.model.get_prices(when)) is not None


@given(st.integers(min_value=-(10**30), max_value=10**30), st.integers(min_value=1, max_value=10**12))
def test_integer_rounding_is_half_to_even(numerator: int, denominator: int) -> None:
    with localcontext() as context:
        context.prec = 100  # exact for these sizes
        expected = (Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    assert round_half_even(numerator, denominator) == int(expected)


def test_ties_round_to_the_even_neighbour() -> None:
    assert [round_half_even(n, 2) for n in (1, 3, 5, 7, -1, -3, -5)] == [0, 2, 2, 4, 0, -2, -2]


def test_the_catalogue_lists_models_with_their_current_rates() -> None:
    models = {(m.provider, m.model): m for m in catalogue_models(at("2026-01-01T00:00:00"))}
    gpt = models[("openai", "gpt-4o")]
    assert (gpt.provider_name, gpt.input_mtok, gpt.output_mtok, gpt.cache_read_mtok, gpt.tiered) == (
        "OpenAI",
        Decimal("2.5"),
        Decimal("10"),
        Decimal("1.25"),
        False,
    )
    assert models[("google", "gemini-2.5-pro")].tiered
    assert models[("openai", "o3")].input_mtok == Decimal("2")
    assert len(models) > 1_000 and genai_prices.__version__ == CATALOGUE_VERSION


# --- custom prices -------------------------------------------------------------------------------------


async def org_with_project(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[int, int, int]:
    """An organization with two projects; their ids."""
    async with transaction(sessionmaker) as session:
        _, org = await ensure_user_with_organization(session, "pricer", "acme")
        projects = [LLMProject(org_id=org.id, name=name) for name in ("support-bot", "research")]
        session.add_all(projects)
        await session.flush()
        return org.id, projects[0].id, projects[1].id


def custom(
    org_id: int, model: str, since: str, input_usd: str, output_usd: str, **extra: object
) -> LLMCustomPrice:
    per_mtok = {"input_nanos_per_mtok": int(Decimal(input_usd) * 10**9)}
    per_mtok["output_nanos_per_mtok"] = int(Decimal(output_usd) * 10**9)
    return LLMCustomPrice(org_id=org_id, model=model, effective_from=at(since), **per_mtok, **extra)


async def test_custom_prices_override_the_catalogue_project_before_organization(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    org_id, project_id, other_project_id = await org_with_project(sessionmaker)
    async with transaction(sessionmaker) as session:
        session.add_all(
            [
                custom(org_id, "gpt-4o", "2025-01-01T00:00:00", "2", "8"),  # negotiated for everyone
                custom(org_id, "gpt-4o", "2025-06-01T00:00:00", "1.5", "6"),  # renegotiated
                custom(org_id, "gpt-4o", "2025-09-01T00:00:00", "1", "4", project_id=project_id),
                custom(org_id, "ft:gpt-4o:acme", "2025-01-01T00:00:00", "3.75", "15"),  # a fine-tune
            ]
        )
    usage = TokenUsage(MILLION, MILLION, cached_tokens=500_000)
    async with transaction(sessionmaker) as session:
        book = await price_book_for(session, org_id, project_id)
        other = await price_book_for(session, org_id, other_project_id)

    catalogue_price = book.price("gpt-4o", None, usage, at("2024-12-31T23:59:59"))
    assert catalogue_price.price_source == SOURCE
    january = book.price("gpt-4o", None, usage, at("2025-03-01T00:00:00"))
    # Cache reads fall back to the input rate when a custom price sets none: no savings.
    assert (january.cost_nanos, january.cache_savings_nanos, january.price_source) == (
        10 * 10**9,
        0,
        "custom:org",
    )
    assert book.price("gpt-4o", None, usage, at("2025-07-01T00:00:00")).cost_nanos == 7_500_000_000
    project_price = book.price("gpt-4o", None, usage, at("2025-10-01T00:00:00"))
    assert (project_price.cost_nanos, project_price.price_source) == (5 * 10**9, "custom:project")
    assert project_price.matched_provider == "openai"
    assert other.price("gpt-4o", None, usage, at("2025-10-01T00:00:00")).price_source == "custom:org"
    tuned = other.price("FT:gpt-4o:acme", None, TokenUsage(MILLION, 0), at("2025-10-01T00:00:00"))
    assert (tuned.cost_nanos, tuned.unpriced, tuned.matched_model) == (3_750_000_000, False, "ft:gpt-4o:acme")


async def test_custom_cache_and_reasoning_rates_and_a_provider_bound_price(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    org_id, project_id, _ = await org_with_project(sessionmaker)
    async with transaction(sessionmaker) as session:
        session.add(
            custom(
                org_id,
                "llama-3.3-70b-versatile",
                "2025-01-01T00:00:00",
                "0.6",
                "0.8",
                provider="self-hosted",
                cache_read_nanos_per_mtok=60_000_000,
                cache_write_nanos_per_mtok=750_000_000,
                reasoning_nanos_per_mtok=1_000_000_000,
            )
        )
    async with transaction(sessionmaker) as session:
        book = await price_book_for(session, org_id, project_id)
    when = at("2026-01-01T00:00:00")
    usage = TokenUsage(
        MILLION, MILLION, cached_tokens=250_000, cache_write_tokens=100_000, reasoning_tokens=400_000
    )
    own = book.price("llama-3.3-70b-versatile", "Self-Hosted", usage, when)
    # 750K uncached at 0.60, 250K cached at 0.06, 100K written at 0.75, 600K output at 0.80, 400K at 1.
    assert own.cost_nanos == (750_000 * 600 + 250_000 * 60 + 100_000 * 750 + 600_000 * 800 + 400_000 * 1_000)
    assert (own.cache_savings_nanos, own.matched_provider) == (250_000 * 540, "self-hosted")
    on_groq = book.price(
        "llama-3.3-70b-versatile", "groq", usage, when
    )  # the custom price is for self-hosting
    assert (on_groq.price_source, on_groq.matched_provider) == (SOURCE, "groq")
    earlier = when - timedelta(days=800)
    assert book.price("llama-3.3-70b-versatile", "self-hosted", usage, earlier) == PriceBook().price(
        "llama-3.3-70b-versatile", "self-hosted", usage, earlier
    )
