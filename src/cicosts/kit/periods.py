"""Aware UTC time, hourly buckets and calendar periods in an organization's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Storage hands back naive values on SQLite; every value we store is UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def utc_instant(value: datetime) -> datetime:
    """A client's timestamp as UTC (without an offset, it is UTC).

    ValueError, the client's error, when it has no UTC equivalent: year 1 with an offset east of Greenwich,
    year 9999 with one west.
    """
    try:
        return as_utc(value)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None


# A timestamp a client sends, validated into UTC.
UTCInstant = Annotated[datetime, AfterValidator(utc_instant)]


def floor_hour(value: datetime) -> datetime:
    return as_utc(value).replace(minute=0, second=0, microsecond=0)


def parse_github_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


@dataclass(frozen=True)
class Period:
    """A half-open interval [start, end) of UTC instants."""

    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def previous(self) -> Period:
        return Period(self.start - self.length, self.start)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)


def local_today(tz: ZoneInfo, now: datetime) -> date:
    return now.astimezone(tz).date()


def last_days(days: int, tz: ZoneInfo, now: datetime) -> Period:
    """The last `days` calendar days in `tz`, today included (today ends at the next local midnight)."""
    today = local_today(tz, now)
    return Period(
        local_midnight(today - timedelta(days=days - 1), tz),
        local_midnight(today + timedelta(days=1), tz),
    )


@dataclass(frozen=True)
class CalendarPeriod:
    """A period so far (start to now) and the whole previous period of the same kind."""

    current: Period
    previous: Period


def day_so_far(tz: ZoneInfo, now: datetime) -> CalendarPeriod:
    today = local_today(tz, now)
    start = local_midnight(today, tz)
    return CalendarPeriod(Period(start, now), Period(local_midnight(today - timedelta(days=1), tz), start))


def week_so_far(tz: ZoneInfo, now: datetime) -> CalendarPeriod:
    today = local_today(tz, now)
    monday = today - timedelta(days=today.weekday())
    start = local_midnight(monday, tz)
    return CalendarPeriod(Period(start, now), Period(local_midnight(monday - timedelta(days=7), tz), start))


def month_so_far(tz: ZoneInfo, now: datetime) -> CalendarPeriod:
    today = local_today(tz, now)
    first = today.replace(day=1)
    previous_first = (first - timedelta(days=1)).replace(day=1)
    start = local_midnight(first, tz)
    return CalendarPeriod(Period(start, now), Period(local_midnight(previous_first, tz), start))


def local_dates(period: Period, tz: ZoneInfo) -> list[date]:
    first = period.start.astimezone(tz).date()
    last = (period.end - timedelta(microseconds=1)).astimezone(tz).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def utc_midnight_on_or_after(value: datetime) -> datetime:
    midnight = as_utc(value).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if midnight == as_utc(value) else midnight + timedelta(days=1)


def utc_midnight_on_or_before(value: datetime) -> datetime:
    return as_utc(value).replace(hour=0, minute=0, second=0, microsecond=0)


def split_at_utc_days(period: Period) -> tuple[list[Period], tuple[date, date] | None]:
    """The period as its whole UTC days [first, last) and the partial days at its edges."""
    first = utc_midnight_on_or_after(period.start)
    last = utc_midnight_on_or_before(period.end)
    if first >= last:
        return [period], None
    edges = [
        edge for edge in (Period(period.start, first), Period(last, period.end)) if edge.start < edge.end
    ]
    return edges, (first.date(), last.date())
