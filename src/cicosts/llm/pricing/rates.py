"""Exact token arithmetic: per-token rates as integers, costs in nanodollars, rounded half to even once.

Token counts follow AgentCost's convention (what its SDK sends for every provider):

- `input_tokens` is the whole prompt, cache reads included (`cached_tokens` is the part of it read from the
  cache), but cache writes are not in it: `cache_write_tokens` come on top, billed at their own premium rate.
  (The SDK adds Anthropic's `cache_read_input_tokens` into `input_tokens` and leaves
  `cache_creation_input_tokens` apart; OpenAI and Gemini report cache reads inside the prompt count and
  have no cache writes.)
- `output_tokens` is every generated token, reasoning ("thinking") tokens included; `reasoning_tokens` is the
  part of it that was reasoning.

genai-prices counts input inclusive of both cache reads and writes, so its `input_tokens` is ours plus
`cache_write_tokens` (see `catalogue.library_usage`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TokenUsage:
    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_input_tokens(self) -> int:
        """Every input token as genai-prices counts them: the prompt, cache reads and cache writes."""
        return self.input_tokens + self.cache_write_tokens


@dataclass(frozen=True)
class Rates:
    """Flat per-token rates: nanodollars per token is `rate / denominator` (a power of ten, so exact).

    A rate left None is not priced apart: those tokens count as what they are part of (cache reads and writes
    as input, reasoning as output), as genai-prices does with a price key a model lacks.
    """

    input: int
    output: int
    cache_read: int | None
    cache_write: int | None
    reasoning: int | None
    denominator: int


def round_half_even(numerator: int, denominator: int) -> int:
    """numerator / denominator (denominator > 0) to the nearest integer, ties to the even one."""
    if denominator == 1:
        return numerator
    quotient, remainder = divmod(numerator, denominator)  # floor division: 0 <= remainder < denominator
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient & 1):
        quotient += 1
    return quotient


def cost_nanos(rates: Rates, usage: TokenUsage) -> tuple[int, int]:
    """(cost, cache savings) in nanodollars, each rounded once, half to even.

    Every input token is first counted at the input rate and every output token at the output rate; tokens a
    model prices apart then swap that rate for their own. Savings are what the cache reads would have cost at
    the input rate less what they cost at the cache-read rate: nothing when the model has no cache-read price.
    """
    total = usage.total_input_tokens * rates.input + usage.output_tokens * rates.output
    savings = 0
    if rates.cache_read is not None and usage.cached_tokens:
        discount = usage.cached_tokens * (rates.input - rates.cache_read)
        total -= discount
        savings = round_half_even(discount, rates.denominator)
    if rates.cache_write is not None and usage.cache_write_tokens:
        total += usage.cache_write_tokens * (rates.cache_write - rates.input)
    if rates.reasoning is not None and usage.reasoning_tokens:
        total += usage.reasoning_tokens * (rates.reasoning - rates.output)
    return round_half_even(total, rates.denominator), savings
