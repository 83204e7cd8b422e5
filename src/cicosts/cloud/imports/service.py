"""Import FOCUS files: rows stored, rejected rows reported one by one, billing periods replaced whole.

An import is one unit of work, in the caller's transaction (services never commit):
1. each file's header must have the mandatory FOCUS columns, or the import fails naming the missing ones;
2. its rows stream into `cloud_cost_rows` a batch at a time, in constant memory, each one stored or rejected
   with its row number and reason, and summed per rollup row on the way (`reading`: on PostgreSQL read a
   column at a time by pyarrow and sent to COPY, elsewhere a row at a time);
3. then the billing periods (billing account, billing period) the import delivered are claimed, the rows
   other imports had stored for them are subtracted from the rollups and deleted, and the rollups, the
   ledger and the account names are written. A re-imported period therefore replaces the old one: providers
   restate bills, and the same bill imported twice is counted once.
Files of one billing period split in parts (as AWS exports large months) go in one import.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import run_in_threadpool

from cicosts.alerts.hooks import costs_landed
from cicosts.cloud.imports import repository
from cicosts.cloud.imports.focus import FocusParser, MissingColumns
from cicosts.cloud.imports.sources import Table, UnreadableFile, open_table
from cicosts.config import Settings
from cicosts.kit.upsert import dialect_name
from cicosts.models import CloudImport
from cicosts.worker import queue

if TYPE_CHECKING:
    from cicosts.cloud.imports.reading import Reading

CLOUD_IMPORTS_QUEUE = "cloud_imports"
IMPORT_JOB = "cloud.import"
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
UPLOADS_DIR = "cloud-imports"
COPY_CHUNK = 1024 * 1024

Progress = Callable[[int, int], None]  # rows read, bytes of the files read (all files so far)


class ImportFailed(Exception):
    """A file that cannot be imported at all: nothing of the import is stored."""

    def __init__(self, detail: str, missing_columns: list[str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.missing_columns = missing_columns


@dataclass(frozen=True)
class Source:
    path: Path
    name: str  # as the user named the file


async def _each(rows: Iterator[tuple[Any, ...]]) -> AsyncIterator[tuple[Any, ...]]:
    for row in rows:
        yield row


async def _in_a_thread(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Each chunk made in a worker thread while the previous one is sent: pyarrow releases the GIL while it
    reads and converts, so PostgreSQL stores one batch while the next is prepared."""
    loop = asyncio.get_running_loop()
    upcoming = loop.run_in_executor(None, next, chunks, None)
    try:
        while (chunk := await upcoming) is not None:
            upcoming = loop.run_in_executor(None, next, chunks, None)
            yield chunk
    finally:
        if not upcoming.done():  # the consumer stopped early: let the thread finish before the file closes
            with contextlib.suppress(Exception):
                await upcoming


def _open(source: Source) -> tuple[Table, FocusParser]:
    try:
        table = open_table(source.path)
    except UnreadableFile as exc:
        raise ImportFailed(f"{source.name}: {exc}") from None
    try:
        return table, FocusParser(table.header, text_only=table.format != "parquet")
    except MissingColumns as exc:
        table.close()
        raise ImportFailed(f"{source.name}: {exc}", exc.missing) from None


async def run_import(
    session: AsyncSession,
    record: CloudImport,
    sources: Sequence[Source],
    *,
    now: datetime,
    progress: Progress | None = None,
) -> None:
    """Import the files into `record`'s organization and fill in `record`'s outcome (status done).

    Raises ImportFailed when a file is unreadable or lacks mandatory columns; the caller rolls back.
    """
    # pyarrow only in the processes that import (worker, CLI), not in every API process
    from cicosts.cloud.imports.reading import Reading, row_records

    total = Reading(record.org_id, record.id)
    columns_first = dialect_name(session) == "postgresql"
    done = 0
    for source in sources:
        table, parser = _open(source)

        def report(rows: int, position: int, before: int = done) -> None:
            if progress is not None:
                progress(total.rows_read + rows, before + position)

        try:
            reading = None
            if columns_first:
                table.close()
                reading = await _by_columns(session, total.file(), source, table.header, parser, report)
            if reading is None:
                if columns_first:  # a malformed row: the file again, a row at a time
                    table, parser = _open(source)
                reading = total.file()
                rows = row_records(reading, table, parser, source.name, lambda n, p: report(n, p))
                await repository.store_rows(session, _each(rows))
        except UnreadableFile as exc:
            raise ImportFailed(f"{source.name}: {exc}") from None
        finally:
            table.close()
        total.merge(reading)
        done += table.size
    periods = await _replace_periods(session, total, now)
    await total.rollups.write(session)
    await repository.upsert_accounts(session, total.org_id, total.accounts, now)
    await costs_landed(session, [total.org_id])  # the organization's alerts are evaluated soon
    record.status = DONE
    record.rows_read = total.rows_read
    record.rows_stored = total.rows_stored
    record.rows_rejected = total.rows_rejected
    record.rejections = total.rejections
    record.periods = periods
    record.currencies = [
        {
            "currency": currency,
            **dict(zip(("billed", "effective", "list", "contracted", "rows"), sums, strict=True)),
        }
        for currency, sums in sorted(total.stored.items())
    ]
    record.finished_at = now


