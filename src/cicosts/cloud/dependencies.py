"""Who may use the cloud routes, and which costs a request reads.

Reading (`/costs`, `/recommendations`, `/v1/cloud/*` GETs): an API key with the `read` scope (its own
organization by default) or a member's token, the organization named by its GitHub login in `org`, as in
the public CI costs API. Importing FOCUS files and sending utilization samples: an admin's (or owner's)
token, the `manage_settings` permission: what an organization is billed for is its admins' to load.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from fastapi import Depends, Query, Request

from cicosts.cloud.costs.schemas import Metric
from cicosts.identity.dependencies import OrgAccess, PublicReader, get_settings_from_app, require_by_login
from cicosts.identity.permissions import Permission
from cicosts.kit.date_range import DateRange, date_range
from cicosts.kit.periods import local_today, utc_now, zone
from cicosts.models import Organization
from cicosts.plans import service as plans

CloudReader = PublicReader
CloudAdmin = Annotated[OrgAccess, require_by_login(Permission.MANAGE_SETTINGS)]


@dataclass(frozen=True)
class CloudSelection:
    """An organization's cloud costs over whole UTC charge days, in one of the FOCUS cost metrics."""

    org: Organization
    dates: DateRange
    metric: Metric


StartDate = Annotated[
    date | None,
    Query(description="First UTC charge day, YYYY-MM-DD (default: the first day of end_date's month)"),
]
EndDate = Annotated[
    date | None,
    Query(description="Last UTC charge day, included (default: today in the organization's zone)"),
]
MetricQuery = Annotated[Metric, Query(description="billed, effective (default) or list cost")]


def month_to_date(
    org: Organization, start: date | None, end: date | None, max_history_days: int | None, now: datetime
) -> DateRange:
    """The days asked for, by default the current month so far; capped to the plan's history."""
    today = local_today(zone(org.time_zone), now)
    end = end or today
    start = start or end.replace(day=1)
    return date_range(start, end, today=today, default_days=1, max_history_days=max_history_days)


async def cloud_selection(
    request: Request,
    access: CloudReader,
    start_date: StartDate = None,
    end_date: EndDate = None,
    metric: MetricQuery = Metric.EFFECTIVE,
) -> CloudSelection:
    org = access.organization
    history = plans.plan_of(org, get_settings_from_app(request)).max_history_days
    return CloudSelection(org, month_to_date(org, start_date, end_date, history, utc_now()), metric)


Selected = Annotated[CloudSelection, Depends(cloud_selection)]
