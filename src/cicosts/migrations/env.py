"""Alembic runs on the connection it is handed by `upgrade_database`."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from cicosts.models import Base

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `cicosts migrate`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
