"""Export rows to bytes: CSV (RFC 4180) or one JSON document, yielded in chunks of a few hundred KB.

Rows arrive in batches (one database partition at a time) and leave as soon as a chunk is full, so memory
holds one batch and one chunk, whatever the size of the export.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from cicosts.ci.exports.schemas import UNTRUSTED_TEXT, ExportFormat
from cicosts.kit.money import NANOS_PER_USD

Record = tuple[Any, ...]
Batches = AsyncIterator[Sequence[Record]]
CHUNK_CHARS = 256 * 1024
ROWS_PER_WRITE = 1000  # bounds a chunk to a few hundred KB even when a database partition is bigger
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def usd(nanos: int) -> str:
    """USD at full precision, exactly: 8_000_000 nanodollars is "0.008000000". Integer arithmetic only."""
    whole, fraction = divmod(abs(nanos), NANOS_PER_USD)
    return f"{'-' if nanos < 0 else ''}{whole}.{fraction:09d}"


def safe_cell(text: str | None) -> str | None:
    """Branch, workflow and job names are chosen by anyone who can push: a spreadsheet opening the CSV must
    not run one as a formula (OWASP "CSV injection"), so text starting like a formula gets a leading quote."""
    if text and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _labels(labels: list[str]) -> str | None:
    # Runner labels cannot contain commas (runners take them as a comma-separated list).
    return safe_cell(",".join(labels))


def _csv_fix(name: str) -> Callable[[Any], Any] | None:
    if name == "labels":
        return _labels
    if name == "unpriced":
        return _flag
    if name in UNTRUSTED_TEXT:
        return safe_cell
    return None


def _csv_cells(columns: Sequence[str]) -> Callable[[Record], Sequence[Any]]:
    """Records carry JSON's types; CSV wants flags as true/false, labels as one cell and quoted formulas."""
    fixes = [(i, fix) for i, name in enumerate(columns) if (fix := _csv_fix(name)) is not None]

    def cells(record: Record) -> Sequence[Any]:
        row = list(record)
        for i, fix in fixes:
            row[i] = fix(row[i])
        return row

    return cells


def _drain(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode()


def _slices(batch: Sequence[Record]) -> list[Sequence[Record]]:
    return [batch[i : i + ROWS_PER_WRITE] for i in range(0, len(batch), ROWS_PER_WRITE)]


async def csv_chunks(columns: Sequence[str], batches: Batches) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    # Quotes only when needed, and \n line ends as PostgreSQL's COPY writes them (`copy.py`): one file format.
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    cells = _csv_cells(columns)
    async for batch in batches:
        for rows in _slices(batch):
            writer.writerows(map(cells, rows))
            if buffer.tell() >= CHUNK_CHARS:
                yield _drain(buffer)
    yield _drain(buffer)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


async def json_chunks(
    head: dict[str, Any], meta: dict[str, Any], columns: Sequence[str], batches: Batches
) -> AsyncIterator[bytes]:
    """`{"data": {**head, "rows": [...]}, "meta": meta}`: the opening, each row as an object, the closing."""
    pieces = [_json({"data": head})[:-2], ',"rows":[']
    size = sum(map(len, pieces))
    first = True
    async for batch in batches:
        for rows in _slices(batch):
            text = _json([dict(zip(columns, row, strict=True)) for row in rows])[1:-1]
            if not text:
                continue
            pieces.append(text if first else "," + text)
            size += len(pieces[-1])
            first = False
            if size >= CHUNK_CHARS:
                yield "".join(pieces).encode()
                pieces, size = [], 0
    pieces.append(']},"meta":' + _json(meta) + "}")
    yield "".join(pieces).encode()


def chunks(
    export_format: ExportFormat,
    columns: Sequence[str],
    head: dict[str, Any],
    meta: dict[str, Any],
    batches: Batches,
) -> AsyncIterator[bytes]:
    if export_format is ExportFormat.JSON:
        return json_chunks(head, meta, columns, batches)
    return csv_chunks(columns, batches)
