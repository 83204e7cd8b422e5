"""The ledger: one FOCUS-shaped hourly table for every source of cost."""

from __future__ import annotations

from datetime import datetime

from cicosts.ledger import rollups
from cicosts.ledger.rollups import Contribution, Rollup
from cicosts.models import LedgerHourly

LEDGER = Rollup(
    LedgerHourly.__table__,  # type: ignore[arg-type]
    ("org_id", "hour", "source", "provider", "service", "sub_account", "resource", "sku"),
)
MICROS = 1_000_000


def ledger_entry(
    *,
    org_id: int,
    hour: datetime,
    source: str,
    provider: str,
    service: str,
    sub_account: str,
    resource: str,
    sku: str,
    unit: str,
    billed_nanos: int,
    list_nanos: int,
    quantity_micros: int,
    unpriced: bool,
) -> Contribution:
    return rollups.contribution(
        {
            "org_id": org_id,
            "hour": hour,
            "source": source,
            "provider": provider,
            "service": service,
            "sub_account": sub_account,
            "resource": resource,
            "sku": sku,
            "unit": unit,
        },
        {
            "billed_nanos": billed_nanos,
            "list_nanos": list_nanos,
            "quantity_micros": quantity_micros,
            "record_count": 1,
            "unpriced_count": int(unpriced),
        },
    )
