"""Ingest a batch of LLM calls: validate each, price each at its own timestamp, store each event_id once, and
add what was stored to the hourly rollups, all in the caller's transaction (services never commit).

The AgentCost route (`POST /v1/events/batch`) and the OTLP route both come through `ingest_batch`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.alerts.hooks import costs_landed
from cicosts.errors import PayloadTooLarge, Unprocessable
from cicosts.kit.periods import floor_hour
from cicosts.kit.upsert import dialect_name
from cicosts.ledger.rollups import RollupBuffer
from cicosts.llm.events import repository, summed_in_database
from cicosts.llm.events.contributions import BatchRollups
from cicosts.llm.events.schemas import (
    MAX_ERROR_CHARS,
    MAX_EVENTS,
    BatchResult,
    Checked,
    EventIn,
    OutcomeIn,
    RejectedEvent,
    check_events,
    validate_events,
)
from cicosts.llm.events.summed_in_database import Stored
from cicosts.llm.pricing.catalogue import usd_to_nanos
from cicosts.llm.pricing.service import PriceBook, TokenUsage, price_book_for
from cicosts.models import LLMProject

DEFAULT_AGENT = "default"
REASONS_IN_DETAIL = 3


async def ingest_batch(
    session: AsyncSession,
    project: LLMProject,
    events: list[Any],
    outcomes: list[Any] | None,
    *,
    now: datetime,
) -> BatchResult:
    """Store the valid events (raw dicts in AgentCost's shape) and the outcomes of `project`.

    Invalid events are rejected one by one with their index and reason; a batch none of whose events is valid
    is refused whole (422). Outcomes without a trace_id are skipped.
    """
    _refuse_oversized(events)
    return await _store(session, project, validate_events(events, now), len(events), outcomes, now)


async def ingest_validated(
    session: AsyncSession,
    project: LLMProject,
    events: list[EventIn],
    outcomes: list[Any] | None,
    *,
    now: datetime,
) -> BatchResult:
    """`ingest_batch` for events whose fields were validated already (a body parsed as a `ValidBatch`)."""
    _refuse_oversized(events)
    checked = check_events(list(enumerate(events)), now)
    return await _store(session, project, checked, len(events), outcomes, now)


def _refuse_oversized(events: list[Any]) -> None:
    if len(events) > MAX_EVENTS:
        raise PayloadTooLarge(f"events: at most {MAX_EVENTS:,} per batch, not {len(events):,}")


async def _store(
    session: AsyncSession,
    project: LLMProject,
    checked: Checked,
    received: int,
    outcomes: list[Any] | None,
    now: datetime,
) -> BatchResult:
    accepted, rejected = checked
    if received and not accepted:
        raise Unprocessable(_nothing_valid(rejected))
    prices = await price_book_for(session, project.org_id, project.id)
    rows, duplicates = _rows(project, accepted, prices, now)
    # In event_id order, so two batches carrying the same ids wait on each other instead of deadlocking.
    rows.sort(key=lambda row: (row["event_id"] is None, row["event_id"] or ""))
    if not rows:
        stored = Stored(0, 0)
    elif dialect_name(session) == "postgresql":
        stored = await summed_in_database.insert_and_sum(session, project, rows)
    else:
        stored = await _insert_and_sum(session, project, rows)
    duplicates += len(rows) - stored.calls  # the others were stored by an earlier batch
    if stored.calls:
        await costs_landed(session, [project.org_id])  # evaluate the organization's alerts soon
    await repository.upsert_outcomes(session, _outcome_rows(project, outcomes or [], now))
    return BatchResult(
        events_received=received,
        events_stored=stored.calls,
        events_duplicate=duplicates,
        events_rejected=len(rejected),
        events_unpriced=stored.unpriced,
        rejected=rejected,
    )


async def _insert_and_sum(session: AsyncSession, project: LLMProject, rows: list[dict[str, Any]]) -> Stored:
    """The rows whose event_id the project has not stored yet, inserted and added to the rollups."""
    stored_ids = await repository.insert_events(session, rows)
    rollups = BatchRollups(project)
    calls = unpriced = 0
    for row in rows:
        if row["event_id"] is None or row["event_id"] in stored_ids:
            calls += 1
            unpriced += row["unpriced"]
            rollups.add(row, floor_hour(row["timestamp"]), row["tags"])
    buffer = RollupBuffer()
    rollups.record(buffer)
    await buffer.flush(session)
    return Stored(calls, unpriced)


def _nothing_valid(rejected: list[RejectedEvent]) -> str:
    reasons = "; ".join(f"event {r.index}: {r.reason}" for r in rejected[:REASONS_IN_DETAIL])
    more = f" (and {len(rejected) - REASONS_IN_DETAIL} more)" if len(rejected) > REASONS_IN_DETAIL else ""
    return f"None of the {len(rejected)} events is valid: {reasons}{more}"


def _rows(
    project: LLMProject,
    accepted: list[tuple[int, EventIn]],
    prices: PriceBook,
    now: datetime,
) -> tuple[list[dict[str, Any]], int]:
    """One row per event to insert, and how many repeat an event_id earlier in the batch (the first wins)."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    duplicates = 0
    for _, event in accepted:
        if event.event_id:
            if event.event_id in seen:
                duplicates += 1
                continue
            seen.add(event.event_id)
        rows.append(event_row(project, event, prices, now))
    return rows, duplicates


def event_row(project: LLMProject, event: EventIn, prices: PriceBook, now: datetime) -> dict[str, Any]:
    """The `llm_events` row of one valid event, priced at its own timestamp."""
    usage = TokenUsage(
        input_tokens=event.input_tokens,
        output_tokens=event.output_tokens,
        cached_tokens=event.cached_tokens or 0,
        cache_write_tokens=event.cache_write_tokens or 0,
        reasoning_tokens=event.reasoning,
    )
    at = event.timestamp
    priced = prices.price(event.model, event.provider, usage, at)
    metadata = event.metadata
    return {
        "org_id": project.org_id,
        "project_id": project.id,
        "event_id": event.event_id or None,  # an empty key is no key
        "timestamp": at,
        "agent_name": event.agent_name or DEFAULT_AGENT,
        "model": event.model,
        "provider": event.provider,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cached_tokens": usage.cached_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "latency_ms": round(event.latency_ms) if event.latency_ms is not None else None,
        "success": event.success if event.success is not None else not event.error,
        "error": event.error[:MAX_ERROR_CHARS] if event.error else None,
        "user_id": metadata.user_id if metadata is not None else None,
        "session_id": metadata.session_id if metadata is not None else None,
        "tags": event.tag_values(),
        "trace_id": event.trace_id,
        "span_id": event.span_id,
        "workflow": event.workflow,
        "tool_name": event.tool_name,
        "input_hash": event.input_hash,
        "metadata": event.metadata_sent or {},
        "matched_model": priced.matched_model,
        "matched_provider": priced.matched_provider,
        "price_source": priced.price_source,
        "unpriced": priced.unpriced,
        "cost_nanos": priced.cost_nanos,
        "cache_savings_nanos": priced.cache_savings_nanos,
        # repr: the shortest decimal that reads back as the same float, i.e. what the client sent
        "client_cost_nanos": usd_to_nanos(Decimal(repr(event.cost))) if event.cost is not None else None,
        "created_at": now,
    }


def _outcome_rows(project: LLMProject, outcomes: list[Any], now: datetime) -> list[dict[str, Any]]:
    """One row per trace, the last report in the batch winning."""
    by_trace: dict[str, dict[str, Any]] = {}
    for raw in outcomes:
        outcome = _outcome(raw)
        if outcome is None:
            continue
        by_trace[outcome.trace_id] = {
            "org_id": project.org_id,
            "project_id": project.id,
            "trace_id": outcome.trace_id,
            "success": outcome.success,
            "label": outcome.label,
            "reported_at": now,
        }
    return list(by_trace.values())


def _outcome(raw: Any) -> OutcomeIn | None:
    if not isinstance(raw, dict):
        return None
    try:
        return OutcomeIn.model_validate(raw)
    except ValueError:
        return None
