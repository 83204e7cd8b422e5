"""Processing stored GitHub deliveries into installations, repositories, runs, priced jobs and rollups."""
