"""Tests for wskit.trio.server over real sockets on 127.0.0.1."""

from __future__ import annotations

import gc
import http
import logging
import socket
import weakref
from typing import Any

import pytest
import trio
import trio.testing

from tests.raw_peers import closing_client
from wskit.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus
from wskit.frames import CloseCode
from wskit.http11 import Request, Response
from wskit.trio.client import connect
from wskit.trio.server import ServerConnection, basic_auth, broadcast, serve
from wskit.typing import Subprotocol

from .helpers import LOCALHOST, QUIET, client_tls, echo, port_of, server_tls, serving, uri_of


async def test_handler_gets_the_request_and_the_connection_closes_after() -> None:
    seen: list[Any] = []

    async def handler(websocket: ServerConnection) -> None:
        seen.append((websocket.request.path if websocket.request else None, websocket.username))

    async def process_request(websocket: ServerConnection, request: Request) -> None:
        websocket.username = "set by a hook"

    async with serving(handler, process_request=process_request) as server:
        async with connect(uri_of(server) + "path?q=1") as websocket:
            await websocket.wait_closed()
        assert websocket.close_code == CloseCode.NORMAL_CLOSURE
    assert seen == [("/path?q=1", "set by a hook")]


async def test_handler_exception_closes_with_1011_and_is_logged(caplog: Any) -> None:
    async def handler(websocket: ServerConnection) -> None:
        raise RuntimeError("boom")

    async with serving(handler) as server, connect(uri_of(server)) as websocket:
        with pytest.raises(ConnectionClosedError):
            await websocket.recv()
        assert websocket.close_code == CloseCode.INTERNAL_ERROR
    assert "connection handler failed" in caplog.text


async def test_process_request_answers_instead_of_opening() -> None:
    def health(websocket: ServerConnection, request: Request) -> Response | None:
        if request.path == "/health":
            return websocket.respond(http.HTTPStatus.OK, "OK\n")
        return None

    async with serving(process_request=health) as server:
        with pytest.raises(InvalidStatus) as raised:
            async with connect(uri_of(server) + "health"):
                pass
        assert raised.value.response.status_code == 200
        assert raised.value.response.body == b"OK\n"
        async with connect(uri_of(server) + "other") as websocket:
            await websocket.send("still serving")
            assert await websocket.recv() == "still serving"
        assert server.stats.refused[200] == 1


async def test_process_response_and_server_header() -> None:
    async def process_response(
        websocket: ServerConnection, request: Request, response: Response
    ) -> None:
        response.headers["X-Hook"] = "yes"

    async with (
        serving(process_response=process_response, server_header=None) as server,
        connect(uri_of(server)) as websocket,
    ):
        assert websocket.response is not None
        assert websocket.response.headers["X-Hook"] == "yes"
        assert "Server" not in websocket.response.headers


async def test_failing_hook_answers_500(caplog: Any) -> None:
    def process_request(websocket: ServerConnection, request: Request) -> None:
        raise ValueError("bug in a hook")

    async with serving(process_request=process_request) as server:
        with pytest.raises(InvalidStatus) as raised:
            async with connect(uri_of(server)):
                pass
        assert raised.value.response.status_code == 500
        assert b"bug" not in raised.value.response.body
    assert "bug in a hook" in caplog.text


async def test_basic_auth() -> None:
    auth = basic_auth(realm="test", credentials=("alice", "s3cret"))
    users: list[str] = []

    async def handler(websocket: ServerConnection) -> None:
        users.append(websocket.username)

    async with serving(handler, process_request=auth) as server:
        with pytest.raises(InvalidStatus) as raised:
            async with connect(uri_of(server)):
                pass
        assert raised.value.response.status_code == 401
        with pytest.raises(InvalidStatus):
            async with connect(f"ws://alice:wrong@{LOCALHOST}:{port_of(server)}/"):
                pass
        async with connect(f"ws://alice:s3cret@{LOCALHOST}:{port_of(server)}/") as websocket:
            await websocket.wait_closed()
    assert users == ["alice"]
    with pytest.raises(ValueError, match="credentials"):
        basic_auth()


async def test_subprotocols_and_select_subprotocol() -> None:
    def select(websocket: ServerConnection, offered: Any) -> Any:
        assert isinstance(websocket, ServerConnection)
        return offered[-1]

    async with (
        serving(subprotocols=[Subprotocol("a"), Subprotocol("b")]) as server,
        connect(uri_of(server), subprotocols=[Subprotocol("b"), Subprotocol("a")]) as websocket,
    ):
        assert websocket.subprotocol == "a"
    async with (
        serving(select_subprotocol=select) as server,
        connect(uri_of(server), subprotocols=[Subprotocol("x"), Subprotocol("y")]) as websocket,
    ):
        assert websocket.subprotocol == "y"


