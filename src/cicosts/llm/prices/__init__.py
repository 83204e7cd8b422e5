"""Custom LLM prices beside the catalogue, and the /v1/pricing routes."""
