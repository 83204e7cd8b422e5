"""Every database test runs on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL too."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from cicosts.app import create_app
from cicosts.config import Settings
from cicosts.db import create_engine
from cicosts.migrations import upgrade_database
from cicosts.models import Base
from cicosts.worker.runner import Worker
from tests.helpers import WEBHOOK_SECRET, TestClient

JWT_SECRET = "test-jwt-secret-that-is-long-enough-for-hs256"
KEPT_TABLES = {"runner_prices", "alembic_version"}
BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


@pytest.fixture(scope="session", params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A freshly migrated database of one backend, shared by the tests that run on it."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    else:
        url = os.environ["TEST_DATABASE_URL"]
        engine = create_async_engine(url)
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        await engine.dispose()
    engine = create_engine(Settings(database_url=url))
    await upgrade_database(engine)
    await engine.dispose()
    return url


async def _empty_tables(url: str) -> None:
    engine = create_engine(Settings(database_url=url))
    tables = [t.name for t in Base.metadata.sorted_tables if t.name not in KEPT_TABLES]
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(tables):
                await connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - our table names
    await engine.dispose()


@pytest.fixture
async def settings(database_url: str) -> Settings:
    await _empty_tables(database_url)
    return Settings(
        database_url=database_url,
        jwt_secret=JWT_SECRET,
        github_webhook_secret=WEBHOOK_SECRET,
        worker_batch_size=50,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    yield application
    await application.state.http.aclose()
    await application.state.rate_limiter.close()
    await application.state.engine.dispose()


@pytest.fixture
def sessionmaker(app: FastAPI) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    return maker


@pytest.fixture
async def client(app: FastAPI, settings: Settings) -> AsyncIterator[TestClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield TestClient(http, settings)


@pytest.fixture
def worker(app: FastAPI, settings: Settings) -> Worker:
    return Worker(app.state.sessionmaker, settings)


@pytest.fixture
def fixtures_dir() -> Path:
    return Path(__file__).parent / "fixtures"
