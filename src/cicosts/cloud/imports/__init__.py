"""FOCUS billing files (CSV, gzipped CSV, Parquet) into the cloud rows, their rollups and the ledger."""
