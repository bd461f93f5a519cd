"""The options of ``connect()`` and ``serve()`` that every I/O layer checks the same way.

Each layer calls :func:`client_extensions` in ``connect()`` and
:func:`server_extensions` in ``serve()`` before anything else happens, so
that a bad ``subprotocols`` or ``compression`` argument fails the call at
once rather than the first handshake.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..extensions.base import ClientExtensionFactory, ServerExtensionFactory
from ..extensions.permessage_deflate import (
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from ..headers import validate_subprotocols
from ..typing import Subprotocol

__all__ = ["client_extensions", "server_extensions"]


def client_extensions(
    extensions: Sequence[ClientExtensionFactory] | None,
    subprotocols: Sequence[Subprotocol] | None,
    compression: str | None,
) -> Sequence[ClientExtensionFactory] | None:
    """Check a client's ``subprotocols`` and ``compression``; return the extensions to offer.

    Raises:
        TypeError: ``subprotocols`` isn't a list of strings.
        ValueError: A subprotocol isn't a token, or ``compression`` is
            neither ``"deflate"`` nor :obj:`None`.
    """
    if _deflate(subprotocols, compression):
        return enable_client_permessage_deflate(extensions)
    return extensions


def server_extensions(
    extensions: Sequence[ServerExtensionFactory] | None,
    subprotocols: Sequence[Subprotocol] | None,
    compression: str | None,
) -> Sequence[ServerExtensionFactory] | None:
    """Check a server's ``subprotocols`` and ``compression``; return the extensions to accept.

    Raises:
        TypeError: ``subprotocols`` isn't a list of strings.
        ValueError: A subprotocol isn't a token, or ``compression`` is
            neither ``"deflate"`` nor :obj:`None`.
    """
    if _deflate(subprotocols, compression):
        return enable_server_permessage_deflate(extensions)
    return extensions


def _deflate(subprotocols: Sequence[Subprotocol] | None, compression: str | None) -> bool:
    """Check both options; return whether permessage-deflate is to be enabled."""
    if subprotocols is not None:
        validate_subprotocols(subprotocols)
    if compression is not None and compression != "deflate":
        raise ValueError(f"unsupported compression: {compression}")
    return compression is not None
