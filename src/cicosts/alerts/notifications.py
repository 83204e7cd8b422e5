"""What a trigger says, and to whom: an email to the organization's owners and admins, a Slack message, a
signed webhook. All queued on the notification outbox in the evaluation's transaction, once per trigger and
channel; every value a user chose (the alert's name, repository and agent names) is escaped by the channel."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.alerts.schemas import AlertScope
from cicosts.config import Settings
from cicosts.kit.money import nanos_to_decimal, nanos_to_json_usd
from cicosts.kit.periods import zone
from cicosts.models import Alert, Organization
from cicosts.notify import slack
from cicosts.notify.email import message
from cicosts.notify.outbox import About, enqueue_email, enqueue_slack, enqueue_webhook
from cicosts.notify.recipients import admin_recipients

EVENT_TYPE = "alert.triggered"
PERIOD_NOUNS = {"daily": "day", "weekly": "week", "monthly": "month"}
TYPE_NAMES = {"cost_threshold": "Cost threshold", "budget_limit": "Budget", "anomaly": "Anomaly"}


def usd_text(nanos: int) -> str:
    """$1,234.56; amounts under a cent keep up to 6 decimals ($0.000042), since one LLM call costs that."""
    amount = nanos_to_decimal(nanos)
    if amount != 0 and abs(amount) < Decimal("0.01"):
        return f"${amount.quantize(Decimal('0.000001'), rounding=ROUND_HALF_EVEN).normalize():f}"
    return f"${amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,}"


def _dates(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    first = start.astimezone(tz).date()
    last = (end - timedelta(microseconds=1)).astimezone(tz).date()
    return first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"


def summary(alert: Alert, values: dict[str, Any], tz: ZoneInfo) -> str:
    """One sentence: what crossed what."""
    noun = PERIOD_NOUNS.get(alert.period, alert.period)
    actual, threshold = values["actual_nanos"], values["threshold_nanos"]
    details = values["details"]
    if values["basis"] == "anomaly":
        bucket = values["period_start"].astimezone(tz)
        when = (
            bucket.date().isoformat()
            if details["granularity"] == "day"
            else bucket.strftime("%Y-%m-%d %H:00")
        )
        usual = usd_text(details["median_nanos"])
        buckets = f"{details['baseline_buckets']} {details['granularity']}s"
        return (
            f"The cost of {when} was {usd_text(actual)}, far above the usual {usual} (the median of the last"
            f" {buckets}; alerting above {usd_text(threshold)})."
        )
    if alert.alert_type == "budget_limit":
        budget = details["budget_nanos"]
        if values["basis"] == "forecast":
            return (
                f"Projected to reach {values['level']}% of the {noun}'s {usd_text(budget)} budget:"
                f" {usd_text(actual)} by the end of the {noun} at the recent rate."
            )
        return f"{values['level']}% of the {noun}'s budget reached: {usd_text(actual)} of {usd_text(budget)}."
    return f"This {noun}'s cost so far is {usd_text(actual)}, over the {usd_text(threshold)} threshold."


def _fields(org: Organization, alert: Alert, values: dict[str, Any], tz: ZoneInfo) -> list[tuple[str, str]]:
    return [
        ("Alert", alert.name),
        ("Type", TYPE_NAMES.get(alert.alert_type, alert.alert_type)),
        ("Scope", AlertScope.model_validate(alert.scope).describe()),
        ("Period", f"{_dates(values['period_start'], values['period_end'], tz)} ({tz.key})"),
        ("Organization", org.name),
    ]


def webhook_data(org: Organization, alert: Alert, trigger_id: int, values: dict[str, Any]) -> dict[str, Any]:
    details = {
        key.removesuffix("_nanos"): nanos_to_json_usd(value) if key.endswith("_nanos") else value
        for key, value in values["details"].items()
        if key != "levels"
    }
    return {
        "organization": {"id": org.id, "login": org.login},
        "alert": {
            "id": alert.id,
            "name": alert.name,
            "alert_type": alert.alert_type,
            "period": alert.period,
            "threshold_amount": nanos_to_json_usd(alert.threshold_nanos),
            "scope": AlertScope.model_validate(alert.scope).model_dump(exclude_none=True),
        },
        "trigger": {
            "id": trigger_id,
            "triggered_at": values["triggered_at"].isoformat().replace("+00:00", "Z"),
            "actual_amount": nanos_to_json_usd(values["actual_nanos"]),
            "threshold_amount": nanos_to_json_usd(values["threshold_nanos"]),
            "basis": values["basis"],
            "level": values["level"],
            "period_start": values["period_start"].isoformat().replace("+00:00", "Z"),
            "period_end": values["period_end"].isoformat().replace("+00:00", "Z"),
            "details": details,
        },
    }


async def queue(
    session: AsyncSession,
    settings: Settings,
    org: Organization,
    alert: Alert,
    trigger_id: int,
    values: dict[str, Any],
    reference: str,
) -> None:
    """Queue the trigger's email, Slack message and webhook, each at most once."""
    tz = zone(org.time_zone)
    about = About(org.id, reference)
    title = f"{TYPE_NAMES.get(alert.alert_type, 'Alert')}: {alert.name}"
    said = summary(alert, values, tz)
    fields = _fields(org, alert, values, tz)
    if alert.notify_email:
        recipients = await admin_recipients(session, org.id)
        paragraphs = [said, *(f"{label}: {value}" for label, value in fields)]
        paragraphs.append(
            f"You receive this as an owner or admin of {org.name} who allows alert emails;"
            " turn them off in your notification settings."
        )
        email = message(recipients, f"[CICosts] {title}", paragraphs)
        await enqueue_email(session, email, settings, dedupe_key=f"{reference}:email", about=about)
    if alert.notify_slack and alert.slack_webhook_url:
        body = slack.message(title, said, fields, footer=f"CICosts alert {alert.id}, trigger {trigger_id}")
        await enqueue_slack(
            session, alert.slack_webhook_url, body, dedupe_key=f"{reference}:slack", about=about
        )
    if alert.webhook_url:
        await enqueue_webhook(
            session,
            alert.webhook_url,
            alert.webhook_secret,
            EVENT_TYPE,
            webhook_data(org, alert, trigger_id, values),
            dedupe_key=f"{reference}:webhook",
            about=about,
        )
