"""Alerts: create, change, list; evaluate them (on a schedule, after costs land, on /check); record triggers.

An evaluation reads the ledger through `repository.Target`, judges it with `evaluation`, and records a trigger
once per dedupe key: a cost threshold once per period (and amount), a budget once per warning level, period
and amount, an anomaly once per bucket. A trigger that is new queues its notifications in the same
transaction (`notifications.py`); they are sent by the worker after commit. Services never commit.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.alerts import notifications, repository
from cicosts.alerts.findings import Evaluated, evaluate, granularity_of, hidden_repositories, target_of
from cicosts.alerts.repository import Target
from cicosts.alerts.schemas import (
    DEFAULT_ANOMALY_K,
    DEFAULT_WARNING_PERCENTS,
    AlertCreate,
    AlertOut,
    AlertScope,
    AlertUpdate,
    CheckResult,
    DeliveryOut,
    TriggerOut,
)
from cicosts.config import Settings
from cicosts.errors import Conflict, NotFound, Unprocessable
from cicosts.kit.money import nanos_to_json_usd, usd_to_nanos
from cicosts.kit.periods import utc_now
from cicosts.models import Alert, AlertTrigger, NotificationDelivery, Organization
from cicosts.notify import urls, webhooks

MAX_ALERTS_PER_ORG = 200
REFERENCE = "alert:{alert_id}:trigger:{trigger_id}"


# --- create, change, read --------------------------------------------------------------------------


async def _validate(alert: Alert, settings: Settings) -> None:
    """What a schema cannot see: tag scopes, Slack without a URL, and URLs that are not public."""
    scope = AlertScope.model_validate(alert.scope)
    if scope.tag is not None:
        key, equals, _ = scope.tag.partition("=")
        if not equals or not key:
            raise Unprocessable("scope.tag: a cloud tag is key=value, e.g. team=payments")
        others = [name for name in ("provider", "service", "account") if getattr(scope, name) is not None]
        if others:
            raise Unprocessable(
                f"scope.tag: cannot be combined with {', '.join(others)}; cloud costs by tag are kept per tag"
            )
    if alert.alert_type == "anomaly" and granularity_of(alert) == "hour" and scope.source == "cloud":
        raise Unprocessable("anomaly_granularity: cloud costs are daily; use day")
    if alert.notify_slack and not alert.slack_webhook_url:
        raise Unprocessable("slack_webhook_url: required when notify_slack is true")
    for name in ("slack_webhook_url", "webhook_url"):
        url = getattr(alert, name)
        if url:
            try:
                await urls.resolve(url, allow_private=settings.allow_private_webhooks)
            except urls.UnsafeURL as exc:
                raise Unprocessable(f"{name}: {exc}") from exc


def _k_hundredths(value: Decimal) -> int:
    return int(value * 100)


async def create_alert(
    session: AsyncSession, org: Organization, body: AlertCreate, user_id: int | None, settings: Settings
) -> Alert:
    _, total = await repository.alerts_of(session, org.id, None, 1, 0)
    if total >= MAX_ALERTS_PER_ORG:
        raise Conflict(f"Organization {org.login} has {total} alerts, the most it may have")
    alert = Alert(
        org_id=org.id,
        name=body.name,
        alert_type=body.alert_type,
        threshold_nanos=usd_to_nanos(body.threshold_amount),
        period=body.period,
        enabled=body.enabled,
        notify_email=True if body.notify_email is None else body.notify_email,
        notify_slack=bool(body.notify_slack),
        slack_webhook_url=(body.slack_webhook_url or "").strip() or None,
        webhook_url=(body.webhook_url or "").strip() or None,
        webhook_secret=webhooks.new_secret(),
        scope=body.scope.model_dump(exclude_none=True),
        warning_percents=body.warning_percents or list(DEFAULT_WARNING_PERCENTS),
        forecast=True if body.forecast is None else body.forecast,
        anomaly_k_hundredths=_k_hundredths(body.anomaly_sensitivity or DEFAULT_ANOMALY_K),
        anomaly_granularity=body.anomaly_granularity,
        created_by=user_id,
    )
    await _validate(alert, settings)
    session.add(alert)
    await session.flush()
    return alert


async def get_alert(session: AsyncSession, org_id: int, alert_id: int) -> Alert:
    alert = await repository.alert_of(session, org_id, alert_id)
    if alert is None:
        raise NotFound(f"Alert {alert_id} not found")
    return alert


async def update_alert(
    session: AsyncSession, org_id: int, alert_id: int, body: AlertUpdate, settings: Settings
) -> Alert:
    alert = await get_alert(session, org_id, alert_id)
    given = body.model_fields_set
    for name in ("name", "alert_type", "period", "enabled", "notify_email", "notify_slack", "forecast"):
        if name in given and getattr(body, name) is not None:
            setattr(alert, name, getattr(body, name))
    for name in ("slack_webhook_url", "webhook_url"):
        if name in given:
            setattr(alert, name, (getattr(body, name) or "").strip() or None)
    if "anomaly_granularity" in given:
        alert.anomaly_granularity = body.anomaly_granularity
    if body.threshold_amount is not None:
        alert.threshold_nanos = usd_to_nanos(body.threshold_amount)
    if body.scope is not None:
        alert.scope = body.scope.model_dump(exclude_none=True)
    if body.warning_percents is not None:
        alert.warning_percents = body.warning_percents
    if body.anomaly_sensitivity is not None:
        alert.anomaly_k_hundredths = _k_hundredths(body.anomaly_sensitivity)
    await _validate(alert, settings)
    alert.updated_at = utc_now()
    await session.flush()
    return alert


async def delete_alert(session: AsyncSession, org_id: int, alert_id: int) -> None:
    await session.delete(await get_alert(session, org_id, alert_id))


async def rotate_secret(session: AsyncSession, org_id: int, alert_id: int) -> Alert:
    alert = await get_alert(session, org_id, alert_id)
    alert.webhook_secret = webhooks.new_secret()
    alert.updated_at = utc_now()
    return alert


def masked(url: str | None) -> str | None:
    """A Slack webhook URL's path is its secret: viewers see only where it goes."""
    return f"{urls.describe(url)}/…" if url else None


