"""`cicosts import metrics FILE`: a CloudWatch-style CSV stored a batch per transaction.

Samples are stored once per (resource, metric, timestamp), so a file loaded again, or again after an
interruption, converges to the same samples. Bad lines are rejected one by one with their row number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.cloud.metrics.service import MetricsCsv, store_samples
from cicosts.db import transaction
from cicosts.errors import NotFound
from cicosts.identity.repository import organization_by_login
from cicosts.kit.periods import utc_now

BATCH = 5_000


@dataclass
class Loaded:
    stored: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


async def load_metrics_file(
    sessionmaker: async_sessionmaker[AsyncSession],
    org_login: str,
    path: Path,
    progress: Callable[[int, int], None] | None = None,
) -> Loaded:
    """Store the file's valid samples for the organization; `progress(samples, bytes read)` per batch."""
    async with transaction(sessionmaker) as session:
        organization = await organization_by_login(session, org_login)
        if organization is None:
            raise NotFound(f"org: no organization {org_login!r}")
        org_id = organization.id
    table = MetricsCsv(path)
    loaded = Loaded()
    try:
        for batch in table.batches(BATCH):
            async with transaction(sessionmaker) as session:
                loaded.stored += await store_samples(session, org_id, batch, utc_now())
            if progress is not None:
                progress(loaded.stored, table.position())
    finally:
        table.close()
    loaded.rejected = table.rejected
    return loaded
