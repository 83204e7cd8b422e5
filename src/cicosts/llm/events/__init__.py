"""LLM calls in AgentCost's batch format: validated one by one, priced, stored once, rolled up."""
