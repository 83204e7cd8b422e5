"""Cloud costs: FOCUS billing rows, the imports that bring them, their daily rollups, and utilization samples.

Amounts are integer billionths of the row's billing currency (nanodollars for USD), like every amount here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from cicosts.kit.periods import utc_now
from cicosts.models.base import Base, BigId, UTCDateTime

# Longest value of a dimension the rollups group by (accounts, provider, service, region, tag key and value).
DIMENSION_LENGTH = 255


class CloudImport(Base):
    """One import of FOCUS files (an upload or `cicosts import focus`) and what came of it."""

    __tablename__ = "cloud_imports"
    __table_args__ = (Index("ix_cloud_imports_org_created", "org_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(10))  # upload | cli
    # queued -> running -> done | failed
    status: Mapped[str] = mapped_column(String(10))
    # [{"name", "size_bytes", "stored_as"}]: the files as sent, and where an upload waits for the worker
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_stored: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    rejections: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, default=list
    )  # the first ones, with reasons
    error: Mapped[str | None] = mapped_column(Text)
    missing_columns: Mapped[list[str] | None] = mapped_column(JSON)
    periods: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # billing periods it replaced
    currencies: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # totals per currency
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CloudBillingPeriod(Base):
    """Which import a billing account's billing period comes from: the unit a re-import replaces whole."""

    __tablename__ = "cloud_billing_periods"
    __table_args__ = (UniqueConstraint("org_id", "billing_account_id", "billing_period_start"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    billing_account_id: Mapped[str] = mapped_column(String(DIMENSION_LENGTH))
    billing_period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    billing_period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("cloud_imports.id", ondelete="SET NULL"))
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class CloudCostRow(Base):
    """One FOCUS row as billed.

    FOCUS rows carry no id of their own: a row is known by its place (`row_number`) in the import that last
    delivered its billing period, and a billing account's billing period is replaced whole on re-import.
    """

    __tablename__ = "cloud_cost_rows"
    __table_args__ = (
        UniqueConstraint("org_id", "billing_account_id", "billing_period_start", "import_id", "row_number"),
        Index("ix_cloud_cost_rows_org_usage_date", "org_id", "usage_date"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No foreign keys: checking one per row took a quarter of COPY's time. The rows of a deleted
    # organization go with it all the same, by the trigger migration 0006 puts on `organizations`.
    org_id: Mapped[int] = mapped_column(BigId)
    import_id: Mapped[int] = mapped_column(BigInteger)  # cloud_imports.id
    row_number: Mapped[int] = mapped_column(BigInteger)
    billing_account_id: Mapped[str] = mapped_column(String(DIMENSION_LENGTH))
    billing_account_name: Mapped[str | None] = mapped_column(Text)
    billing_period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    billing_period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    charge_period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    charge_period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    usage_date: Mapped[date] = mapped_column(Date)  # the UTC day the charge period starts
    billing_currency: Mapped[str] = mapped_column(String(10))
    billed_nanos: Mapped[int] = mapped_column(BigInteger)
    effective_nanos: Mapped[int] = mapped_column(BigInteger)
    list_nanos: Mapped[int] = mapped_column(BigInteger)
    contracted_nanos: Mapped[int | None] = mapped_column(BigInteger)
    # {"BilledCost": "0.00001605990123"}: the exact amounts of a row whose costs had more than 9 decimals
    unrounded: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(String(DIMENSION_LENGTH))
    service_name: Mapped[str] = mapped_column(String(DIMENSION_LENGTH))
    service_category: Mapped[str] = mapped_column(String(DIMENSION_LENGTH))
    region_id: Mapped[str | None] = mapped_column(String(DIMENSION_LENGTH))
    region_name: Mapped[str | None] = mapped_column(Text)
    sub_account_id: Mapped[str | None] = mapped_column(String(DIMENSION_LENGTH))
    sub_account_name: Mapped[str | None] = mapped_column(Text)
    resource_id: Mapped[str | None] = mapped_column(Text)
    resource_name: Mapped[str | None] = mapped_column(Text)
    resource_type: Mapped[str | None] = mapped_column(Text)
    sku_id: Mapped[str | None] = mapped_column(Text)
    sku_price_id: Mapped[str | None] = mapped_column(Text)
    pricing_quantity: Mapped[str | None] = mapped_column(String(60))  # exact decimal text
    pricing_unit: Mapped[str | None] = mapped_column(Text)
    list_unit_price: Mapped[str | None] = mapped_column(String(60))  # exact decimal text: may be sub-nano
    charge_category: Mapped[str] = mapped_column(String(30))
    charge_class: Mapped[str | None] = mapped_column(String(30))
    charge_description: Mapped[str | None] = mapped_column(Text)
    commitment_discount_id: Mapped[str | None] = mapped_column(Text)
    commitment_discount_name: Mapped[str | None] = mapped_column(Text)
    commitment_discount_category: Mapped[str | None] = mapped_column(String(30))
    commitment_discount_type: Mapped[str | None] = mapped_column(Text)
    commitment_discount_status: Mapped[str | None] = mapped_column(String(30))
    tags: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))  # no tags: SQL NULL


class CloudMeasures:
    """What the cloud rollups add up: the four FOCUS costs and the rows behind them."""

    billed_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    effective_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    list_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    contracted_nanos: Mapped[int] = mapped_column(BigInteger, default=0)
    row_count: Mapped[int] = mapped_column(BigInteger, default=0)


class CloudDaily(CloudMeasures, Base):
    """Per UTC day, currency, provider, billing account, sub-account, service, category, region ("": none)."""

    __tablename__ = "cloud_daily"
    __table_args__ = (
        UniqueConstraint(
            "org_id",
            "day",
            "currency",
            "provider",
            "billing_account_id",
            "sub_account_id",
            "service_name",
            "service_category",
            "region_id",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(10))
    provider: Mapped[str] = mapped_column(String(DIMENSION_LENGTH))
    billing_account_id: Mapped[str] = mapped_column(String(DIMENSION_LENGTH))
    sub_account_id: Mapped[str] = mapped_column(String(DIMENSION_LENGTH))
    service_name: Mapped[str] = mapped_column(String(DIMENSION_LENGTH))
    service_category: Mapped[str] = mapped_column(String(DIMENSION_LENGTH))
    region_id: Mapped[str] = mapped_column(String(DIMENSION_LENGTH))


class CloudTagDaily(CloudMeasures, Base):
    """Per UTC day, currency, tag key and value: a row adds to one value of each of its tag keys."""

    __tablename__ = "cloud_tag_daily"
    __table_args__ = (UniqueConstraint("org_id", "day", "currency", "tag_key", "tag_value"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(10))
    tag_key: Mapped[str] = mapped_column(String(DIMENSION_LENGTH))
    tag_value: Mapped[str] = mapped_column(String(DIMENSION_LENGTH))


class CloudAccount(Base):
    """The name an account last had in a bill, so breakdowns by account can show it."""

    __tablename__ = "cloud_accounts"
    __table_args__ = (UniqueConstraint("org_id", "kind", "account_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # billing | sub
    account_id: Mapped[str] = mapped_column(String(DIMENSION_LENGTH))
    provider: Mapped[str] = mapped_column(String(DIMENSION_LENGTH))
    name: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class CloudMetricSample(Base):
    """One utilization sample of an instance (5-minute or hourly), stored once per resource, metric and time.

    Percentages are integer thousandths of a percent (37.512 % is 37512), so percentiles are exact.
    """

    __tablename__ = "cloud_metric_samples"
    __table_args__ = (
        UniqueConstraint("org_id", "resource_id", "metric", "timestamp"),
        Index("ix_cloud_metric_samples_org_timestamp", "org_id", "timestamp"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    resource_id: Mapped[str] = mapped_column(String(DIMENSION_LENGTH))
    metric: Mapped[str] = mapped_column(String(10))  # cpu | memory
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    instance_type: Mapped[str] = mapped_column(String(50))
    region: Mapped[str | None] = mapped_column(String(100))
    average_milli: Mapped[int] = mapped_column(Integer)
    maximum_milli: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
