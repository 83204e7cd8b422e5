"""Who may send LLM calls (a project's key with the `ingest` scope, for its project alone) and read them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

from cicosts.errors import Forbidden, NotFound
from cicosts.identity import repository as identity
from cicosts.identity.dependencies import Principal, Session, authenticate, authorized, named_organization
from cicosts.identity.permissions import Permission, scopes_allow
from cicosts.models import LLMProject, Organization


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


@dataclass(frozen=True)
class LLMScope:
    """Whose LLM calls a request reads: one organization, and one of its projects or all of them."""

    org: Organization
    project_ids: tuple[int, ...] | None  # None: every project of the organization


async def reading_scope(
    session: Session,
    principal: Annotated[Principal, Depends(authenticate)],
    project_id: Annotated[
        int | None, Query(ge=1, description="One project (a project key reads its own)")
    ] = None,
    org: Annotated[str | None, Query(max_length=255, description="Organization's GitHub login")] = None,
) -> LLMScope:
    """A project key reads its project; an organization's key or member reads any of its projects."""
    key = principal.api_key
    if key is not None and key.project_id is not None:
        if project_id is not None and project_id != key.project_id:
            raise Forbidden("This API key belongs to another project")
        project = await session.get(LLMProject, key.project_id)
        organization = await session.get(Organization, key.org_id)
        if project is None or organization is None:
            raise NotFound(f"Project {key.project_id} not found")
        return LLMScope(organization, (project.id,))
    if project_id is not None:
        project = await session.get(LLMProject, project_id)
        if project is None:
            raise NotFound(f"Project {project_id} not found")
        organization = await session.get(Organization, project.org_id)
        assert organization is not None
        membership = (
            await identity.membership(session, organization.id, principal.user.id) if principal.user else None
        )
        authorized(organization, membership, principal, Permission.READ, True)
        return LLMScope(organization, (project_id,))
    organization, membership = await named_organization(session, principal, org)
    authorized(organization, membership, principal, Permission.READ, True)
    return LLMScope(organization, None)


ReadingScope = Annotated[LLMScope, Depends(reading_scope)]
