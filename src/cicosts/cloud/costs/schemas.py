"""Response shapes of GET /costs and /v1/cloud/costs/*.

Amounts are JSON numbers rounded to 6 places, in their currency. USD figures come first; a bill in another
currency is reported apart under `other_currencies`, never converted and never added to a USD total.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

USD = "USD"


class Metric(StrEnum):
    """Which FOCUS cost: billed (the invoice), effective (amortized, net of discounts) or list."""

    BILLED = "billed"
    EFFECTIVE = "effective"
    LIST = "list"


class Granularity(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class CostEntry(BaseModel):
    """One FOCUS row (GET /costs)."""

    id: int
    service: str | None
    amount: float = Field(description="The chosen metric's cost of the row, in `currency`")
    currency: str
    usage_date: date = Field(description="The UTC day the charge period starts")
    region: str | None
    tag: dict[str, Any] | None = Field(description="The row's tags (FOCUS Tags), or null")
    provider: str
    account: str = Field(description="Sub-account id, or the billing account id when the row has none")
    resource_id: str | None


class CurrencyTotal(BaseModel):
    currency: str
    total: float = Field(description="The chosen metric's cost")
    billed_cost: float
    effective_cost: float
    list_cost: float
    contracted_cost: float
    records: int = Field(description="FOCUS rows")


class CostSummary(BaseModel):
    start_date: date
    end_date: date
    metric: Metric
    currency: str = USD
    total: float = Field(description="The chosen metric's cost in USD")
    billed_cost: float
    effective_cost: float
    list_cost: float
    contracted_cost: float
    savings: float = Field(description="List cost less effective cost: what discounts and commitments saved")
    records: int
    other_currencies: list[CurrencyTotal] = Field(description="Bills in other currencies, each in its own")


class ServiceCost(BaseModel):
    provider: str
    service: str | None
    service_category: str | None
    cost: float
    records: int
    pct_of_total: float


class RegionCost(BaseModel):
    provider: str
    region: str | None
    cost: float
    records: int
    pct_of_total: float


class AccountCost(BaseModel):
    provider: str
    billing_account_id: str
    billing_account_name: str | None
    sub_account_id: str | None
    sub_account_name: str | None
    cost: float
    records: int
    pct_of_total: float


class TagCost(BaseModel):
    value: str | None = Field(description="The tag's value; null for the rows without the tag")
    cost: float
    records: int
    pct_of_total: float


class CostPoint(BaseModel):
    """One bucket; `date` is its first day inside the range (weeks start on Monday, months on the 1st)."""

    date: date
    cost: float
    records: int


Item = TypeVar("Item", bound=BaseModel)


class CurrencyBreakdown(BaseModel, Generic[Item]):
    currency: str
    total: float
    items: list[Item]


class Breakdown(BaseModel, Generic[Item]):
    start_date: date
    end_date: date
    metric: Metric
    currency: str = USD
    total: float = Field(
        description="The chosen metric's cost in USD over the range (every item, not just these)"
    )
    items: list[Item]
    other_currencies: list[CurrencyBreakdown[Item]] = Field(description="Bills in other currencies, apart")


class TagCosts(Breakdown[TagCost]):
    key: str


class CostSeries(Breakdown[CostPoint]):
    granularity: Granularity
