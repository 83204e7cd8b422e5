"""Who may use a billing route, for which organization, and whether billing is on at all.

The organization is named by `org_id`, in the query or in the JSON body (as the published billing API sends
it); when both are given they must agree. The caller's role is checked with identity's `authorized` before
anything else is looked at, so a refusal is never hidden behind "billing is off" or a malformed body.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from cicosts.config import Settings
from cicosts.errors import BadRequest, NotFound
from cicosts.identity import repository
from cicosts.identity.dependencies import (
    OrgAccess,
    Principal,
    Session,
    authenticate,
    authorized,
    get_settings_from_app,
)
from cicosts.identity.permissions import Permission
from cicosts.kit.ids import MAX_ID

BILLING_DISABLED = (
    "Billing is not enabled on this server (BILLING_ENABLED=false): a self-hosted install has no plans to buy"
)


def ensure_billing_enabled(settings: Settings) -> None:
    if not settings.billing_enabled:
        raise NotFound(BILLING_DISABLED)


async def _org_id_in_body(request: Request) -> int | None:
    """`org_id` from the JSON body FastAPI has already read (the body model is validated after this)."""
    body = await request.body()
    if not body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None  # the body model reports it
    value = data.get("org_id") if isinstance(data, dict) else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequest("org_id: must be a positive integer")
    return value


def billing_access(permission: Permission) -> Any:
    """A dependency: the caller may `permission` in the organization named, and billing is enabled."""

    async def org_access(
        request: Request,
        session: Session,
        principal: Annotated[Principal, Depends(authenticate)],
        org_id: Annotated[
            int | None, Query(ge=1, le=MAX_ID, description="Organization id (or `org_id` in the body)")
        ] = None,
    ) -> OrgAccess:
        in_body = await _org_id_in_body(request)
        if org_id is not None and in_body is not None and in_body != org_id:
            raise BadRequest(f"org_id: the body names organization {in_body}, the query {org_id}")
        named = org_id if org_id is not None else in_body
        if named is None:
            raise BadRequest("org_id: name the organization (query or body)")
        user_id = principal.user.id if principal.user is not None else None
        organization, membership = await repository.organization_and_membership(session, named, user_id)
        if organization is None:
            raise NotFound(f"Organization {named} not found")
        access = authorized(organization, membership, principal, permission, False)
        ensure_billing_enabled(get_settings_from_app(request))
        return access

    org_access.permission = permission  # type: ignore[attr-defined]  # read by the access tests
    org_access.api_keys = False  # type: ignore[attr-defined]
    return Depends(org_access)


BillingReader = Annotated[OrgAccess, billing_access(Permission.READ)]
BillingManager = Annotated[OrgAccess, billing_access(Permission.MANAGE_BILLING)]
