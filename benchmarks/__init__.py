"""Benchmarks for wskit (not part of the installed package)."""
