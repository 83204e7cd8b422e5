"""Give unpriced calls the price that is known now (a newer catalogue, or a custom price set since).

Each call is priced at its own timestamp, as ingestion would have priced it, and the rollups move with it:
what the call added while unpriced is taken away and what it adds now is added, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.kit.periods import as_utc, floor_hour
from cicosts.ledger.rollups import Contribution, Rollup, RollupBuffer
from cicosts.llm.events.contributions import BatchRollups
from cicosts.llm.pricing import catalogue
from cicosts.llm.pricing.service import PriceBook, Priced, TokenUsage, price_book_for
from cicosts.models import LedgerHourly, LLMDimensionHourly, LLMEvent, LLMHourly, LLMProject

PAGE = 1_000  # events loaded (and locked) at a time
ROLLUP_COLUMNS = (
    "success",
    "latency_ms",
    "unpriced",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_nanos",
    "cache_savings_nanos",
    "matched_provider",
    "provider",
    "agent_name",
    "model",
    "user_id",
    "session_id",
    "workflow",
    "tool_name",
)


@dataclass(frozen=True)
class Repricing:
    unpriced_before: int
    repriced: int


class _ReversibleBuffer(RollupBuffer):
    """A rollup buffer that can also take contributions away (what a call added while it was unpriced)."""

    removing = False

    def add(self, rollup: Rollup, old: Contribution | None, new: Contribution | None) -> None:
        if self.removing:
            old, new = new, old
        super().add(rollup, old, new)


def _rollup_row(event: LLMEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in ROLLUP_COLUMNS}


async def reprice_unpriced(session: AsyncSession, org_id: int, now: datetime) -> Repricing:
    unpriced = LLMEvent.unpriced.is_(True)
    before = await session.scalar(select(func.count()).where(LLMEvent.org_id == org_id, unpriced))
    groups = await session.execute(
        select(LLMEvent.project_id, LLMEvent.model, LLMEvent.provider)
        .where(LLMEvent.org_id == org_id, unpriced)
        .distinct()
    )
    books: dict[int, PriceBook] = {}
    repriced = 0
    for project_id, model, provider in groups.all():
        if project_id not in books:
            books[project_id] = await price_book_for(session, org_id, project_id)
        if _hopeless(books[project_id], model, provider, now):
            continue
        project = await session.get(LLMProject, project_id)
        assert project is not None  # the events' foreign key
        repriced += await _reprice_group(session, project, books[project_id], model, provider)
    if repriced:
        await _drop_emptied_rollups(session, org_id)
    return Repricing(int(before or 0), repriced)


def _hopeless(book: PriceBook, model: str, provider: str | None, now: datetime) -> bool:
    """Nothing can price this model: not the catalogue, and no custom price in force by now.

    (A custom price that applied at some earlier moment is in force now, or a later one for the model is.)
    """
    if catalogue.find(model, provider) is not None:
        return False
    return book.price(model, provider, TokenUsage(0, 0), now).unpriced


async def _reprice_group(
    session: AsyncSession, project: LLMProject, book: PriceBook, model: str, provider: str | None
) -> int:
    """Reprice one project's unpriced calls of one model, a page at a time; how many got a price."""
    repriced = 0
    last_id = 0
    while True:
        # Locked, so two syncs at once cannot both reprice a call (and both move its rollups).
        page = list(
            await session.scalars(
                select(LLMEvent)
                .where(
                    LLMEvent.project_id == project.id,
                    LLMEvent.unpriced.is_(True),
                    LLMEvent.model == model,
                    LLMEvent.provider.is_(None) if provider is None else LLMEvent.provider == provider,
                    LLMEvent.id > last_id,
                )
                .order_by(LLMEvent.id)
                .limit(PAGE)
                .with_for_update()
            )
        )
        if not page:
            return repriced
        last_id = page[-1].id
        repriced += await _reprice_page(session, project, book, page)


async def _reprice_page(
    session: AsyncSession, project: LLMProject, book: PriceBook, events: list[LLMEvent]
) -> int:
    was, now_is = BatchRollups(project), BatchRollups(project)
    repriced = 0
    for event in events:
        usage = TokenUsage(
            event.input_tokens,
            event.output_tokens,
            event.cached_tokens,
            event.cache_write_tokens,
            event.reasoning_tokens,
        )
        priced = book.price(event.model, event.provider, usage, as_utc(event.timestamp))
        if priced.unpriced:
            continue
        hour = floor_hour(event.timestamp)
        was.add(_rollup_row(event), hour, event.tags or [])
        _apply(event, priced_fields(priced))
        now_is.add(_rollup_row(event), hour, event.tags or [])
        repriced += 1
    if repriced:
        buffer = _ReversibleBuffer()
        buffer.removing = True
        was.record(buffer)
        buffer.removing = False
        now_is.record(buffer)
        await session.flush()
        await buffer.flush(session)
    return repriced


def priced_fields(priced: Priced) -> dict[str, Any]:
    return {
        "cost_nanos": priced.cost_nanos,
        "cache_savings_nanos": priced.cache_savings_nanos,
        "matched_model": priced.matched_model,
        "matched_provider": priced.matched_provider,
        "price_source": priced.price_source,
        "unpriced": False,
    }


def _apply(event: LLMEvent, fields: Mapping[str, Any]) -> None:
    for name, value in fields.items():
        setattr(event, name, value)


async def _drop_emptied_rollups(session: AsyncSession, org_id: int) -> None:
    """Rollup rows whose calls all moved to other rows (a provider the price named) are left at zero."""
    for table in (LLMHourly, LLMDimensionHourly):
        await session.execute(delete(table).where(table.org_id == org_id, table.calls == 0))
    await session.execute(
        delete(LedgerHourly).where(
            LedgerHourly.org_id == org_id, LedgerHourly.source == "llm", LedgerHourly.record_count == 0
        )
    )
