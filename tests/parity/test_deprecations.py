"""Names websockets 17.4 deprecated and still accepts: same warnings, same results."""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Any

import pytest

from .runner import SCENARIO_TIMEOUT, Lib, same, warned

DEPRECATED = ("DeprecationWarning",)


def test_sans_io_client_connection() -> None:
    def scenario(lib: Lib) -> Any:
        uri = lib.mod("uri").parse_uri("ws://example.com/")
        made: list[Any] = []
        warnings = warned(lambda: made.append(lib.mod("client").ClientConnection(uri)))
        protocol = made[0]
        return (
            warnings,
            isinstance(protocol, lib.mod("client").ClientProtocol),
            protocol.connect().headers["Host"],
        )

    assert same(scenario) == (DEPRECATED, True, "example.com")


def test_sans_io_server_connection() -> None:
    def scenario(lib: Lib) -> Any:
        made: list[Any] = []
        warnings = warned(lambda: made.append(lib.mod("server").ServerConnection()))
        return warnings, isinstance(made[0], lib.mod("server").ServerProtocol)

    assert same(scenario) == (DEPRECATED, True)


def test_sync_web_socket_server() -> None:
    def scenario(lib: Lib) -> Any:
        module = lib.mod("sync.server")
        found: list[Any] = []
        warnings = warned(lambda: found.append(module.WebSocketServer))
        return warnings, found[0] is module.Server

    assert same(scenario) == (DEPRECATED, True)


def test_unknown_module_attribute() -> None:
    def scenario(lib: Lib) -> Any:
        module = lib.mod("sync.server")
        with pytest.raises(AttributeError):
            _ = module.NoSuchName
        return True

    same(scenario)


@pytest.mark.parametrize("attribute", ["code", "reason"])
@pytest.mark.parametrize("received", [True, False])
def test_connection_closed_code_and_reason(attribute: str, received: bool) -> None:
    def scenario(lib: Lib) -> Any:
        close = lib.mod("frames").Close(1001, "bye") if received else None
        exc = lib.mod("exceptions").ConnectionClosedOK(close, None)
        values: list[Any] = []
        warnings = warned(lambda: values.append(getattr(exc, attribute)))
        return warnings, values[0]

    assert same(scenario)[0] == DEPRECATED


def test_payload_too_big_with_a_message() -> None:
    def scenario(lib: Lib) -> Any:
        made: list[Any] = []
        warnings = warned(lambda: made.append(lib.mod("exceptions").PayloadTooBig("too big")))
        return warnings, str(made[0]), made[0].message

    assert same(scenario) == (DEPRECATED, "too big", "too big")


def test_payload_too_big_with_sizes_doesnt_warn() -> None:
    def scenario(lib: Lib) -> Any:
        return warned(lambda: lib.mod("exceptions").PayloadTooBig(2000, 1000))

    assert same(scenario) == ()


def test_sync_serve_ssl_context() -> None:
    # The TLS context passed as ssl_context= is used: the server speaks TLS.
    def scenario(lib: Lib) -> Any:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        servers: list[Any] = []
        warnings = warned(
            lambda: servers.append(
                lib.mod("sync.server").serve(lambda ws: None, "127.0.0.1", 0, ssl_context=context)
            )
        )
        with servers[0] as server:
            # websockets' shutdown() waits for serve_forever() to have run.
            serving = threading.Thread(target=server.serve_forever)
            serving.start()
            family = server.socket.family
        serving.join(SCENARIO_TIMEOUT)
        return warnings, family == socket.AF_INET

    assert same(scenario) == (DEPRECATED, True)


def test_sync_connect_ssl_context() -> None:
    # Passed as ssl= it would be refused with ws://: ssl_context= is ssl=.
    def scenario(lib: Lib) -> Any:
        context = ssl.create_default_context()
        raised: list[str] = []

        def call() -> None:
            try:
                lib.mod("sync.client").connect("ws://127.0.0.1:9/", ssl_context=context)
            except Exception as exc:
                raised.append(type(exc).__name__)

        return warned(call), raised

    assert same(scenario) == (DEPRECATED, ["ValueError"])
