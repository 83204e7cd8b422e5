"""The schema comes only from migrations, and the migrations match the models."""

from __future__ import annotations

from datetime import date

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.db import transaction
from cicosts.models import Base, RunnerPrice


async def test_models_match_the_migrated_schema(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    def differences(connection: object) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})  # type: ignore[arg-type]
        return list(compare_metadata(context, Base.metadata))

    async with sessionmaker() as session:
        connection = await session.connection()
        diff = await connection.run_sync(differences)
    assert diff == []


async def test_both_price_lists_are_seeded(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with transaction(sessionmaker) as session:
        rows = {(p.sku, p.effective_from): p for p in await session.scalars(select(RunnerPrice))}
    assert rows[("linux", date(2000, 1, 1))].nanos_per_minute == 8_000_000
    assert rows[("linux", date(2026, 1, 1))].nanos_per_minute == 6_000_000
    assert rows[("macos_xl", date(2026, 1, 1))].nanos_per_minute == 102_000_000
    assert (
        rows[("linux", date(2026, 1, 1))].standard and not rows[("linux_8_core", date(2026, 1, 1))].standard
    )
    assert len({sku for sku, _ in rows}) == 33 and len(rows) == 66