async def test_compression_is_negotiated_by_default() -> None:
    async with serving() as server:
        async with connect(uri_of(server)) as websocket:
            assert websocket.protocol.extensions
            await websocket.send("a" * 10000)
            assert await websocket.recv() == "a" * 10000
            assert websocket.stats.bytes_received < 1000
        async with connect(uri_of(server), compression=None) as websocket:
            assert not websocket.protocol.extensions


async def test_tls() -> None:
    async with serving(ssl=server_tls()) as server:
        async with connect(
            f"wss://localhost:{port_of(server)}/", ssl=client_tls(), host=LOCALHOST
        ) as websocket:
            await websocket.send("secret")
            assert await websocket.recv() == "secret"
            assert websocket.remote_address[0] == LOCALHOST
        assert websocket.close_code == CloseCode.NORMAL_CLOSURE


async def test_tls_handshake_failure_is_dropped() -> None:
    async with serving(ssl=server_tls()) as server:
        stream = await trio.open_tcp_stream(LOCALHOST, port_of(server))
        await stream.send_all(b"GET / HTTP/1.1\r\n\r\n")  # not TLS
        assert await stream.receive_some(100) == b""
        await stream.aclose()
        async with connect(uri_of(server, "wss"), ssl=client_tls(), server_hostname="localhost"):
            pass


async def test_open_timeout_drops_silent_clients(caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    async with serving(open_timeout=0.1) as server:
        stream = await trio.open_tcp_stream(LOCALHOST, port_of(server))
        assert await stream.receive_some(100) == b""
        await stream.aclose()
    assert "opening handshake timed out" in caplog.text


async def test_malformed_request_is_refused() -> None:
    async with serving() as server:
        stream = await trio.open_tcp_stream(LOCALHOST, port_of(server))
        await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # no Upgrade
        response = b""
        while chunk := await stream.receive_some(4096):
            response += chunk
        assert response.startswith(b"HTTP/1.1 426")
        await stream.aclose()


async def test_aclose_closes_connections_with_1001_and_stops_listening() -> None:
    async with serving() as server:
        port = port_of(server)
        async with connect(uri_of(server)) as websocket:
            assert len(server.connections) == 1
            await server.aclose()
            with pytest.raises(ConnectionClosed):
                await websocket.recv()
            assert websocket.close_code == CloseCode.GOING_AWAY
        assert server.connections == set()
        await server.aclose()  # idempotent
        with pytest.raises(OSError, match="connect"):
            await trio.open_tcp_stream(LOCALHOST, port)


async def test_handshakes_during_shutdown_get_503() -> None:
    async with trio.open_nursery() as nursery:

        async def process_request(websocket: ServerConnection, request: Request) -> None:
            # The server closes while this handshake is in progress.
            nursery.start_soon(websocket.server.aclose)
            await trio.testing.wait_all_tasks_blocked()

        async with serving(process_request=process_request) as server:
            with pytest.raises(InvalidStatus) as raised:
                async with connect(uri_of(server)):
                    pass
            assert raised.value.response.status_code == 503


async def test_aclose_drops_connections_that_sent_nothing_at_once(caplog: Any) -> None:
    # A browser's preconnects send nothing: aclose() doesn't wait until the
    # open timeout expires for them, nor logs them as failures.
    caplog.set_level(logging.DEBUG, logger="wskit.server")
    async with serving(open_timeout=30) as server:
        stream = await trio.open_tcp_stream(LOCALHOST, port_of(server))
        with trio.fail_after(5):
            while not server.opening:
                await trio.sleep(0.005)
            await server.aclose()
            assert await stream.receive_some(100) == b""  # closed, without an answer
        await stream.aclose()
    assert "opening handshake" not in caplog.text
    (record,) = [r for r in caplog.records if r.message == "no request before the server closed"]
    assert record.levelno == logging.DEBUG
    assert not server.dropped
    # Neither a refusal nor a connection.
    assert (server.stats.opened, server.stats.refused, server.stats.closed) == (0, {}, {})


async def test_aclose_answers_503_to_a_connection_that_sent_part_of_its_request() -> None:
    async with serving(open_timeout=30) as server, trio.open_nursery() as nursery:
        stream = await trio.open_tcp_stream(LOCALHOST, port_of(server))
        request = (
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await stream.send_all(request[:10])
        with trio.fail_after(5):
            while not any(c.protocol.bytes_received for c in server.opening):
                await trio.sleep(0.005)
            nursery.start_soon(server.aclose)
            await trio.testing.wait_all_tasks_blocked()
            assert server.opening  # not dropped
            await stream.send_all(request[10:])
            response = b""
            while chunk := await stream.receive_some(4096):
                response += chunk
        await stream.aclose()
    assert response.startswith(b"HTTP/1.1 503")
    assert server.stats.refused == {503: 1}


async def test_aclose_without_closing_connections_waits_for_handlers() -> None:
    async with (
        serving() as server,
        trio.open_nursery() as nursery,
        connect(uri_of(server)) as websocket,
    ):
        nursery.start_soon(server.aclose, False)
        await trio.testing.wait_all_tasks_blocked()
        assert server.closing
        await websocket.send("still open")
        assert await websocket.recv() == "still open"
        # Leaving the client's block ends the handler, and then aclose() returns.


async def test_cancelling_serve_aborts_every_connection() -> None:
    with trio.move_on_after(10):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                lambda task_status: serve(echo, 0, host=LOCALHOST, task_status=task_status, **QUIET)
            )
            async with connect(uri_of(server)) as websocket:
                nursery.cancel_scope.cancel()
                with pytest.raises(ConnectionClosed):
                    await websocket.recv()


async def test_serve_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="port is required"):
        await serve(echo)
    listeners = await trio.open_tcp_listeners(0, host=LOCALHOST)
    with pytest.raises(ValueError, match="port is incompatible"):
        await serve(echo, 1, listeners=listeners)
    with pytest.raises(ValueError, match="compression"):
        await serve(echo, listeners=listeners, compression="zstd")
    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            lambda task_status: serve(echo, listeners=listeners, task_status=task_status)
        )
        async with server, connect(uri_of(server)) as websocket:
            await websocket.send("over given listeners")
            assert await websocket.recv() == "over given listeners"


