"""Plans, their limits, and (later) billing."""
