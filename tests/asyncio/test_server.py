"""Tests for wskit.asyncio.server: serve(), Server, ServerConnection, broadcast(), basic_auth().

Servers listen on 127.0.0.1 with port 0; clients are wskit's own
:func:`~wskit.asyncio.client.connect` or raw TCP streams that write HTTP by
hand, so that a request can break any rule.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import http
import inspect
import logging
import os
import re
import socket
import struct
import tempfile
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, cast

import pytest

from tests.listen_queue import BURST, kernel_allows_burst, queued_connections
from wskit.asyncio.client import ClientConnection, connect, unix_connect
from wskit.asyncio.server import (
    MAX_SHARED_DELAYS,
    Server,
    ServerConnection,
    basic_auth,
    broadcast,
    serve,
    unix_serve,
)
from wskit.asyncio.timers import Deadline
from wskit.exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidStatus,
)
from wskit.frames import BINARY, CLOSE, TEXT, Close, CloseCode, Frame
from wskit.headers import MAX_EXTENSION_PARAMETERS
from wskit.http11 import SERVER, Request, Response, ResponseParser
from wskit.protocol import Protocol, Side, State
from wskit.typing import Origin, Subprotocol

from .test_connection import eventually

LOCALHOST = "127.0.0.1"

# Bounds every wait on the network: a broken server fails the test, not the suite.
WAIT = 5

Handler = Callable[[ServerConnection], Awaitable[None]]


# Helpers.


def port_of(server: Server) -> int:
    return cast(int, server.sockets[0].getsockname()[1])


def uri_of(server: Server, path: str = "/", user_info: str = "") -> str:
    return f"ws://{user_info}{LOCALHOST}:{port_of(server)}{path}"


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def wait_until_closed(ws: ServerConnection) -> None:
    await ws.wait_closed()


def http_request(path: str = "/", headers: Sequence[tuple[str, str]] = ()) -> bytes:
    """A GET request written by hand, with a Host header and ``headers``."""
    lines = [f"GET {path} HTTP/1.1", "Host: localhost", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def handshake_request(path: str = "/", headers: Sequence[tuple[str, str]] = ()) -> bytes:
    """A valid opening handshake request, plus ``headers``."""
    key = base64.b64encode(os.urandom(16)).decode()
    return http_request(
        path,
        [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key),
            ("Sec-WebSocket-Version", "13"),
            *headers,
        ],
    )


async def exchange(port: int, request: bytes, *, half_close: bool = False) -> bytes:
    """Send raw bytes to the server and read what it answers until it closes.

    With ``half_close``, the client sends EOF after ``request``.
    """
    reader, writer = await asyncio.open_connection(LOCALHOST, port)
    try:
        writer.write(request)
        if half_close:
            writer.write_eof()
        async with asyncio.timeout(WAIT):
            return await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()


def parse_response(data: bytes) -> Response:
    parser = ResponseParser()
    response = parser.feed(data)
    return response if response is not None else parser.feed_eof()


async def http_get(port: int, path: str = "/", headers: Sequence[tuple[str, str]] = ()) -> Response:
    return parse_response(await exchange(port, http_request(path, headers)))


async def refused_status(uri: str, **kwargs: Any) -> Response:
    """Connect and expect the server to refuse; return its response."""
    with pytest.raises(InvalidStatus) as exc_info:
        async with connect(uri, open_timeout=WAIT, **kwargs):
            pytest.fail("the server accepted the connection")
    return exc_info.value.response


@contextlib.asynccontextmanager
async def serving(handler: Handler = echo, **kwargs: Any) -> AsyncIterator[Server]:
    async with serve(handler, LOCALHOST, 0, **kwargs) as server:
        yield server


def records(
    caplog: pytest.LogCaptureFixture, message: str, level: int | None = None
) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.getMessage().startswith(message) and (level is None or record.levelno == level)
    ]


def state_of(connection: ServerConnection) -> State:
    """The state now (a call, so that type checkers don't keep an earlier one)."""
    return connection.state


def websocket_of(record: logging.LogRecord) -> Any:
    """The connection that a log record is about, if any."""
    return getattr(record, "websocket", None)


def server_side(server: Server, client: ClientConnection) -> ServerConnection:
    """The server's end of ``client``."""
    (connection,) = [
        connection
        for connection in server.connections
        if connection.remote_address == client.local_address
    ]
    return connection


# Starting and stopping.


async def test_serve_as_context_manager() -> None:
    async with serve(echo, LOCALHOST, 0) as server:
        assert isinstance(server, Server)
        assert server.is_serving()
        (sock,) = server.sockets
        assert sock.getsockname()[0] == LOCALHOST
        async with connect(uri_of(server)) as ws:
            await ws.send("Hello")
            assert await ws.recv() == "Hello"
    assert not server.is_serving()


async def test_serve_awaited() -> None:
    server = await serve(echo, LOCALHOST, 0)
    try:
        assert server.is_serving()
        async with connect(uri_of(server)) as ws:
            await ws.send(b"\x00\xff")
            assert await ws.recv() == b"\x00\xff"
    finally:
        server.close()
        await server.wait_closed()
    assert not server.is_serving()


async def test_server_as_context_manager_closes_it() -> None:
    server = await serve(echo, LOCALHOST, 0)
    async with server as entered:
        assert entered is server
        async with connect(uri_of(server)) as ws:
            await ws.send("ping")
            assert await ws.recv() == "ping"
            server_connection = server_side(server, ws)
    assert not server.is_serving()
    assert server_connection.state is State.CLOSED


async def test_server_loop_and_listening_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    async with serving() as server:
        assert server.get_loop() is asyncio.get_running_loop()
        (record,) = records(caplog, "server listening on")
        assert record.name == "wskit.server"
        assert record.getMessage() == f"server listening on {LOCALHOST}:{port_of(server)}"
    assert records(caplog, "server closing")
    assert records(caplog, "server closed")


async def test_custom_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="test.custom")

    async def fail(ws: ServerConnection) -> None:
        raise RuntimeError("handler bug")

    logger = logging.getLogger("test.custom")
    async with serving(fail, logger=logger) as server, connect(uri_of(server)) as ws:
        await ws.wait_closed()
    assert {record.name for record in caplog.records} == {"test.custom"}
    assert records(caplog, "server listening on")
    assert records(caplog, "connection handler failed", logging.ERROR)


async def test_connections_lists_only_open_connections() -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def slow_process_request(connection: ServerConnection, request: Request) -> None:
        entered.set()
        await release.wait()

    async with serving(wait_until_closed, process_request=slow_process_request) as server:
        assert server.connections == set()
        opening = asyncio.create_task(connect(uri_of(server)).__aenter__())
        await entered.wait()
        # Mid-handshake: the connection exists but isn't open yet.
        assert server.connections == set()
        release.set()
        ws = await opening
        try:
            (connection,) = server.connections
            assert connection.remote_address == ws.local_address

            # Closing: the server sent its close frame; the client hasn't answered.
            ws.transport.pause_reading()
            closing = asyncio.create_task(connection.close())
            await asyncio.sleep(0)
            assert connection.state is State.CLOSING
            assert server.connections == set()
            ws.transport.resume_reading()
            await closing
        finally:
            await ws.close()
        assert state_of(connection) is State.CLOSED
        assert server.connections == set()


