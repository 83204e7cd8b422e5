"""/v1/projects: LLM projects and their keys, as plain JSON objects (the AgentCost SDK reads them)."""

from __future__ import annotations

from fastapi import APIRouter

from cicosts.db import TransactionalRoute
from cicosts.identity.dependencies import CurrentUser, Principal, Session
from cicosts.llm.projects import service
from cicosts.llm.projects.dependencies import (
    ManagedProject,
    OwnProject,
    ProjectListing,
    ReadableProject,
    creating_in,
)
from cicosts.llm.projects.schemas import (
    KeyRotated,
    ProjectCreate,
    ProjectCreated,
    ProjectDeleted,
    ProjectOut,
    ProjectUpdate,
)

router = APIRouter(prefix="/v1/projects", tags=["llm projects"], route_class=TransactionalRoute)
ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "No or invalid credentials"},
    403: {"description": "Not a member, a role without the permission, or another project's key"},
    404: {"description": "Unknown project or organization"},
    422: {"description": "A malformed field (the detail names it)"},
}


@router.post("", status_code=201, responses={**ERRORS, 409: {"description": "The name is taken"}})
async def create_project(body: ProjectCreate, session: Session, user: CurrentUser) -> ProjectCreated:
    """A project in `org_id` (default: your personal organization), with its API key, shown this once."""
    organization = await creating_in(session, Principal(user=user), body.org_id)
    return await service.create_project(session, organization, user.id, body)


@router.get("", responses=ERRORS)
async def list_projects(session: Session, listing: ProjectListing) -> list[ProjectOut]:
    """Your organizations' projects (or `org_id`'s); with a project's key, that project."""
    return await service.list_projects(session, listing)


@router.get("/me", responses=ERRORS)
async def key_project(session: Session, access: OwnProject) -> ProjectOut:
    """The project the calling key belongs to (how the SDK's `connect` checks a key and finds its project)."""
    return await service.described(session, access.project)


@router.get("/{project_id}", responses=ERRORS)
async def get_project(session: Session, access: ReadableProject) -> ProjectOut:
    return await service.described(session, access.project)


@router.patch("/{project_id}", responses={**ERRORS, 409: {"description": "The name is taken"}})
async def update_project(body: ProjectUpdate, session: Session, access: ManagedProject) -> ProjectOut:
    """Rename or describe the project; its costs so far follow it to the new name."""
    return await service.update_project(session, access, body)


@router.delete("/{project_id}", responses=ERRORS)
async def delete_project(session: Session, access: ManagedProject) -> ProjectDeleted:
    """The project, its events, outcomes, custom prices and cost rollups; its keys stop working."""
    return await service.delete_project(session, access)


@router.post("/{project_id}/rotate-key", responses=ERRORS)
async def rotate_key(session: Session, access: ManagedProject) -> KeyRotated:
    """Revoke every key of the project and issue a new one, shown this once."""
    return await service.rotate_key(session, access)
