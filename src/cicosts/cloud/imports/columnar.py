"""The fast path on PostgreSQL: a FOCUS file read, checked and converted a column at a time with pyarrow, and
written to COPY as CSV by pyarrow, so no Python code runs per row.

It gives the same rows as `FocusParser.parse`, which stays the reference (and the path on SQLite):
- each column's distinct values are converted once by the parser's own conversions (amounts, instants,
  currencies, quantities, tags), then spread back over the rows;
- the checks between columns (missing values, lengths, period order) are vectorized in the parser's order,
  and a row they reject is handed to the parser itself for its reason, so reasons are word for word the same;
- a CSV row with the wrong number of fields makes the whole file go through the parser instead
  (`Malformed`): pyarrow cannot tell where it was, and rejections must name their row.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import reduce
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from cicosts.cloud.imports.focus import (
    FIELDS,
    NULLS,
    PROVIDER,
    SERVICE_PROVIDER,
    SHORT_TEXT,
    FocusParser,
    RowRejected,
)
from cicosts.cloud.imports.sources import UnreadableFile, file_format
from cicosts.models.cloud import DIMENSION_LENGTH

CHUNK_BYTES = 2 * 1024 * 1024  # about 3,500 rows of a typical FOCUS CSV
TIMESTAMP = pa.timestamp("us", tz="UTC")
AMOUNTS = (("BilledCost", "billed_nanos"), ("EffectiveCost", "effective_nanos"), ("ListCost", "list_nanos"))
INSTANTS = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")
TEXT = {  # stored text field <- FOCUS column, as read
    "billing_account_name": "BillingAccountName",
    "region_id": "RegionId",
    "region_name": "RegionName",
    "sub_account_id": "SubAccountId",
    "sub_account_name": "SubAccountName",
    "resource_id": "ResourceId",
    "resource_name": "ResourceName",
    "resource_type": "ResourceType",
    "sku_id": "SkuId",
    "sku_price_id": "SkuPriceId",
    "pricing_unit": "PricingUnit",
    "charge_class": "ChargeClass",
    "charge_description": "ChargeDescription",
    "commitment_discount_id": "CommitmentDiscountId",
    "commitment_discount_name": "CommitmentDiscountName",
    "commitment_discount_category": "CommitmentDiscountCategory",
    "commitment_discount_type": "CommitmentDiscountType",
    "commitment_discount_status": "CommitmentDiscountStatus",
}
LENGTHS = (  # checked in the parser's order, after the provider and charge category
    ("ServiceName", DIMENSION_LENGTH),
    ("ServiceCategory", DIMENSION_LENGTH),
    ("RegionId", DIMENSION_LENGTH),
    ("SubAccountId", DIMENSION_LENGTH),
    ("ChargeCategory", SHORT_TEXT),
    ("ChargeClass", SHORT_TEXT),
    ("CommitmentDiscountCategory", SHORT_TEXT),
    ("CommitmentDiscountStatus", SHORT_TEXT),
)
USED = sorted(
    {
        *TEXT.values(),
        *INSTANTS,
        *(c for c, _ in AMOUNTS),
        "ContractedCost",
        "BillingAccountId",
        "BillingCurrency",
    }
    | {SERVICE_PROVIDER, PROVIDER, "ServiceName", "ServiceCategory", "ChargeCategory", "PricingQuantity"}
    | {"ListUnitPrice", "Tags"}
)
_NULL_TEXT = pa.array(sorted(NULLS), pa.string())


class Malformed(Exception):
    """A CSV row with the wrong number of fields: the file goes through the row parser instead."""


def is_csv(path: Path) -> bool:
    return file_format(path) != "parquet"


def batches(path: Path, header: list[str], position: Callable[[int], None]) -> Iterator[pa.RecordBatch]:
    """The file's columns that the import reads, a batch at a time; `position(bytes)` as it goes."""
    kind = file_format(path)
    if kind == "parquet":
        yield from _parquet(path, header, position)
    else:
        yield from _csv(path, header, position, compressed=kind == "csv.gz")


