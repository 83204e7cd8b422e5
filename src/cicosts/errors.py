"""Exceptions that carry their HTTP status; one handler renders them as {"detail": ...}."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


class CICostsError(Exception):
    status_code = 500
    # A refusal that must still be recorded (a revoked token family) commits the request's changes.
    keep_changes = False

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class BadRequest(CICostsError):
    status_code = 400


class Unauthorized(CICostsError):
    status_code = 401

    def __init__(self, detail: str = "Not authenticated") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(CICostsError):
    status_code = 403


class NotFound(CICostsError):
    status_code = 404


class Conflict(CICostsError):
    status_code = 409


class PayloadTooLarge(CICostsError):
    status_code = 413


class Unprocessable(CICostsError):
    status_code = 422


class BadGateway(CICostsError):
    status_code = 502


class ServiceUnavailable(CICostsError):
    status_code = 503


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


async def _render_cicosts_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CICostsError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _render_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    detail = "; ".join(f"{_location(e['loc'])}: {e['msg']}" for e in errors)
    return JSONResponse(
        {"detail": detail, "errors": [{"loc": e["loc"], "msg": e["msg"]} for e in errors]},
        status_code=422,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CICostsError, _render_cicosts_error)
    app.add_exception_handler(RequestValidationError, _render_validation_error)
