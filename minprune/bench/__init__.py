"""The benchmark suite behind ``minprune bench``: timings printed as ratios to a baseline."""
