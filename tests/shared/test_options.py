"""Tests for wskit.shared.options: the options every connect() and serve() check alike.

Each test runs as a client's connect() and as a server's serve() call it.
"""

from __future__ import annotations

from typing import Any

import pytest

from wskit.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from wskit.shared.options import checked_extensions
from wskit.typing import Subprotocol


def client_extensions(extensions: Any, subprotocols: Any, compression: Any) -> Any:
    return checked_extensions(
        extensions, subprotocols, compression, enable_client_permessage_deflate
    )


def server_extensions(extensions: Any, subprotocols: Any, compression: Any) -> Any:
    return checked_extensions(
        extensions, subprotocols, compression, enable_server_permessage_deflate
    )


BOTH = pytest.mark.parametrize(
    ("extensions_for", "factory"),
    [
        (client_extensions, ClientPerMessageDeflateFactory),
        (server_extensions, ServerPerMessageDeflateFactory),
    ],
    ids=["client", "server"],
)


@BOTH
def test_deflate_adds_permessage_deflate(extensions_for: Any, factory: type) -> None:
    [extension] = extensions_for(None, None, "deflate")
    assert isinstance(extension, factory)


@BOTH
def test_deflate_keeps_a_permessage_deflate_given(extensions_for: Any, factory: type) -> None:
    given = [factory(server_max_window_bits=10)]
    assert list(extensions_for(given, None, "deflate")) == given


@BOTH
def test_no_compression_leaves_extensions_as_given(extensions_for: Any, factory: type) -> None:
    assert extensions_for(None, None, None) is None
    given = [factory()]
    assert extensions_for(given, [Subprotocol("chat")], None) is given


@BOTH
@pytest.mark.parametrize("compression", ["gzip", "", "DEFLATE"])
def test_unsupported_compression_is_refused(
    extensions_for: Any, factory: type, compression: str
) -> None:
    with pytest.raises(ValueError, match=f"unsupported compression: {compression}$"):
        extensions_for(None, None, compression)


@BOTH
@pytest.mark.parametrize(
    ("subprotocols", "error"),
    [
        ("chat", TypeError),  # a str would offer "c", "h", "a", "t"
        ({"chat"}, TypeError),  # no order of preference
        ([b"chat"], TypeError),
        (["not a token"], ValueError),
    ],
)
def test_invalid_subprotocols_are_refused(
    extensions_for: Any, factory: type, subprotocols: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        extensions_for(None, subprotocols, "deflate")


@BOTH
def test_subprotocols_are_checked_before_compression(extensions_for: Any, factory: type) -> None:
    # As websockets' connect() and serve() do: the subprotocols' error wins.
    with pytest.raises(TypeError):
        extensions_for(None, "chat", "gzip")