async def test_close_closes_connections_with_going_away() -> None:
    handler_saw: list[BaseException] = []

    async def handler(ws: ServerConnection) -> None:
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            handler_saw.append(exc)

    server = await serve(handler, LOCALHOST, 0)
    async with connect(uri_of(server)) as ws:
        server.close()
        with pytest.raises(ConnectionClosedOK):
            await ws.recv()
        assert ws.close_code == CloseCode.GOING_AWAY
        await server.wait_closed()
    assert not server.is_serving()
    assert len(handler_saw) == 1


@pytest.mark.parametrize("peer", ["resets", "stays"])
async def test_close_when_a_paused_peer_resets_or_never_reads(peer: str) -> None:
    """The handler waits to send an echo larger than every buffer to a client
    that never reads, and reading is paused: the peer resets, or stays there.
    close() ends it within close_timeout (the threading server hung there).
    """
    handlers: list[ServerConnection] = []
    sending = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        handlers.append(ws)
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                sending.set()
                await ws.send(message)

    loop = asyncio.get_running_loop()
    server = await serve(
        handler, LOCALHOST, 0, compression=None, max_queue=1, ping_interval=None, close_timeout=0.5
    )
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        async with asyncio.timeout(WAIT):
            await loop.sock_connect(sock, (LOCALHOST, port_of(server)))
            await loop.sock_sendall(sock, handshake_request())
            response = b""
            while not response.endswith(b"\r\n\r\n"):
                response += await loop.sock_recv(sock, 1)
            stream = memoryview(Frame(BINARY, b"x" * 2**18).serialize(mask=True))
            sent = 0
            while not (sending.is_set() and not handlers[0].transport.is_reading()):
                with contextlib.suppress(BlockingIOError):
                    sent += sock.send(stream[sent % len(stream) :])
                await asyncio.sleep(0.005)
        if peer == "resets":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        server.close()
        async with asyncio.timeout(0.5 + WAIT):
            await server.wait_closed()
    assert state_of(handlers[0]) is State.CLOSED


async def test_close_with_code_and_reason() -> None:
    server = await serve(wait_until_closed, LOCALHOST, 0)
    async with connect(uri_of(server)) as ws:
        server.close(code=CloseCode.SERVICE_RESTART, reason="back soon")
        server.close()  # idempotent: the first call's code and reason win
        await ws.wait_closed()
        assert ws.close_code == CloseCode.SERVICE_RESTART
        assert ws.close_reason == "back soon"
    await server.wait_closed()


async def test_close_without_closing_connections_lets_handlers_finish() -> None:
    finished = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        await echo(ws)
        finished.set()

    server = await serve(handler, LOCALHOST, 0)
    port = port_of(server)
    async with connect(uri_of(server)) as ws:
        server.close(close_connections=False)
        waiting = asyncio.create_task(server.wait_closed())
        # The connection goes on...
        for text in ("still", "here"):
            await ws.send(text)
            assert await ws.recv() == text
        assert ws.state is State.OPEN
        assert not waiting.done()
        assert not server.is_serving()
        # ...but nobody else gets in.
        with pytest.raises(ConnectionRefusedError):
            await connect(f"ws://{LOCALHOST}:{port}/", open_timeout=WAIT)
    async with asyncio.timeout(WAIT):
        await waiting
    assert finished.is_set()
    assert ws.close_code == CloseCode.NORMAL_CLOSURE


async def test_wait_closed_waits_for_every_handler() -> None:
    finished: list[int] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()
        # Cleanup that takes a while after the connection closed.
        await asyncio.sleep(0.05)
        finished.append(1)

    server = await serve(handler, LOCALHOST, 0)
    async with connect(uri_of(server)), connect(uri_of(server)):
        server.close()
        await server.wait_closed()
        assert finished == [1, 1]


async def test_close_during_handshake_answers_503() -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def slow_process_request(connection: ServerConnection, request: Request) -> None:
        entered.set()
        await release.wait()

    server = await serve(wait_until_closed, LOCALHOST, 0, process_request=slow_process_request)
    opening = asyncio.create_task(refused_status(uri_of(server)))
    await entered.wait()
    server.close()
    await asyncio.sleep(0)
    assert not server.is_serving()
    release.set()
    response = await opening
    assert response.status_code == http.HTTPStatus.SERVICE_UNAVAILABLE
    await server.wait_closed()


async def test_close_drops_connections_that_sent_nothing_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A browser's preconnects send nothing: closing the server doesn't wait
    # until the open timeout expires for them, nor logs them as failures.
    caplog.set_level(logging.DEBUG, logger="wskit.server")
    server = await serve(wait_until_closed, LOCALHOST, 0, open_timeout=30)
    reader, writer = await asyncio.open_connection(LOCALHOST, port_of(server))
    try:
        await eventually(lambda: len(server.handlers) == 1)
        start = time.monotonic()
        server.close()
        async with asyncio.timeout(WAIT):
            await server.wait_closed()
            assert await reader.read() == b""  # closed, without an answer
        assert time.monotonic() - start < WAIT
    finally:
        writer.close()
        await writer.wait_closed()
    assert not records(caplog, "opening handshake")
    (record,) = records(caplog, "no request before the server closed")
    assert record.levelno == logging.DEBUG
    assert not server._cut_short
    # Neither a refusal nor a connection.
    assert (server.stats.opened, server.stats.refused, server.stats.closed) == (0, {}, {})


async def test_close_answers_503_to_a_connection_that_sent_part_of_its_request() -> None:
    server = await serve(wait_until_closed, LOCALHOST, 0, open_timeout=30)
    reader, writer = await asyncio.open_connection(LOCALHOST, port_of(server))
    try:
        request = handshake_request()
        writer.write(request[:10])
        await eventually(lambda: any(c.protocol.bytes_received for c in server.handlers))
        server.close()
        await asyncio.sleep(0)  # the server drops those that sent nothing
        assert len(server.handlers) == 1
        writer.write(request[10:])
        async with asyncio.timeout(WAIT):
            response = parse_response(await reader.read())
    finally:
        writer.close()
        await writer.wait_closed()
    async with asyncio.timeout(WAIT):
        await server.wait_closed()
    assert response.status_code == http.HTTPStatus.SERVICE_UNAVAILABLE
    assert server.stats.refused == {503: 1}


async def test_serve_forever_raises_when_cancelled() -> None:
    async with serving() as server:
        forever = asyncio.create_task(server.serve_forever())
        await asyncio.sleep(0)
        assert not forever.done()
        async with connect(uri_of(server)) as ws:
            await ws.send("while serving forever")
            assert await ws.recv() == "while serving forever"
        forever.cancel()
        with pytest.raises(asyncio.CancelledError):
            await forever
        assert not server.is_serving()


async def test_serve_forever_ends_when_server_closes() -> None:
    server = await serve(echo, LOCALHOST, 0)
    forever = asyncio.create_task(server.serve_forever())
    await asyncio.sleep(0)
    server.close()
    await server.wait_closed()
    async with asyncio.timeout(WAIT):
        await asyncio.wait([forever])
    # As websockets' serve_forever(): it returns, it isn't cancelled.
    assert forever.result() is None


