"""What stored LLM calls add to the hourly rollups (see `cicosts.ledger.rollups`).

Calls are never updated once stored, so a batch only adds. Its calls are summed per rollup row here first,
so a batch of 1,000 calls writes one upsert per distinct row rather than several per call: `llm_hourly` per
project, agent, model and provider; `llm_dimension_hourly` per user, session, workflow, tool and tag; and the
ledger.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from cicosts.ledger import rollups
from cicosts.ledger.rollups import Contribution, Rollup, RollupBuffer
from cicosts.ledger.service import LEDGER, MICROS, ledger_entry
from cicosts.llm.events.repository import LLM_DIMENSION_HOURLY, LLM_HOURLY
from cicosts.llm.pricing import catalogue
from cicosts.models import LLMProject

MEASURES = (
    "calls",
    "failed_calls",
    "unpriced_calls",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_nanos",
    "failed_cost_nanos",
    "cache_savings_nanos",
    "latency_ms_sum",
    "latency_calls",
)
UNKNOWN_PROVIDER = "unknown"
SKU_LENGTH, SERVICE_LENGTH = 100, 200  # ledger_hourly's columns
# FOCUS ServiceName for the providers most calls go to; other calls are grouped by model family.
PRODUCTS = {
    "openai": "OpenAI API",
    "anthropic": "Claude API",
    "google": "Gemini API",
    "aws": "Amazon Bedrock",
    "azure": "Azure OpenAI",
    "mistral": "Mistral AI API",
    "x-ai": "xAI API",
    "deepseek": "DeepSeek API",
    "groq": "GroqCloud",
    "cohere": "Cohere API",
    "openrouter": "OpenRouter",
    "together": "Together AI",
    "fireworks": "Fireworks AI",
    "perplexity": "Perplexity API",
}
_FAMILY = re.compile(r"[a-z]+")

Key = tuple[Any, ...]


def measures_of(row: Mapping[str, Any]) -> tuple[int, ...]:
    """One stored call's measures, in `MEASURES` order."""
    failed = not row["success"]
    latency = row["latency_ms"]
    return (
        1,
        int(failed),
        int(row["unpriced"]),
        row["input_tokens"],
        row["output_tokens"],
        row["cached_tokens"],
        row["cache_write_tokens"],
        row["reasoning_tokens"],
        row["cost_nanos"],
        row["cost_nanos"] if failed else 0,
        row["cache_savings_nanos"],
        latency or 0,
        int(latency is not None),
    )


def model_family(model: str) -> str:
    """The model name's leading word ("claude" for "claude-3-5-haiku"), or the name itself."""
    found = _FAMILY.search(model.rsplit("/", 1)[-1].lower())
    return (found.group(0) if found else model)[:SERVICE_LENGTH]


def ledger_names(row: Mapping[str, Any]) -> tuple[str, str]:
    """(provider, service) in FOCUS terms, "OpenAI" and "OpenAI API"; else the model's family as service."""
    provider_id = row["matched_provider"] or row["provider"]
    if not provider_id:
        return UNKNOWN_PROVIDER, model_family(row["model"])
    provider = catalogue.provider_name(provider_id) or provider_id
    return provider, PRODUCTS.get(provider_id.lower()) or model_family(row["model"])


class BatchRollups:
    """The stored calls of one batch, summed per rollup row."""

    def __init__(self, project: LLMProject) -> None:
        self.project = project
        self._hourly: dict[Key, list[tuple[int, ...]]] = {}
        self._dimensions: dict[Key, list[tuple[int, ...]]] = {}
        self._ledger: dict[Key, list[tuple[int, ...]]] = {}
        self._ledger_names: dict[tuple[str | None, str | None, str], tuple[str, str]] = {}

    def add(self, row: Mapping[str, Any], hour: datetime, tags: Iterable[str]) -> None:
        measures = measures_of(row)
        provider = row["matched_provider"] or row["provider"] or ""
        self._hourly.setdefault((hour, row["agent_name"], row["model"], provider), []).append(measures)
        for dimension, value in (
            ("user", row["user_id"]),
            ("session", row["session_id"]),
            ("workflow", row["workflow"]),
            ("tool", row["tool_name"]),
        ):
            if value:
                self._dimensions.setdefault((hour, dimension, value), []).append(measures)
        for tag in set(tags):
            if tag:
                self._dimensions.setdefault((hour, "tag", tag), []).append(measures)
        names_key = (row["matched_provider"], row["provider"], row["model"])
        names = self._ledger_names.get(names_key)
        if names is None:
            names = self._ledger_names[names_key] = ledger_names(row)
        tokens = row["input_tokens"] + row["cache_write_tokens"] + row["output_tokens"]
        ledger_key = (hour, *names, row["agent_name"], row["model"][:SKU_LENGTH])
        self._ledger.setdefault(ledger_key, []).append((row["cost_nanos"], tokens, int(row["unpriced"])))

    def record(self, buffer: RollupBuffer) -> None:
        org_id, project_id = self.project.org_id, self.project.id
        for (hour, agent, model, provider), rows in self._hourly.items():
            key = {"org_id": org_id, "hour": hour, "project_id": project_id}
            key |= {"agent_name": agent, "model": model, "provider": provider}
            self._add(buffer, LLM_HOURLY, key, rows)
        for (hour, dimension, value), rows in self._dimensions.items():
            key = {"org_id": org_id, "hour": hour, "project_id": project_id}
            self._add(buffer, LLM_DIMENSION_HOURLY, key | {"dimension": dimension, "value": value}, rows)
        for (hour, provider, service, agent, sku), rows in self._ledger.items():
            cost, tokens, unpriced = (sum(column) for column in zip(*rows, strict=True))
            entry = ledger_entry(
                org_id=org_id,
                hour=hour,
                source="llm",
                provider=provider,
                service=service,
                sub_account=self.project.name,
                resource=agent,
                sku=sku,
                unit="tokens",
                billed_nanos=cost,
                list_nanos=cost,
                quantity_micros=tokens * MICROS,
                unpriced=False,
            )
            counts = {"record_count": len(rows), "unpriced_count": unpriced}
            buffer.add(LEDGER, None, Contribution(entry.key, {**entry.measures, **counts}))

    @staticmethod
    def _add(buffer: RollupBuffer, rollup: Rollup, key: dict[str, Any], rows: list[tuple[int, ...]]) -> None:
        sums = (sum(column) for column in zip(*rows, strict=True))
        buffer.add(rollup, None, rollups.contribution(key, dict(zip(MEASURES, sums, strict=True))))
