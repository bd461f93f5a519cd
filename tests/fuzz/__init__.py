"""Fuzzing the Sans-I/O core: one input generator, one invariant checker, every variant.

``inputs`` turns raw bytes into what a peer sends; ``harness`` plays it
against the server and client protocols on both hot paths and checks the
invariants; ``test_fuzz`` runs a short campaign with hypothesis in the test
suite; ``python -m tests.fuzz`` (``scripts/fuzz``) runs long ones.
"""
