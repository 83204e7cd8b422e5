"""API keys: how programs authenticate."""
