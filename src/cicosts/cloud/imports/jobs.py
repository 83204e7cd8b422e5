"""FOCUS imports off the request path: the worker's handler for the `cloud_imports` queue, and `execute`, the
units of work of one import, which the worker and `cicosts import focus` both run.

An import commits in one transaction with its job marked done, so a worker that dies mid-import loses
nothing: the lease runs out and the import runs again from the start. Imports are long, so their jobs are
claimed one at a time with a lease of an hour (or the configured lease, if longer). A file that cannot be
imported (unreadable, mandatory columns missing) fails the import at once; any other error is retried with
backoff, and the import is marked failed when its job is dead. Uploaded files are deleted once the import is
done or has failed for good.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cicosts.cloud.imports import service
from cicosts.cloud.imports.service import CLOUD_IMPORTS_QUEUE, FAILED, RUNNING, ImportFailed, Progress, Source
from cicosts.config import Settings
from cicosts.db import transaction
from cicosts.errors import NotFound
from cicosts.identity.repository import organization_by_login
from cicosts.kit.periods import utc_now
from cicosts.models import CloudImport
from cicosts.models.queue import DEAD, DONE, IGNORED
from cicosts.worker import queue

logger = logging.getLogger("cicosts.worker")
IMPORT_LEASE = timedelta(hours=1)

Finish = Callable[[AsyncSession], Awaitable[None]]


async def execute(
    sessionmaker: async_sessionmaker[AsyncSession],
    import_id: int,
    sources: Sequence[Source],
    *,
    progress: Progress | None = None,
    finish: Finish | None = None,
) -> CloudImport:
    """Run one import: marked running, then imported (or failed) in a transaction that also runs `finish`."""
    async with transaction(sessionmaker) as session:
        record = await session.get(CloudImport, import_id)
        assert record is not None
        record.status = RUNNING
        record.started_at = utc_now()
    try:
        async with transaction(sessionmaker) as session:
            record = await session.get(CloudImport, import_id)
            assert record is not None
            await service.run_import(session, record, sources, now=utc_now(), progress=progress)
            if finish is not None:
                await finish(session)
        return record
    except ImportFailed as exc:
        return await mark_failed(sessionmaker, import_id, exc.detail, exc.missing_columns, finish)


async def mark_failed(
    sessionmaker: async_sessionmaker[AsyncSession],
    import_id: int,
    detail: str,
    missing_columns: list[str] | None = None,
    finish: Finish | None = None,
) -> CloudImport:
    async with transaction(sessionmaker) as session:
        record = await session.get(CloudImport, import_id)
        assert record is not None
        record.status = FAILED
        record.error = detail
        record.missing_columns = missing_columns
        record.finished_at = utc_now()
        if finish is not None:
            await finish(session)
    return record


async def run_cloud_imports(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    """Claim and run the next queued import, if any; how many jobs it claimed (0 or 1)."""
    lease = max(IMPORT_LEASE, timedelta(seconds=settings.worker_lease_seconds))
    async with transaction(sessionmaker) as session:
        jobs = await queue.claim(session, CLOUD_IMPORTS_QUEUE, 1, lease)
    for job in jobs:
        import_id = int(json.loads(job.payload)["import_id"])
        async with transaction(sessionmaker) as session:
            record = await session.get(CloudImport, import_id)
            sources = service.sources_of(record, settings) if record is not None else []
        if record is None:  # its organization was deleted meanwhile
            async with transaction(sessionmaker) as session:
                await queue.finish(session, [job.id], IGNORED)
            service.remove_uploads(settings, import_id)
            continue

        async def done(session: AsyncSession, job_id: int = job.id) -> None:
            await queue.finish(session, [job_id], DONE)

        try:
            await execute(sessionmaker, import_id, sources, finish=done)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            async with transaction(sessionmaker) as session:
                status = await queue.fail(session, job, error, settings.worker_max_attempts)
            logger.warning("cloud import %s failed (%s): %s", import_id, status, error)
            if status != DEAD:
                continue
            await mark_failed(sessionmaker, import_id, f"The import kept failing: {error}")
        service.remove_uploads(settings, import_id)
    return len(jobs)


async def import_local_files(
    sessionmaker: async_sessionmaker[AsyncSession],
    org_login: str,
    paths: Sequence[Path],
    progress: Progress | None = None,
) -> CloudImport:
    """`cicosts import focus`: the files imported by the same code as an upload, without the worker."""
    async with transaction(sessionmaker) as session:
        organization = await organization_by_login(session, org_login)
        if organization is None:
            raise NotFound(f"org: no organization {org_login!r}")
        files = [
            {"name": path.name, "size_bytes": path.stat().st_size, "stored_as": str(path)} for path in paths
        ]
        record = service.new_import(session, organization.id, source="cli", files=files, created_by=None)
        await session.flush()
        import_id = record.id
    sources = [Source(path, path.name) for path in paths]
    return await execute(sessionmaker, import_id, sources, progress=progress)
