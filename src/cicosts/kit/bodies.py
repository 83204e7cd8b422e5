"""Request bodies the route reads itself, refused as soon as they are known to be too large."""

from __future__ import annotations

from starlette.requests import Request

from cicosts.errors import PayloadTooLarge


async def read_limited_body(request: Request, limit: int, too_large: str) -> bytes:
    """The raw body; 413 with `too_large` as the detail when it passes `limit` bytes.

    A declared length is checked before anything is read, and a body sent without one is cut off as soon as
    it passes the limit rather than after all of it is held in memory.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(too_large)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(too_large)
        chunks.append(chunk)
    return b"".join(chunks)
