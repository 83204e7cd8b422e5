"""Alert requests and responses. Money is USD: JSON numbers in, rounded to 6 decimal places out."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

AlertType = Literal["cost_threshold", "budget_limit", "anomaly"]
PeriodName = Literal["daily", "weekly", "monthly"]
Source = Literal["ci", "llm", "cloud", "all"]
Granularity = Literal["day", "hour"]
DEFAULT_WARNING_PERCENTS = [50, 80, 100]
DEFAULT_ANOMALY_K = Decimal(3)
MAX_USD = Decimal(1_000_000_000)
Name = Field(default=None, min_length=1, max_length=255)

# Which scope fields belong to which source, and the ledger column each one narrows.
SCOPE_FIELDS: dict[str, tuple[str, str]] = {
    "repository": ("ci", "sub_account"),
    "workflow": ("ci", "resource"),
    "runner_sku": ("ci", "sku"),
    "project": ("llm", "sub_account"),
    "agent": ("llm", "resource"),
    "model": ("llm", "sku"),
    "service": ("cloud", "service"),
    "account": ("cloud", "sub_account"),
    "tag": ("cloud", ""),
}


class AlertScope(BaseModel):
    """Which costs an alert watches: a source (or all of them), narrowed by any of the optional names.

    CI: repository (`owner/name`), workflow, runner_sku. LLM: project, agent, model. Cloud: service, account,
    tag (`key=value`). `provider` (GitHub, OpenAI, AWS, ...) narrows any source. A field of one source implies
    that source when `source` is `all`; fields of two sources cannot be combined.
    """

    source: Source = "all"
    provider: str | None = Field(default=None, min_length=1, max_length=100)
    repository: str | None = Name
    workflow: str | None = Name
    runner_sku: str | None = Field(default=None, min_length=1, max_length=100)
    project: str | None = Name
    agent: str | None = Name
    model: str | None = Field(default=None, min_length=1, max_length=100)
    service: str | None = Field(default=None, min_length=1, max_length=200)
    account: str | None = Name
    tag: str | None = Field(default=None, min_length=1, max_length=255)

    @model_validator(mode="after")
    def _one_source(self) -> AlertScope:
        sources = {SCOPE_FIELDS[name][0] for name in SCOPE_FIELDS if getattr(self, name) is not None}
        if len(sources) > 1:
            raise ValueError(
                f"fields of {' and '.join(sorted(sources))} cannot be combined; an alert watches one source"
            )
        if sources:
            (implied,) = sources
            if self.source == "all":
                self.source = implied  # type: ignore[assignment]
            elif self.source != implied:
                named = [name for name in SCOPE_FIELDS if getattr(self, name) is not None]
                raise ValueError(f"{', '.join(named)} narrow {implied} costs, not {self.source}")
        return self

    def filters(self) -> dict[str, str]:
        """Ledger column -> value, for the fields given (the tag is not a ledger column)."""
        found = {"provider": self.provider} if self.provider else {}
        for name, (_, column) in SCOPE_FIELDS.items():
            value = getattr(self, name)
            if value is not None and column:
                found[column] = value
        return found

    def describe(self) -> str:
        """`CI costs, repository acme/app` and the like, for notifications."""
        parts = [{"ci": "CI", "llm": "LLM", "cloud": "Cloud", "all": "All"}[self.source] + " costs"]
        for name in ("provider", *SCOPE_FIELDS):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name.replace('_', ' ')} {value}")
        return ", ".join(parts)


def _amount(value: Decimal | None) -> Decimal | None:
    if value is not None and value.is_nan():
        raise ValueError("must be a number")
    return value


class _AlertFields(BaseModel):
    notify_email: bool | None = Field(
        default=None, description="Email the organization's owners and admins who allow alert emails"
    )
    notify_slack: bool | None = Field(default=None, description="Post to `slack_webhook_url`")
    slack_webhook_url: str | None = Field(
        default=None, max_length=2000, description="A Slack incoming webhook (https://hooks.slack.com/...)"
    )
    webhook_url: str | None = Field(
        default=None,
        max_length=2000,
        description="POST each trigger here, signed with the alert's secret (Standard Webhooks)",
    )
    warning_percents: list[int] | None = Field(
        default=None,
        min_length=1,
        max_length=10,
        description="budget_limit: percents of the budget that warn (default 50, 80, 100)",
    )
    forecast: bool | None = Field(
        default=None, description="budget_limit: also warn when the projected end-of-period cost crosses"
    )
    anomaly_sensitivity: Decimal | None = Field(
        default=None,
        ge=Decimal("0.5"),
        le=Decimal(50),
        decimal_places=2,
        description="anomaly: k in median + k x MAD (default 3)",
    )
    anomaly_granularity: Granularity | None = Field(
        default=None,
        description="anomaly: the last complete day or hour (default: hour for LLM costs, else day)",
    )

    @field_validator("warning_percents")
    @classmethod
    def _percents(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return None
        if any(p < 1 or p > 1000 for p in value):
            raise ValueError("each percent is between 1 and 1000")
        return sorted(set(value))


class AlertCreate(_AlertFields):
    name: str = Field(min_length=1, max_length=200)
    alert_type: AlertType
    threshold_amount: Decimal = Field(
        gt=0,
        le=MAX_USD,
        decimal_places=9,
        description="USD: the amount (cost_threshold), the budget (budget_limit), or the least rise above "
        "the usual cost that counts (anomaly)",
    )
    period: PeriodName = "monthly"
    enabled: bool = True
    scope: AlertScope = Field(default_factory=AlertScope)

    _check_amount = field_validator("threshold_amount")(_amount)


class AlertUpdate(_AlertFields):
    """Only the fields given change; null clears a URL."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    alert_type: AlertType | None = None
    threshold_amount: Decimal | None = Field(default=None, gt=0, le=MAX_USD, decimal_places=9)
    period: PeriodName | None = None
    enabled: bool | None = None
    scope: AlertScope | None = None

    _check_amount = field_validator("threshold_amount")(_amount)