def alert_out(alert: Alert, last_triggered_at: datetime | None, *, show_secrets: bool) -> AlertOut:
    return AlertOut(
        id=alert.id,
        org_id=alert.org_id,
        name=alert.name,
        alert_type=alert.alert_type,
        threshold_amount=nanos_to_json_usd(alert.threshold_nanos),
        period=alert.period,
        enabled=alert.enabled,
        notify_email=alert.notify_email,
        notify_slack=alert.notify_slack,
        slack_webhook_url=alert.slack_webhook_url if show_secrets else masked(alert.slack_webhook_url),
        webhook_url=alert.webhook_url,
        scope=AlertScope.model_validate(alert.scope),
        warning_percents=list(alert.warning_percents),
        forecast=alert.forecast,
        anomaly_sensitivity=alert.anomaly_k_hundredths / 100,
        anomaly_granularity=alert.anomaly_granularity,
        last_triggered_at=last_triggered_at,
        created_at=alert.created_at,
        updated_at=alert.updated_at,
    )


async def alerts_out(session: AsyncSession, alerts: list[Alert], *, show_secrets: bool) -> list[AlertOut]:
    last = await repository.last_triggered(session, [alert.id for alert in alerts])
    return [alert_out(alert, last.get(alert.id), show_secrets=show_secrets) for alert in alerts]


def details_out(details: dict[str, Any]) -> dict[str, Any]:
    """Stored details keep money in nanodollars (`*_nanos`); the API shows USD under the plain name."""
    shown: dict[str, Any] = {}
    for key, value in details.items():
        if key.endswith("_nanos") and isinstance(value, int):
            shown[key.removesuffix("_nanos")] = nanos_to_json_usd(value)
        elif isinstance(value, list):
            shown[key] = [details_out(item) if isinstance(item, dict) else item for item in value]
        else:
            shown[key] = value
    return shown


def trigger_out(trigger: AlertTrigger) -> TriggerOut:
    return TriggerOut(
        id=trigger.id,
        alert_id=trigger.alert_id,
        triggered_at=trigger.triggered_at,
        actual_amount=nanos_to_json_usd(trigger.actual_nanos),
        threshold_amount=nanos_to_json_usd(trigger.threshold_nanos),
        notified=trigger.notified,
        notified_at=trigger.notified_at,
        basis=trigger.basis,
        level=trigger.level,
        period_start=trigger.period_start,
        period_end=trigger.period_end,
        details=details_out(trigger.details),
    )


