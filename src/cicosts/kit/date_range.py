"""Date ranges named by `start_date`/`end_date` (inclusive calendar days in the organization's time zone)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from cicosts.errors import BadRequest
from cicosts.kit.envelope import CappedRange
from cicosts.kit.periods import Period, local_midnight

# The days a range may name. Nothing CICosts tracks is older than 2000 (GitHub Actions began in 2018), and a
# day near date.min or date.max overflows when turned into a local midnight or a day past the end (a 500),
# while an absurd span would build millions of daily buckets; so days outside these are refused with a 400.
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2100, 1, 1)


@dataclass(frozen=True)
class DateRange:
    """Whole local days from `start` to `end`, both included; empty when `end` is before `start`."""

    start: date
    end: date
    capped: CappedRange | None = None

    @property
    def days(self) -> int:
        return max((self.end - self.start).days + 1, 0)

    def period(self, tz: ZoneInfo) -> Period:
        end = max(self.end + timedelta(days=1), self.start)
        return Period(local_midnight(self.start, tz), local_midnight(end, tz))

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]


def date_range(
    start: date | None,
    end: date | None,
    *,
    today: date,
    default_days: int,
    max_history_days: int | None,
) -> DateRange:
    """The range asked for, defaulting to the last `default_days` days, capped to the plan's history."""
    for name, day in (("end_date", end), ("start_date", start)):
        if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
            raise BadRequest(f"{name}: {day} is outside {EARLIEST_DAY} to {LATEST_DAY}")
    end = end or today
    start = start or end - timedelta(days=default_days - 1)
    if start > end:
        raise BadRequest(f"start_date: {start} is after end_date {end}")
    if max_history_days is None:
        return DateRange(start, end)
    earliest = today - timedelta(days=max_history_days - 1)
    if start >= earliest:
        return DateRange(start, end)
    capped = CappedRange(requested_start=start, start=earliest, max_history_days=max_history_days)
    return DateRange(earliest, end, capped)
