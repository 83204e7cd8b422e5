"""Users, organizations, memberships and how requests prove who they are."""
