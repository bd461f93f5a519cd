"""Pick the hot-path implementation: the C accelerator, or the pure-Python fallback.

The C extension ``wskit._speedups`` is optional. It is used when it was built
and ``WSKIT_NO_SPEEDUPS`` is unset (or empty); otherwise the identical API in
:mod:`wskit._purepython` takes over. ``IMPLEMENTATION`` says which one runs.
"""

from __future__ import annotations

import os

from . import _purepython

__all__ = ["IMPLEMENTATION", "UTF8Validator", "apply_mask"]

apply_mask = _purepython.apply_mask
UTF8Validator: type[_purepython.UTF8Validator] = _purepython.UTF8Validator
IMPLEMENTATION = "python"

if not os.environ.get("WSKIT_NO_SPEEDUPS"):
    try:
        from . import _speedups
    except ImportError:  # not built: no compiler, or a pure-Python install
        pass
    else:
        apply_mask = _speedups.apply_mask
        UTF8Validator = _speedups.UTF8Validator
        IMPLEMENTATION = "c"
