"""The C extension, for the tests that hold it to its pure-Python twin.

:data:`C_SPEEDUPS` is ``wskit._speedups``, imported directly so that it is
tested even when ``WSKIT_NO_SPEEDUPS`` makes wskit use the fallback, or
:obj:`None` if it wasn't built; :data:`needs_c` skips a test in that case.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

__all__ = ["C_SPEEDUPS", "needs_c"]

C_SPEEDUPS: ModuleType | None
try:
    C_SPEEDUPS = importlib.import_module("wskit._speedups")
except ImportError:  # pragma: no cover - the extension is built in CI and here
    C_SPEEDUPS = None

needs_c = pytest.mark.skipif(C_SPEEDUPS is None, reason="C extension not built")
