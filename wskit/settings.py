"""Tuning knobs read from ``WSKIT_*`` environment variables.

They change defaults without changing code, for instance the delays between
reconnection attempts (``WSKIT_BACKOFF_*``, see :mod:`wskit.reconnect`) or
how many redirects a client follows (``WSKIT_MAX_REDIRECTS``, see
:mod:`wskit.shared.redirects`). They're read when they're needed, not at import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["setting"]


def setting(
    name: str, default: float, environ: Mapping[str, str] | None = None, *, minimum: float = 0
) -> float:
    """Read a number from the environment variable ``WSKIT_<name>``.

    Args:
        name: Name of the setting, such as ``MAX_REDIRECTS``.
        default: Value when the variable isn't set or is empty.
        environ: Environment variables; :data:`os.environ` by default.
        minimum: Smallest valid value.

    Raises:
        ValueError: The variable isn't a number, or is below ``minimum``.
    """
    if environ is None:
        environ = os.environ
    variable = f"WSKIT_{name}"
    text = environ.get(variable, "")
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{variable} must be a number: {text!r}") from None
    if not value >= minimum:  # also rejects NaN
        raise ValueError(f"{variable} must be at least {minimum}: {text!r}")
    return value
