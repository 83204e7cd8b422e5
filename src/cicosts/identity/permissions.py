"""Who may do what in an organization. Every tenant route depends on exactly one `require(...)`.

| permission        | viewer | member | admin | owner |
|-------------------|--------|--------|-------|-------|
| read              | yes    | yes    | yes   | yes   |
| manage_alerts     |        | yes    | yes   | yes   |
| manage_api_keys   |        |        | yes   | yes   |
| manage_settings   |        |        | yes   | yes   |
| manage_runners    |        |        | yes   | yes   |
| manage_members    |        |        | yes   | yes   |
| manage_billing    |        |        | yes   | yes   |
| delete_org        |        |        |       | yes   |
| transfer_owner    |        |        |       | yes   |

API keys act for their organization only: a `read` key reads, an `ingest` key sends data; neither manages.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


class Permission(StrEnum):
    READ = "read"
    INGEST = "ingest"
    MANAGE_ALERTS = "manage_alerts"
    MANAGE_API_KEYS = "manage_api_keys"
    MANAGE_SETTINGS = "manage_settings"
    MANAGE_RUNNERS = "manage_runners"
    MANAGE_MEMBERS = "manage_members"
    MANAGE_BILLING = "manage_billing"
    DELETE_ORG = "delete_org"
    TRANSFER_OWNER = "transfer_owner"


_VIEWER = frozenset({Permission.READ})
_MEMBER = _VIEWER | {Permission.MANAGE_ALERTS}
_ADMIN = _MEMBER | {
    Permission.MANAGE_API_KEYS,
    Permission.MANAGE_SETTINGS,
    Permission.MANAGE_RUNNERS,
    Permission.MANAGE_MEMBERS,
    Permission.MANAGE_BILLING,
}
_OWNER = _ADMIN | {Permission.DELETE_ORG, Permission.TRANSFER_OWNER}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: _VIEWER,
    Role.MEMBER: _MEMBER,
    Role.ADMIN: _ADMIN,
    Role.OWNER: _OWNER,
}
API_KEY_SCOPES: dict[str, frozenset[Permission]] = {
    "read": frozenset({Permission.READ}),
    "ingest": frozenset({Permission.INGEST}),
}


def role_allows(role: str, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS.get(Role(role), frozenset())


def scopes_allow(scopes: list[str], permission: Permission) -> bool:
    return any(permission in API_KEY_SCOPES.get(scope, frozenset()) for scope in scopes)
