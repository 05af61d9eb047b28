"""Benchmarks at city scale: each figure beside the naive approach measured in the same run."""
