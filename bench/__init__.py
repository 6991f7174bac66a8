"""Benchmarks: scenarios on the real local stack that print tables (and draw plots) of what happened."""
