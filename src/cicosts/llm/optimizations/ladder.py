"""Cheaper models of the same provider and family, one rung at a time: what a model downgrade may suggest.

Each ladder runs from the most capable (and most expensive) model of a family down to its cheapest, by the
genai-prices catalogue's own ids (a test proves every id is there, for that provider, and that each rung costs
less per input and output token than the one above it). Only models of one generation share a ladder: a
suggestion to move from `claude-opus-4-5` to `claude-haiku-4-5` is a price change, not a rewrite.
"""

from __future__ import annotations

from cicosts.llm.pricing import catalogue
from cicosts.llm.pricing.catalogue import CatalogueMatch

LADDERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("openai", ("gpt-4o", "gpt-4o-mini")),
    ("openai", ("gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano")),
    ("openai", ("gpt-5", "gpt-5-mini", "gpt-5-nano")),
    ("openai", ("o1", "o1-mini")),
    ("openai", ("o3", "o4-mini")),
    ("anthropic", ("claude-3-opus-latest", "claude-3-sonnet", "claude-3-haiku")),
    ("anthropic", ("claude-3-5-sonnet", "claude-3-5-haiku-latest")),
    ("anthropic", ("claude-opus-4-0", "claude-sonnet-4-0")),
    ("anthropic", ("claude-opus-4-1", "claude-sonnet-4-0")),
    ("anthropic", ("claude-opus-4-5", "claude-sonnet-4-5", "claude-haiku-4-5")),
    ("google", ("gemini-1.5-pro", "gemini-1.5-flash")),
    ("google", ("gemini-2.0-flash", "gemini-2.0-flash-lite")),
    ("google", ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite")),
)


def _below() -> dict[tuple[str, str], tuple[str, ...]]:
    """(provider, model) -> the rungs below it, nearest first."""
    below: dict[tuple[str, str], tuple[str, ...]] = {}
    for provider, models in LADDERS:
        for position, model in enumerate(models[:-1]):
            below[(provider, model)] = models[position + 1 :]
    return below


BELOW = _below()


def cheaper_models(match: CatalogueMatch) -> list[CatalogueMatch]:
    """The catalogue's cheaper models of the matched model's provider and family, nearest first."""
    found = []
    for model in BELOW.get((match.provider_id, match.model_id), ()):
        alternative = catalogue.find(model, match.provider_id)
        if alternative is not None and alternative.provider_id == match.provider_id:
            found.append(alternative)
    return found
