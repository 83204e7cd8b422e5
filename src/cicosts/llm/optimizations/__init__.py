"""LLM optimizations: savings found in an organization's own calls, each with its evidence."""
