"""The public API's response envelope: `{"data": ..., "meta": {"request_id", "timestamp", ...}}`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from cicosts.kit.periods import utc_now
from cicosts.kit.request_id import current_request_id


class CappedRange(BaseModel):
    requested_start: date
    start: date = Field(description="The first day the plan's history reaches")
    max_history_days: int


class Meta(BaseModel):
    request_id: str
    timestamp: datetime
    capped: CappedRange | None = Field(
        default=None, description="Set when the requested range reached past the plan's history"
    )


T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    data: T
    meta: Meta


def envelope(data: T, capped: CappedRange | None = None) -> Envelope[T]:
    return Envelope[T](
        data=data, meta=Meta(request_id=current_request_id.get(), timestamp=utc_now(), capped=capped)
    )
