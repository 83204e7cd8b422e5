"""create_app(): settings, database, middleware, error handlers and routers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from cicosts import __version__
from cicosts.alerts.endpoints import router as alerts_router
from cicosts.billing.endpoints import router as billing_router
from cicosts.billing.endpoints import webhook_router as stripe_webhook_router
from cicosts.ci.costs.endpoints import router as costs_router
from cicosts.ci.dashboard.endpoints import router as dashboard_router
from cicosts.ci.exports.endpoints import router as exports_router
from cicosts.ci.recommendations.endpoints import router as recommendations_router
from cicosts.ci.runner_mappings.endpoints import router as runner_mappings_router
from cicosts.ci.webhooks.endpoints import router as webhooks_router
from cicosts.ci.workflows.endpoints import router as workflows_router
from cicosts.cloud.costs.endpoints import entries_router as cloud_entries_router
from cicosts.cloud.costs.endpoints import router as cloud_costs_router
from cicosts.cloud.imports.endpoints import router as cloud_imports_router
from cicosts.cloud.metrics.endpoints import router as cloud_metrics_router
from cicosts.cloud.recommendations.endpoints import router as cloud_recommendations_router
from cicosts.config import Settings, get_settings
from cicosts.db import create_engine, create_sessionmaker
from cicosts.errors import install_error_handlers
from cicosts.health.endpoints import router as health_router
from cicosts.identity.api_keys.endpoints import router as api_keys_router
from cicosts.identity.auth.endpoints import router as auth_router
from cicosts.identity.settings.endpoints import router as settings_router
from cicosts.kit.rate_limit import RateLimiter, RateLimitHeadersMiddleware
from cicosts.kit.request_id import RequestIdMiddleware
from cicosts.kit.request_metrics import RequestMetricsMiddleware
from cicosts.llm.analytics.endpoints import router as llm_analytics_router
from cicosts.llm.events.endpoints import router as llm_events_router
from cicosts.llm.optimizations.endpoints import router as llm_optimizations_router
from cicosts.llm.otlp.endpoints import router as llm_otlp_router
from cicosts.llm.prices.endpoints import router as llm_prices_router
from cicosts.llm.projects.endpoints import router as llm_projects_router
from cicosts.plans.endpoints import router as limits_router
from cicosts.worker.runner import Worker

EXPOSED_HEADERS = (
    "X-Request-ID",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
    "Content-Disposition",  # an export's file name
    "X-Range-Capped",
)


def create_app(settings: Settings | None = None, *, run_worker: bool = False) -> FastAPI:
    settings = settings or get_settings()
    engine = create_engine(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker_task = None
        if run_worker:
            worker = Worker(app.state.sessionmaker, settings)
            worker_task = asyncio.create_task(worker.run_forever())
        try:
            yield
        finally:
            if worker_task is not None:
                worker.stop()
                with suppress(asyncio.CancelledError):
                    await worker_task
            await app.state.http.aclose()
            await app.state.rate_limiter.close()
            await engine.dispose()

    docs = not settings.is_production
    app = FastAPI(
        title="CICosts",
        version=__version__,
        description="Engineering spend (GitHub Actions, LLM calls, cloud bills) on one ledger.",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    app.state.rate_limiter = RateLimiter(settings.redis_url)
    app.state.http = httpx.AsyncClient(timeout=httpx.Timeout(10.0))  # third-party APIs (GitHub)
    install_error_handlers(app)
    # Added innermost first: request ids and CORS headers wrap every response, 429s and errors included.
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(RequestMetricsMiddleware)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origin_list,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=list(EXPOSED_HEADERS),
    )
    app.add_middleware(RequestIdMiddleware)
    app.include_router(health_router)
    app.include_router(webhooks_router)
    app.include_router(dashboard_router)
    app.include_router(auth_router)
    app.include_router(api_keys_router)
    app.include_router(settings_router)
    app.include_router(limits_router)
    app.include_router(alerts_router)
    app.include_router(billing_router)
    app.include_router(stripe_webhook_router)
    app.include_router(runner_mappings_router)
    app.include_router(exports_router)
    app.include_router(costs_router)
    app.include_router(workflows_router)
    app.include_router(recommendations_router)
    app.include_router(llm_analytics_router)
    app.include_router(llm_events_router)
    app.include_router(llm_optimizations_router)
    app.include_router(llm_projects_router)
    app.include_router(llm_prices_router)
    app.include_router(llm_otlp_router)
    app.include_router(cloud_imports_router)
    app.include_router(cloud_entries_router)
    app.include_router(cloud_costs_router)
    app.include_router(cloud_metrics_router)
    app.include_router(cloud_recommendations_router)
    return app
