"""Who may do what with a project.

Members (and their organization's `read` keys) read its projects; a project's own key reads that project;
creating, changing, rotating the key of and deleting a project need `manage_api_keys` (admins and owners),
since each of those issues or revokes a key.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query

from cicosts.errors import BadRequest, Forbidden, NotFound
from cicosts.identity import repository as identity
from cicosts.identity.dependencies import Principal, Session, authenticate, authorized
from cicosts.identity.permissions import Permission
from cicosts.kit.ids import MAX_ID
from cicosts.llm.projects.service import Listing, ProjectAccess
from cicosts.models import LLMProject, Organization, User

Caller = Annotated[Principal, Depends(authenticate)]
ProjectId = Annotated[int, Path(ge=1, le=MAX_ID, description="Project id")]


async def project_access(
    session: Session, principal: Principal, project_id: int, permission: Permission
) -> ProjectAccess:
    """The project, if the caller may `permission` on it: its own key reads it; otherwise the org decides."""
    project = await session.get(LLMProject, project_id)
    if project is None:
        raise NotFound(f"Project {project_id} not found")
    key = principal.api_key
    if key is not None and key.project_id is not None and permission is Permission.READ:
        if key.project_id != project.id or key.org_id != project.org_id:
            raise Forbidden("This API key belongs to another project")
        organization = await session.get(Organization, project.org_id)
        assert organization is not None  # the project's foreign key
        return ProjectAccess(project, organization, principal)
    user_id = principal.user.id if principal.user is not None else None
    organization, membership = await identity.organization_and_membership(session, project.org_id, user_id)
    assert organization is not None
    authorized(organization, membership, principal, permission, permission is Permission.READ)
    return ProjectAccess(project, organization, principal)


async def readable_project(session: Session, principal: Caller, project_id: ProjectId) -> ProjectAccess:
    return await project_access(session, principal, project_id, Permission.READ)


async def managed_project(session: Session, principal: Caller, project_id: ProjectId) -> ProjectAccess:
    return await project_access(session, principal, project_id, Permission.MANAGE_API_KEYS)


async def own_project(session: Session, principal: Caller) -> ProjectAccess:
    """The project the calling key belongs to."""
    key = principal.api_key
    if key is None:
        raise Forbidden("This route needs a project's API key (sk_...), not a user token")
    if key.project_id is None:
        raise Forbidden("This API key belongs to no project; use the key a project was created with")
    return await project_access(session, principal, key.project_id, Permission.READ)


ReadableProject = Annotated[ProjectAccess, Depends(readable_project)]
ManagedProject = Annotated[ProjectAccess, Depends(managed_project)]
OwnProject = Annotated[ProjectAccess, Depends(own_project)]


def signed_in(principal: Principal) -> User:
    if principal.user is None:
        raise Forbidden("API keys cannot use this route; sign in instead")
    return principal.user


async def personal_organization(session: Session, user: User) -> Organization:
    """The organization of the user's own GitHub account, else the one organization they belong to."""
    memberships = await identity.organizations_of_user(session, user.id)
    for organization, _ in memberships:
        if organization.login == user.github_login:
            return organization
    if len(memberships) == 1:
        return memberships[0][0]
    raise BadRequest(
        f"org_id: name the organization (you have no personal organization and belong to {len(memberships)})"
    )


async def creating_in(session: Session, principal: Principal, org_id: int | None) -> Organization:
    """The organization a new project goes to, if the caller may manage its keys there."""
    user = signed_in(principal)
    if org_id is None:
        organization = await personal_organization(session, user)
    else:
        found = await session.get(Organization, org_id)
        if found is None:
            raise NotFound(f"org_id: organization {org_id} not found")
        organization = found
    membership = await identity.membership(session, organization.id, user.id)
    authorized(organization, membership, principal, Permission.MANAGE_API_KEYS, False)
    return organization


async def listing(
    session: Session,
    principal: Caller,
    org_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only this organization's projects")
    ] = None,
) -> Listing:
    key = principal.api_key
    if key is not None and key.project_id is not None:
        if org_id is not None and org_id != key.org_id:
            raise Forbidden("This API key belongs to another organization")
        await project_access(session, principal, key.project_id, Permission.READ)
        return Listing(project_id=key.project_id)
    if org_id is None:
        if key is None:
            return Listing(user_id=signed_in(principal).id)
        org_id = key.org_id
    user_id = principal.user.id if principal.user is not None else None
    organization, membership = await identity.organization_and_membership(session, org_id, user_id)
    if organization is None:
        raise NotFound(f"Organization {org_id} not found")
    authorized(organization, membership, principal, Permission.READ, True)
    return Listing(org_id=organization.id)


ProjectListing = Annotated[Listing, Depends(listing)]
