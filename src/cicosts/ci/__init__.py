"""GitHub Actions: webhooks, job pricing, and the dashboard API."""
