"""Type aliases shared across wskit's public API."""

from __future__ import annotations

import http
import logging
from typing import TYPE_CHECKING, Any, NewType, TypeAlias

__all__ = [
    "BytesLike",
    "Data",
    "ExtensionName",
    "ExtensionParameter",
    "LoggerLike",
    "Origin",
    "StatusLike",
    "Subprotocol",
]

Data: TypeAlias = "str | bytes"
"""A WebSocket message: :class:`str` for text, :class:`bytes` for binary."""

BytesLike: TypeAlias = "bytes | bytearray | memoryview"
"""Anything that exposes a contiguous byte buffer."""

if TYPE_CHECKING:
    LoggerLike: TypeAlias = logging.Logger | logging.LoggerAdapter[Any]
else:
    LoggerLike = logging.Logger | logging.LoggerAdapter
"""A logger or a logger adapter."""

StatusLike: TypeAlias = "http.HTTPStatus | int"
"""An HTTP status code."""

Origin = NewType("Origin", str)
"""Value of an ``Origin`` header."""

Subprotocol = NewType("Subprotocol", str)
"""A subprotocol name, as in ``Sec-WebSocket-Protocol``."""

ExtensionName = NewType("ExtensionName", str)
"""An extension name, as in ``Sec-WebSocket-Extensions``."""

ExtensionParameter: TypeAlias = "tuple[str, str | None]"
"""An extension parameter: a name and an optional value."""
