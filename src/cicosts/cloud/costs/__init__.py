"""GET /costs and /v1/cloud/costs/*: cloud costs read from the daily rollups (and the rows, for /costs)."""
