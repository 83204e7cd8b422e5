"""The durable job loop: claim with a lease, run, retry with backoff, dead-letter."""
