"""Rightsizing and idle instances, from utilization samples and each instance's own billed cost."""
