"""wskit.testing.sync.connect: a threading client joined to a handler by a socket pair."""

from __future__ import annotations

import socket

import pytest

from wskit.exceptions import ConnectionClosedError, ConnectionClosedOK
from wskit.sync.client import ClientConnection
from wskit.sync.server import ServerConnection
from wskit.testing.sync import connect
from wskit.typing import Subprotocol


def echo(websocket: ServerConnection) -> None:
    for message in websocket:
        websocket.send(message)


def test_echo_over_a_socket_pair() -> None:
    with connect(echo) as websocket:
        assert isinstance(websocket, ClientConnection)
        assert websocket.socket.family == socket.AF_UNIX  # no network, no port
        websocket.send("hello")
        assert websocket.recv() == "hello"
    assert websocket.close_code == 1000


def test_the_handler_gets_the_request() -> None:
    def handler(websocket: ServerConnection) -> None:
        assert websocket.request is not None
        websocket.send(websocket.request.path)

    with connect(handler, "/a/b?c=d") as websocket:
        assert websocket.recv() == "/a/b?c=d"
        with pytest.raises(ConnectionClosedOK):
            websocket.recv()


def test_close_codes_and_handler_errors() -> None:
    def handler(websocket: ServerConnection) -> None:
        if websocket.recv() == "close":
            websocket.close(4002, "asked")
        raise RuntimeError("bug in the handler")

    with connect(handler) as websocket:
        websocket.send("close")
        with pytest.raises(ConnectionClosedError) as raised:
            websocket.recv()
    assert raised.value.rcvd is not None
    assert raised.value.rcvd.code == 4002
    with connect(handler) as websocket:
        websocket.send("other")
        with pytest.raises(ConnectionClosedError):
            websocket.recv()
    assert websocket.close_code == 1011


def test_server_options_apply() -> None:
    with connect(
        echo, server_options={"subprotocols": [Subprotocol("v2")]}, subprotocols=[Subprotocol("v2")]
    ) as websocket:
        assert websocket.subprotocol == "v2"
