"""The CI dashboard API: summaries, trends and workflow lists, read from the hourly rollups."""
