"""Cloud costs: FOCUS billing imports, utilization metrics, cost breakdowns and rightsizing advice."""
