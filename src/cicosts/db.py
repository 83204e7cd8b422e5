"""Engine, sessions and the one-transaction-per-request rule.

Services never commit. An HTTP request gets one session from `TransactionalRoute`, which commits after the
endpoint returns and before the response is sent (so a 2xx always means "durably stored"), and rolls back when
the endpoint raises. The webhook route is the one exception: its inbox group-commits deliveries that arrive
together (see `ci/webhooks/inbox.py`), still answering each only after its commit. Workers and the CLI use
`transaction()` the same way.
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
from cicosts.kit.json_text import json_text


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.database_url
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, json_serializer=json_text)
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        return engine
    # No pool_pre_ping: on asyncpg it costs three round trips (BEGIN, ping, ROLLBACK) per checkout. A
    # connection the server has dropped fails on first use and SQLAlchemy then discards the whole pool;
    # pool_recycle replaces connections before idle timeouts of servers and proxies close them.
    engine = create_async_engine(
        url, pool_size=10, max_overflow=10, pool_recycle=1800, json_serializer=json_text
    )

    def prefer_lz4(dbapi_connection: Any, _record: Any) -> None:
        # Values over 2 KB (webhook payloads) are compressed when stored. PostgreSQL's default, pglz, cost
        # about 80 us of database CPU per 8 KB delivery; lz4 does it in a third of that. Servers without
        # lz4 (built without it, or before PostgreSQL 14) keep their default.
        cursor = dbapi_connection.cursor()
        cursor.execute(
            "SELECT set_config('default_toast_compression', 'lz4', false) FROM pg_settings"
            " WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
        )
        cursor.close()
        dbapi_connection.commit()  # a setting made in a transaction that is rolled back is undone

    event.listen(engine.sync_engine, "connect", prefer_lz4)
    return engine


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
