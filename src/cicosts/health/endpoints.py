"""/, /health, /health/ready, /health/live, /v1/health and /metrics (no authentication)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cicosts import __version__
from cicosts.ci.webhooks.service import GITHUB_QUEUE
from cicosts.db import transaction
from cicosts.kit.metrics import QUEUE_DEPTH, QUEUE_OLDEST_AGE
from cicosts.worker import queue

router = APIRouter(tags=["health"])
DATABASE_CHECK_SECONDS = 2.0


async def database_ok(engine: AsyncEngine) -> bool:
    try:
        async with asyncio.timeout(DATABASE_CHECK_SECONDS), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


@router.get("/")
async def root() -> dict[str, str]:
    return {"name": "CICosts", "version": __version__, "docs": "/docs"}


@router.get("/health")
async def health(request: Request) -> dict[str, str]:
    ok = await database_ok(request.app.state.engine)
    return {
        "status": "ok" if ok else "degraded",
        "database": "ok" if ok else "unreachable",
        "version": __version__,
    }


@router.get("/v1/health")
async def health_v1(request: Request) -> dict[str, str]:
    return await health(request)


@router.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/ready")
async def ready(request: Request) -> JSONResponse:
    if await database_ok(request.app.state.engine):
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "unavailable", "detail": "database unreachable"}, status_code=503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    try:
        async with transaction(request.app.state.sessionmaker) as session:
            current = await queue.stats(session, GITHUB_QUEUE)
        QUEUE_DEPTH.labels(queue=GITHUB_QUEUE).set(current.depth)
        QUEUE_OLDEST_AGE.labels(queue=GITHUB_QUEUE).set(current.oldest_age_seconds)
    except Exception:  # noqa: S110 - metrics must still be served when the database is down
        pass
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
