"""LLM projects: what SDKs report into, each with its own ingest key."""
