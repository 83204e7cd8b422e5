"""What /v1/cloud/imports answers: an import's status and outcome. Money is JSON numbers (6 places)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from cicosts.kit.money import nanos_to_json_usd
from cicosts.models import CloudImport


class ImportedFile(BaseModel):
    name: str
    size_bytes: int


class Rejection(BaseModel):
    file: str
    row: int = Field(description="The row's place among the file's data rows (1: the first after the header)")
    reason: str = Field(description="What is wrong, naming the column")


class ImportedPeriod(BaseModel):
    billing_account_id: str
    billing_period_start: datetime
    billing_period_end: datetime
    rows: int = Field(description="Rows this import stored for the period")
    replaced_rows: int = Field(description="Rows of earlier imports of the period that it replaced")


class CurrencyTotals(BaseModel):
    """The rows stored in one billing currency, in that currency (never converted, never added to USD)."""

    currency: str
    rows: int
    billed_cost: float
    effective_cost: float
    list_cost: float
    contracted_cost: float


class CloudImportStatus(BaseModel):
    id: int
    status: Literal["queued", "running", "done", "failed"]
    source: Literal["upload", "cli"]
    files: list[ImportedFile]
    rows_read: int
    rows_stored: int
    rows_rejected: int
    rejections: list[Rejection] = Field(description="The first 100 rejected rows, with their reasons")
    error: str | None = Field(description="Why a failed import stored nothing")
    missing_columns: list[str] | None = Field(description="Mandatory FOCUS columns a file lacks")
    periods: list[ImportedPeriod] = Field(description="The billing periods the import (re)placed")
    currencies: list[CurrencyTotals]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, record: CloudImport) -> CloudImportStatus:
        return cls(
            id=record.id,
            status=record.status,
            source=record.source,
            files=[ImportedFile(name=f["name"], size_bytes=f["size_bytes"]) for f in record.files],
            rows_read=record.rows_read,
            rows_stored=record.rows_stored,
            rows_rejected=record.rows_rejected,
            rejections=[Rejection.model_validate(r) for r in record.rejections],
            error=record.error,
            missing_columns=record.missing_columns,
            periods=[ImportedPeriod.model_validate(p) for p in record.periods],
            currencies=[
                CurrencyTotals(
                    currency=c["currency"],
                    rows=c["rows"],
                    billed_cost=nanos_to_json_usd(c["billed"]),
                    effective_cost=nanos_to_json_usd(c["effective"]),
                    list_cost=nanos_to_json_usd(c["list"]),
                    contracted_cost=nanos_to_json_usd(c["contracted"]),
                )
                for c in record.currencies
            ],
            created_at=record.created_at,
            started_at=record.started_at,
            finished_at=record.finished_at,
        )


class CloudImports(BaseModel):
    imports: list[CloudImportStatus]