async def test_broadcast_reaches_every_open_connection() -> None:
    async def handler(websocket: ServerConnection) -> None:
        await websocket.wait_closed()

    async with (
        serving(handler) as server,
        connect(uri_of(server)) as one,
        connect(uri_of(server)) as two,
    ):
        while len(server.connections) < 2:
            await trio.sleep(0.01)
        await broadcast(server.connections, "to all")
        await broadcast(server.connections, b"binary", compress=False)
        for websocket in (one, two):
            assert await websocket.recv() == "to all"
            assert await websocket.recv() == b"binary"


async def test_broadcast_skips_connections_that_cant_take_it(caplog: Any) -> None:
    async def handler(websocket: ServerConnection) -> None:
        await websocket.wait_closed()

    async with (
        serving(handler, compression=None, write_limit=100) as server,
        connect(uri_of(server)),
    ):
        while not server.connections:
            await trio.sleep(0.01)
        [connection] = server.connections
        connection._write([b"x" * 1000 + b"never written"])
        connection.outgoing_size = 1000  # as if the peer had stopped reading
        with pytest.raises(ExceptionGroup) as raised:
            await broadcast(server.connections, "x", raise_exceptions=True)
        assert "too slowly" in str(raised.value.exceptions[0])
        connection.outgoing_size = 0
        connection.abort()
    with pytest.raises(TypeError):
        await broadcast([], 42)  # type: ignore[arg-type]


async def test_stats_count_connections() -> None:
    async with serving() as server:
        async with connect(uri_of(server)) as websocket:
            await websocket.send("x")
            await websocket.recv()
        await websocket.wait_closed()
        while sum(server.stats.closed.values()) < 1:
            await trio.sleep(0.01)
        assert server.stats.opened == 1


@pytest.mark.parametrize("after", [b"", b"x"])
async def test_server_closes_at_once_after_a_clean_closing_handshake(after: bytes) -> None:
    # As on asyncio (see tests/asyncio/test_connection.py): the connection
    # ends without the client's EOF, unless bytes followed its close frame.
    closed = trio.Event()

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()
        closed.set()

    async with serving(handler, close_timeout=60) as server:
        peer = await trio.to_thread.run_sync(closing_client, port_of(server), after)
        with peer.sock:
            if after:
                with trio.move_on_after(0.1):
                    await closed.wait()
                assert not closed.is_set()
                peer.sock.shutdown(socket.SHUT_WR)
            with trio.fail_after(5):
                await closed.wait()
            # The close frame and FIN, not a reset.
            assert await trio.to_thread.run_sync(peer.read_frame) == (False, b"\x03\xe8")
            assert peer.sock.recv(1) == b""


async def test_closed_connections_are_freed_without_the_garbage_collector() -> None:
    # As on asyncio (tests/asyncio/test_server.py): no cycle holds a
    # connection once it's let go.
    handled: list[weakref.ref[ServerConnection]] = []

    async def handler(websocket: ServerConnection) -> None:
        handled.append(weakref.ref(websocket))
        await websocket.send(await websocket.recv())

    gc.collect()
    gc.disable()
    try:
        async with serving(handler) as server:
            async with connect(uri_of(server)) as websocket:
                await websocket.send("hello")
                assert await websocket.recv() == "hello"
            client_ref = weakref.ref(websocket)
            del websocket
            await trio.testing.wait_all_tasks_blocked()
            [server_ref] = handled
            assert server_ref() is None
            assert client_ref() is None
    finally:
        gc.enable()
