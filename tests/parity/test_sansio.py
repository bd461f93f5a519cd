"""The Sans-I/O layer: states, close_expected() and events."""

from __future__ import annotations

from typing import Any

import pytest
import websockets.protocol as reference

from wskit import protocol

from .runner import Lib, name_of, same


def client(lib: Lib) -> Any:
    return lib.mod("client").ClientProtocol(lib.mod("uri").parse_uri("ws://example.com/"))


@pytest.mark.parametrize("side", ["client", "server"])
def test_close_expected_after_send_eof_while_connecting(side: str) -> None:
    # An application that gives up on the handshake sends EOF; the peer is
    # expected to close the TCP connection in turn.
    def scenario(lib: Lib) -> Any:
        protocol = client(lib) if side == "client" else lib.mod("server").ServerProtocol()
        before = protocol.close_expected()
        protocol.send_eof()
        return before, protocol.close_expected(), protocol.data_to_send(), protocol.state.name

    assert same(scenario) == (False, True, [b""], "CONNECTING")


def test_handshake_exc_is_set_by_accept() -> None:
    # Before the response is sent, as a process_response hook would see it.
    def scenario(lib: Lib) -> Any:
        server = lib.mod("server").ServerProtocol()
        server.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        [request] = server.events_received()
        server.accept(request)
        return name_of(server.handshake_exc)

    assert same(scenario) == "InvalidUpgrade"


def test_client_handshake_then_frames_in_one_packet() -> None:
    def scenario(lib: Lib) -> Any:
        protocol = client(lib)
        request = protocol.connect()
        protocol.send_request(request)
        accept = lib.mod("utils").accept_key(request.headers["Sec-WebSocket-Key"])
        protocol.receive_data(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept.encode() + b"\r\n\r\n"
            b"\x81\x02hi\x89\x00"
        )
        events = protocol.events_received()
        return [type(event).__name__ for event in events], protocol.state.name

    assert same(scenario) == (["Response", "Frame", "Frame"], "OPEN")


@pytest.mark.parametrize("side", ["client", "server"])
def test_receive_eof_while_open(side: str) -> None:
    def scenario(lib: Lib) -> Any:
        state = lib.mod("protocol").State.OPEN
        if side == "server":
            protocol = lib.mod("server").ServerProtocol(state=state)
        else:
            protocol = lib.mod("client").ClientProtocol(
                lib.mod("uri").parse_uri("ws://x/"), state=state
            )
        protocol.receive_eof()
        exc = protocol.close_exc
        return (
            protocol.state.name,
            protocol.close_code,
            name_of(exc),
            protocol.data_to_send(),
            protocol.close_expected(),
        )

    same(scenario)


def test_protocol_module_names() -> None:
    """wskit.protocol has websockets.protocol's public names, though the
    receive paths and the states live in modules of their own."""
    names = [*reference.__all__, "SERVER", "CLIENT", "CONNECTING", "OPEN", "CLOSING", "CLOSED"]
    for name in names:
        assert hasattr(reference, name)
        assert hasattr(protocol, name), name
    assert [member.name for member in protocol.State] == [member.name for member in reference.State]
    assert [member.name for member in protocol.Side] == [member.name for member in reference.Side]
    assert protocol.OPEN is protocol.State.OPEN
    assert protocol.SERVER is protocol.Side.SERVER
    # Documented and pickled where users import them from.
    assert protocol.State.__module__ == protocol.Side.__module__ == "wskit.protocol"
