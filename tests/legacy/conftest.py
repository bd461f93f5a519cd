"""Run ``async def`` tests as tests/asyncio does; import the legacy packages once, quietly.

Importing :mod:`wskit.legacy` (or ``websockets.legacy``) warns, and the suite turns warnings into
errors: the package is imported here, before the test modules, and the
warning itself is tested in a fresh interpreter (test_imports.py).
"""

from __future__ import annotations

import warnings

from ..asyncio.conftest import pytest_pyfunc_call

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import websockets.legacy  # the reference, for the tests that compare

    import wskit.legacy

__all__ = ["pytest_pyfunc_call", "websockets", "wskit"]
