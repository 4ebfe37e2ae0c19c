"""Measurements: accuracy, complexity, latency, memory, cost; each states its conditions."""
