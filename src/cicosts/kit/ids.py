"""Ids as clients send them: positive, and within BIGINT, which every id column is.

A larger number names nothing, and drivers refuse to bind it (a 500); bounding it here answers 422 instead.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

MAX_ID = 2**63 - 1
MAX_PAGE = 1_000_000  # pages times their size stay far within BIGINT offsets

PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
