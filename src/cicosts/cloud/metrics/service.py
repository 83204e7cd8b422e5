"""Store utilization samples, once per (resource, metric, timestamp): a sample sent again replaces itself.

Percentages are stored as integer thousandths of a percent (rounded half to even), so percentiles computed
from them are exact and the same on every database. `MetricsCsv` reads CloudWatch-style CSV files for
`cicosts import metrics`: one datapoint per line, columns named as below or as CloudWatch names them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.cloud.metrics import repository
from cicosts.cloud.metrics.schemas import SampleIn

_MILLI = Decimal(1000)
# CSV header (lower case, without spaces, dashes and underscores) -> sample field
CSV_COLUMNS = {
    "resourceid": "resource_id",
    "instanceid": "resource_id",
    "instancetype": "instance_type",
    "region": "region",
    "metric": "metric",
    "metricname": "metric",
    "timestamp": "timestamp",
    "time": "timestamp",
    "average": "average",
    "avg": "average",
    "maximum": "maximum",
    "max": "maximum",
}
METRIC_NAMES = {
    "cpu": "cpu",
    "cpuutilization": "cpu",
    "memory": "memory",
    "memoryutilization": "memory",
    "memusedpercent": "memory",  # the CloudWatch agent's mem_used_percent
}
REQUIRED = ("resource_id", "instance_type", "metric", "timestamp", "average")


def milli(percent: Decimal) -> int:
    return int((percent * _MILLI).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def sample_rows(org_id: int, samples: Sequence[SampleIn], now: datetime) -> list[dict[str, Any]]:
    """One row per (resource, metric, timestamp): the last of repeated samples wins."""
    rows: dict[tuple[str, str, datetime], dict[str, Any]] = {}
    for sample in samples:
        stamp = sample.timestamp
        rows[(sample.resource_id, sample.metric, stamp)] = {
            "org_id": org_id,
            "resource_id": sample.resource_id,
            "metric": sample.metric,
            "timestamp": stamp,
            "instance_type": sample.instance_type,
            "region": sample.region,
            "average_milli": milli(sample.average),
            "maximum_milli": milli(sample.maximum) if sample.maximum is not None else None,
            "received_at": now,
        }
    return [rows[key] for key in sorted(rows)]


async def store_samples(
    session: AsyncSession, org_id: int, samples: Sequence[SampleIn], now: datetime
) -> int:
    """Insert or update the samples; how many distinct samples that was."""
    rows = sample_rows(org_id, samples, now)
    await repository.upsert_samples(session, rows)
    return len(rows)


class MetricsFileError(ValueError):
    """The file cannot be read as a metrics CSV (the message says why)."""


def _normalized(name: str) -> str:
    return "".join(char for char in name.strip().lower() if char not in " -_")


class MetricsCsv:
    """A metrics CSV, a batch of valid samples at a time; bad lines are rejected one by one."""

    def __init__(self, path: Path) -> None:
        self.size = path.stat().st_size
        self._raw = path.open("rb")
        self._text = io.TextIOWrapper(self._raw, encoding="utf-8-sig", newline="")
        self._reader = csv.reader(self._text)
        try:
            header = next(self._reader)
        except StopIteration:
            self.close()
            raise MetricsFileError("the file is empty") from None
        except (UnicodeDecodeError, csv.Error) as exc:
            self.close()
            raise MetricsFileError(f"not UTF-8 CSV ({exc})") from None
        self._fields = [CSV_COLUMNS.get(_normalized(name)) for name in header]
        missing = [name for name in REQUIRED if name not in self._fields]
        if missing:
            self.close()
            raise MetricsFileError(f"missing columns: {', '.join(missing)}")
        self.rejected: list[tuple[int, str]] = []

    def batches(self, size: int) -> Iterator[list[SampleIn]]:
        batch: list[SampleIn] = []
        for row, values in enumerate(self._reader, start=1):
            sample = self._sample(row, values)
            if sample is not None:
                batch.append(sample)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _sample(self, row: int, values: list[str]) -> SampleIn | None:
        if len(values) != len(self._fields):
            self.rejected.append((row, f"has {len(values)} fields where the header has {len(self._fields)}"))
            return None
        raw = {
            field: value.strip()
            for field, value in zip(self._fields, values, strict=True)
            if field and value.strip()
        }
        if "metric" in raw:
            raw["metric"] = METRIC_NAMES.get(_normalized(raw["metric"]), raw["metric"])
        try:
            return SampleIn.model_validate(raw)
        except ValidationError as exc:
            reasons = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}" for e in exc.errors()
            )
            self.rejected.append((row, reasons))
            return None

    def position(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._text.close()
