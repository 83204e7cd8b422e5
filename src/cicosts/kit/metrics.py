"""Prometheus metrics, exposed at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("cicosts_http_requests_total", "HTTP requests by route", ["method", "route", "status"])
REQUEST_LATENCY = Histogram(
    "cicosts_http_request_duration_seconds",
    "HTTP request latency by route",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
DELIVERIES_RECEIVED = Counter(
    "cicosts_webhook_deliveries_received_total",
    "GitHub deliveries received, by event and outcome",
    ["event", "outcome"],
)
DELIVERIES_PROCESSED = Counter(
    "cicosts_webhook_deliveries_processed_total", "Deliveries processed by the worker", ["kind"]
)
DELIVERIES_FAILED = Counter(
    "cicosts_webhook_deliveries_failed_total",
    "Delivery processing failures, by whether they will be retried",
    ["kind", "outcome"],
)
QUEUE_DEPTH = Gauge("cicosts_queue_depth", "Jobs waiting or running", ["queue"])
QUEUE_OLDEST_AGE = Gauge("cicosts_queue_oldest_age_seconds", "Age of the oldest waiting job", ["queue"])
