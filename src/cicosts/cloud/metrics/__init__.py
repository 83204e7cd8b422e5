"""Utilization samples of cloud instances (CPU, memory), stored once per resource, metric and time."""
