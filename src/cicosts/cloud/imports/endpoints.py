"""POST /v1/cloud/imports (an admin uploads FOCUS files; the worker imports them) and their status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from starlette.datastructures import UploadFile
from starlette.types import Message

from cicosts.cloud.dependencies import CloudAdmin, CloudReader
from cicosts.cloud.imports import repository, service
from cicosts.cloud.imports.schemas import CloudImports, CloudImportStatus
from cicosts.db import TransactionalRoute
from cicosts.errors import NotFound, PayloadTooLarge, Unprocessable
from cicosts.identity.dependencies import Session, get_settings_from_app
from cicosts.kit.envelope import Envelope, envelope
from cicosts.kit.ids import MAX_ID

router = APIRouter(prefix="/v1/cloud/imports", tags=["cloud"], route_class=TransactionalRoute)
MAX_FILES = 50
ERRORS: dict[int | str, dict[str, str]] = {
    400: {"description": "A user in several organizations who did not name one in `org`; a malformed upload"},
    401: {"description": "No or invalid credentials"},
    403: {"description": "Not an admin of the organization (API keys cannot import)"},
    404: {"description": "Unknown organization or import"},
    413: {"description": "An upload over CLOUD_UPLOAD_MAX_BYTES (8 GiB unless set)"},
    422: {"description": "No file in the upload, or a malformed parameter (the detail names it)"},
}
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "FOCUS 1.0-1.3 files: CSV, gzipped CSV or Parquet. The parts "
                            "of one billing period go in one import.",
                        }
                    },
                }
            }
        },
    }
}
ImportId = Annotated[int, Path(ge=1, le=MAX_ID, description="Import id")]


@router.post("", status_code=202, responses=ERRORS, openapi_extra=UPLOAD_BODY)
async def upload_focus_files(
    request: Request, response: Response, session: Session, access: CloudAdmin
) -> Envelope[CloudImportStatus]:
    """Queue an import of the uploaded files; its status (rows read, stored and rejected, with reasons) is at
    `GET /v1/cloud/imports/{id}`. Re-importing a billing period of a billing account replaces it."""
    # Read only once the caller is known to be an admin, so nobody else gets a file stored.
    limited = _capped(request, get_settings_from_app(request).cloud_upload_max_bytes)
    async with limited.form(max_files=MAX_FILES) as form:
        uploads = [item for item in form.getlist("file") if isinstance(item, UploadFile)]
        if not uploads:
            raise Unprocessable(
                "file: send one or more FOCUS files as multipart/form-data fields named `file`"
            )
        user = access.principal.user
        record = await service.accept_upload(
            session,
            get_settings_from_app(request),
            access.organization.id,
            user.id if user is not None else None,
            [(upload.filename or f"file-{index + 1}", upload.file) for index, upload in enumerate(uploads)],
        )
    response.headers["Location"] = f"/v1/cloud/imports/{record.id}"
    return envelope(CloudImportStatus.of(record))


def _capped(request: Request, limit: int) -> Request:
    """The request, refused with 413 as soon as its body is known to exceed `limit` bytes.

    A declared length is checked before anything is read; a body sent without one is counted as it arrives,
    so an oversized upload never fills the disk with spooled parts.
    """
    too_large = PayloadTooLarge(f"file: the upload is over {limit:,} bytes (CLOUD_UPLOAD_MAX_BYTES)")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise too_large
        return message

    return Request(request.scope, receive)


@router.get("/{import_id}", responses=ERRORS)
async def import_status(
    session: Session, access: CloudReader, import_id: ImportId
) -> Envelope[CloudImportStatus]:
    record = await repository.import_of(session, access.organization.id, import_id)
    if record is None:
        raise NotFound(f"import_id: no import {import_id} in this organization")
    return envelope(CloudImportStatus.of(record))


@router.get("", responses=ERRORS)
async def list_imports(
    session: Session,
    access: CloudReader,
    limit: Annotated[int, Query(ge=1, le=100, description="Most recent imports to list")] = 20,
) -> Envelope[CloudImports]:
    records = await repository.recent_imports(session, access.organization.id, limit)
    return envelope(CloudImports(imports=[CloudImportStatus.of(record) for record in records]))
