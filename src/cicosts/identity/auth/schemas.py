"""Sign-in and token shapes."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class Tokens(BaseModel):
    token: str = Field(description="The access token (same as access_token, for older clients)")
    access_token: str
    refresh_token: str
    expires_in: int = Field(description="Seconds until the access token expires")
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret


class MeOrganization(BaseModel):
    id: int
    github_org_slug: str
    github_org_name: str
    role: str


class Me(BaseModel):
    id: int
    email: str | None
    github_login: str
    avatar_url: str | None
    organizations: list[MeOrganization]