async def _by_columns(
    session: AsyncSession,
    reading: Reading,
    source: Source,
    header: list[str],
    parser: FocusParser,
    report: Callable[[int, int], None],
) -> Reading | None:
    """The file read a column at a time and copied; None when a malformed row sends it to the row parser
    (what it had copied is rolled back to the savepoint)."""
    from cicosts.cloud.imports.columnar import Malformed
    from cicosts.cloud.imports.reading import column_chunks

    chunks = column_chunks(reading, source.path, header, parser, source.name, lambda n, p: report(n, p))
    try:
        async with session.begin_nested():
            await repository.copy_csv(session, _in_a_thread(chunks))
    except Malformed:
        return None
    return reading


async def _replace_periods(session: AsyncSession, run: Reading, now: datetime) -> list[dict[str, Any]]:
    """Claim the import's billing periods, then take out what other imports had stored for them."""
    await repository.claim_periods(session, run.org_id, run.import_id, run.periods, now)
    replaced_periods = []
    for (account, start), (end, count) in sorted(run.periods.items()):
        old = await repository.replaced_sums(session, run.org_id, run.import_id, account, start)
        run.rollups.add(((tuple(row[:8]), row[8], [int(v) for v in row[9:]]) for row in old), sign=-1)
        replaced = await repository.delete_replaced(session, run.org_id, run.import_id, account, start)
        replaced_periods.append(
            {
                "billing_account_id": account,
                "billing_period_start": start.isoformat(),
                "billing_period_end": end.isoformat(),
                "rows": count,
                "replaced_rows": replaced,
            }
        )
    return replaced_periods


def new_import(
    session: AsyncSession, org_id: int, *, source: str, files: list[dict[str, Any]], created_by: int | None
) -> CloudImport:
    record = CloudImport(
        org_id=org_id,
        source=source,
        status=QUEUED,
        files=files,
        rows_read=0,
        rows_stored=0,
        rows_rejected=0,
        rejections=[],
        periods=[],
        currencies=[],
        created_by=created_by,
    )
    session.add(record)
    return record


def upload_dir(settings: Settings, import_id: int) -> Path:
    return Path(settings.data_dir) / UPLOADS_DIR / str(import_id)


def sources_of(record: CloudImport, settings: Settings) -> list[Source]:
    directory = upload_dir(settings, record.id)
    return [Source(directory / file["stored_as"], file["name"]) for file in record.files]


def remove_uploads(settings: Settings, import_id: int) -> None:
    shutil.rmtree(upload_dir(settings, import_id), ignore_errors=True)


def _save(stream: BinaryIO, target: Path) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as sink:
        shutil.copyfileobj(stream, sink, COPY_CHUNK)
        return sink.tell()


async def accept_upload(
    session: AsyncSession,
    settings: Settings,
    org_id: int,
    user_id: int | None,
    uploads: Sequence[tuple[str, BinaryIO]],
) -> CloudImport:
    """Keep the uploaded files under DATA_DIR and queue their import; the worker sees them after commit."""
    record = new_import(session, org_id, source="upload", files=[], created_by=user_id)
    await session.flush()
    directory = upload_dir(settings, record.id)
    files = []
    for index, (name, stream) in enumerate(uploads):
        stored_as = f"{index}.upload"
        size = await run_in_threadpool(_save, stream, directory / stored_as)
        files.append({"name": name, "size_bytes": size, "stored_as": stored_as})
    record.files = files
    await queue.enqueue(
        session,
        queue=CLOUD_IMPORTS_QUEUE,
        kind=IMPORT_JOB,
        dedupe_key=f"import:{record.id}",
        payload=f'{{"import_id": {record.id}}}',
    )
    return record