class AlertOut(BaseModel):
    id: int
    org_id: int
    name: str
    alert_type: AlertType
    threshold_amount: float = Field(description="USD")
    period: PeriodName
    enabled: bool
    notify_email: bool
    notify_slack: bool
    slack_webhook_url: str | None = Field(description="Its secret path is hidden from viewers")
    webhook_url: str | None
    scope: AlertScope
    warning_percents: list[int]
    forecast: bool
    anomaly_sensitivity: float
    anomaly_granularity: Granularity | None
    last_triggered_at: datetime | None
    created_at: datetime
    updated_at: datetime


class AlertCreated(AlertOut):
    webhook_secret: str = Field(
        description="Verifies this alert's webhooks (Standard Webhooks, `whsec_...`); shown only now"
    )


class WebhookSecret(BaseModel):
    alert_id: int
    webhook_secret: str


class AlertList(BaseModel):
    alerts: list[AlertOut]
    total: int


class TriggerOut(BaseModel):
    id: int
    alert_id: int
    triggered_at: datetime
    actual_amount: float = Field(description="USD: the cost that crossed (the projection, for a forecast)")
    threshold_amount: float = Field(description="USD: the level it crossed")
    notified: bool = Field(description="A notification channel delivered it")
    notified_at: datetime | None
    basis: Literal["actual", "forecast", "anomaly"]
    level: int = Field(description="budget_limit: the percent crossed; cost_threshold: 100; anomaly: 0")
    period_start: datetime
    period_end: datetime
    details: dict[str, Any]


class TriggerList(BaseModel):
    triggers: list[TriggerOut]
    total: int


class CheckResult(BaseModel):
    alert_id: int
    current_cost: float = Field(description="USD: the period's cost so far, or the anomaly bucket's cost")
    threshold: float = Field(description="USD: the level compared with (see docs/alerts.md)")
    threshold_exceeded: bool
    triggered: bool = Field(description="This check recorded a new trigger (and queued its notifications)")
    trigger_id: int | None = Field(
        description="The new trigger, or the one already recorded for this period and level"
    )
    alert_type: AlertType
    period_start: datetime
    period_end: datetime
    evaluated_at: datetime
    details: dict[str, Any]


class DeliveryOut(BaseModel):
    id: int
    trigger_id: int | None
    channel: str
    target: str
    attempt: int
    status: Literal["sent", "failed", "dead"]
    status_code: int | None
    error: str | None
    duration_ms: int
    attempted_at: datetime


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]
    total: int
