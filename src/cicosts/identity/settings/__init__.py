"""A person's settings and preferences, and an organization's settings, members and runner mappings."""
