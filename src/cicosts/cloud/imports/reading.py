"""What an import reads from a file: the rows to store, the rejected ones, and their sums.

Two ways to read, the same rows (tests run both against the same files):
- `row_records`: the csv module (or pyarrow's Parquet reader) and `FocusParser.parse`, a row at a time, for
  `INSERT` on any database; the reference;
- `column_chunks`: pyarrow, a column at a time (`columnar`), as CSV for COPY on PostgreSQL.
Either way the rows are summed per rollup key, tag set and billing period a batch at a time, so the sums
stay as small as the rollups, whatever the file's size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from cicosts.cloud.imports import columnar, focus
from cicosts.cloud.imports.contributions import CloudRollups, TagPairs, add_into
from cicosts.cloud.imports.focus import ROW_COLUMNS, FocusParser, RowRejected
from cicosts.cloud.imports.sources import Table

BATCH_ROWS = 5_000
REJECTIONS_KEPT = 100
Progress = Callable[[int, int], None]  # rows read, bytes read of the file
# (day, currency, provider, billing account, sub-account, service, category, region, tags, period start, end)
Key = tuple[Any, ...]
GROUP_KEYS = (
    "usage_date",
    "billing_currency",
    "provider",
    "billing_account_id",
    "sub_account_id",
    "service_name",
    "service_category",
    "region_id",
    "tags",
    "billing_period_start",
    "billing_period_end",
)
SUMMED = ("billed_nanos", "effective_nanos", "list_nanos", "contracted_nanos")


@lru_cache(maxsize=50_000)
def tag_pairs(text: str) -> TagPairs:
    """The (key, value) pairs of a stored row's Tags JSON (JSON null: none)."""
    return () if text == "null" else focus.tags_of(text).pairs


@dataclass
class Reading:
    """What has been read so far (of one file, or of a whole import): counts, rejections and sums."""

    org_id: int
    import_id: int
    rows_read: int = 0
    rows_stored: int = 0  # also the last row number given
    rows_rejected: int = 0
    rejections: list[dict[str, Any]] = field(default_factory=list)
    periods: dict[tuple[str, Any], list[Any]] = field(default_factory=dict)  # -> [period end, rows]
    accounts: dict[tuple[str, str], tuple[str, str | None]] = field(default_factory=dict)
    stored: dict[str, list[int]] = field(default_factory=dict)  # currency -> measures of the stored rows

    def __post_init__(self) -> None:
        self.rollups = CloudRollups(self.org_id, tag_pairs)

    def file(self) -> Reading:
        """A reading of the next file, numbering its rows after this one's."""
        return Reading(self.org_id, self.import_id, rows_stored=self.rows_stored)

    def merge(self, other: Reading) -> None:
        """Add a file's reading (begun by `file()`) to this one."""
        self.rows_read += other.rows_read
        self.rows_stored = other.rows_stored
        self.rows_rejected += other.rows_rejected
        self.rejections += other.rejections[: max(REJECTIONS_KEPT - len(self.rejections), 0)]
        for key, (end, count) in other.periods.items():
            found = self.periods.setdefault(key, [end, 0])
            found[1] += count
        for key, value in other.accounts.items():
            self.accounts.setdefault(key, value)
        for currency, sums in other.stored.items():
            add_into(self.stored, currency, sums, 1)
        self.rollups.add(((key, None, sums) for key, sums in other.rollups.daily.items()))
        for tag, sums in other.rollups.tags.items():
            add_into(self.rollups.tags, tag, sums, 1)

    def reject(self, name: str, row: int, reason: str) -> None:
        self.rows_rejected += 1
        if len(self.rejections) < REJECTIONS_KEPT:
            self.rejections.append({"file": name, "row": row, "reason": reason})

    def account(self, kind: str, account: str | None, provider: str, name: str | None) -> None:
        if account is not None and (kind, account) not in self.accounts:
            self.accounts[kind, account] = (provider, name)

    def fold(self, pending: dict[Key, list[int]]) -> None:
        """A batch's sums into the reading's: rollups, totals per currency, rows per billing period."""
        self.rollups.add((key[:8], key[8], sums) for key, sums in pending.items())
        periods = self.periods
        for key, sums in pending.items():
            add_into(self.stored, key[1], sums, 1)
            period = periods.get((key[3], key[9]))
            if period is None:
                periods[key[3], key[9]] = [key[10], sums[4]]
            else:
                period[1] += sums[4]
        pending.clear()


