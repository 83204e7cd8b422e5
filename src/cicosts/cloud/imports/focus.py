"""FOCUS 1.0 to 1.3 columns, and one billing row turned into a `cloud_cost_rows` row (or rejected, with why).

A file must have the columns every FOCUS version from 1.0 to 1.3 makes mandatory; 1.3 renamed ProviderName
to ServiceProviderName (and deprecated PublisherName), so either provider column will do and PublisherName is
only required beside ProviderName. Other columns are optional: absent, they are stored as null.

Values: an empty cell or the text NULL is null. Amounts become integer billionths of the billing currency
(`amounts.nanos_of`); instants are ISO 8601, in UTC when they carry no offset (US M/D/YY dates, which the
specification's own worked examples use, are accepted too); Tags is a JSON object.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from cicosts.cloud.imports.amounts import NotAnAmount, decimal_text, nanos_of
from cicosts.models.cloud import DIMENSION_LENGTH

MANDATORY = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ServiceCategory",
    "ServiceName",
)
PROVIDER, SERVICE_PROVIDER, PUBLISHER = "ProviderName", "ServiceProviderName", "PublisherName"
# The stored row after (org_id, import_id, row_number), in the order `FocusParser.parse` returns it.
FIELDS = (
    "billing_account_id",
    "billing_account_name",
    "billing_period_start",
    "billing_period_end",
    "charge_period_start",
    "charge_period_end",
    "usage_date",
    "billing_currency",
    "billed_nanos",
    "effective_nanos",
    "list_nanos",
    "contracted_nanos",
    "unrounded",
    "provider",
    "service_name",
    "service_category",
    "region_id",
    "region_name",
    "sub_account_id",
    "sub_account_name",
    "resource_id",
    "resource_name",
    "resource_type",
    "sku_id",
    "sku_price_id",
    "pricing_quantity",
    "pricing_unit",
    "list_unit_price",
    "charge_category",
    "charge_class",
    "charge_description",
    "commitment_discount_id",
    "commitment_discount_name",
    "commitment_discount_category",
    "commitment_discount_type",
    "commitment_discount_status",
    "tags",
)
ROW_COLUMNS = ("org_id", "import_id", "row_number", *FIELDS)
# Where the rollups find their dimensions and measures in a parsed row (FIELDS order).
(
    ACCOUNT,
    ACCOUNT_NAME,
    PERIOD_START,
    PERIOD_END,
    CHARGE_START,
    CHARGE_END,
    USAGE_DATE,
    CURRENCY,
    BILLED,
    EFFECTIVE,
    LIST,
    CONTRACTED,
    UNROUNDED,
    PROVIDER_NAME,
    SERVICE,
    CATEGORY,
    REGION,
    REGION_NAME,
    SUB_ACCOUNT,
    SUB_ACCOUNT_NAME,
) = range(20)
QUANTITY, UNIT_PRICE, CHARGE_CATEGORY, CHARGE_CLASS = (
    FIELDS.index(name) for name in ("pricing_quantity", "list_unit_price", "charge_category", "charge_class")
)
DISCOUNT_CATEGORY, DISCOUNT_STATUS, TAGS = (
    FIELDS.index(name) for name in ("commitment_discount_category", "commitment_discount_status", "tags")
)
assert FIELDS[SUB_ACCOUNT_NAME] == "sub_account_name" and FIELDS[TAGS] == "tags"
SHORT_TEXT = 30  # charge category and class, commitment discount category and status
DECIMAL_TEXT = 60
NULLS = frozenset({"", "NULL", "null"})
CACHE_LIMIT = 20_000
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})")


class MissingColumns(ValueError):
    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"Missing mandatory FOCUS columns: {', '.join(missing)}")
        self.missing = missing


class RowRejected(ValueError):
    """A row that cannot be stored; the message names the column."""


def missing_columns(header: Sequence[str]) -> list[str]:
    present = set(header)
    missing = [name for name in MANDATORY if name not in present]
    if PROVIDER not in present and SERVICE_PROVIDER not in present:
        missing.append(f"{SERVICE_PROVIDER} (or {PROVIDER} before FOCUS 1.3)")
    elif SERVICE_PROVIDER not in present and PUBLISHER not in present:
        missing.append(PUBLISHER)
    return missing


@dataclass(frozen=True)
class Tags:
    """A row's Tags: the JSON text stored, the object, and the (key, value) pairs the tag rollup counts."""

    text: str
    value: dict[str, Any]
    pairs: tuple[tuple[str, str], ...]