def _parquet(path: Path, header: list[str], position: Callable[[int], None]) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq  # only for Parquet files: it weighs 12 MB

    file = pq.ParquetFile(path)
    try:
        rows, read, size = max(file.metadata.num_rows, 1), 0, path.stat().st_size
        for batch in file.iter_batches(batch_size=16_384, columns=[c for c in USED if c in header]):
            read += batch.num_rows
            position(size * read // rows)
            yield batch
    except (OSError, ValueError) as exc:
        raise UnreadableFile(f"not a readable Parquet file ({exc})") from None
    finally:
        file.close()


def _csv(
    path: Path, header: list[str], position: Callable[[int], None], *, compressed: bool
) -> Iterator[pa.RecordBatch]:
    """Whole rows of about CHUNK_BYTES at a time, each parsed by pyarrow on its own: in constant memory
    (pyarrow's own streaming reader reads far ahead) and, measured, faster."""
    names = [name.strip() for name in header]
    used = [name for name in USED if name in names]
    malformed: list[str] = []

    def skip(row: Any) -> str:  # noted, then raised after the chunk (pyarrow swallows a callback's error)
        malformed.append(f"a row has {row.actual_columns} fields where the header has {row.expected_columns}")
        return "skip"

    parse_options = pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=skip)
    convert_options = pcsv.ConvertOptions(
        column_types=dict.fromkeys(used, pa.string()),
        include_columns=used,
        null_values=sorted(NULLS),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    with path.open("rb") as raw:
        stream: BinaryIO = gzip.GzipFile(fileobj=raw) if compressed else raw  # type: ignore[assignment]
        try:
            stream.readline()  # the header, read already
            for chunk in _whole_rows(stream):
                table = pcsv.read_csv(
                    pa.py_buffer(chunk),
                    read_options=pcsv.ReadOptions(
                        column_names=names, use_threads=False, block_size=len(chunk) + 1
                    ),
                    parse_options=parse_options,
                    convert_options=convert_options,
                )
                if malformed:
                    raise Malformed(malformed[0])
                position(raw.tell())
                yield from table.to_batches()
        except pa.ArrowInvalid as exc:
            message = str(exc)
            if "UTF8" in message:
                raise UnreadableFile("not UTF-8 text") from None
            raise UnreadableFile(f"not valid CSV ({message})") from None
        except (OSError, EOFError) as exc:
            raise UnreadableFile(f"not a readable gzip file ({exc})") from None


def _whole_rows(stream: BinaryIO) -> Iterator[bytes]:
    """The stream cut after a line end outside quotes (an even number of quotes before it: CSV doubles the
    quotes inside a quoted value), so no row is split between chunks."""
    rest = b""
    while data := stream.read(CHUNK_BYTES):
        data = rest + data
        cut = data.rfind(b"\n")
        while cut >= 0 and data.count(b'"', 0, cut) % 2:
            cut = data.rfind(b"\n", 0, cut)
        if cut < 0:  # one value longer than a chunk: read on
            rest = data
            continue
        yield data[: cut + 1]
        rest = data[cut + 1 :]
    if rest.strip():
        yield rest


def _for_column(convert: Callable[[Any, str], Any], column: str) -> Callable[[Any], Any]:
    return lambda value: convert(value, column)


def _amount_and_text(parser: FocusParser) -> Callable[[Any, str], tuple[int, bool, str]]:
    """Nanos, exact, and the text `FocusParser.parse` keeps of an amount past nine decimals."""

    def convert(value: Any, column: str) -> tuple[int, bool, str]:
        nanos, exact = parser.amount(value, column)
        return nanos, exact, str(value).strip()

    return convert


class Converted:
    """A batch's valid rows as the stored columns (FIELDS order), and its rejected rows."""

    def __init__(self, table: pa.Table, as_text: pa.Table, rejected: list[tuple[int, str]]) -> None:
        self.table = table
        self.as_text = as_text  # the same, instants as text: what COPY is sent
        self.rejected = rejected  # (row's index in the batch, reason)


class ColumnConverter:
    """Converts batches of one file's FOCUS columns with its `FocusParser`'s conversions and caches."""

    def __init__(self, parser: FocusParser, *, csv: bool) -> None:
        self.parser = parser
        self.csv = csv  # every column is text, and the reader already turned NULL into null

    def _column(self, batch: pa.RecordBatch, name: str, text: bool = True) -> pa.Array:
        position = batch.schema.get_field_index(name)
        if position < 0:
            return pa.nulls(batch.num_rows, pa.string())
        array = batch.column(position)
        if self.csv:
            return array
        if pa.types.is_null(array.type):
            return array.cast(pa.string())
        if not pa.types.is_string(array.type):
            if not text:
                return array
            try:
                array = array.cast(pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                array = pa.array([None if v is None else str(v) for v in array.to_pylist()], pa.string())
        # Parquet text may spell null out, as the row parser reads it
        nulls = pc.is_in(pc.utf8_trim_whitespace(array), value_set=_NULL_TEXT)
        return pc.if_else(nulls, pa.scalar(None, pa.string()), array)

    @staticmethod
    def _distinct(array: pa.Array, convert: Callable[[Any], Any]) -> tuple[list[Any], pa.Array | None]:
        """`convert` of each distinct value (or the RowRejected it raised), and each row's index into them
        (None: one value per row)."""
        if (
            pa.types.is_string(array.type)
            or pa.types.is_primitive(array.type)
            or pa.types.is_decimal(array.type)
        ):
            encoded = array.dictionary_encode()
            values, indices = encoded.dictionary.to_pylist(), encoded.indices
        else:  # maps (Parquet tags) have no dictionary encoding
            values, indices = array.to_pylist(), None
        results: list[Any] = []
        for value in values:
            if value is None:
                results.append(None)
                continue
            try:
                results.append(convert(value))
            except RowRejected as exc:
                results.append(exc)
        return results, indices

    @staticmethod
    def _spread(
        results: list[Any], indices: pa.Array | None, kind: pa.DataType, pick: Callable[[Any], Any]
    ) -> pa.Array:
        values = pa.array(
            [None if r is None or isinstance(r, RowRejected) else pick(r) for r in results], kind
        )
        return values if indices is None else values.take(indices)

    @staticmethod
    def _failed(results: list[Any], indices: pa.Array | None) -> pa.Array:
        flags = [isinstance(r, RowRejected) for r in results]
        if not any(flags):  # the usual case: nothing to spread
            rows = len(indices) if indices is not None else len(results)
            return pa.repeat(False, rows)
        failed = pa.array(flags, pa.bool_())
        return (failed if indices is None else failed.take(indices)).fill_null(False)

    def convert(self, batch: pa.RecordBatch) -> Converted:
        parser, text = self.parser, self._column
        invalid: list[pa.Array] = []
        account = text(batch, "BillingAccountId")
        provider = pc.coalesce(text(batch, SERVICE_PROVIDER), text(batch, PROVIDER))
        category = text(batch, "ChargeCategory")
        invalid += [account.is_null(), provider.is_null(), category.is_null()]
        for values in (account, provider):
            invalid.append(pc.greater(pc.utf8_length(values), DIMENSION_LENGTH).fill_null(False))
        for column, limit in LENGTHS:
            invalid.append(pc.greater(pc.utf8_length(text(batch, column)), limit).fill_null(False))

        instants: dict[str, pa.Array] = {}
        # Written to CSV as ISO text made once per distinct instant (pyarrow formats zoned timestamps slowly).
        instant_texts: dict[str, pa.Array] = {}
        dates = None
        for column in INSTANTS:
            raw = self._column(batch, column, text=False)
            results, indices = self._distinct(raw, _for_column(parser.instant, column))
            invalid += [raw.is_null(), self._failed(results, indices)]
            instants[column] = self._spread(results, indices, TIMESTAMP, lambda r: r)
            instant_texts[column] = self._spread(results, indices, pa.string(), datetime.isoformat)
            if column == "ChargePeriodStart":
                dates = self._spread(results, indices, pa.date32(), datetime.date)
        starts, ends = instants["BillingPeriodStart"], instants["BillingPeriodEnd"]
        invalid.append(pc.less_equal(ends, starts).fill_null(False))
        charge_starts, charge_ends = instants["ChargePeriodStart"], instants["ChargePeriodEnd"]
        invalid.append(pc.less(charge_ends, charge_starts).fill_null(False))

        raw_currency = text(batch, "BillingCurrency")
        results, indices = self._distinct(raw_currency, parser.currency)
        invalid += [raw_currency.is_null(), self._failed(results, indices)]
        currency = self._spread(results, indices, pa.string(), lambda r: r)

        amounts: dict[str, pa.Array] = {}
        inexact: list[tuple[str, pa.Array, pa.Array]] = []
        converted: list[tuple[pa.Array, tuple[list[Any], pa.Array | None]]] = []
        for column, field in (*AMOUNTS, ("ContractedCost", "contracted_nanos")):
            raw = self._column(batch, column, text=False)
            # Billed, effective, list and contracted cost are often the same column of values (on demand).
            same = next((found for earlier, found in converted if earlier.equals(raw)), None)
            if same is None:
                same = self._distinct(raw, _for_column(_amount_and_text(parser), column))
                converted.append((raw, same))
            results, indices = same
            if column != "ContractedCost":
                invalid.append(raw.is_null())
            invalid.append(self._failed(results, indices))
            amounts[field] = self._spread(results, indices, pa.int64(), lambda r: r[0])
            rounded = self._spread(results, indices, pa.string(), lambda r: None if r[1] else r[2])
            inexact.append((column, rounded, rounded.is_valid()))

        numbers: dict[str, pa.Array] = {}
        for column, field in (("PricingQuantity", "pricing_quantity"), ("ListUnitPrice", "list_unit_price")):
            results, indices = self._distinct(
                self._column(batch, column, text=False), _for_column(parser.number, column)
            )
            invalid.append(self._failed(results, indices))
            numbers[field] = self._spread(results, indices, pa.string(), lambda r: r)

        results, indices = self._distinct(self._column(batch, "Tags", text=False), parser.tag_set)
        invalid.append(self._failed(results, indices))
        tags = self._spread(results, indices, pa.string(), lambda r: r.text)

        bad = reduce(pc.or_, invalid)
        rejected = (
            [(i, self._reason(batch, i)) for i in pc.indices_nonzero(bad).to_pylist()]
            if bad.true_count
            else []
        )
        columns = {
            "billing_account_id": account,
            "billing_account_name": None,
            "billing_period_start": starts,
            "billing_period_end": ends,
            "charge_period_start": charge_starts,
            "charge_period_end": charge_ends,
            "usage_date": dates,
            "billing_currency": currency,
            **amounts,
            "unrounded": self._unrounded(inexact, batch.num_rows),
            "provider": provider,
            "service_name": text(batch, "ServiceName").fill_null(""),
            "service_category": text(batch, "ServiceCategory").fill_null(""),
            **numbers,
            "charge_category": category,
            "tags": tags,
        }
        for field, column in TEXT.items():
            columns[field] = text(batch, column)
        table = pa.table({field: columns[field] for field in FIELDS})
        for column, field in zip(INSTANTS, FIELDS[2:6], strict=True):
            columns[field] = instant_texts[column]
        as_text = pa.table({field: columns[field] for field in FIELDS})
        if rejected:
            keep = pc.invert(bad)
            table, as_text = table.filter(keep), as_text.filter(keep)
        return Converted(table, as_text, rejected)

    @staticmethod
    def _unrounded(inexact: list[tuple[str, pa.Array, pa.Array]], rows: int) -> pa.Array:
        """The exact text of the amounts past nine decimals, as `FocusParser.parse` writes it."""
        some = reduce(pc.or_, [flags for _, _, flags in inexact])
        if not some.true_count:
            return pa.nulls(rows, pa.string())
        found: list[str | None] = [None] * rows
        texts = [(column, values.to_pylist()) for column, values, _ in inexact]
        for i in pc.indices_nonzero(some).to_pylist():
            parts = [f'"{column}": "{values[i]}"' for column, values in texts if values[i] is not None]
            found[i] = "{" + ", ".join(parts) + "}"
        return pa.array(found, pa.string())

    def _reason(self, batch: pa.RecordBatch, index: int) -> str:
        """The row parser's reason for a row the vectorized checks rejected."""
        values: list[Any] = [None] * self.parser.width
        for name, value in batch.slice(index, 1).to_pylist()[0].items():
            values[self.parser.index[name]] = value
        try:
            self.parser.parse(values)
        except RowRejected as exc:
            return str(exc)
        raise AssertionError(f"the column and row checks disagree on {values!r}")


def csv_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pcsv.write_csv(table, sink, pcsv.WriteOptions(include_header=False))
    return sink.getvalue()
