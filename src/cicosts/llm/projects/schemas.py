"""Project requests and responses: plain JSON objects (no envelope), as the AgentCost SDK reads them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from cicosts.kit.ids import MAX_ID

ProjectName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class ProjectCreate(BaseModel):
    name: ProjectName
    description: Description | None = None
    org_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="Organization id (default: your personal organization)"
    )


class ProjectUpdate(BaseModel):
    """Only the fields sent change; `description: null` clears it."""

    name: ProjectName | None = None
    description: Description | None = None

    @field_validator("name")
    @classmethod
    def _named(cls, name: str | None) -> str | None:
        if name is None:
            raise ValueError("a project needs a name")
        return name


class ProjectOut(BaseModel):
    id: int
    name: str
    description: str | None
    org_id: int
    created_at: datetime
    key_prefix: str | None = Field(description="The newest active key's first characters, to tell keys apart")
    api_key: str | None = Field(default=None, description="Only when a key is issued: shown this once")


class ProjectCreated(ProjectOut):
    api_key: str = Field(description="The project's API key (`sk_...`): shown this once, store it now")


class KeyRotated(BaseModel):
    project_id: int
    api_key: str = Field(description="The new key: shown this once, store it now")
    key_prefix: str
    revoked_keys: int = Field(description="Keys of the project that stopped working")


class ProjectDeleted(BaseModel):
    status: Literal["deleted"] = "deleted"
    id: int
    events_deleted: int
