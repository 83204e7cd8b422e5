"""Hourly cost rollups, written by every source in the same transaction as its raw rows."""
