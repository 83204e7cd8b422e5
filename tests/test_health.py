"""Health, readiness and metrics."""

from __future__ import annotations

import httpx

from cicosts import __version__
from cicosts.app import create_app
from cicosts.config import Settings
from tests.helpers import TestClient


async def test_root_names_the_service(client: TestClient) -> None:
    assert (await client.http.get("/")).json() == {"name": "CICosts", "version": __version__, "docs": "/docs"}


async def test_health_checks_the_database(client: TestClient) -> None:
    for path in ("/health", "/v1/health"):
        body = (await client.http.get(path)).json()
        assert (body["status"], body["database"]) == ("ok", "ok")
    assert (await client.http.get("/health/ready")).status_code == 200
    assert (await client.http.get("/health/live")).json() == {"status": "ok"}


async def test_an_unreachable_database_is_degraded_and_not_ready() -> None:
    app = create_app(Settings(database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        assert (await http.get("/health")).json()["status"] == "degraded"
        ready = await http.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["detail"] == "database unreachable"
        assert (await http.get("/health/live")).status_code == 200
        assert (await http.get("/metrics")).status_code == 200
    await app.state.engine.dispose()


async def test_metrics_count_requests_by_route(client: TestClient) -> None:
    await client.http.get("/health/live")
    text = (await client.http.get("/metrics")).text
    assert 'cicosts_http_requests_total{method="GET",route="/health/live",status="200"}' in text
    assert (
        'cicosts_http_request_duration_seconds_bucket{le="0.001",method="GET",route="/health/live"}' in text
    )
    assert "cicosts_queue_oldest_age_seconds" in text
