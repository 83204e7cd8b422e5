"""POST /v1/events/batch: LLM calls from the AgentCost SDK (or anything speaking its format).

Only a project's API key with the `ingest` scope may send, and only for its own project. The body is read
here, not by FastAPI, so its size is refused (413) before any of it is parsed, and so one bad event is
rejected alone rather than failing the batch.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from pydantic_core import from_json

from cicosts.db import TransactionalRoute
from cicosts.errors import Forbidden, PayloadTooLarge, Unprocessable
from cicosts.identity.dependencies import Session
from cicosts.kit.bodies import read_limited_body
from cicosts.kit.periods import utc_now
from cicosts.llm.dependencies import IngestingProject
from cicosts.llm.events import service
from cicosts.llm.events.schemas import (
    MAX_BODY_BYTES,
    MAX_EVENTS,
    BatchDoc,
    BatchIn,
    BatchResult,
    ValidBatch,
    inlined_schema,
    validation_reason,
)
from cicosts.models import LLMProject

router = APIRouter(prefix="/v1/events", tags=["llm events"], route_class=TransactionalRoute)
ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "No or invalid API key"},
    403: {"description": "Not a project API key with the `ingest` scope, or `project_id` is another project"},
    413: {"description": f"More than {MAX_EVENTS:,} events, or a body over {MAX_BODY_BYTES // 2**20} MB"},
    422: {"description": "Not a JSON object with an `events` list, or not one valid event (detail says why)"},
}
BODY = {"required": True, "content": {"application/json": {"schema": inlined_schema(BatchDoc)}}}


@router.post("/batch", responses=ERRORS, openapi_extra={"requestBody": BODY})
async def ingest_events(request: Request, session: Session, project: IngestingProject) -> BatchResult:
    """Store a batch of LLM calls, each priced at its own timestamp; repeated `event_id`s are stored once.

    Invalid events are listed in `rejected` (index and reason) while the valid ones are stored.
    """
    too_large = f"The body is over {MAX_BODY_BYTES // 2**20} MB; send smaller batches"
    body = await read_limited_body(request, MAX_BODY_BYTES, too_large)
    try:
        valid = ValidBatch.model_validate_json(body)
    except ValidationError:
        batch = _parse(body)  # which events are wrong, and why
        _check_project(batch.project_id, project)
        return await service.ingest_batch(session, project, batch.events, batch.outcomes, now=utc_now())
    _check_project(valid.project_id, project)
    return await service.ingest_validated(session, project, valid.events, valid.outcomes, now=utc_now())


def _check_project(project_id: int | str | None, project: LLMProject) -> None:
    if project_id is not None and str(project_id) != str(project.id):
        raise Forbidden(f"This API key ingests for project {project.id}, not {project_id}")


def _parse(body: bytes) -> BatchIn:
    try:
        # pydantic-core's parser, not json.loads: its nesting limit is one the stored metadata can be written
        # back within (json.loads lets 1,000 levels through, and deeper ones raise RecursionError).
        data: Any = from_json(body)
    except ValueError as exc:
        raise Unprocessable(f"body: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise Unprocessable("body: must be a JSON object with an `events` list")
    if isinstance(data.get("events"), list) and len(data["events"]) > MAX_EVENTS:
        raise PayloadTooLarge(f"events: at most {MAX_EVENTS:,} per batch, not {len(data['events']):,}")
    try:
        return BatchIn.model_validate(data)
    except ValidationError as exc:
        raise Unprocessable(validation_reason(exc)) from exc
