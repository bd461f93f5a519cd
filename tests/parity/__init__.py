"""Parity with websockets 17.4: what a program sees, scenario by scenario."""
