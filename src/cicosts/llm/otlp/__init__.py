"""OpenTelemetry GenAI spans (OTLP/HTTP) stored as LLM events."""
