"""Per-principal, per-minute rate limits with the `limits` library (in memory, or Redis across replicas)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from redis.asyncio import ConnectionPool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cicosts.errors import CICostsError


class TooManyRequests(CICostsError):
    status_code = 429


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    remaining: int
    reset: int  # unix seconds

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


class RateLimiter:
    def __init__(self, redis_url: str | None) -> None:
        self._pool: ConnectionPool | None = None
        storage: Storage
        if redis_url:
            url = redis_url.removeprefix("async+")
            # Our own pool, so that shutting down closes its connections.
            self._pool = ConnectionPool.from_url(url)
            storage = RedisStorage(
                f"async+{url}",
                implementation="redispy",
                connection_pool=self._pool,  # type: ignore[arg-type]
            )
        else:
            storage = MemoryStorage()
        self._storage = storage
        self._limiter = FixedWindowRateLimiter(storage)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.disconnect()

    async def reset(self) -> None:
        """Forget every budget (all replicas, when they share Redis)."""
        await self._storage.reset()

    async def hit(self, key: str, per_minute: int) -> RateLimitState:
        """Count one request; raises TooManyRequests (with Retry-After) once the minute's budget is spent."""
        item = RateLimitItemPerMinute(per_minute)
        allowed = await self._limiter.hit(item, "cicosts", key)
        stats = await self._limiter.get_window_stats(item, "cicosts", key)
        state = RateLimitState(per_minute, max(stats.remaining, 0), math.ceil(stats.reset_time))
        if not allowed:
            retry_after = max(state.reset - int(time.time()), 1)
            raise TooManyRequests(
                f"Rate limit of {per_minute} requests per minute exceeded; retry in {retry_after} s",
                headers={**state.headers(), "Retry-After": str(retry_after)},
            )
        return state


class RateLimitHeadersMiddleware:
    """Adds the X-RateLimit-* headers of the request's principal to its response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            state = scope.get("state", {}).get("rate_limit")
            if message["type"] == "http.response.start" and isinstance(state, RateLimitState):
                headers = MutableHeaders(scope=message)
                for name, value in state.headers().items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
