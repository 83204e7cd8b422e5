"""POST /v1/otlp/v1/traces: OpenTelemetry GenAI spans over OTLP/HTTP, sent with a project's API key.

Point an OTLP/HTTP exporter's traces endpoint here with `Authorization: Bearer sk_...`: protobuf or JSON,
plain, gzip or deflate. Model-call spans are stored as the batch API stores events (idempotently: a span
sent twice is stored once); other spans are skipped. The answer is OTLP's own.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from cicosts.db import TransactionalRoute
from cicosts.identity.dependencies import Session
from cicosts.kit.bodies import read_limited_body
from cicosts.kit.periods import utc_now
from cicosts.llm.dependencies import IngestingProject
from cicosts.llm.otlp import service
from cicosts.llm.otlp.service import MAX_BODY_BYTES

router = APIRouter(prefix="/v1/otlp", tags=["llm otlp"], route_class=TransactionalRoute)
BODY = {
    "required": True,
    "content": {
        "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
        "application/json": {"schema": {"type": "object", "description": "OTLP JSON: resourceSpans"}},
    },
}
RESPONSES: dict[int | str, dict[str, str]] = {
    200: {"description": "ExportTraceServiceResponse, in the request's content type"},
    400: {"description": "A body that is not an OTLP trace export"},
    401: {"description": "No or invalid key"},
    403: {"description": "Not a project's key with the ingest scope"},
    413: {"description": "A body over 16 MiB (decompressed)"},
    415: {"description": "A content type or encoding OTLP/HTTP does not use"},
}


@router.post("/v1/traces", responses=RESPONSES, openapi_extra={"requestBody": BODY})
async def export_traces(request: Request, session: Session, project: IngestingProject) -> Response:
    form = service.wire_format(request.headers.get("content-type"))
    raw = await read_limited_body(request, MAX_BODY_BYTES, f"body: more than {MAX_BODY_BYTES} bytes")
    body = service.decompressed(raw, request.headers.get("content-encoding"))
    spans = service.translated(service.decoded(body, form))
    rejections = await service.store(session, project, spans, utc_now())
    service.count(spans, len(rejections))
    return Response(service.response_body(form, rejections), media_type=form.value)