def tags_of(value: Any) -> Tags:
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            raise RowRejected("Tags: not a JSON object") from None
        text = value
    elif isinstance(value, dict):
        parsed, text = value, json.dumps(value)
    elif isinstance(value, list):  # a Parquet map: [(key, value), ...]
        try:
            parsed = {str(k): v for k, v in value}
        except (TypeError, ValueError):
            raise RowRejected("Tags: not a map of keys to values") from None
        text = json.dumps(parsed)
    else:
        raise RowRejected("Tags: not a JSON object")
    if not isinstance(parsed, dict):
        raise RowRejected("Tags: not a JSON object")
    pairs = tuple(
        sorted(
            (
                str(key)[:DIMENSION_LENGTH],
                (item if isinstance(item, str) else json.dumps(item))[:DIMENSION_LENGTH],
            )
            for key, item in parsed.items()
        )
    )
    return Tags(text, parsed, tuple(dict(pairs).items()))  # one value per key, even after cutting keys short


def parse_instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date-time")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        found = _US_DATE.fullmatch(text)
        if found is None:
            raise ValueError(f"{value!r} is not an ISO 8601 date-time") from None
        month, day, year = (int(part) for part in found.groups())
        parsed = datetime(year + 2000 if year < 100 else year, month, day)  # noqa: DTZ001 - UTC just below
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# The column each stored field is read from, in FIELDS order (usage_date and unrounded are computed: they read
# a column only as a placeholder), then ProviderName, the provider before FOCUS 1.3.
SOURCE = (
    "BillingAccountId",
    "BillingAccountName",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargePeriodStart",  # usage_date
    "BillingCurrency",
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "ChargePeriodStart",  # unrounded
    SERVICE_PROVIDER,
    "ServiceName",
    "ServiceCategory",
    "RegionId",
    "RegionName",
    "SubAccountId",
    "SubAccountName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "SkuId",
    "SkuPriceId",
    "PricingQuantity",
    "PricingUnit",
    "ListUnitPrice",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountCategory",
    "CommitmentDiscountType",
    "CommitmentDiscountStatus",
    "Tags",
    PROVIDER,
)
assert len(SOURCE) == len(FIELDS) + 1
NOT_TEXT = frozenset(
    {
        "BillingPeriodStart",
        "BillingPeriodEnd",
        "ChargePeriodStart",
        "ChargePeriodEnd",
        "BilledCost",
        "EffectiveCost",
        "ListCost",
        "ContractedCost",
        "PricingQuantity",
        "ListUnitPrice",
        "Tags",
    }
)
TEXT_AT = tuple(position for position, name in enumerate(SOURCE) if name not in NOT_TEXT)


class _Cache(dict[Any, Any]):
    """Values already parsed, by their text; emptied when full, so memory stays bounded."""

    def put(self, key: Any, value: Any) -> Any:
        if len(self) >= CACHE_LIMIT:
            self.clear()
        self[key] = value
        return value


