"""CI recommendations: savings found in an organization's own jobs, each with the figures behind it."""
