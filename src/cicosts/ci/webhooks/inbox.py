"""Group commit for the webhook inbox: deliveries that arrive together are stored in one transaction.

A delivery is answered only once the transaction that holds it has committed, so a 202 still means "durably
stored". What group commit changes is the cost: a delivery that arrives while a commit is in flight waits for
it, then goes into the next transaction together with every other delivery that arrived meanwhile, as one
INSERT. Under load a transaction holds tens of deliveries, and a connection, a BEGIN, an INSERT and a COMMIT
(with its WAL flush) are paid once for all of them instead of once each. A lone delivery is stored at once,
in a transaction of its own, so this adds no latency when traffic is light.

If a batch fails (a connection the server dropped, a row the database refuses), it is rolled back and each of
its deliveries is stored again in a transaction of its own, so one bad delivery cannot fail the others.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from cicosts.ci.webhooks.service import Accepted, Delivery, store_deliveries, store_delivery

# Transactions in flight at once (PostgreSQL; SQLite has a single writer). While one commits, the next
# batch is already being sent, so the database is never idle waiting for the application.
CONCURRENT_BATCHES = 2
MAX_BATCH_DELIVERIES = 256
MAX_BATCH_BYTES = 8 * 1024 * 1024


class Inbox:
    """Stores deliveries for one app (one engine, one event loop), batching those that arrive together."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        concurrent_batches: int | None = None,
        max_deliveries: int = MAX_BATCH_DELIVERIES,
        max_bytes: int = MAX_BATCH_BYTES,
    ) -> None:
        self._engine = engine
        single_writer = engine.dialect.name == "sqlite"
        self._concurrency = concurrent_batches or (1 if single_writer else CONCURRENT_BATCHES)
        self._max_deliveries = max_deliveries
        self._max_bytes = max_bytes
        self._waiting: list[tuple[Delivery, asyncio.Future[Accepted]]] = []
        self._writers = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def store(self, delivery: Delivery) -> Accepted:
        """Returns once the delivery is committed (or was stored before: DUPLICATE)."""
        future: asyncio.Future[Accepted] = asyncio.get_running_loop().create_future()
        self._waiting.append((delivery, future))
        if self._writers < self._concurrency:
            self._writers += 1
            task = asyncio.create_task(self._write())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    def _next_batch(self) -> list[tuple[Delivery, asyncio.Future[Accepted]]]:
        size = count = 0
        for delivery, _ in self._waiting:
            size += len(delivery.payload)
            if count and (count == self._max_deliveries or size > self._max_bytes):
                break
            count += 1
        batch = self._waiting[:count]
        del self._waiting[:count]
        return batch

    async def _write(self) -> None:
        """Store batches until nobody is waiting; started by `store` when fewer writers than allowed run."""
        batch: list[tuple[Delivery, asyncio.Future[Accepted]]] = []
        try:
            while self._waiting:
                batch = self._next_batch()
                await self._store_batch(batch)
                batch = []
        except BaseException as exc:  # cancelled at shutdown: nobody may wait for ever
            for _, future in batch + self._waiting:
                _settle(future, error=exc)
            self._waiting.clear()
            raise
        finally:
            self._writers -= 1

    async def _store_batch(self, batch: list[tuple[Delivery, asyncio.Future[Accepted]]]) -> None:
        try:
            async with self._engine.begin() as connection:
                outcomes = await store_deliveries(connection, [delivery for delivery, _ in batch])
        except DBAPIError:
            # Rolled back: store each on its own, so that one delivery the database refuses fails alone.
            for delivery, future in batch:
                try:
                    outcome = await self._store_alone(delivery)
                except Exception as exc:
                    _settle(future, error=exc)
                else:
                    _settle(future, outcome)
            return
        except Exception as exc:  # not the database's answer (a pool timeout, a bug): every one fails
            for _, future in batch:
                _settle(future, error=exc)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            _settle(future, outcome)

    async def _store_alone(self, delivery: Delivery) -> Accepted:
        for attempt in (1, 2):
            try:
                async with self._engine.begin() as connection:
                    return await store_delivery(connection, delivery)
            except DBAPIError as exc:
                # A pooled connection the server dropped fails on first use: once more on a fresh one.
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable")


def _settle(
    future: asyncio.Future[Any], outcome: Accepted | None = None, *, error: BaseException | None = None
) -> None:
    if future.done():  # its request was cancelled
        return
    if isinstance(error, asyncio.CancelledError):
        future.cancel()
    elif error is not None:
        future.set_exception(error)
    else:
        future.set_result(outcome)