class FocusParser:
    """Parses the rows of one file, given its header. Values repeat a lot in bills (instants, prices, tag
    sets, currencies), so each distinct one is parsed once and looked up after that."""

    def __init__(self, header: Sequence[str], *, text_only: bool = True) -> None:
        names = [name.strip() for name in header]
        missing = missing_columns(names)
        if missing:
            raise MissingColumns(missing)
        index: dict[str, int] = {}
        for position, name in enumerate(names):
            index.setdefault(name, position)
        self.width = len(names)
        self.index = index
        # A column the file lacks is read from one past its last: a None each row gets appended.
        self._pad = any(name not in index for name in SOURCE)
        self._pick = operator.itemgetter(*(index.get(name, self.width) for name in SOURCE))
        self._text_only = text_only  # CSV: every value is text
        self._provider_column = SERVICE_PROVIDER
        self._lengths = (
            (SERVICE, DIMENSION_LENGTH),
            (CATEGORY, DIMENSION_LENGTH),
            (REGION, DIMENSION_LENGTH),
            (SUB_ACCOUNT, DIMENSION_LENGTH),
            (CHARGE_CATEGORY, SHORT_TEXT),
            (CHARGE_CLASS, SHORT_TEXT),
            (DISCOUNT_CATEGORY, SHORT_TEXT),
            (DISCOUNT_STATUS, SHORT_TEXT),
        )
        self._instants = _Cache()
        self._amounts = _Cache()
        self._numbers = _Cache()
        self._currencies = _Cache()
        self._tags = _Cache()

    def tag_set(self, value: Any) -> Tags:
        key = value if isinstance(value, str) else json.dumps(value, default=str)
        found = self._tags.get(key)
        return found if found is not None else self._tags.put(key, tags_of(value))  # type: ignore[no-any-return]

    def instant(self, value: Any, column: str) -> datetime:
        found = self._instants.get(value)
        if found is not None:
            return found  # type: ignore[no-any-return]
        if value is None:
            raise RowRejected(f"{column}: missing")
        try:
            parsed = parse_instant(value)
        except ValueError as exc:
            raise RowRejected(f"{column}: {exc}") from None
        return self._instants.put(value, parsed)  # type: ignore[no-any-return]

    def amount(self, value: Any, column: str) -> tuple[int, bool]:
        found = self._amounts.get(value)
        if found is not None:
            return found  # type: ignore[no-any-return]
        if value is None:
            raise RowRejected(f"{column}: missing")
        try:
            return self._amounts.put(value, nanos_of(value))  # type: ignore[no-any-return]
        except NotAnAmount as exc:
            raise RowRejected(f"{column}: {exc}") from None

    def number(self, value: Any, column: str) -> str:
        found = self._numbers.get(value)
        if found is not None:
            return found  # type: ignore[no-any-return]
        try:
            exact = decimal_text(value)
        except NotAnAmount as exc:
            raise RowRejected(f"{column}: {exc}") from None
        if len(exact) > DECIMAL_TEXT:
            raise RowRejected(f"{column}: longer than {DECIMAL_TEXT} characters")
        return self._numbers.put(value, exact)  # type: ignore[no-any-return]

    def currency(self, value: Any) -> str:
        found = self._currencies.get(value)
        if found is not None:
            return found  # type: ignore[no-any-return]
        if value is None:
            raise RowRejected("BillingCurrency: missing")
        code = str(value).strip().upper()
        if len(code) != 3 or not code.isascii() or not code.isalpha():
            raise RowRejected(f"BillingCurrency: {value!r} is not an ISO 4217 currency code")
        return self._currencies.put(value, code)  # type: ignore[no-any-return]

    def _values(self, values: Any) -> list[Any]:
        if self._pad:
            if values.__class__ is list:
                values.append(None)
            else:
                values = [*values, None]
        picked = self._pick(values)
        if self._text_only:
            return [None if value in NULLS else value for value in picked]
        found = [None if value.__class__ is str and value.strip() in NULLS else value for value in picked]
        for position in TEXT_AT:
            value = found[position]
            if value is not None and value.__class__ is not str:
                found[position] = str(value)
        return found

    def _too_long(self, row: list[Any]) -> None:
        for position, limit in (
            (ACCOUNT, DIMENSION_LENGTH),
            (PROVIDER_NAME, DIMENSION_LENGTH),
            *self._lengths,
        ):
            if row[position] is not None and len(row[position]) > limit:
                column = self._provider_column if position == PROVIDER_NAME else SOURCE[position]
                raise RowRejected(f"{column}: longer than {limit} characters")

    def parse(self, values: Sequence[Any]) -> list[Any]:
        """The stored row's values in FIELDS order; RowRejected names the column at fault."""
        if len(values) != self.width:
            raise RowRejected(f"has {len(values)} fields where the header has {self.width}")
        row = self._values(values)
        account = row[ACCOUNT]
        if account is None:
            raise RowRejected("BillingAccountId: missing")
        provider = row[PROVIDER_NAME]
        self._provider_column = SERVICE_PROVIDER
        if provider is None:
            provider = row[PROVIDER_NAME] = row[-1]
            self._provider_column = PROVIDER
            if provider is None:
                raise RowRejected(f"{SERVICE_PROVIDER}: missing (and so is {PROVIDER})")
        del row[-1]
        category = row[CHARGE_CATEGORY]
        if category is None:
            raise RowRejected("ChargeCategory: missing")
        if (
            max(len(account), len(provider), len(row[SERVICE] or ""), len(row[CATEGORY] or ""))
            > DIMENSION_LENGTH
            or max(len(row[REGION] or ""), len(row[SUB_ACCOUNT] or "")) > DIMENSION_LENGTH
            or max(
                len(category),
                len(row[CHARGE_CLASS] or ""),
                len(row[DISCOUNT_CATEGORY] or ""),
                len(row[DISCOUNT_STATUS] or ""),
            )
            > SHORT_TEXT
        ):
            self._too_long(row)
        instants = self._instants
        value = row[PERIOD_START]
        period_start = row[PERIOD_START] = instants.get(value) or self.instant(value, "BillingPeriodStart")
        value = row[PERIOD_END]
        period_end = row[PERIOD_END] = instants.get(value) or self.instant(value, "BillingPeriodEnd")
        if period_end <= period_start:
            raise RowRejected("BillingPeriodEnd: not after BillingPeriodStart")
        value = row[CHARGE_START]
        charge_start = row[CHARGE_START] = instants.get(value) or self.instant(value, "ChargePeriodStart")
        value = row[CHARGE_END]
        charge_end = row[CHARGE_END] = instants.get(value) or self.instant(value, "ChargePeriodEnd")
        if charge_end < charge_start:
            raise RowRejected("ChargePeriodEnd: before ChargePeriodStart")
        row[USAGE_DATE] = charge_start.date()
        value = row[CURRENCY]
        row[CURRENCY] = self._currencies.get(value) or self.currency(value)
        amounts = self._amounts
        billed, effective, listed, contracted = row[BILLED : CONTRACTED + 1]
        billed_nanos = amounts.get(billed) or self.amount(billed, "BilledCost")
        effective_nanos = amounts.get(effective) or self.amount(effective, "EffectiveCost")
        list_nanos = amounts.get(listed) or self.amount(listed, "ListCost")
        contracted_nanos = (
            None
            if contracted is None
            else amounts.get(contracted) or self.amount(contracted, "ContractedCost")
        )
        row[BILLED] = billed_nanos[0]
        row[EFFECTIVE] = effective_nanos[0]
        row[LIST] = list_nanos[0]
        row[CONTRACTED] = None if contracted_nanos is None else contracted_nanos[0]
        row[UNROUNDED] = None
        if not (
            billed_nanos[1]
            and effective_nanos[1]
            and list_nanos[1]
            and (contracted_nanos is None or contracted_nanos[1])
        ):
            # JSON by hand: the values are decimal numbers as text (digits, sign, point, exponent)
            row[UNROUNDED] = (
                "{"
                + ", ".join(
                    f'"{column}": "{str(value).strip()}"'
                    for column, value, nanos in (
                        ("BilledCost", billed, billed_nanos),
                        ("EffectiveCost", effective, effective_nanos),
                        ("ListCost", listed, list_nanos),
                        ("ContractedCost", contracted, contracted_nanos),
                    )
                    if nanos is not None and not nanos[1]
                )
                + "}"
            )
        if row[SERVICE] is None:
            row[SERVICE] = ""
        if row[CATEGORY] is None:
            row[CATEGORY] = ""
        numbers = self._numbers
        value = row[QUANTITY]
        if value is not None:
            row[QUANTITY] = numbers.get(value) or self.number(value, "PricingQuantity")
        value = row[UNIT_PRICE]
        if value is not None:
            row[UNIT_PRICE] = numbers.get(value) or self.number(value, "ListUnitPrice")
        value = row[TAGS]
        if value is not None:
            found = self._tags.get(value) if value.__class__ is str else None
            row[TAGS] = (found or self.tag_set(value)).text
        return row
