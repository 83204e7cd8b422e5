"""/api/v1/alerts: viewers and above read alerts and their triggers; members and above create, change, delete
and check them. The organization is named by `org_id`; its role check runs before the body is read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from cicosts.alerts import repository, service
from cicosts.alerts.schemas import (
    AlertCreate,
    AlertCreated,
    AlertList,
    AlertOut,
    AlertUpdate,
    CheckResult,
    DeliveryList,
    TriggerList,
    WebhookSecret,
)
from cicosts.db import TransactionalRoute
from cicosts.identity.dependencies import OrgAccess, OrgReader, Session, get_settings_from_app, require
from cicosts.identity.permissions import Permission, role_allows
from cicosts.kit.ids import MAX_ID, PathId
from cicosts.kit.periods import utc_now
from cicosts.notify import log

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], route_class=TransactionalRoute)
AlertManager = Annotated[OrgAccess, require(Permission.MANAGE_ALERTS)]
Limit = Annotated[int, Query(ge=1, le=500, description="Most rows to return")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="Rows to skip")]
ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "No or invalid credentials"},
    403: {"description": "Not a member of the organization, or a role that may not do this"},
    404: {"description": "Unknown organization or alert"},
    422: {"description": "A malformed field or parameter (the detail names it)"},
}


def _may_manage(access: OrgAccess) -> bool:
    return access.membership is not None and role_allows(access.membership.role, Permission.MANAGE_ALERTS)


@router.get("", responses=ERRORS)
async def list_alerts(
    session: Session,
    access: OrgReader,
    enabled: Annotated[
        bool | None, Query(description="Only enabled (true) or disabled (false) alerts")
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> AlertList:
    alerts, total = await repository.alerts_of(session, access.organization.id, enabled, limit, offset)
    shown = await service.alerts_out(session, alerts, show_secrets=_may_manage(access))
    return AlertList(alerts=shown, total=total)


@router.post("", status_code=201, responses=ERRORS)
async def create_alert(
    request: Request, session: Session, access: AlertManager, body: AlertCreate
) -> AlertCreated:
    """Create an alert; the answer carries its webhook signing secret, which is not shown again."""
    user = access.principal.user
    alert = await service.create_alert(
        session, access.organization, body, user.id if user else None, get_settings_from_app(request)
    )
    shown = service.alert_out(alert, None, show_secrets=True)
    return AlertCreated(**shown.model_dump(), webhook_secret=alert.webhook_secret)


@router.get("/{alert_id}", responses=ERRORS)
async def get_alert(alert_id: PathId, session: Session, access: OrgReader) -> AlertOut:
    alert = await service.get_alert(session, access.organization.id, alert_id)
    [shown] = await service.alerts_out(session, [alert], show_secrets=_may_manage(access))
    return shown


@router.put("/{alert_id}", responses=ERRORS)
async def update_alert(
    alert_id: PathId, request: Request, session: Session, access: AlertManager, body: AlertUpdate
) -> AlertOut:
    """Change the fields given; the others stay as they are."""
    alert = await service.update_alert(
        session, access.organization.id, alert_id, body, get_settings_from_app(request)
    )
    [shown] = await service.alerts_out(session, [alert], show_secrets=True)
    return shown


@router.delete("/{alert_id}", status_code=204, responses=ERRORS)
async def delete_alert(alert_id: PathId, session: Session, access: AlertManager) -> Response:
    await service.delete_alert(session, access.organization.id, alert_id)
    return Response(status_code=204)


@router.get("/{alert_id}/triggers", responses=ERRORS)
async def list_triggers(
    alert_id: PathId, session: Session, access: OrgReader, limit: Limit = 50, offset: Offset = 0
) -> TriggerList:
    """The alert's triggers, newest first."""
    alert = await service.get_alert(session, access.organization.id, alert_id)
    triggers, total = await repository.triggers_of(session, access.organization.id, alert.id, limit, offset)
    return TriggerList(triggers=[service.trigger_out(t) for t in triggers], total=total)


@router.post("/{alert_id}/check", responses=ERRORS)
async def check_alert(
    alert_id: PathId, request: Request, session: Session, access: AlertManager
) -> CheckResult:
    """Evaluate the alert now.

    A crossing not yet recorded for its period (and level) is recorded as a trigger and its notifications
    are sent, as the scheduled evaluation would; a disabled alert only reports.
    """
    settings = get_settings_from_app(request)
    return await service.check(session, access.organization, alert_id, settings, utc_now())


@router.get("/{alert_id}/deliveries", responses=ERRORS)
async def list_deliveries(
    alert_id: PathId, session: Session, access: OrgReader, limit: Limit = 50, offset: Offset = 0
) -> DeliveryList:
    """Every attempt to deliver the alert's notifications (email, Slack, webhook), newest first.

    Each is sent, failed (retried later with backoff) or dead (given up after the last attempt).
    """
    alert = await service.get_alert(session, access.organization.id, alert_id)
    rows, total = await log.deliveries(
        session, access.organization.id, service.reference_prefix(alert.id), limit, offset
    )
    return DeliveryList(deliveries=[service.delivery_out(row) for row in rows], total=total)


@router.post("/{alert_id}/webhook-secret", responses=ERRORS)
async def rotate_webhook_secret(alert_id: PathId, session: Session, access: AlertManager) -> WebhookSecret:
    """Replace the alert's webhook signing secret; webhooks are signed with the new one from now on."""
    alert = await service.rotate_secret(session, access.organization.id, alert_id)
    return WebhookSecret(alert_id=alert.id, webhook_secret=alert.webhook_secret)