def row_records(
    reading: Reading, table: Table, parser: FocusParser, name: str, progress: Callable[[int, int], None]
) -> Iterator[tuple[Any, ...]]:
    """The file's rows to store, parsed one by one, as tuples in ROW_COLUMNS order."""
    org_id, import_id = reading.org_id, reading.import_id
    parse = parser.parse
    number, line = reading.rows_stored, 0
    pending: dict[Key, list[int]] = {}
    usage_date, currency, provider = focus.USAGE_DATE, focus.CURRENCY, focus.PROVIDER_NAME
    account, sub_account, service, category = focus.ACCOUNT, focus.SUB_ACCOUNT, focus.SERVICE, focus.CATEGORY
    region, tags, period_start, period_end = focus.REGION, focus.TAGS, focus.PERIOD_START, focus.PERIOD_END
    billed, effective, listed, contracted = focus.BILLED, focus.EFFECTIVE, focus.LIST, focus.CONTRACTED
    accounts = reading.accounts
    for batch in table.batches(BATCH_ROWS):
        for values in batch:
            line += 1
            try:
                row = parse(values)
            except RowRejected as exc:
                reading.reject(name, line, str(exc))
                continue
            number += 1
            key = (
                row[usage_date],
                row[currency],
                row[provider],
                row[account],
                row[sub_account] or "",
                row[service],
                row[category],
                row[region] or "",
                row[tags],
                row[period_start],
                row[period_end],
            )
            sums = pending.get(key)
            if sums is None:
                pending[key] = [row[billed], row[effective], row[listed], row[contracted] or 0, 1]
            else:
                sums[0] += row[billed]
                sums[1] += row[effective]
                sums[2] += row[listed]
                sums[3] += row[contracted] or 0
                sums[4] += 1
            if ("billing", row[account]) not in accounts:
                accounts["billing", row[account]] = (row[provider], row[focus.ACCOUNT_NAME])
            if row[sub_account] is not None and ("sub", row[sub_account]) not in accounts:
                accounts["sub", row[sub_account]] = (row[provider], row[focus.SUB_ACCOUNT_NAME])
            yield (org_id, import_id, number, *row)
        reading.rows_read += len(batch)
        reading.rows_stored = number
        reading.fold(pending)
        progress(reading.rows_read, table.position())


def column_chunks(
    reading: Reading, path: Path, header: list[str], parser: FocusParser, name: str, progress: Progress
) -> Iterator[bytes]:
    """The file's rows to store as CSV for COPY, a batch at a time, converted a column at a time."""
    converter = columnar.ColumnConverter(parser, csv=columnar.is_csv(path))
    sums = _Sums()
    read = 0

    def position(done: int) -> None:
        nonlocal read
        read = done

    for batch in columnar.batches(path, header, position):
        converted = converter.convert(batch)
        for index, reason in converted.rejected:
            reading.reject(name, reading.rows_read + index + 1, reason)
        reading.rows_read += batch.num_rows
        stored = converted.table.num_rows
        if stored:
            numbers = pa.array(range(reading.rows_stored + 1, reading.rows_stored + stored + 1), pa.int64())
            reading.rows_stored += stored
            sums.add(converted.table, reading)
            _accounts(reading, converted.table)
            yield columnar.csv_bytes(
                _with_identity(converted.as_text, reading.org_id, reading.import_id, numbers)
            )
        progress(reading.rows_read, read)
    sums.fold(reading)


def _with_identity(table: pa.Table, org_id: int, import_id: int, numbers: pa.Array) -> pa.Table:
    rows = table.num_rows
    identity = {
        "org_id": pa.array([org_id] * rows, pa.int64()),
        "import_id": pa.array([import_id] * rows, pa.int64()),
        "row_number": numbers,
    }
    return pa.table({**identity, **{name: table.column(name) for name in table.column_names}}).select(
        list(ROW_COLUMNS)
    )


class _Sums:
    """Rows summed per GROUP_KEYS by pyarrow some 50,000 at a time, then folded into the reading: Python sees
    each rollup key (and tag set) once per 50,000 rows rather than once per batch, and memory stays small."""

    ROWS = 50_000

    def __init__(self) -> None:
        self.tables: list[pa.Table] = []
        self.rows = 0

    def add(self, table: pa.Table, reading: Reading) -> None:
        self.tables.append(table.select([*GROUP_KEYS, *SUMMED]))
        self.rows += table.num_rows
        if self.rows >= self.ROWS:
            self.fold(reading)

    def fold(self, reading: Reading) -> None:
        if not self.tables:
            return
        grouped = (
            pa.concat_tables(self.tables)
            .group_by(list(GROUP_KEYS), use_threads=False)
            .aggregate([*((column, "sum") for column in SUMMED), ([], "count_all")])
        )
        self.tables, self.rows = [], 0
        measures = [f"{column}_sum" for column in SUMMED] + ["count_all"]
        pending: dict[Key, list[int]] = {}
        for group in grouped.to_pylist():
            key = tuple(group[name] for name in GROUP_KEYS)
            key = (*key[:4], key[4] or "", *key[5:7], key[7] or "", *key[8:])
            add_into(pending, key, [group[name] or 0 for name in measures], 1)
        reading.fold(pending)


def _accounts(reading: Reading, table: pa.Table) -> None:
    for kind, account, account_name in (
        ("billing", "billing_account_id", "billing_account_name"),
        ("sub", "sub_account_id", "sub_account_name"),
    ):
        names = table.group_by([account, "provider"], use_threads=False).aggregate([(account_name, "first")])
        for group in names.to_pylist():
            reading.account(kind, group[account], group["provider"], group[f"{account_name}_first"])
