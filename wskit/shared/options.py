"""The options of ``connect()`` and ``serve()`` that every I/O layer checks the same way.

Each layer's ``connect()`` and ``serve()`` call :func:`checked_extensions`
before anything else happens, so that a bad ``subprotocols`` or
``compression`` argument fails the call at once rather than the first
handshake.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from ..extensions.base import ClientExtensionFactory, ServerExtensionFactory
from ..headers import validate_subprotocols
from ..typing import Subprotocol

__all__ = ["checked_extensions"]

_Factory = TypeVar("_Factory", ClientExtensionFactory, ServerExtensionFactory)


def checked_extensions(
    extensions: Sequence[_Factory] | None,
    subprotocols: Sequence[Subprotocol] | None,
    compression: str | None,
    enable_deflate: Callable[[Sequence[_Factory] | None], Sequence[_Factory]],
) -> Sequence[_Factory] | None:
    """Check ``subprotocols`` and ``compression``; return the extensions to negotiate.

    Args:
        extensions: The extension factories given to ``connect()`` or ``serve()``.
        subprotocols: The subprotocols given.
        compression: ``"deflate"`` or :obj:`None`.
        enable_deflate: Adds permessage-deflate to the extensions:
            :func:`~wskit.extensions.permessage_deflate.enable_client_permessage_deflate`
            or
            :func:`~wskit.extensions.permessage_deflate.enable_server_permessage_deflate`.

    Raises:
        TypeError: ``subprotocols`` isn't a list of strings.
        ValueError: A subprotocol isn't a token, or ``compression`` is
            neither ``"deflate"`` nor :obj:`None`.
    """
    # In websockets' order: the subprotocols' error first.
    if subprotocols is not None:
        validate_subprotocols(subprotocols)
    if compression is None:
        return extensions
    if compression != "deflate":
        raise ValueError(f"unsupported compression: {compression}")
    return enable_deflate(extensions)
