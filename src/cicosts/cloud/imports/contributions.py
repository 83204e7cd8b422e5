"""What FOCUS rows add to the rollups (see `cicosts.ledger.rollups`), summed before they are written.

An import sums its rows per daily rollup key and tag set as it reads them, and subtracts the rows of the
billing periods it replaces, so each rollup row gets one upsert per import:
- `cloud_daily`: per UTC day, currency, provider, billing account, sub-account, service, category and region;
- `cloud_tag_daily`: per UTC day, currency, tag key and value;
- the ledger (`source="cloud"`): per UTC day, provider, service and sub-account (the billing account when the
  row has none), USD rows only. The ledger's amounts are nanodollars; a bill in another currency is kept in
  the cloud rollups under its own currency and never reaches the ledger, so no USD total ever includes it.
  Cloud rows mix pricing units within a service, so the ledger gets no quantity for them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.ledger import rollups
from cicosts.ledger.rollups import Contribution, Rollup, RollupBuffer
from cicosts.ledger.service import LEDGER, ledger_entry
from cicosts.models import CloudDaily, CloudTagDaily

MEASURES = ("billed_nanos", "effective_nanos", "list_nanos", "contracted_nanos", "row_count")
DAILY_KEY = (
    "day",
    "currency",
    "provider",
    "billing_account_id",
    "sub_account_id",
    "service_name",
    "service_category",
    "region_id",
)
DAILY = ("org_id", *DAILY_KEY)
CLOUD_DAILY = Rollup(CloudDaily.__table__, DAILY)  # type: ignore[arg-type]
TAG_KEY = ("org_id", "day", "currency", "tag_key", "tag_value")
CLOUD_TAG_DAILY = Rollup(CloudTagDaily.__table__, TAG_KEY)  # type: ignore[arg-type]
LEDGER_CURRENCY = "USD"
PORTION = 2_000  # rollup rows per upsert round
LEDGER_PROVIDER_LENGTH, LEDGER_SERVICE_LENGTH, LEDGER_SUB_ACCOUNT_LENGTH = 100, 200, 255

# (day, currency, provider, billing account, sub-account or "", service, category, region or "")
DailyKey = tuple[date, str, str, str, str, str, str, str]
TagPairs = tuple[tuple[str, str], ...]


def add_into(sums: dict[Any, list[int]], key: Any, measures: list[int], sign: int) -> None:
    found = sums.get(key)
    if found is None:
        sums[key] = [sign * value for value in measures]
    else:
        for position, value in enumerate(measures):
            found[position] += sign * value


class CloudRollups:
    """Sums per rollup row: the rows an import stores (sign +1) and those it replaces (sign -1)."""

    def __init__(self, org_id: int, tag_pairs: Callable[[str], TagPairs]) -> None:
        self.org_id = org_id
        self._tag_pairs = tag_pairs
        self.daily: dict[DailyKey, list[int]] = {}
        self.tags: dict[tuple[date, str, str, str], list[int]] = {}

    def add(self, groups: Iterable[tuple[DailyKey, str | None, list[int]]], sign: int = 1) -> None:
        """Rows summed per (daily key, tags JSON text): their measures in MEASURES order."""
        daily, tags = self.daily, self.tags
        for key, tag_text, measures in groups:
            add_into(daily, key, measures, sign)
            if tag_text is not None:
                day, currency = key[0], key[1]
                for tag_key, tag_value in self._tag_pairs(tag_text):
                    add_into(tags, (day, currency, tag_key, tag_value), measures, sign)

    def contributions(self) -> Iterator[tuple[Rollup, Contribution]]:
        """Every rollup row's change, table by table (daily, tags, ledger), each table in key order (the
        order `RollupBuffer.flush` writes in), made one at a time."""
        org_id = self.org_id
        ledger: dict[tuple[date, str, str, str], list[int]] = {}
        for key, measures in self.daily.items():
            day, currency, provider, account, sub_account, service = key[:6]
            if currency == LEDGER_CURRENCY:
                add_into(ledger, (day, provider, service, sub_account or account), measures, 1)
        tables: list[tuple[Rollup, dict[Any, list[int]], Callable[[Any, list[int]], Contribution]]] = [
            (
                CLOUD_DAILY,
                self.daily,
                lambda key, sums: _contribution(dict(zip(DAILY, (org_id, *key), strict=True)), sums),
            ),
            (
                CLOUD_TAG_DAILY,
                self.tags,
                lambda key, sums: _contribution(dict(zip(TAG_KEY, (org_id, *key), strict=True)), sums),
            ),
            (LEDGER, ledger, lambda key, sums: _ledger_entry(org_id, key, sums)),
        ]
        for rollup, sums, make in tables:
            changes = ((key, measures) for key, measures in sums.items() if any(measures))
            for key, measures in sorted(changes, key=lambda item: repr(make(*item).key)):
                yield rollup, make(key, measures)

    async def write(self, session: AsyncSession) -> None:
        """Upsert the changes a portion at a time, so memory stays small however many rollup rows change.
        Each portion is in key order and the portions follow each other in key order, so imports writing
        the same rollup rows at once lock them in the same order (no deadlock)."""
        changes = self.contributions()
        while batch := list(itertools.islice(changes, PORTION)):
            buffer = RollupBuffer()
            for rollup, change in batch:
                buffer.add(rollup, None, change)
            await buffer.flush(session)


def _contribution(key: dict[str, Any], measures: list[int]) -> Contribution:
    return rollups.contribution(key, dict(zip(MEASURES, measures, strict=True)))


def _ledger_entry(org_id: int, key: tuple[date, str, str, str], measures: list[int]) -> Contribution:
    day, provider, service, sub_account = key
    billed, _, listed, _, count = measures
    entry = ledger_entry(
        org_id=org_id,
        hour=datetime.combine(day, time.min, tzinfo=UTC),
        source="cloud",
        provider=provider[:LEDGER_PROVIDER_LENGTH],
        service=service[:LEDGER_SERVICE_LENGTH],
        sub_account=sub_account[:LEDGER_SUB_ACCOUNT_LENGTH],
        resource="",
        sku="",
        unit="",
        billed_nanos=billed,
        list_nanos=listed,
        quantity_micros=0,
        unpriced=False,
    )
    return Contribution(entry.key, {**entry.measures, "record_count": count})