def delivery_out(delivery: NotificationDelivery) -> DeliveryOut:
    trigger_id = None
    if delivery.reference and ":trigger:" in delivery.reference:
        trigger_id = int(delivery.reference.rsplit(":", 1)[1])
    return DeliveryOut(
        id=delivery.id,
        trigger_id=trigger_id,
        channel=delivery.channel,
        target=delivery.target,
        attempt=delivery.attempt,
        status=delivery.status,
        status_code=delivery.status_code,
        error=delivery.error,
        duration_ms=delivery.duration_ms,
        attempted_at=delivery.attempted_at,
    )


def reference_prefix(alert_id: int) -> str:
    return f"alert:{alert_id}:trigger:"


async def mark_notified(session: AsyncSession, reference: str) -> None:
    """A channel delivered a trigger's notification (the outbox's `on_delivered`); other references pass."""
    parts = reference.split(":")
    if len(parts) != 4 or parts[0] != "alert" or parts[2] != "trigger" or not parts[3].isdigit():
        return
    await session.execute(
        update(AlertTrigger)
        .where(AlertTrigger.id == int(parts[3]), AlertTrigger.notified.is_(False))
        .values(notified=True, notified_at=utc_now())
    )


# --- evaluation ------------------------------------------------------------------------------------


async def _record(
    session: AsyncSession,
    org: Organization,
    alert: Alert,
    found: Evaluated,
    settings: Settings,
    now: datetime,
) -> int | None:
    """Store the finding's trigger once and queue its notifications; its id, or None when it existed."""
    assert found.trigger is not None and found.dedupe_key is not None
    values = {
        "alert_id": alert.id,
        "org_id": org.id,
        "dedupe_key": found.dedupe_key,
        "triggered_at": now,
        "period_start": found.period.start,
        "period_end": found.period.end,
        "threshold_nanos": found.threshold,
        "details": found.details,
        "notified": False,
        **found.trigger,
    }
    trigger_id = await repository.insert_trigger(session, values)
    if trigger_id is not None:
        reference = REFERENCE.format(alert_id=alert.id, trigger_id=trigger_id)
        await notifications.queue(session, settings, org, alert, trigger_id, values, reference)
    return trigger_id


async def check(
    session: AsyncSession, org: Organization, alert_id: int, settings: Settings, now: datetime
) -> CheckResult:
    """Evaluate one alert now; a due trigger is recorded (an enabled alert's) and its notifications queued."""
    alert = await get_alert(session, org.id, alert_id)
    found = await evaluate(session, org, alert, await target_of(session, org, alert, settings), now)
    trigger_id = None
    triggered = False
    if alert.enabled and found.trigger is not None:
        trigger_id = await _record(session, org, alert, found, settings, now)
        triggered = trigger_id is not None
    if trigger_id is None and found.exceeded and found.existing_key is not None:
        existing = await repository.trigger_by_key(session, alert.id, found.existing_key)
        trigger_id = existing.id if existing is not None else None
    return CheckResult(
        alert_id=alert.id,
        current_cost=nanos_to_json_usd(found.current),
        threshold=nanos_to_json_usd(found.threshold),
        threshold_exceeded=found.exceeded,
        triggered=triggered,
        trigger_id=trigger_id,
        alert_type=alert.alert_type,
        period_start=found.period.start,
        period_end=found.period.end,
        evaluated_at=now,
        details=details_out(found.details),
    )


async def evaluate_organization(
    session: AsyncSession, org_id: int, settings: Settings, now: datetime
) -> list[int]:
    """Evaluate every enabled alert of the organization; the ids of the triggers recorded."""
    org = await session.get(Organization, org_id)
    if org is None:
        return []
    alerts = await repository.enabled_alerts(session, org_id)
    if not alerts:
        return []
    hidden = await hidden_repositories(session, org, settings)
    recorded = []
    for alert in alerts:
        target = Target(org.id, AlertScope.model_validate(alert.scope), hidden)
        found = await evaluate(session, org, alert, target, now)
        if found.trigger is not None:
            trigger_id = await _record(session, org, alert, found, settings, now)
            if trigger_id is not None:
                recorded.append(trigger_id)
    return recorded
