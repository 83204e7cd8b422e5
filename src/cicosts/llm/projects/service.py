"""Projects: create one with its ingest key, read, rename, rotate its key, delete it with its data."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cicosts.errors import Conflict
from cicosts.identity.api_keys.service import create_api_key
from cicosts.identity.dependencies import Principal
from cicosts.llm.projects import repository
from cicosts.llm.projects.schemas import (
    KeyRotated,
    ProjectCreate,
    ProjectCreated,
    ProjectDeleted,
    ProjectOut,
    ProjectUpdate,
)
from cicosts.models import LLMProject, Organization

PROJECT_KEY_SCOPES = ["ingest"]  # a project's key sends its calls and reads its project, nothing else
KEY_NAME_CHARS = 60  # of the project's name, in its key's name (100 characters at most)


@dataclass(frozen=True)
class ProjectAccess:
    """A project the caller may act on, its organization, and the caller."""

    project: LLMProject
    organization: Organization
    principal: Principal


@dataclass(frozen=True)
class Listing:
    """Which projects a listing shows: one project, one organization's, or all of a user's organizations'."""

    project_id: int | None = None
    org_id: int | None = None
    user_id: int | None = None


def project_out(project: LLMProject, key_prefix: str | None) -> ProjectOut:
    return ProjectOut(
        id=project.id,
        name=project.name,
        description=project.description,
        org_id=project.org_id,
        created_at=project.created_at,
        key_prefix=key_prefix,
    )


async def described(session: AsyncSession, project: LLMProject) -> ProjectOut:
    prefixes = await repository.newest_key_prefixes(session, [project.id])
    return project_out(project, prefixes.get(project.id))


def _name_taken(organization: Organization, name: str) -> Conflict:
    return Conflict(f"name: organization {organization.login} already has a project named {name!r}")


async def _ensure_name_free(session: AsyncSession, organization: Organization, name: str) -> None:
    # Ledger rows name a project by its name, so two projects of one organization may not share one.
    if await repository.project_named(session, organization.id, name) is not None:
        raise _name_taken(organization, name)


async def _flush_named(session: AsyncSession, organization: Organization, name: str) -> None:
    """Flush a new or renamed project; one that took the name meanwhile (a concurrent request) is a 409."""
    taken = _name_taken(organization, name)  # made now: a failed flush expires the organization's attributes
    try:
        await session.flush()
    except IntegrityError as exc:
        raise taken from exc


async def _issue_key(session: AsyncSession, project: LLMProject, created_by: int | None) -> tuple[str, str]:
    row, key = await create_api_key(
        session,
        org_id=project.org_id,
        name=f"{project.name[:KEY_NAME_CHARS]} (project {project.id})",
        scopes=PROJECT_KEY_SCOPES,
        created_by=created_by,
        project_id=project.id,
    )
    return key, row.prefix


async def create_project(
    session: AsyncSession, organization: Organization, created_by: int | None, body: ProjectCreate
) -> ProjectCreated:
    await _ensure_name_free(session, organization, body.name)
    project = LLMProject(
        org_id=organization.id, name=body.name, description=body.description or None, created_by=created_by
    )
    session.add(project)
    await _flush_named(session, organization, body.name)
    key, prefix = await _issue_key(session, project, created_by)
    return ProjectCreated(**project_out(project, prefix).model_dump(exclude={"api_key"}), api_key=key)


async def list_projects(session: AsyncSession, listing: Listing) -> list[ProjectOut]:
    if listing.project_id is not None:
        found = await session.get(LLMProject, listing.project_id)
        projects = [found] if found is not None else []
    elif listing.org_id is not None:
        projects = await repository.projects_of_org(session, listing.org_id)
    else:
        assert listing.user_id is not None
        projects = await repository.projects_of_user(session, listing.user_id)
    prefixes = await repository.newest_key_prefixes(session, [project.id for project in projects])
    return [project_out(project, prefixes.get(project.id)) for project in projects]


async def update_project(session: AsyncSession, access: ProjectAccess, body: ProjectUpdate) -> ProjectOut:
    """A new name takes the project's ledger rows with it, so its whole history stays one sub-account."""
    project = access.project
    if body.name is not None and body.name != project.name:
        await _ensure_name_free(session, access.organization, body.name)
        await repository.relabel_ledger(session, project.org_id, project.name, body.name)
        project.name = body.name
    if "description" in body.model_fields_set:
        project.description = body.description or None
    await _flush_named(session, access.organization, project.name)
    return await described(session, project)


async def rotate_key(session: AsyncSession, access: ProjectAccess) -> KeyRotated:
    """Every key of the project stops working at once; the new one is shown this once."""
    revoked = await repository.revoke_project_keys(session, access.project)
    user = access.principal.user
    key, prefix = await _issue_key(session, access.project, user.id if user else None)
    return KeyRotated(project_id=access.project.id, api_key=key, key_prefix=prefix, revoked_keys=revoked)


async def delete_project(session: AsyncSession, access: ProjectAccess) -> ProjectDeleted:
    project = access.project
    events = await repository.delete_project_rows(session, project)
    await repository.revoke_project_keys(session, project)
    await session.delete(project)
    await session.flush()
    return ProjectDeleted(id=project.id, events_deleted=events)
