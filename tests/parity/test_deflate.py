"""permessage-deflate: what the default client offers and which answers it takes."""

from __future__ import annotations

from typing import Any

import pytest

from .runner import Lib, differs, same


def negotiate(lib: Lib, answer: str) -> Any:
    """The default client's offer, answered with ``answer``."""
    deflate = lib.mod("extensions.permessage_deflate")
    protocol = lib.mod("client").ClientProtocol(
        lib.mod("uri").parse_uri("ws://example.com/"),
        extensions=deflate.enable_client_permessage_deflate(None),
    )
    request = protocol.connect()
    protocol.send_request(request)
    accept = lib.mod("utils").accept_key(request.headers["Sec-WebSocket-Key"])
    protocol.receive_data(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
            f"Sec-WebSocket-Extensions: {answer}\r\n\r\n"
        ).encode()
    )
    return protocol, request


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "; client_max_window_bits=15",
        "; client_max_window_bits=9",
        "; client_no_context_takeover",
        "; server_no_context_takeover; client_max_window_bits=15",
    ],
)
def test_default_client_accepts_what_websockets_accepts(answer: str) -> None:
    # The Autobahn fuzzing server answers client_max_window_bits=15 in cases
    # 13.4.x and 13.6.x: a client built with plain connect() takes it. (The
    # server answers wskit's server_max_window_bits=12, see below; the
    # websockets client takes that too: a server may always limit its window.)
    def scenario(lib: Lib) -> Any:
        protocol, _ = negotiate(lib, f"permessage-deflate; server_max_window_bits=12{answer}")
        return protocol.state.name, [extension.name for extension in protocol.extensions]

    assert same(scenario) == ("OPEN", ["permessage-deflate"])


def test_server_ignoring_the_window_asked_for_is_a_difference() -> None:
    # RFC 7692 7.1.2.1: a server accepts server_max_window_bits by answering
    # it; one that leaves it out breaks the negotiation, which wskit refuses.
    def scenario(lib: Lib) -> Any:
        protocol, _ = negotiate(lib, "permessage-deflate")
        return protocol.state.name, type(protocol.handshake_exc).__name__

    differs(
        scenario,
        websockets=("OPEN", "NoneType"),
        wskit=("CONNECTING", "NegotiationError"),
    )


def test_default_offer_is_a_difference() -> None:
    # Both offer client_max_window_bits without a value; wskit also asks the
    # server for a 4 KiB window (server_max_window_bits=12), a tenth of the
    # memory per connection, which an RFC 7692 server honours or declines.
    def scenario(lib: Lib) -> Any:
        _, request = negotiate(lib, "permessage-deflate")
        return request.headers["Sec-WebSocket-Extensions"]

    differs(
        scenario,
        websockets="permessage-deflate; client_max_window_bits",
        wskit="permessage-deflate; server_max_window_bits=12; client_max_window_bits",
    )
