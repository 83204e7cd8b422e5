"""FOCUS files read a batch of rows at a time, whatever their size: CSV, gzipped CSV, or Parquet.

The format is told by the file's first bytes (gzip's magic number, Parquet's `PAR1`), not its name. CSV is
read with the csv module over a (gzip) text stream; Parquet one record batch at a time with pyarrow, which is
imported only when a Parquet file comes.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Protocol

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
FIELD_LIMIT = 10 * 1024 * 1024  # one cell (a long Tags object) of up to 10 MB


class UnreadableFile(ValueError):
    """The file is not CSV, gzipped CSV or Parquet we can read; the message says what went wrong."""


class Table(Protocol):
    format: str
    header: list[str]
    size: int

    def batches(self, size: int) -> Iterator[Sequence[Sequence[Any]]]: ...

    def position(self) -> int:
        """Bytes of the file read so far (for progress)."""
        ...

    def close(self) -> None: ...


def file_format(path: Path) -> str:
    with path.open("rb") as file:
        magic = file.read(4)
    if magic.startswith(GZIP_MAGIC):
        return "csv.gz"
    if magic == PARQUET_MAGIC:
        return "parquet"
    return "csv"


def open_table(path: Path) -> Table:
    kind = file_format(path)
    if kind == "parquet":
        return ParquetTable(path)
    return CsvTable(path, compressed=kind == "csv.gz")


class CsvTable:
    def __init__(self, path: Path, *, compressed: bool) -> None:
        csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
        self.format = "csv.gz" if compressed else "csv"
        self.size = path.stat().st_size
        self._raw: BinaryIO = path.open("rb")
        stream: BinaryIO = gzip.GzipFile(fileobj=self._raw) if compressed else self._raw  # type: ignore[assignment]
        self._text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        self._reader = csv.reader(self._text)
        try:
            self.header = next(self._reader)
        except StopIteration:
            self.close()
            raise UnreadableFile("the file is empty") from None
        except (UnicodeDecodeError, csv.Error, OSError, EOFError) as exc:
            self.close()
            raise UnreadableFile(_reason(exc)) from None

    def batches(self, size: int) -> Iterator[list[list[str]]]:
        while True:
            try:
                batch = list(itertools.islice(self._reader, size))
            except (UnicodeDecodeError, csv.Error, OSError, EOFError) as exc:
                raise UnreadableFile(f"after data row {self._reader.line_num - 1}: {_reason(exc)}") from None
            if not batch:
                return
            yield batch

    def position(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._text.close()
        self._raw.close()


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, (OSError, EOFError)):
        return f"not a readable gzip file ({exc})"
    return f"not valid CSV ({exc})"


class ParquetTable:
    def __init__(self, path: Path) -> None:
        import pyarrow.parquet as pq

        self.format = "parquet"
        self.size = path.stat().st_size
        try:
            self._file = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises its own error types for a damaged file
            raise UnreadableFile(f"not a readable Parquet file ({exc})") from None
        self.header = list(self._file.schema_arrow.names)
        self._rows = max(self._file.metadata.num_rows, 1)
        self._read = 0

    def batches(self, size: int) -> Iterator[list[tuple[Any, ...]]]:
        try:
            for batch in self._file.iter_batches(batch_size=size):
                columns = [column.to_pylist() for column in batch.columns]
                self._read += batch.num_rows
                yield list(zip(*columns, strict=True))
        except (OSError, ValueError) as exc:
            raise UnreadableFile(f"not a readable Parquet file ({exc})") from None

    def position(self) -> int:
        return int(self.size * self._read // self._rows)

    def close(self) -> None:
        self._file.close()