async def test_serve_forever_cancelled_closes_connections_with_1001() -> None:
    server = await serve(wait_until_closed, LOCALHOST, 0)
    forever = asyncio.create_task(server.serve_forever())
    clients = [await connect(uri_of(server), open_timeout=WAIT) for _ in range(3)]
    try:
        forever.cancel()
        # It used to wait forever for the connections to end, open as they were.
        done, _ = await asyncio.wait([forever], timeout=WAIT)
        assert forever in done
        assert forever.cancelled()
        for client in clients:
            async with asyncio.timeout(WAIT):
                await client.wait_closed()
            assert client.close_code == CloseCode.GOING_AWAY
        assert not server.is_serving()
        assert not server.connections
        async with asyncio.timeout(WAIT):
            await server.wait_closed()
    finally:
        for client in clients:
            client.transport.abort()
        server.close()


async def test_start_serving_later() -> None:
    server = await serve(echo, LOCALHOST, 0, start_serving=False)
    try:
        assert not server.is_serving()
        with pytest.raises(ConnectionRefusedError):
            await connect(uri_of(server), open_timeout=WAIT)
        await server.start_serving()
        assert server.is_serving()
        async with connect(uri_of(server)) as ws:
            await ws.send("now")
            assert await ws.recv() == "now"
    finally:
        server.close()
        await server.wait_closed()


async def test_serve_on_existing_socket() -> None:
    sock = socket.create_server((LOCALHOST, 0))
    port = sock.getsockname()[1]
    async with serve(echo, sock=sock) as server:
        assert port_of(server) == port
        async with connect(f"ws://{LOCALHOST}:{port}/") as ws:
            await ws.send("over a given socket")
            assert await ws.recv() == "over a given socket"
    assert sock.fileno() == -1  # the server closed it


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT")
async def test_reuse_port() -> None:
    async with serving(reuse_port=True) as first:
        port = port_of(first)
        # Without reuse_port, the port is taken.
        with pytest.raises(OSError, match="in use"):
            await serve(echo, LOCALHOST, port)
        async with serve(echo, LOCALHOST, port, reuse_port=True) as second:
            assert port_of(second) == port
            for _ in range(2):
                async with connect(f"ws://{LOCALHOST}:{port}/") as ws:
                    await ws.send("shared port")
                    assert await ws.recv() == "shared port"


async def test_unix_serve_and_connect(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "ws.sock")
        async with unix_serve(echo, path) as server:
            assert server.sockets[0].family == socket.AF_UNIX
            assert records(caplog, f"server listening on {path}")
            async with unix_connect(path) as ws:
                await ws.send("over a Unix socket")
                assert await ws.recv() == "over a Unix socket"


# The connection handler.


async def test_handler_returning_closes_with_1000() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("bye")

    async with serving(handler) as server, connect(uri_of(server)) as ws:
        assert await ws.recv() == "bye"
        with pytest.raises(ConnectionClosedOK):
            await ws.recv()
        assert ws.close_code == CloseCode.NORMAL_CLOSURE


async def test_handler_raising_closes_with_1011_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    seen: list[ServerConnection] = []

    async def handler(ws: ServerConnection) -> None:
        seen.append(ws)
        raise RuntimeError("secret: database password is hunter2")

    async with serving(handler) as server, connect(uri_of(server)) as ws:
        with pytest.raises(ConnectionClosedError):
            await ws.recv()
        assert ws.close_code == CloseCode.INTERNAL_ERROR
        assert "hunter2" not in (ws.close_reason or "")
        assert "secret" not in (ws.close_reason or "")
    (record,) = records(caplog, "connection handler failed")
    assert record.name == "wskit.server"
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)
    assert websocket_of(record) is seen[0]


# process_request.


@pytest.mark.parametrize("is_async", [False, True])
async def test_process_request_returning_none_proceeds(is_async: bool) -> None:
    seen: list[tuple[ServerConnection, str]] = []

    def hook(connection: ServerConnection, request: Request) -> None:
        seen.append((connection, request.path))

    async def async_hook(connection: ServerConnection, request: Request) -> None:
        await asyncio.sleep(0)
        hook(connection, request)

    connections: list[ServerConnection] = []

    async def handler(ws: ServerConnection) -> None:
        connections.append(ws)
        await echo(ws)

    async with (
        serving(handler, process_request=async_hook if is_async else hook) as server,
        connect(uri_of(server, "/room?id=1")) as ws,
    ):
        await ws.send("through")
        assert await ws.recv() == "through"
    assert seen == [(connections[0], "/room?id=1")]


@pytest.mark.parametrize("is_async", [False, True])
async def test_process_request_health_check(is_async: bool) -> None:
    handled: list[ServerConnection] = []

    async def handler(ws: ServerConnection) -> None:
        handled.append(ws)

    def health_check(connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        return None

    async def async_health_check(connection: ServerConnection, request: Request) -> Response | None:
        await asyncio.sleep(0)
        return health_check(connection, request)

    hook = async_health_check if is_async else health_check
    async with serving(handler, process_request=hook) as server:
        response = await http_get(port_of(server), "/healthz")
        assert response.status_code == 200
        assert response.body == b"OK\n"
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"

        refused = await refused_status(uri_of(server, "/healthz"))
        assert refused.status_code == 200
        assert refused.body == b"OK\n"
        assert handled == []

        async with connect(uri_of(server, "/")):
            pass
        assert len(handled) == 1


async def test_process_request_serves_html_page() -> None:
    page = "<!DOCTYPE html>\n<title>Chat</title>\n<p>Caf\u00e9</p>\n"

    async def serve_page(connection: ServerConnection, request: Request) -> Response | None:
        if "Upgrade" in request.headers:
            return None
        response = connection.respond(http.HTTPStatus.OK, page)
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "text/html; charset=utf-8"
        return response

    async with serving(process_request=serve_page) as server:
        response = await http_get(port_of(server), "/")
        assert response.status_code == 200
        assert response.headers.get_all("Content-Type") == ["text/html; charset=utf-8"]
        assert response.headers["Content-Length"] == str(len(page.encode()))
        assert response.body.decode() == page
        # The same URL opens WebSocket connections.
        async with connect(uri_of(server)) as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"


@pytest.mark.parametrize("is_async", [False, True])
async def test_process_request_raising_answers_500_and_logs_once(
    is_async: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")

    def hook(connection: ServerConnection, request: Request) -> None:
        raise RuntimeError("hook bug with secret details")

    async def async_hook(connection: ServerConnection, request: Request) -> None:
        await asyncio.sleep(0)
        hook(connection, request)

    async with serving(process_request=async_hook if is_async else hook) as server:
        response = await http_get(port_of(server), "/", [("Upgrade", "websocket")])
        assert response.status_code == 500
        assert b"secret" not in response.body
        assert b"server log" in response.body

        refused = await refused_status(uri_of(server))
        assert refused.status_code == 500

    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    # One traceback per failed request, not two.
    assert len(errors) == 2
    for record in errors:
        assert record.getMessage() == "opening handshake failed"
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], RuntimeError)
        assert isinstance(websocket_of(record), ServerConnection)


# process_response and server_header.


async def test_process_response_modifies_headers() -> None:
    seen: list[tuple[str, int]] = []

    def hook(connection: ServerConnection, request: Request, response: Response) -> None:
        seen.append((request.path, response.status_code))
        response.headers["X-Hook"] = "sync"

    async with serving(process_response=hook) as server, connect(uri_of(server, "/x")) as ws:
        assert ws.response is not None
        assert ws.response.headers["X-Hook"] == "sync"
        await ws.send("still works")
        assert await ws.recv() == "still works"
    assert seen == [("/x", 101)]


