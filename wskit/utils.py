"""Small helpers of the opening handshake (RFC 6455, section 4)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from .speedups import apply_mask

__all__ = ["GUID", "accept_key", "apply_mask", "escape_controls", "generate_key"]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""The constant that RFC 6455 appends to the key to compute the accept value."""


def generate_key() -> str:
    """Return a fresh ``Sec-WebSocket-Key``: 16 random bytes, base64-encoded."""
    return base64.b64encode(os.urandom(16)).decode()


def accept_key(key: str) -> str:
    """Compute ``Sec-WebSocket-Accept`` from ``Sec-WebSocket-Key``.

    Args:
        key: Value of the client's ``Sec-WebSocket-Key`` header.
    """
    digest = hashlib.sha1((key + GUID).encode(), usedforsecurity=False).digest()
    return binascii.b2a_base64(digest, newline=False).decode()


def escape_controls(text: str) -> str:
    """Escape control and other unprintable characters, as :func:`repr` would.

    Text from the peer (close reasons, HTTP reasons, error messages) goes
    through this before it reaches a log or a terminal, so that it can't
    forge log lines or send escape sequences.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
