"""What every public CI route reads: the named organization as its plan shows it, over local days."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Query, Request

from cicosts.ci.costs.service import Selection
from cicosts.ci.dashboard.service import DashboardView, view_of
from cicosts.identity.dependencies import PublicReader, Session, get_settings_from_app
from cicosts.kit.date_range import date_range
from cicosts.kit.periods import local_today, utc_now, zone

DEFAULT_DAYS = 7


async def public_view(request: Request, session: Session, access: PublicReader) -> DashboardView:
    return await view_of(session, access.organization, get_settings_from_app(request))


PublicView = Annotated[DashboardView, Depends(public_view)]
StartDate = Annotated[
    date | None,
    Query(
        description="First day, YYYY-MM-DD in the organization's time zone (default: 6 days before end_date)"
    ),
]
EndDate = Annotated[date | None, Query(description="Last day, included (default: today)")]


async def selection(view: PublicView, start_date: StartDate = None, end_date: EndDate = None) -> Selection:
    """The range asked for; one reaching past the plan's history is capped, as `meta.capped` says."""
    today = local_today(zone(view.org.time_zone), utc_now())
    dates = date_range(
        start_date, end_date, today=today, default_days=DEFAULT_DAYS, max_history_days=view.max_days
    )
    return Selection(view, dates)


Selected = Annotated[Selection, Depends(selection)]
Repo = Annotated[str | None, Query(max_length=255, description="Repository, `owner/name` or `name`")]
WorkflowName = Annotated[str | None, Query(max_length=255, description="Workflow name (or id)")]
Limit = Annotated[int, Query(ge=1, le=100, description="Most rows to return")]