async def test_process_response_replaces_response() -> None:
    async def hook(
        connection: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        await asyncio.sleep(0)
        if request.path == "/forbidden":
            return connection.respond(http.HTTPStatus.FORBIDDEN, "Go away.\n")
        return None

    async with serving(process_response=hook) as server:
        refused = await refused_status(uri_of(server, "/forbidden"))
        assert refused.status_code == 403
        assert refused.body == b"Go away.\n"
        async with connect(uri_of(server, "/allowed")) as ws:
            await ws.send("ok")
            assert await ws.recv() == "ok"


async def test_process_response_raising_answers_500(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")

    def hook(connection: ServerConnection, request: Request, response: Response) -> None:
        raise ValueError("process_response bug")

    async with serving(process_response=hook) as server:
        refused = await refused_status(uri_of(server))
        assert refused.status_code == 500
    (record,) = records(caplog, "opening handshake failed", logging.ERROR)
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)


async def test_server_header_default() -> None:
    async with serving() as server, connect(uri_of(server)) as ws:
        assert ws.response is not None
        assert ws.response.headers["Server"] == SERVER
        # Refusals carry it too.
        response = await http_get(port_of(server))
        assert response.headers["Server"] == SERVER


async def test_server_header_custom() -> None:
    async with serving(server_header="Test/1.0") as server, connect(uri_of(server)) as ws:
        assert ws.response is not None
        assert ws.response.headers.get_all("Server") == ["Test/1.0"]


async def test_server_header_none() -> None:
    async with serving(server_header=None) as server, connect(uri_of(server)) as ws:
        assert ws.response is not None
        assert "Server" not in ws.response.headers
        response = await http_get(port_of(server))
        assert "Server" not in response.headers


# basic_auth.


async def record_username(ws: ServerConnection) -> None:
    await ws.send(ws.username)


async def authenticated_as(uri: str, **kwargs: Any) -> str:
    async with connect(uri, **kwargs) as ws:
        return cast(str, await ws.recv())


async def test_basic_auth_one_pair_through_uri_user_info() -> None:
    auth = basic_auth(realm="test", credentials=("hello", "iloveyou"))
    async with serving(record_username, process_request=auth) as server:
        assert await authenticated_as(uri_of(server, user_info="hello:iloveyou@")) == "hello"


async def test_basic_auth_authorization_header() -> None:
    auth = basic_auth(credentials=("hello", "iloveyou"))
    token = base64.b64encode(b"hello:iloveyou").decode()
    async with serving(record_username, process_request=auth) as server:
        username = await authenticated_as(
            uri_of(server), additional_headers={"Authorization": f"Basic {token}"}
        )
        assert username == "hello"


async def test_basic_auth_list_of_pairs() -> None:
    auth = basic_auth(realm="test", credentials=[("alice", "wonderland"), ("bob", "builder")])
    async with serving(record_username, process_request=auth) as server:
        assert await authenticated_as(uri_of(server, user_info="alice:wonderland@")) == "alice"
        assert await authenticated_as(uri_of(server, user_info="bob:builder@")) == "bob"
        # Each user has their own password.
        refused = await refused_status(uri_of(server, user_info="alice:builder@"))
        assert refused.status_code == 401
        refused = await refused_status(uri_of(server, user_info="carol:wonderland@"))
        assert refused.status_code == 401


@pytest.mark.parametrize("is_async", [False, True])
async def test_basic_auth_check_credentials(is_async: bool) -> None:
    checked: list[tuple[str, str]] = []

    def check(username: str, password: str) -> bool:
        checked.append((username, password))
        return password == username[::-1]

    async def async_check(username: str, password: str) -> bool:
        await asyncio.sleep(0)
        return check(username, password)

    auth = basic_auth(check_credentials=async_check if is_async else check)
    async with serving(record_username, process_request=auth) as server:
        assert await authenticated_as(uri_of(server, user_info="abc:cba@")) == "abc"
        refused = await refused_status(uri_of(server, user_info="abc:abc@"))
        assert refused.status_code == 401
        assert refused.body == b"Invalid credentials\n"
    assert checked == [("abc", "cba"), ("abc", "abc")]


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ([], b"Missing credentials\n"),
        ([("Authorization", "Basic " + base64.b64encode(b"hello:wrong").decode())], None),
        ([("Authorization", "Bearer some-token")], b"Unsupported credentials\n"),
        ([("Authorization", "Basic !!!")], b"Unsupported credentials\n"),
        (
            [("Authorization", "Basic aGVsbG86aWxvdmV5b3U="), ("Authorization", "Basic eDp5")],
            b"Too many credentials\n",
        ),
    ],
    ids=["missing", "invalid", "bearer", "malformed", "twice"],
)
async def test_basic_auth_refusals(headers: list[tuple[str, str]], body: bytes | None) -> None:
    handled: list[ServerConnection] = []

    async def handler(ws: ServerConnection) -> None:
        handled.append(ws)

    auth = basic_auth(realm="my realm", credentials=("hello", "iloveyou"))
    async with serving(handler, process_request=auth) as server:
        refused = await refused_status(uri_of(server), additional_headers=headers)
        assert refused.status_code == 401
        assert refused.body == (body or b"Invalid credentials\n")
        challenge = refused.headers["WWW-Authenticate"]
        assert challenge.startswith("Basic ")
        assert 'realm="my realm"' in challenge
        # A browser or curl without the WebSocket headers gets the same answer.
        response = await http_get(port_of(server), "/", headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == challenge
    assert handled == []


def test_basic_auth_needs_exactly_one_source_of_credentials() -> None:
    def check(username: str, password: str) -> bool:
        return True

    # ValueError, as websockets raises.
    with pytest.raises(ValueError, match="either"):
        basic_auth()
    with pytest.raises(ValueError, match="either"):
        basic_auth(credentials=("a", "b"), check_credentials=check)


@pytest.mark.parametrize(
    "credentials",
    [
        "hello:iloveyou",
        ("hello",),
        ("hello", "iloveyou", "extra"),
        [("hello", 42)],
        [("hello", "iloveyou"), "bob:builder"],
    ],
)
def test_basic_auth_malformed_credentials(credentials: Any) -> None:
    with pytest.raises(TypeError):
        basic_auth(credentials=credentials)


# Handshake options.


async def test_origins() -> None:
    allowed = [Origin("https://good.example"), re.compile(r"https://[a-z]+\.good\.example")]
    async with serving(origins=allowed) as server:
        for origin in ("https://good.example", "https://chat.good.example"):
            async with connect(uri_of(server), origin=Origin(origin)) as ws:
                await ws.send(origin)
                assert await ws.recv() == origin
        for refused_origin in ("https://evil.example", "https://good.example.evil", None):
            refused = await refused_status(
                uri_of(server), origin=None if refused_origin is None else Origin(refused_origin)
            )
            assert refused.status_code == 403


async def test_origins_none_allows_missing_origin() -> None:
    async with serving(origins=[None]) as server:
        async with connect(uri_of(server)):
            pass
        refused = await refused_status(uri_of(server), origin=Origin("https://any.example"))
        assert refused.status_code == 403


async def test_subprotocols_negotiation() -> None:
    chosen: list[Subprotocol | None] = []

    async def handler(ws: ServerConnection) -> None:
        chosen.append(ws.subprotocol)

    server_prefers = [Subprotocol("chat"), Subprotocol("superchat")]
    async with serving(handler, subprotocols=server_prefers) as server:
        offered = [Subprotocol("superchat"), Subprotocol("chat")]
        async with connect(uri_of(server), subprotocols=offered) as ws:
            assert ws.subprotocol == "chat"  # the server's preference wins
        async with connect(uri_of(server), subprotocols=[Subprotocol("superchat")]) as ws:
            assert ws.subprotocol == "superchat"
        refused = await refused_status(uri_of(server), subprotocols=[Subprotocol("other")])
        assert refused.status_code == 400
        refused = await refused_status(uri_of(server))
        assert refused.status_code == 400
    assert chosen == ["chat", "superchat"]


async def test_select_subprotocol_gets_the_connection() -> None:
    calls: list[tuple[ServerConnection, list[Subprotocol]]] = []
    handled: list[ServerConnection] = []

    def select(connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        calls.append((connection, list(offered)))
        return offered[-1] if offered else None

    async def handler(ws: ServerConnection) -> None:
        handled.append(ws)

    async with serving(handler, select_subprotocol=select) as server:
        offered = [Subprotocol("one"), Subprotocol("two")]
        async with connect(uri_of(server), subprotocols=offered) as ws:
            assert ws.subprotocol == "two"
        async with connect(uri_of(server)) as ws:
            assert ws.subprotocol is None
    assert [offered for _, offered in calls] == [["one", "two"], []]
    assert [connection for connection, _ in calls] == handled


def test_invalid_subprotocols() -> None:
    with pytest.raises(ValueError, match="invalid subprotocol"):
        serve(echo, LOCALHOST, 0, subprotocols=[Subprotocol("with space")])
    with pytest.raises(TypeError):
        serve(echo, LOCALHOST, 0, subprotocols=cast(Any, "chat"))


async def test_compression_enabled_by_default() -> None:
    async with serving(wait_until_closed) as server, connect(uri_of(server)) as ws:
        assert ws.response is not None
        assert ws.response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
        assert [extension.name for extension in server_side(server, ws).protocol.extensions] == [
            "permessage-deflate"
        ]


async def test_compression_disabled() -> None:
    async with serving(compression=None) as server, connect(uri_of(server)) as ws:
        assert ws.request is not None
        assert "Sec-WebSocket-Extensions" in ws.request.headers  # offered...
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers  # ...and declined
        assert server_side(server, ws).protocol.extensions == []
        assert ws.protocol.extensions == []
        await ws.send("x" * 1000)
        assert await ws.recv() == "x" * 1000


def test_invalid_compression() -> None:
    with pytest.raises(ValueError, match="unsupported compression"):
        serve(echo, LOCALHOST, 0, compression="gzip")


async def test_max_size() -> None:
    async with serving(max_size=10) as server, connect(uri_of(server)) as ws:
        await ws.send("x" * 10)
        assert await ws.recv() == "x" * 10
        await ws.send("x" * 11)
        with pytest.raises(ConnectionClosedError):
            await ws.recv()
        assert ws.close_code == CloseCode.MESSAGE_TOO_BIG


async def test_create_connection_subclass() -> None:
    class MyConnection(ServerConnection):
        greeting = "custom connection"

    async def handler(ws: ServerConnection) -> None:
        assert isinstance(ws, MyConnection)
        await ws.send(ws.greeting)

    async with (
        serving(handler, create_connection=MyConnection) as server,
        connect(uri_of(server)) as ws,
    ):
        assert await ws.recv() == "custom connection"


# Opening handshake failures.


async def test_open_timeout_drops_silent_clients(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    async with serving(open_timeout=0.1) as server:
        reader, writer = await asyncio.open_connection(LOCALHOST, port_of(server))
        try:
            start = time.monotonic()
            async with asyncio.timeout(WAIT):
                assert await reader.read() == b""
            elapsed = time.monotonic() - start
        finally:
            writer.close()
            await writer.wait_closed()
    assert 0.05 < elapsed < 2
    (record,) = records(caplog, "opening handshake timed out")
    assert record.levelno == logging.INFO
    assert isinstance(websocket_of(record), ServerConnection)


async def test_open_timeout_cancels_a_slow_process_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    cancelled = asyncio.Event()

    async def hook(connection: ServerConnection, request: Request) -> None:
        try:
            await asyncio.sleep(WAIT * 2)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with serving(process_request=hook, open_timeout=0.1) as server:
        assert await exchange(port_of(server), handshake_request()) == b""
        assert cancelled.is_set()
        assert not server._cut_short  # forgotten once handled
    (record,) = records(caplog, "opening handshake timed out")
    assert record.levelno == logging.INFO


async def test_open_timeout_swallowed_by_a_hook_is_forgotten() -> None:
    async def hook(connection: ServerConnection, request: Request) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(WAIT * 2)

    async with (
        serving(process_request=hook, open_timeout=0.1) as server,
        connect(uri_of(server), open_timeout=WAIT) as ws,
    ):
        await ws.send("hello")
        assert await ws.recv() == "hello"
        assert not server._cut_short


@pytest.mark.parametrize("expired", [False, True])
async def test_handshake_cancelled_from_elsewhere_stays_cancelled(
    caplog: pytest.LogCaptureFixture, expired: bool
) -> None:
    # Cancelled by another party, the handshake isn't taken for timed out,
    # even when the open timeout expired meanwhile: as asyncio.timeout().
    caplog.set_level(logging.INFO, logger="wskit.server")
    started = asyncio.Event()

    async def hook(connection: ServerConnection, request: Request) -> None:
        started.set()
        await asyncio.sleep(WAIT * 2)

    async with serving(process_request=hook, open_timeout=WAIT) as server:
        _, writer = await asyncio.open_connection(LOCALHOST, port_of(server))
        try:
            writer.write(handshake_request())
            async with asyncio.timeout(WAIT):
                await started.wait()
            [(connection, task)] = server.handlers.items()
            if expired:
                server._open_timed_out(connection)
            task.cancel()
            # Reading paused with the request: the client's close goes unseen.
            connection.transport.abort()
            with pytest.raises(asyncio.CancelledError):
                async with asyncio.timeout(WAIT):
                    await task
            assert connection not in server._cut_short
        finally:
            writer.close()
            await writer.wait_closed()
    assert not records(caplog, "opening handshake timed out")


async def test_handshake_runs_in_the_connection_task() -> None:
    # The open timeout wraps the handshake where it runs: no task of its own
    # for each connection (asyncio.wait_for() makes one on Python 3.11).
    tasks: list[tuple[asyncio.Task[Any] | None, asyncio.Task[None]]] = []

    def hook(connection: ServerConnection, request: Request) -> None:
        tasks.append((asyncio.current_task(), connection.server.handlers[connection]))

    async with (
        serving(process_request=hook, open_timeout=WAIT) as server,
        connect(uri_of(server)) as ws,
    ):
        await ws.send("hello")
        assert await ws.recv() == "hello"
    [(running, handler_task)] = tasks
    assert running is handler_task


async def test_plain_http_request_gets_426_logged_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    async with serving() as server:
        response = await http_get(port_of(server))
    assert response.status_code == http.HTTPStatus.UPGRADE_REQUIRED
    assert response.headers["Upgrade"] == "websocket"
    (record,) = records(caplog, "opening handshake failed")
    assert record.levelno == logging.INFO
    assert record.exc_info is None
    assert "Connection" in record.getMessage()


@pytest.mark.parametrize(
    "request_bytes",
    [
        # Escape sequences in the request line: a malformed request.
        http_request("/\x1b[2J\x1b[31m"),
        # A C1 control character (CSI) in a header value: an invalid upgrade.
        http_request("/", [("Upgrade", "\x9b31mwebsocket"), ("Connection", "Upgrade")]),
        # And in a header that the handshake checks.
        handshake_request("/", [("Origin", "https://\x9b2J.example")]),
    ],
    ids=["request-line", "upgrade", "origin"],
)
async def test_failed_handshake_log_escapes_controls(
    request_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    async with serving(origins=[Origin("https://good.example")]) as server:
        response = parse_response(await exchange(port_of(server), request_bytes))
    assert 400 <= response.status_code < 500
    (record,) = records(caplog, "opening handshake failed")
    assert record.levelno == logging.INFO
    assert record.exc_info is None
    message = record.getMessage()
    assert message.isprintable(), message
    assert "\x1b" not in message
    assert "\x9b" not in message


async def test_client_leaving_during_handshake_is_logged_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    async with serving() as server:
        # Half a request, then the client is gone.
        request = b"GET / HTTP/1.1\r\nHost: loc"
        assert await exchange(port_of(server), request, half_close=True) == b""
    (record,) = records(caplog, "opening handshake failed")
    assert record.levelno == logging.INFO
    assert record.exc_info is None
    # An InvalidMessage caused by EOFError, as websockets reports it; the log
    # line tells the cause too.
    assert record.getMessage() == (
        "opening handshake failed: did not receive a valid HTTP request; "
        "connection closed before the end of the HTTP request"
    )


async def test_invalid_response_from_hook_is_logged_and_aborted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")

    def hook(connection: ServerConnection, request: Request) -> Response:
        response = connection.respond(http.HTTPStatus.OK, "OK\n")
        response.reason_phrase = "forged\r\nSet-Cookie: x=y"
        return response

    async with serving(process_request=hook) as server:
        # The server refuses to write a response that would corrupt HTTP.
        assert await exchange(port_of(server), http_request()) == b""
    (record,) = records(caplog, "opening handshake failed", logging.ERROR)
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)


async def test_debug_logs_carry_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="wskit.server")
    handled: list[ServerConnection] = []

    async def handler(ws: ServerConnection) -> None:
        handled.append(ws)
        await echo(ws)

    async with serving(handler) as server, connect(uri_of(server)) as ws:
        await ws.send("logged")
        assert await ws.recv() == "logged"
    (connection,) = handled
    connection_records = [r for r in caplog.records if hasattr(r, "websocket")]
    assert connection_records
    assert all(websocket_of(r) is connection for r in connection_records)
    assert all(r.name == "wskit.server" for r in caplog.records)
    messages = [r.getMessage() for r in connection_records]
    assert any(message.startswith("< GET / HTTP/1.1") for message in messages)
    assert any(message.startswith("> HTTP/1.1 101") for message in messages)


# broadcast().


@contextlib.asynccontextmanager
async def clients(
    server: Server, count: int, **kwargs: Any
) -> AsyncIterator[list[ClientConnection]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(connect(uri_of(server), **kwargs)) for _ in range(count)
        ]


def test_broadcast_is_a_plain_function() -> None:
    # It writes without waiting: callers never await it.
    assert not inspect.iscoroutinefunction(broadcast)
    broadcast([], "nobody listens")


async def test_broadcast_reaches_every_open_connection() -> None:
    async with serving(wait_until_closed) as server, clients(server, 3) as websockets:
        broadcast(server.connections, "text")
        broadcast(server.connections, b"\x00binary")
        broadcast(server.connections, bytearray(b"array"))
        broadcast(server.connections, memoryview(b"view"))
        for ws in websockets:
            assert await ws.recv() == "text"
            assert await ws.recv() == b"\x00binary"
            assert await ws.recv() == b"array"
            assert await ws.recv() == b"view"


async def test_broadcast_text_override() -> None:
    async with serving(wait_until_closed) as server, clients(server, 2) as websockets:
        broadcast(server.connections, b"bytes as text", text=True)
        broadcast(server.connections, "text as bytes", text=False)
        for ws in websockets:
            assert await ws.recv() == "bytes as text"
            assert await ws.recv() == b"text as bytes"


@pytest.mark.parametrize("message", [42, None, ["a", "b"], {"a": "b"}])
async def test_broadcast_rejects_unsupported_types(message: Any) -> None:
    async with serving(wait_until_closed) as server, clients(server, 1) as (ws,):
        with pytest.raises(TypeError):
            broadcast(server.connections, message)
        # Nothing was sent: the next message is the first one.
        broadcast(server.connections, "first")
        assert await ws.recv() == "first"


async def test_broadcast_skips_closed_and_closing_connections() -> None:
    handled: list[ServerConnection] = []

    async def handler(ws: ServerConnection) -> None:
        handled.append(ws)
        await ws.wait_closed()

    async with serving(handler) as server, clients(server, 3) as (gone, slow, alive):
        # One connection is closed...
        await gone.close()
        (gone_server,) = [c for c in handled if c.remote_address == gone.local_address]
        await gone_server.wait_closed()
        # ...one is closing: the server's close frame awaits an answer.
        slow_server = server_side(server, slow)
        slow.transport.pause_reading()
        closing = asyncio.create_task(slow_server.close())
        await asyncio.sleep(0)
        assert slow_server.state is State.CLOSING

        broadcast(handled, "news", raise_exceptions=True)

        assert await alive.recv() == "news"
        slow.transport.resume_reading()
        with pytest.raises(ConnectionClosedOK):
            await slow.recv()  # the close frame, not "news"
        await closing


async def test_broadcast_encodes_once_for_uncompressed_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[Frame] = []
    serialize = Frame.serialize

    def counting_serialize(self: Frame, **kwargs: Any) -> bytes:
        calls.append(self)
        return serialize(self, **kwargs)

    async with (
        serving(wait_until_closed, compression=None) as server,
        clients(server, 4) as websockets,
    ):
        monkeypatch.setattr(Frame, "serialize", counting_serialize)
        broadcast(server.connections, "same bytes for everyone")
        monkeypatch.undo()
        assert len(calls) == 1
        for ws in websockets:
            assert await ws.recv() == "same bytes for everyone"


async def test_broadcast_to_compressed_and_uncompressed_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[Frame] = []
    serialize = Frame.serialize

    def counting_serialize(self: Frame, **kwargs: Any) -> bytes:
        calls.append(self)
        return serialize(self, **kwargs)

    message = "compressible " * 100
    async with (
        serving(wait_until_closed) as server,
        clients(server, 2) as compressed,
        clients(server, 3, compression=None) as plain,
    ):
        assert all(ws.protocol.extensions for ws in compressed)
        assert not any(ws.protocol.extensions for ws in plain)
        monkeypatch.setattr(Frame, "serialize", counting_serialize)
        broadcast(server.connections, message)
        monkeypatch.undo()
        # Once for the plain connections, once per compressed connection.
        assert len(calls) == 1 + 2
        for ws in [*compressed, *plain]:
            assert await ws.recv() == message
        # Compression contexts stay in sync with later messages.
        broadcast(server.connections, message[::-1])
        for ws in [*compressed, *plain]:
            assert await ws.recv() == message[::-1]


async def test_broadcast_debug_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="wskit.server")
    async with serving(wait_until_closed, compression=None) as server, clients(server, 1) as (ws,):
        (connection,) = server.connections
        caplog.clear()
        broadcast(server.connections, "logged once")
        assert await ws.recv() == "logged once"
    sent = [r for r in caplog.records if r.getMessage().startswith("> TEXT")]
    assert len(sent) == 1
    assert "logged once" in sent[0].getMessage()
    assert websocket_of(sent[0]) is connection


async def test_broadcast_from_clients() -> None:
    # Client connections mask their frames: each one encodes its own.
    async with serving() as server, clients(server, 2) as websockets:
        broadcast(websockets, "echo me")
        for ws in websockets:
            assert await ws.recv() == "echo me"


async def test_broadcast_skips_connection_with_full_write_buffer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    async with (
        serving(wait_until_closed, compression=None, write_limit=2**12) as server,
        clients(server, 1, compression=None, max_queue=None) as (slow,),
        clients(server, 1, compression=None) as (fast,),
    ):
        slow_server, fast_server = server_side(server, slow), server_side(server, fast)
        # The slow client stops reading; fill the network buffers, then the server's.
        slow.transport.pause_reading()
        chunk = b"x" * 2**16
        sent = 0
        while slow_server.transport.get_write_buffer_size() <= slow_server.write_limit[0]:
            assert sent < 2**14, "the write buffer never filled"
            broadcast([slow_server], chunk)
            sent += 1

        # Skipped with a warning; the others get the message.
        start = time.monotonic()
        broadcast([slow_server, fast_server], "news")
        assert time.monotonic() - start < 1  # didn't wait for the slow client
        assert await fast.recv() == "news"
        (warning,) = records(caplog, "skipped broadcast")
        assert warning.levelno == logging.WARNING
        assert "write buffer is full" in warning.getMessage()
        assert websocket_of(warning) is slow_server

        # Or reported to the caller.
        with pytest.raises(ExceptionGroup) as exc_info:
            broadcast([slow_server, fast_server], "more news", raise_exceptions=True)
        assert await fast.recv() == "more news"
        (exc,) = exc_info.value.exceptions
        assert isinstance(exc, ConcurrencyError)
        assert repr(slow_server) in str(exc.__notes__)
        assert len(records(caplog, "skipped broadcast")) == 1

        # Once it reads again, the slow client gets what fit, and not the news.
        slow.transport.resume_reading()
        await slow_server.send("end")
        received = 0
        while (message := await slow.recv()) != "end":
            assert message == chunk
            received += 1
        assert received == sent


async def test_broadcast_skips_connection_sending_fragments(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    started = asyncio.Event()
    release = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        async def fragments() -> AsyncIterator[str]:
            yield "first half, "
            started.set()
            await release.wait()
            yield "second half"

        await ws.send(fragments())
        await ws.wait_closed()

    async with serving(handler) as server, clients(server, 1) as (ws,):
        await started.wait()
        (connection,) = server.connections
        broadcast(server.connections, "interloper")
        (warning,) = records(caplog, "skipped broadcast")
        assert "fragmented message" in warning.getMessage()
        with pytest.raises(ExceptionGroup) as exc_info:
            broadcast(server.connections, "interloper", raise_exceptions=True)
        assert isinstance(exc_info.value.exceptions[0], ConcurrencyError)
        release.set()
        assert await ws.recv() == "first half, second half"
        # Once the message is complete, broadcasting works again.
        broadcast([connection], "after")
        assert await ws.recv() == "after"


# Frames that come with the handshake request.


async def read_frames(reader: asyncio.StreamReader, count: int) -> tuple[Response, list[Frame]]:
    """Read the handshake response, then ``count`` frames; bounded by WAIT."""
    parser = ResponseParser()
    client = Protocol(Side.CLIENT)
    response = None
    frames: list[Frame] = []
    async with asyncio.timeout(WAIT):
        while len(frames) < count:
            data = await reader.read(2**16)
            assert data, "the server closed the connection"
            if response is None:
                response = parser.feed(data)
                if response is None:
                    continue
                data = parser.trailing
            client.receive_data(data)
            frames += cast(list[Frame], client.events_received())
    assert response is not None
    return response, frames


@contextlib.asynccontextmanager
async def raw_client(
    server: Server,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection(LOCALHOST, port_of(server))
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_frames_sent_with_the_request_are_answered_at_once() -> None:
    """Frames written with the request in one write don't wait for more bytes.

    Without keepalive, nothing else would ever come: the test would time out.
    """
    async with serving(ping_interval=None) as server, raw_client(server) as (reader, writer):
        frames = Frame(TEXT, b"hello").serialize(mask=True) + Frame(BINARY, b"\x01").serialize(
            mask=True
        )
        writer.write(handshake_request() + frames)
        response, echoed = await read_frames(reader, 2)
        assert response.status_code == 101
        assert echoed == [Frame(TEXT, b"hello"), Frame(BINARY, b"\x01")]


async def test_frames_sent_while_the_request_is_processed_are_answered() -> None:
    """Frames that come after the request, while process_request() runs, are delivered.

    Reading stops once the core holds them, and resumes with the response.
    """
    started = asyncio.Event()
    connections: list[ServerConnection] = []

    async def hook(connection: ServerConnection, request: Request) -> None:
        connections.append(connection)
        started.set()
        async with asyncio.timeout(WAIT):
            while not connection.protocol.held:
                await asyncio.sleep(0)

    async with (
        serving(process_request=hook, ping_interval=None) as server,
        raw_client(server) as (reader, writer),
    ):
        writer.write(handshake_request())
        async with asyncio.timeout(WAIT):
            await started.wait()
        writer.write(Frame(TEXT, b"later").serialize(mask=True))
        response, echoed = await read_frames(reader, 1)
        assert response.status_code == 101
        assert echoed == [Frame(TEXT, b"later")]
        assert connections[0].held_input


async def test_handshake_alone_writes_the_response_alone() -> None:
    # Nothing came after the request: reading never paused, and the response
    # is all the handshake writes (see ServerConnection.handshake).
    async with serving(ping_interval=None) as server, connect(uri_of(server)) as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"
        [connection] = server.handlers
        assert not connection.held_input
        assert connection.transport.is_reading()


async def test_request_read_writes_nothing_and_wakes_nobody(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Until the response, the core has nothing to write, unless it refused
    # the request, and nothing to hand the reader: reading the request skips
    # _send_data() and the reader's wake-up (ServerConnection._handle_received).
    calls: list[str] = []
    send_data = ServerConnection._send_data

    def spy(connection: ServerConnection) -> None:
        calls.append(connection.protocol.state.name)
        send_data(connection)

    monkeypatch.setattr(ServerConnection, "_send_data", spy)
    async with serving(ping_interval=None) as server, connect(uri_of(server)) as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"
    assert calls[0] == "OPEN"  # the response's write (see handshake()), and none before
    assert "CONNECTING" not in calls
    # A refused request is still answered at once.
    async with serving() as server:
        answer = await exchange(port_of(server), b"GET / HTTP/1.1\r\nHost\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")


async def test_close_sent_with_the_request_ends_the_connection_cleanly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    closed: list[ConnectionClosed] = []

    async def handler(ws: ServerConnection) -> None:
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            closed.append(exc)

    async with (
        serving(handler, ping_interval=None) as server,
        raw_client(server) as (
            reader,
            writer,
        ),
    ):
        close = Frame(CLOSE, Close(CloseCode.GOING_AWAY, "bye").serialize())
        writer.write(handshake_request() + close.serialize(mask=True))
        response, (answer,) = await read_frames(reader, 1)
        assert response.status_code == 101
        assert answer == close  # the code and the reason echoed, as websockets does
        async with asyncio.timeout(WAIT):
            assert await reader.read() == b""
    # The handler ran and learnt how the connection ended; nothing failed.
    (exc,) = closed
    assert isinstance(exc, ConnectionClosedOK)
    assert exc.rcvd == Close(CloseCode.GOING_AWAY, "bye")
    assert not records(caplog, "opening handshake failed")


class PauseRecorder(ServerConnection):
    """Records how often reading paused, and what the core held then."""

    pauses: list[int] = []  # noqa: RUF012 (reset by each test)
    paused: asyncio.Event

    def _pause_reading(self) -> None:
        self.pauses.append(self.protocol.held)
        super()._pause_reading()
        self.paused.set()


async def test_reading_goes_on_after_a_request_alone() -> None:
    # Pausing and resuming cost ~45K instructions on asyncio's loop: not
    # when the client sends nothing more before the response.
    PauseRecorder.pauses = []
    PauseRecorder.paused = asyncio.Event()
    async with (
        serving(create_connection=PauseRecorder) as server,
        connect(uri_of(server), open_timeout=WAIT) as ws,
    ):
        await ws.send("hello")
        assert await ws.recv() == "hello"
    assert PauseRecorder.pauses == []


async def test_reading_pauses_on_bytes_sent_with_the_request() -> None:
    PauseRecorder.pauses = []
    PauseRecorder.paused = asyncio.Event()
    frame = Frame(TEXT, b"early").serialize(mask=True)
    async with (
        serving(ping_interval=None, create_connection=PauseRecorder) as server,
        raw_client(server) as (reader, writer),
    ):
        writer.write(handshake_request() + frame)
        response, echoed = await read_frames(reader, 1)
        assert response.status_code == 101
        assert echoed == [Frame(TEXT, b"early")]
    assert PauseRecorder.pauses == [len(frame)]


async def test_reading_pauses_on_bytes_sent_while_process_request_runs() -> None:
    # Else a client could make the core hold whatever it sends meanwhile.
    PauseRecorder.pauses = []
    PauseRecorder.paused = asyncio.Event()
    started, release = asyncio.Event(), asyncio.Event()

    async def hook(connection: ServerConnection, request: Request) -> None:
        started.set()
        await release.wait()

    frame = Frame(TEXT, b"early").serialize(mask=True)
    async with (
        serving(
            process_request=hook, ping_interval=None, create_connection=PauseRecorder
        ) as server,
        raw_client(server) as (reader, writer),
    ):
        writer.write(handshake_request())
        async with asyncio.timeout(WAIT):
            await started.wait()
        writer.write(frame)
        [connection] = server.handlers
        async with asyncio.timeout(WAIT):
            await PauseRecorder.paused.wait()
        assert PauseRecorder.pauses == [len(frame)]
        assert not connection.transport.is_reading()
        writer.write(frame)  # not read until the response is sent
        release.set()
        response, echoed = await read_frames(reader, 2)
        assert response.status_code == 101
        assert echoed == [Frame(TEXT, b"early")] * 2
    assert PauseRecorder.pauses == [len(frame)]


async def test_bad_frame_sent_with_the_request_fails_at_once() -> None:
    async with serving(ping_interval=None) as server, raw_client(server) as (reader, writer):
        writer.write(handshake_request() + Frame(TEXT, b"\xff").serialize(mask=True))
        _, (answer,) = await read_frames(reader, 1)
        assert Close.parse(answer.data).code == CloseCode.INVALID_DATA


# Long negotiation headers.


async def test_megabyte_of_extension_offers_is_refused_with_400() -> None:
    """120 header lines of 8 KiB, 480,000 parameters: refused at the first line."""
    offers = "x-ext" + ";p" * 4000
    request = handshake_request(headers=[("Sec-WebSocket-Extensions", offers)] * 120)
    async with serving() as server:
        response = parse_response(await exchange(port_of(server), request))
    assert response.status_code == 400
    assert f"more than {MAX_EXTENSION_PARAMETERS} parameters".encode() in response.body


# Timers shared by a server's connections.


async def test_server_connections_share_the_servers_timers() -> None:
    async with (
        serving(ping_interval=WAIT, close_timeout=WAIT) as server,
        connect(uri_of(server), open_timeout=WAIT) as ws,
    ):
        await ws.send("hello")
        assert await ws.recv() == "hello"
        [connection] = server.handlers
        assert isinstance(connection.keepalive_timer, Deadline)  # asyncio's own loop
        assert set(server._timer_starters) == {10, WAIT}  # open timeout, keepalive


async def test_server_shares_timers_for_a_few_delays_only() -> None:
    async with serving() as server:
        handles = [server._start_timer(100 + index, lambda: None) for index in range(10)]
        assert len(server._timer_starters) == MAX_SHARED_DELAYS
        assert all(isinstance(handle, Deadline) for handle in handles[: MAX_SHARED_DELAYS - 1])
        # Past the limit, the loop's own timers: the dict doesn't grow.
        assert isinstance(handles[-1], asyncio.TimerHandle)
        for handle in handles:
            handle.cancel()


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_closed_connections_are_freed_without_the_garbage_collector(
    compression: str | None,
) -> None:
    # A connection in a reference cycle waits for the collector, which found
    # ~50 objects per connection before; each now goes when it's let go.
    handled: list[weakref.ref[ServerConnection]] = []

    async def handler(ws: ServerConnection) -> None:
        handled.append(weakref.ref(ws))
        await ws.send(await ws.recv())

    gc.collect()
    gc.disable()
    try:
        async with serve(handler, "127.0.0.1", 0, compression=compression) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}", compression=compression) as client:
                await client.send("hello")
                assert await client.recv() == "hello"
            client_ref = weakref.ref(client)
            del client
            await eventually(lambda: not server.handlers)
            for _ in range(3):  # callbacks the loop still holds
                await asyncio.sleep(0)
            [server_ref] = handled
            assert server_ref() is None
            assert client_ref() is None
    finally:
        gc.enable()


@pytest.mark.skipif(not kernel_allows_burst(), reason="net.core.somaxconn is below the burst")
@pytest.mark.parametrize("backlog", [None, 10])
async def test_listen_backlog_holds_a_burst_of_clients(backlog: int | None) -> None:
    # asyncio's default backlog (100) would drop the SYNs of the rest of the burst.
    options: dict[str, Any] = {} if backlog is None else {"backlog": backlog}
    async with serving(**options) as server:
        # Blocking the loop: nothing accepts meanwhile.
        queued = queued_connections((LOCALHOST, port_of(server)))
    assert queued == BURST if backlog is None else queued <= 2 * backlog
