"""Price stored calls again with the price book as it is now: the unpriced ones after a catalogue upgrade or a
new custom price (`reprice_unpriced`), or a project's calls over a date range (`reprice_project`), for
instance after a custom price was set to start in the past.

Each call is priced at its own timestamp, as ingestion would price it now, and only calls whose priced fields
change are written. The rollups move with them: what a call added before is taken away and what it adds now
is added, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.alerts.hooks import costs_landed
from cicosts.errors import BadRequest
from cicosts.kit.periods import as_utc, floor_hour
from cicosts.ledger.rollups import Contribution, Rollup, RollupBuffer
from cicosts.llm.events.contributions import BatchRollups
from cicosts.llm.pricing import catalogue
from cicosts.llm.pricing.service import PriceBook, Priced, TokenUsage, price_book_for
from cicosts.models import LedgerHourly, LLMDimensionHourly, LLMEvent, LLMHourly, LLMProject

PAGE = 1_000  # events loaded (and locked) at a time
PRICED_COLUMNS = (
    "cost_nanos",
    "cache_savings_nanos",
    "matched_model",
    "matched_provider",
    "price_source",
    "unpriced",
)
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


@dataclass(frozen=True)
class ProjectRepricing:
    """What `reprice_project` found and did; costs are of every call examined, in nanodollars."""

    examined: int
    repriced: int  # calls whose cost, matched model or provider, or price source changed
    cost_before_nanos: int
    cost_after_nanos: int
    still_unpriced: int


@dataclass
class _Tally:
    examined: int = 0
    repriced: int = 0
    cost_before_nanos: int = 0
    cost_after_nanos: int = 0
    unpriced_after: int = 0


class _ReversibleBuffer(RollupBuffer):
    """A rollup buffer that can also take contributions away (what a call added before it was repriced)."""

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
    tally = _Tally()
    for project_id, model, provider in groups.all():
        if project_id not in books:
            books[project_id] = await price_book_for(session, org_id, project_id)
        if _hopeless(books[project_id], model, provider, now):
            continue
        project = await session.get(LLMProject, project_id)
        assert project is not None  # the events' foreign key
        same_provider = LLMEvent.provider.is_(None) if provider is None else LLMEvent.provider == provider
        await _reprice_where(
            session, project, books[project_id], tally, unpriced, LLMEvent.model == model, same_provider
        )
    if tally.repriced:
        await _costs_changed(session, org_id)
    return Repricing(int(before or 0), tally.repriced)


async def reprice_project(
    session: AsyncSession, project: LLMProject, start: datetime, end: datetime
) -> ProjectRepricing:
    """Price every call of `project` with `start <= timestamp < end` again with its current price book.

    A call nobody can price now is stored unpriced at cost 0, as ingestion would store it.
    """
    if start >= end:
        raise BadRequest(f"end: {end.isoformat()} is not after start {start.isoformat()}")
    book = await price_book_for(session, project.org_id, project.id)
    tally = _Tally()
    await _reprice_where(
        session,
        project,
        book,
        tally,
        LLMEvent.org_id == project.org_id,  # so the organization's time index finds the range
        LLMEvent.timestamp >= as_utc(start),
        LLMEvent.timestamp < as_utc(end),
    )
    if tally.repriced:
        await _costs_changed(session, project.org_id)
    return ProjectRepricing(
        examined=tally.examined,
        repriced=tally.repriced,
        cost_before_nanos=tally.cost_before_nanos,
        cost_after_nanos=tally.cost_after_nanos,
        still_unpriced=tally.unpriced_after,
    )


def _hopeless(book: PriceBook, model: str, provider: str | None, now: datetime) -> bool:
    """Nothing can price this model: not the catalogue, and no custom price in force by now.

    (A custom price that applied at some earlier moment is in force now, or a later one for the model is.)
    """
    if catalogue.find(model, provider) is not None:
        return False
    return book.price(model, provider, TokenUsage(0, 0), now).unpriced


async def _reprice_where(
    session: AsyncSession,
    project: LLMProject,
    book: PriceBook,
    tally: _Tally,
    *conditions: ColumnElement[bool],
) -> None:
    """Reprice the project's calls that meet `conditions`, a page at a time."""
    last_id = 0
    while True:
        # Locked, so two repricings at once cannot both reprice a call (and both move its rollups).
        page = list(
            await session.scalars(
                select(LLMEvent)
                .where(LLMEvent.project_id == project.id, LLMEvent.id > last_id, *conditions)
                .order_by(LLMEvent.id)
                .limit(PAGE)
                .with_for_update()
            )
        )
        if not page:
            return
        last_id = page[-1].id
        await _reprice_page(session, project, book, page, tally)


async def _reprice_page(
    session: AsyncSession, project: LLMProject, book: PriceBook, events: list[LLMEvent], tally: _Tally
) -> None:
    was, now_is = BatchRollups(project), BatchRollups(project)
    repriced = 0
    for event in events:
        tally.examined += 1
        tally.cost_before_nanos += event.cost_nanos
        usage = TokenUsage(
            event.input_tokens,
            event.output_tokens,
            event.cached_tokens,
            event.cache_write_tokens,
            event.reasoning_tokens,
        )
        fields = priced_fields(book.price(event.model, event.provider, usage, as_utc(event.timestamp)))
        if any(getattr(event, name) != value for name, value in fields.items()):
            hour = floor_hour(event.timestamp)
            was.add(_rollup_row(event), hour, event.tags or [])
            _apply(event, fields)
            now_is.add(_rollup_row(event), hour, event.tags or [])
            repriced += 1
        tally.cost_after_nanos += event.cost_nanos
        tally.unpriced_after += int(event.unpriced)
    if repriced:
        buffer = _ReversibleBuffer()
        buffer.removing = True
        was.record(buffer)
        buffer.removing = False
        now_is.record(buffer)
        await session.flush()
        await buffer.flush(session)
    tally.repriced += repriced


def priced_fields(priced: Priced) -> dict[str, Any]:
    """The columns of `llm_events` that say what a call was priced at (as ingestion stores them)."""
    return {name: getattr(priced, name) for name in PRICED_COLUMNS}


def _apply(event: LLMEvent, fields: Mapping[str, Any]) -> None:
    for name, value in fields.items():
        setattr(event, name, value)


async def _costs_changed(session: AsyncSession, org_id: int) -> None:
    await _drop_emptied_rollups(session, org_id)
    await costs_landed(session, [org_id])  # thresholds and budgets may be crossed (or no longer) now


async def _drop_emptied_rollups(session: AsyncSession, org_id: int) -> None:
    """Rollup rows whose calls all moved to other rows (a provider the price named) are left at zero."""
    for table in (LLMHourly, LLMDimensionHourly):
        await session.execute(delete(table).where(table.org_id == org_id, table.calls == 0))
    await session.execute(
        delete(LedgerHourly).where(
            LedgerHourly.org_id == org_id, LedgerHourly.source == "llm", LedgerHourly.record_count == 0
        )
    )
