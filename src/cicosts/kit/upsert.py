"""Dialect-aware INSERT ... ON CONFLICT, the one place that knows SQLite and PostgreSQL spell it alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_for(session: AsyncSession, table: Table) -> Any:
    """An `insert()` with `on_conflict_do_*` for the session's dialect."""
    if dialect_name(session) == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name
