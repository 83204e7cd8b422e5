"""CI cost exports (CSV or JSON, four granularities), streamed over HTTP and written by `cicosts export`."""
