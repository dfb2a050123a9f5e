"""Differentially private aggregation (spec §3): parameters, budget split, percentile, noise, the per-length loop."""
