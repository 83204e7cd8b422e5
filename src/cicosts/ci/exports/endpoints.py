"""GET /v1/costs/export: CI costs as CSV or JSON, streamed from the database in constant memory."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from cicosts.ci.exports import service
from cicosts.ci.exports.schemas import ExportFormat, ExportGranularity
from cicosts.db import TransactionalRoute
from cicosts.identity.dependencies import PublicReader, Session, get_settings_from_app
from cicosts.kit.periods import utc_now
from cicosts.kit.request_id import current_request_id

router = APIRouter(prefix="/v1/costs", tags=["exports"], route_class=TransactionalRoute)

MEDIA_TYPES = {ExportFormat.CSV: "text/csv; charset=utf-8", ExportFormat.JSON: "application/json"}
RANGE_CAPPED = "X-Range-Capped"
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The export, as a download (Content-Disposition); X-Range-Capped when history was cut",
        "content": {"text/csv": {}, "application/json": {}},
    },
    400: {"description": "start_date or end_date missing, or a reversed range"},
    401: {"description": "No or invalid credentials"},
    403: {"description": "Not a member of the organization, or another organization's API key"},
    404: {"description": "Unknown organization or repository"},
    422: {"description": "A malformed parameter (the detail names it)"},
}


@router.get("/export", response_class=StreamingResponse, responses=RESPONSES)
async def export_costs(
    request: Request,
    session: Session,
    access: PublicReader,
    start_date: Annotated[date | None, Query(description="First local day, YYYY-MM-DD (required)")] = None,
    end_date: Annotated[date | None, Query(description="Last local day, included (required)")] = None,
    export_format: Annotated[ExportFormat, Query(alias="format")] = ExportFormat.CSV,
    granularity: ExportGranularity = ExportGranularity.DAILY,
    repo: Annotated[str | None, Query(max_length=255, description="owner/name or name")] = None,
) -> StreamingResponse:
    """Dates are the organization's local days. Money is USD at full precision, as exact decimal strings."""
    now = utc_now()
    # Authorised (PublicReader) and checked before the 200 starts; rows then stream in a session of their own.
    export = await service.prepare(
        session,
        access.organization,
        get_settings_from_app(request),
        start=start_date,
        end=end_date,
        granularity=granularity,
        export_format=export_format,
        repo=repo,
        now=now,
    )
    headers = {"Content-Disposition": f'attachment; filename="{export.filename}"'}
    if export.dates.capped is not None:
        headers[RANGE_CAPPED] = export.dates.capped.start.isoformat()
    body = service.export_bytes(request.app.state.sessionmaker, export, now, current_request_id.get())
    return StreamingResponse(body, media_type=MEDIA_TYPES[export_format], headers=headers)
