"""Engine, sessions and the one-transaction-per-request rule.

Services never commit. An HTTP request gets one session from `TransactionalRoute`, which commits after the
endpoint returns and before the response is sent (so a 2xx always means "durably stored"), and rolls back when
the endpoint raises. Workers and the CLI use `transaction()` the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from cicosts.config import Settings
from cicosts.errors import CICostsError


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.database_url
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


@asynccontextmanager
async def transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any exception."""
    async with sessionmaker() as session, session.begin():
        yield session


class TransactionalRoute(APIRoute):
    """Runs every endpoint inside one transaction that is committed before the response leaves."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run_in_transaction(request: Request) -> Response:
            sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
            async with sessionmaker() as session:
                request.state.session = session
                try:
                    response = await handler(request)
                except CICostsError as exc:
                    await (session.commit() if exc.keep_changes else session.rollback())
                    raise
                except BaseException:
                    await session.rollback()
                    raise
                if response.status_code < 400:
                    await session.commit()
                else:
                    await session.rollback()
                return response

        return run_in_transaction


async def get_session(request: Request) -> AsyncSession:
    """The request's session (opened by `TransactionalRoute`)."""
    session: AsyncSession = request.state.session
    return session
