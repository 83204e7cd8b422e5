"""API key requests and responses."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from cicosts.kit.ids import MAX_ID


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[Literal["read", "ingest"]] = Field(default=["read"], min_length=1)
    project_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="Bind the key to one LLM project"
    )


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    project_id: int | None
    created_at: datetime
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself: shown this once, store it now")
