"""The Sans-I/O guide's server ("sansio/selectors_server.py") speaks WebSocket to wskit's client.

The server runs in a subprocess, as a user would start it; wskit's threaded
client checks the handshake, echoes of every kind of message, compression,
limits, pings, and both ways of closing.
"""

from __future__ import annotations

import pytest

from tests.test_examples import TIMEOUT, running
from wskit.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus
from wskit.sync.client import connect

SERVER = "sansio/selectors_server.py"


def test_echoes_every_kind_of_message() -> None:
    with running(SERVER, "ws") as server:
        uri = f"ws://127.0.0.1:{server.port}/"
        with connect(uri) as one, connect(uri) as two:
            # permessage-deflate was negotiated, and messages go both ways.
            assert [str(e.name) for e in one.protocol.extensions] == ["permessage-deflate"]
            one.send("Hello!")
            two.send(b"\x00\xff")
            assert two.recv(TIMEOUT) == b"\x00\xff"
            assert one.recv(TIMEOUT) == "Hello!"
            one.send(["frag", "ment"])  # a fragmented message
            assert one.recv(TIMEOUT) == "fragment"
            text = "A compressible sentence. " * 4000
            one.send(text)
            assert one.recv(TIMEOUT) == text
            # The core answers pings.
            assert one.ping().wait(TIMEOUT)
        assert one.close_code == 1000


def test_refuses_unknown_paths_and_large_messages() -> None:
    with running(SERVER, "ws") as server:
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://127.0.0.1:{server.port}/elsewhere")
        assert refused.value.response.status_code == 404
        with connect(f"ws://127.0.0.1:{server.port}/", max_size=None) as websocket:
            websocket.send(b"\x00" * (2**20 + 1), compress=False)
            with pytest.raises(ConnectionClosedError) as closed:
                websocket.recv(TIMEOUT)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1009  # message too big


def test_shutdown_tells_open_connections() -> None:
    with running(SERVER, "ws") as server:
        websocket = connect(f"ws://127.0.0.1:{server.port}/")
        server.stop()  # SIGTERM; running() checks that the server exits with 0
        with pytest.raises(ConnectionClosedOK):
            websocket.recv(TIMEOUT)
        assert websocket.close_code == 1001
