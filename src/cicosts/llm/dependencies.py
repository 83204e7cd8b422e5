"""Who may send LLM calls: a project's API key with the `ingest` scope, for that project alone."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from cicosts.errors import Forbidden, NotFound
from cicosts.identity.dependencies import Principal, Session, authenticate
from cicosts.identity.permissions import Permission, scopes_allow
from cicosts.models import LLMProject


async def ingesting_project(
    session: Session, principal: Annotated[Principal, Depends(authenticate)]
) -> LLMProject:
    key = principal.api_key
    if key is None:
        raise Forbidden("Send LLM calls with a project's API key (sk_...), not a user token")
    if not scopes_allow(key.scopes, Permission.INGEST):
        raise Forbidden(f"This API key's scopes ({', '.join(key.scopes)}) do not allow ingest")
    if key.project_id is None:
        raise Forbidden("This API key belongs to no project; use the key a project was created with")
    project = await session.get(LLMProject, key.project_id)
    if project is None or project.org_id != key.org_id:
        raise NotFound(f"Project {key.project_id} not found")
    return project


IngestingProject = Annotated[LLMProject, Depends(ingesting_project)]
