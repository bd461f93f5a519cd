"""Tests of the benchmark harness (they check it works, never how fast anything is)."""
