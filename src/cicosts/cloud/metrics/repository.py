"""Writes of utilization samples: one upsert per (organization, resource, metric, timestamp)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.kit.upsert import insert_for
from cicosts.models import CloudMetricSample

CHUNK = 2_000
UPDATED = ("instance_type", "region", "average_milli", "maximum_milli", "received_at")


async def upsert_samples(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Rows with distinct keys, in key order (so two batches with the same samples wait on each other)."""
    insert = insert_for(session, CloudMetricSample.__table__)  # type: ignore[arg-type]
    statement = insert.on_conflict_do_update(
        index_elements=["org_id", "resource_id", "metric", "timestamp"],
        set_={name: insert.excluded[name] for name in UPDATED},
    )
    for start in range(0, len(rows), CHUNK):
        await session.execute(statement, list(rows[start : start + CHUNK]))
