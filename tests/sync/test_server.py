"""Tests for wskit.sync.server: serve(), Server, ServerConnection, broadcast(), basic_auth().

Servers listen on 127.0.0.1 with port 0 and run ``serve_forever()`` in a
thread; clients are wskit's own :func:`~wskit.sync.client.connect` or raw
sockets that write HTTP and read frames by hand, so that a client can break
any rule or stop reading.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import gc
import http
import logging
import os
import re
import select
import socket
import ssl
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from socket import SO_SNDBUF, SOL_SOCKET
from typing import Any, cast

import pytest

from tests.listen_queue import BURST, kernel_allows_burst, queued_connections
from tests.raw_peers import closing_client
from wskit.exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidStatus,
)
from wskit.frames import BINARY, CLOSE, TEXT, Close, CloseCode, Frame
from wskit.http11 import SERVER, Request, Response
from wskit.protocol import State
from wskit.sync.client import ClientConnection, connect, unix_connect
from wskit.sync.connection import Connection
from wskit.sync.server import (
    Server,
    ServerConnection,
    basic_auth,
    broadcast,
    serve,
    unix_serve,
)
from wskit.typing import Data, Origin, Subprotocol

from .support import (
    LOCALHOST,
    WAIT,
    client_tls,
    echo,
    exchange,
    handshake_request,
    http_get,
    http_request,
    parse_response,
    port_of,
    raw_websocket,
    read_frame,
    read_until_eof,
    records,
    returns_within,
    running,
    server_tls,
    serving,
    until,
    uri_of,
    wait_until_closed,
    websocket_of,
    wskit_threads,
)


def refused_status(uri: str, **kwargs: Any) -> Response:
    """Connect and expect the server to refuse; return its response."""
    with pytest.raises(InvalidStatus) as exc_info, connect(uri, open_timeout=WAIT, **kwargs):
        pytest.fail("the server accepted the connection")
    return exc_info.value.response


def server_side(server: Server, client: Connection) -> ServerConnection:
    """The server's end of ``client``, once the server registered it."""
    found: list[ServerConnection] = []

    def registered() -> bool:
        found[:] = [c for c in server.connections if c.remote_address == client.local_address]
        return len(found) == 1

    until(registered)
    return found[0]


def state_of(connection: ServerConnection) -> State:
    """The state now (a call, so that type checkers don't keep an earlier one)."""
    return connection.state


# Starting and stopping.


def test_serve_forever_in_a_thread(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    with serve(echo, LOCALHOST, 0) as server:
        assert isinstance(server, Server)
        assert server.is_serving()
        port = port_of(server)
        (record,) = records(caplog, "server listening on")
        assert record.name == "wskit.server"
        assert record.getMessage() == f"server listening on {LOCALHOST}:{port}"
        with running(server), connect(uri_of(server)) as ws:
            ws.send("Hello")
            assert ws.recv(timeout=WAIT) == "Hello"
            ws.send(b"\x00\xff")
            assert ws.recv(timeout=WAIT) == b"\x00\xff"
        assert not server.is_serving()
        assert records(caplog, "server closing")
        # The listening socket is closed: nobody else gets in.
        assert server.socket.fileno() == -1
        with pytest.raises(ConnectionRefusedError):
            connect(f"ws://{LOCALHOST}:{port}/", open_timeout=WAIT)


def test_serve_forever_started_just_before_leaving_the_block_returns() -> None:
    # Leaving the block shuts the server down while serve_forever() is
    # starting in another thread; it used to close its wake-up pipe under a
    # waiting selector too, which then never woke: the thread hung forever.
    for _ in range(200):
        with serve(echo, LOCALHOST, 0) as server:
            thread = threading.Thread(target=server.serve_forever)
            thread.start()
        thread.join(WAIT)
        assert not thread.is_alive()


def test_serve_forever_returns_at_once_after_shutdown() -> None:
    with serve(echo, LOCALHOST, 0) as server:
        server.shutdown()
        # It doesn't wait for a connection that will never come.
        thread = threading.Thread(target=server.serve_forever)
        start = time.monotonic()
        thread.start()
        thread.join(WAIT)
        assert not thread.is_alive()
        assert time.monotonic() - start < 1


def test_server_never_served_exits_at_once() -> None:
    # websockets 17.4 hangs here: its shutdown() waits for serve_forever().
    exited = threading.Event()

    def enter_and_exit() -> None:
        with serve(echo, LOCALHOST, 0):
            pass
        exited.set()

    threading.Thread(target=enter_and_exit, daemon=True).start()
    assert exited.wait(WAIT)


def test_shutdown_closes_connections_with_going_away() -> None:
    handler_saw: list[BaseException] = []

    def handler(ws: ServerConnection) -> None:
        try:
            ws.recv()
        except ConnectionClosed as exc:
            handler_saw.append(exc)

    with serving(handler) as server, connect(uri_of(server)) as ws1, connect(uri_of(server)) as ws2:
        until(lambda: len(server.connections) == 2)
        start = time.monotonic()
        server.shutdown()
        # Two closing handshakes, not the default close_timeout (10 s); a
        # busy machine may take a second or more to run them.
        assert time.monotonic() - start < WAIT
        # shutdown() waited until the connections were closed.
        assert server.connections == set()
        for ws in (ws1, ws2):
            with pytest.raises(ConnectionClosedOK):
                ws.recv(timeout=WAIT)
            assert ws.close_code == CloseCode.GOING_AWAY
        assert not server.is_serving()
    assert len(handler_saw) == 2
    assert all(isinstance(exc, ConnectionClosedOK) for exc in handler_saw)


def test_shutdown_with_code_and_reason() -> None:
    with serving(wait_until_closed) as server, connect(uri_of(server)) as ws:
        until(lambda: len(server.connections) == 1)
        server.shutdown(code=CloseCode.SERVICE_RESTART, reason="back soon")
        assert ws.wait_closed(WAIT)
        assert ws.close_code == CloseCode.SERVICE_RESTART
        assert ws.close_reason == "back soon"


def test_shutdown_drops_clients_that_dont_answer_after_close_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    with serving(wait_until_closed, close_timeout=0.2) as server:
        with raw_websocket(port_of(server)) as sock:
            until(lambda: len(server.connections) == 1)
            (connection,) = server.connections
            start = time.monotonic()
            server.shutdown()
            elapsed = time.monotonic() - start
            # The close frame arrived; the TCP connection ended without an answer.
            opcode, _, payload = read_frame(sock)
            assert (opcode, payload[:2]) == (0x8, b"\x03\xe9")
            assert read_until_eof(sock) == b""
        assert 0.15 < elapsed < 2
        assert connection.state is State.CLOSED
    assert records(caplog, "timed out waiting for the peer to close the connection")


def test_shutdown_without_closing_connections() -> None:
    finished = threading.Event()

    def handler(ws: ServerConnection) -> None:
        echo(ws)
        finished.set()

    with serving(handler) as server:
        port = port_of(server)
        with connect(uri_of(server)) as ws:
            until(lambda: len(server.connections) == 1)
            # shutdown() waits for the handler to return, as websockets' does.
            stopping = threading.Thread(target=server.shutdown, kwargs={"close_connections": False})
            stopping.start()
            until(lambda: not server.is_serving())
            # The connection goes on...
            for text in ("still", "here"):
                ws.send(text)
                assert ws.recv(timeout=WAIT) == text
            assert ws.state is State.OPEN
            assert len(server.connections) == 1
            assert stopping.is_alive()
            # ...but nobody else gets in.
            with pytest.raises(ConnectionRefusedError):
                connect(f"ws://{LOCALHOST}:{port}/", open_timeout=WAIT)
        assert ws.close_code == CloseCode.NORMAL_CLOSURE
        assert finished.wait(WAIT)
        stopping.join(WAIT)
        assert not stopping.is_alive()


def test_shutdown_from_a_handler_without_closing_connections_raises() -> None:
    # It would wait for itself.
    raised: list[BaseException] = []

    def handler(ws: ServerConnection) -> None:
        try:
            server.shutdown(close_connections=False)
        except RuntimeError as exc:
            raised.append(exc)

    with serving(handler) as server, connect(uri_of(server)) as ws:
        assert ws.wait_closed(WAIT)
    assert len(raised) == 1


def test_connections_lists_only_open_connections() -> None:
    entered = threading.Event()
    release = threading.Event()

    def slow_process_request(connection: ServerConnection, request: Request) -> None:
        entered.set()
        release.wait(WAIT)

    with (
        serving(wait_until_closed, process_request=slow_process_request) as server,
        concurrent.futures.ThreadPoolExecutor(1) as pool,
    ):
        assert server.connections == set()
        try:
            opening = pool.submit(connect, uri_of(server), open_timeout=WAIT)
            assert entered.wait(WAIT)
            # Mid-handshake: the connection exists but isn't open yet.
            assert server.connections == set()
        finally:
            release.set()
        with opening.result(WAIT) as ws:
            connection = server_side(server, ws)
            assert isinstance(connection, ServerConnection)
            assert connection.server is server
            assert connection.remote_address == ws.local_address
            assert connection.local_address == ws.remote_address
            # The property returns a copy: changing it changes nothing.
            server.connections.clear()
            assert server.connections == {connection}
        assert server.connections == set()  # closing, then closed
        assert connection.wait_closed(WAIT)
        assert server.connections == set()


def test_connections_excludes_closing_connections() -> None:
    with serving(wait_until_closed, close_timeout=WAIT) as server:
        with raw_websocket(port_of(server)) as sock:
            until(lambda: len(server.connections) == 1)
            (connection,) = server.connections
            # The server sent its close frame; the client doesn't answer yet.
            connection.start_closing()
            assert connection.state is State.CLOSING
            assert server.connections == set()
            assert read_frame(sock)[0] == 0x8
        until(lambda: state_of(connection) is State.CLOSED)


def test_fileno_is_the_listening_socket() -> None:
    with serve(echo, LOCALHOST, 0) as server:
        assert server.fileno() == server.socket.fileno()
        # A server can wait in select() like a socket, e.g. with other servers.
        assert select.select([server], [], [], 0) == ([], [], [])
        with socket.create_connection((LOCALHOST, port_of(server)), timeout=WAIT):
            readable, _, _ = select.select([server], [], [], WAIT)
            assert readable == [server]


def test_serve_on_existing_socket() -> None:
    sock = socket.create_server((LOCALHOST, 0))
    port = sock.getsockname()[1]
    with serve(echo, sock=sock) as server, running(server):
        assert server.socket is sock
        with connect(f"ws://{LOCALHOST}:{port}/") as ws:
            ws.send("over a given socket")
            assert ws.recv(timeout=WAIT) == "over a given socket"
    assert sock.fileno() == -1  # the server closed it


class FlakyListener(socket.socket):
    """A listening socket whose first accept() fails, as when a client resets at once."""

    failures = 1

    def accept(self) -> tuple[socket.socket, Any]:
        if self.failures:
            self.failures -= 1
            # Let the pending connection in, and lose it.
            sock, _ = super().accept()
            sock.close()
            raise ConnectionAbortedError("software caused connection abort")
        return super().accept()


def test_failed_accept_doesnt_stop_the_server() -> None:
    sock = FlakyListener(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOCALHOST, 0))
    sock.listen()
    with serve(echo, sock=sock) as server, running(server):
        # The first client is lost...
        with pytest.raises(InvalidHandshake):
            connect(uri_of(server), open_timeout=WAIT)
        assert sock.failures == 0
        # ...and the server goes on.
        with connect(uri_of(server)) as ws:
            ws.send("next")
            assert ws.recv(timeout=WAIT) == "next"


def test_serve_passes_extra_arguments_to_create_server() -> None:
    # socket.create_server() rejects arguments it doesn't know.
    with pytest.raises(TypeError):
        serve(echo, LOCALHOST, 0, no_such_argument=True)
    with serving(backlog=1) as server, connect(uri_of(server)) as ws:
        ws.send("small backlog")
        assert ws.recv(timeout=WAIT) == "small backlog"


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT")
def test_reuse_port() -> None:
    with serving(reuse_port=True) as first:
        port = port_of(first)
        with pytest.raises(OSError, match="in use"):
            serve(echo, LOCALHOST, port)
        with serve(echo, LOCALHOST, port, reuse_port=True) as second:
            assert port_of(second) == port


def test_unix_serve_and_connect(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "ws.sock")
        with unix_serve(echo, path) as server, running(server):
            assert server.socket.family == socket.AF_UNIX
            assert records(caplog, f"server listening on {path}")
            with unix_connect(path) as ws:
                ws.send("over a Unix socket")
                assert ws.recv(timeout=WAIT) == "over a Unix socket"
                assert ws.request is not None
                assert ws.request.headers["Host"] == "localhost"


def test_unix_serve_with_tls() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "wss.sock")
        with (
            unix_serve(echo, path, ssl=server_tls()) as server,
            running(server),
            unix_connect(path, ssl=client_tls()) as ws,
        ):
            assert isinstance(ws.socket, ssl.SSLSocket)
            assert ws.request is not None
            ws.send("TLS over a Unix socket")
            assert ws.recv(timeout=WAIT) == "TLS over a Unix socket"


# The connection handler.


def test_handler_returning_closes_with_1000() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.send("bye")

    with serving(handler) as server, connect(uri_of(server)) as ws:
        assert ws.recv(timeout=WAIT) == "bye"
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=WAIT)
        assert ws.close_code == CloseCode.NORMAL_CLOSURE


def test_handler_raising_closes_with_1011_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    seen: list[ServerConnection] = []

    def handler(ws: ServerConnection) -> None:
        seen.append(ws)
        raise RuntimeError("secret: database password is hunter2")

    with serving(handler) as server, connect(uri_of(server)) as ws:
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=WAIT)
        assert ws.close_code == CloseCode.INTERNAL_ERROR
        assert "hunter2" not in (ws.close_reason or "")
        assert "secret" not in (ws.close_reason or "")
    (record,) = records(caplog, "connection handler failed")
    assert record.name == "wskit.server"
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)
    assert websocket_of(record) is seen[0]


def test_each_connection_runs_in_its_own_thread() -> None:
    started = threading.Barrier(3, timeout=WAIT)
    threads: list[threading.Thread] = []

    def handler(ws: ServerConnection) -> None:
        threads.append(threading.current_thread())
        started.wait()  # all three handlers run at once
        ws.send("together")

    with (
        serving(handler) as server,
        connect(uri_of(server)) as a,
        connect(uri_of(server)) as b,
        connect(uri_of(server)) as c,
    ):
        for ws in (a, b, c):
            assert ws.recv(timeout=WAIT) == "together"
    assert len(set(threads)) == 3
    assert all(thread.name == "wskit handler" for thread in threads)


def test_custom_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="test.custom")

    def fail(ws: ServerConnection) -> None:
        raise RuntimeError("handler bug")

    logger = logging.getLogger("test.custom")
    with serving(fail, logger=logger) as server, connect(uri_of(server)) as ws:
        assert ws.wait_closed(WAIT)
    assert records(caplog, "server listening on")
    assert records(caplog, "connection handler failed", logging.ERROR)
    assert {record.name for record in caplog.records} == {"test.custom"}


# process_request.


def test_process_request_returning_none_proceeds() -> None:
    seen: list[tuple[ServerConnection, str]] = []
    handled: list[ServerConnection] = []

    def hook(connection: ServerConnection, request: Request) -> None:
        seen.append((connection, request.path))

    def handler(ws: ServerConnection) -> None:
        handled.append(ws)
        echo(ws)

    with (
        serving(handler, process_request=hook) as server,
        connect(uri_of(server, "/room?id=1")) as ws,
    ):
        ws.send("through")
        assert ws.recv(timeout=WAIT) == "through"
    assert seen == [(handled[0], "/room?id=1")]
    assert handled[0].request is not None
    assert handled[0].request.path == "/room?id=1"


def test_process_request_health_check() -> None:
    handled: list[ServerConnection] = []

    def handler(ws: ServerConnection) -> None:
        handled.append(ws)

    def health_check(connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        return None

    with serving(handler, process_request=health_check) as server:
        # A plain HTTP GET, as a load balancer sends.
        response = http_get(port_of(server), "/healthz")
        assert response.status_code == 200
        assert response.body == b"OK\n"
        assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert response.headers["Content-Length"] == "3"

        refused = refused_status(uri_of(server, "/healthz"))
        assert refused.status_code == 200
        assert refused.body == b"OK\n"
        assert handled == []

        with connect(uri_of(server, "/")) as ws:
            assert ws.wait_closed(WAIT)
        assert len(handled) == 1


def test_process_request_raising_answers_500_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")

    def hook(connection: ServerConnection, request: Request) -> None:
        raise RuntimeError("hook bug with secret details")

    with serving(process_request=hook) as server:
        response = http_get(port_of(server), "/", [("Upgrade", "websocket")])
        assert response.status_code == 500
        assert b"secret" not in response.body
        assert b"server log" in response.body

        refused = refused_status(uri_of(server))
        assert refused.status_code == 500
        assert server.connections == set()

    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    # One traceback per failed request, not two.
    assert len(errors) == 2
    for record in errors:
        assert record.getMessage() == "opening handshake failed"
        assert record.exc_info is not None
        assert isinstance(record.exc_info[1], RuntimeError)
        assert isinstance(websocket_of(record), ServerConnection)


# process_response and server_header.


def test_process_response_modifies_headers() -> None:
    seen: list[tuple[str, int]] = []

    def hook(connection: ServerConnection, request: Request, response: Response) -> None:
        seen.append((request.path, response.status_code))
        response.headers["X-Hook"] = "sync"

    with serving(process_response=hook) as server, connect(uri_of(server, "/x")) as ws:
        assert ws.response is not None
        assert ws.response.headers["X-Hook"] == "sync"
        ws.send("still works")
        assert ws.recv(timeout=WAIT) == "still works"
    assert seen == [("/x", 101)]


def test_process_response_replaces_response() -> None:
    def hook(connection: ServerConnection, request: Request, response: Response) -> Response | None:
        if request.path == "/forbidden":
            return connection.respond(http.HTTPStatus.FORBIDDEN, "Go away.\n")
        return None

    with serving(process_response=hook) as server:
        refused = refused_status(uri_of(server, "/forbidden"))
        assert refused.status_code == 403
        assert refused.body == b"Go away.\n"
        with connect(uri_of(server, "/allowed")) as ws:
            ws.send("ok")
            assert ws.recv(timeout=WAIT) == "ok"


def test_process_response_raising_answers_500(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")

    def hook(connection: ServerConnection, request: Request, response: Response) -> None:
        raise ValueError("process_response bug")

    with serving(process_response=hook) as server:
        refused = refused_status(uri_of(server))
        assert refused.status_code == 500
    (record,) = records(caplog, "opening handshake failed", logging.ERROR)
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)


def test_server_header_default() -> None:
    with serving() as server, connect(uri_of(server)) as ws:
        assert ws.response is not None
        assert ws.response.headers["Server"] == SERVER
        # Refusals carry it too.
        response = http_get(port_of(server))
        assert response.headers["Server"] == SERVER


def test_server_header_custom() -> None:
    with serving(server_header="Test/1.0") as server, connect(uri_of(server)) as ws:
        assert ws.response is not None
        assert ws.response.headers.get_all("Server") == ["Test/1.0"]


def test_server_header_none() -> None:
    with serving(server_header=None) as server, connect(uri_of(server)) as ws:
        assert ws.response is not None
        assert "Server" not in ws.response.headers
        response = http_get(port_of(server))
        assert "Server" not in response.headers


# basic_auth.


def send_username(ws: ServerConnection) -> None:
    username: str = ws.username
    ws.send(username)


def authenticated_as(uri: str, **kwargs: Any) -> str:
    with connect(uri, **kwargs) as ws:
        return cast(str, ws.recv(timeout=WAIT))


def test_basic_auth_one_pair_through_uri_user_info() -> None:
    auth = basic_auth(realm="test", credentials=("hello", "iloveyou"))
    with serving(send_username, process_request=auth) as server:
        assert authenticated_as(uri_of(server, user_info="hello:iloveyou@")) == "hello"


def test_basic_auth_authorization_header() -> None:
    auth = basic_auth(credentials=("hello", "iloveyou"))
    token = base64.b64encode(b"hello:iloveyou").decode()
    with serving(send_username, process_request=auth) as server:
        username = authenticated_as(
            uri_of(server), additional_headers={"Authorization": f"Basic {token}"}
        )
        assert username == "hello"


def test_basic_auth_list_of_pairs() -> None:
    auth = basic_auth(realm="test", credentials=[("alice", "wonderland"), ("bob", "builder")])
    with serving(send_username, process_request=auth) as server:
        assert authenticated_as(uri_of(server, user_info="alice:wonderland@")) == "alice"
        assert authenticated_as(uri_of(server, user_info="bob:builder@")) == "bob"
        # Each user has their own password.
        assert refused_status(uri_of(server, user_info="alice:builder@")).status_code == 401
        assert refused_status(uri_of(server, user_info="carol:wonderland@")).status_code == 401


def test_basic_auth_check_credentials() -> None:
    checked: list[tuple[str, str]] = []

    def check(username: str, password: str) -> bool:
        checked.append((username, password))
        return password == username[::-1]

    auth = basic_auth(check_credentials=check)
    with serving(send_username, process_request=auth) as server:
        assert authenticated_as(uri_of(server, user_info="abc:cba@")) == "abc"
        refused = refused_status(uri_of(server, user_info="abc:abc@"))
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
def test_basic_auth_refusals(headers: list[tuple[str, str]], body: bytes | None) -> None:
    handled: list[ServerConnection] = []

    def handler(ws: ServerConnection) -> None:
        handled.append(ws)

    auth = basic_auth(realm="my realm", credentials=("hello", "iloveyou"))
    with serving(handler, process_request=auth) as server:
        refused = refused_status(uri_of(server), additional_headers=headers)
        assert refused.status_code == 401
        assert refused.body == (body or b"Invalid credentials\n")
        challenge = refused.headers["WWW-Authenticate"]
        assert challenge.startswith("Basic ")
        assert 'realm="my realm"' in challenge
        # A browser or curl without the WebSocket headers gets the same answer.
        response = http_get(port_of(server), "/", headers)
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


@pytest.mark.parametrize("credentials", [("a",), [("a", 1)], "ab", [("a", "b", "c")]])
def test_basic_auth_rejects_invalid_credentials(credentials: Any) -> None:
    with pytest.raises(TypeError):
        basic_auth(credentials=credentials)


# Negotiation: origins, subprotocols, compression; limits.


def test_origins() -> None:
    origins: list[Origin | re.Pattern[str] | None] = [
        Origin("https://good.example"),
        re.compile(r"https://[a-z]+\.trusted\.example"),
    ]
    with serving(origins=origins) as server:
        for origin in ("https://good.example", "https://app.trusted.example"):
            with connect(uri_of(server), origin=Origin(origin)) as ws:
                ws.send(origin)
                assert ws.recv(timeout=WAIT) == origin
        for bad in ("https://evil.example", "https://good.example.evil"):
            refused = refused_status(uri_of(server), origin=Origin(bad))
            assert refused.status_code == http.HTTPStatus.FORBIDDEN
        # Without an Origin header, a client isn't in the list either.
        assert refused_status(uri_of(server)).status_code == http.HTTPStatus.FORBIDDEN


def test_origins_none_allows_clients_without_origin() -> None:
    with serving(origins=[None, Origin("https://good.example")]) as server:
        with connect(uri_of(server)) as ws:
            assert ws.request is not None
            assert "Origin" not in ws.request.headers
        assert refused_status(uri_of(server), origin=Origin("https://x.example")).status_code == 403


def test_subprotocols() -> None:
    subprotocols: list[Subprotocol | None] = []

    def handler(ws: ServerConnection) -> None:
        subprotocols.append(ws.subprotocol)

    with serving(handler, subprotocols=[Subprotocol("chat"), Subprotocol("superchat")]) as server:
        with connect(uri_of(server), subprotocols=[Subprotocol("superchat")]) as ws:
            assert ws.subprotocol == "superchat"
            assert ws.wait_closed(WAIT)
        # A server with subprotocols refuses clients that offer none of them.
        for offer in ([Subprotocol("other")], None):
            assert refused_status(uri_of(server), subprotocols=offer).status_code == 400
    assert subprotocols == ["superchat"]


def test_serve_validates_subprotocols() -> None:
    with pytest.raises(TypeError):
        serve(echo, LOCALHOST, 0, subprotocols="chat")  # type: ignore[arg-type]


def test_select_subprotocol_is_called_with_the_connection() -> None:
    calls: list[tuple[ServerConnection, list[Subprotocol]]] = []
    handled: list[ServerConnection] = []

    def select_subprotocol(connection: ServerConnection, offered: Any) -> Subprotocol | None:
        calls.append((connection, list(offered)))
        return offered[-1] if offered else None

    def handler(ws: ServerConnection) -> None:
        handled.append(ws)
        ws.send(str(ws.subprotocol))

    with serving(
        handler,
        subprotocols=[Subprotocol("one"), Subprotocol("two")],
        select_subprotocol=select_subprotocol,
    ) as server:
        offer = [Subprotocol("one"), Subprotocol("two")]
        with connect(uri_of(server), subprotocols=offer) as ws:
            assert ws.subprotocol == "two"
            assert ws.recv(timeout=WAIT) == "two"
    (call,) = calls
    assert call[0] is handled[0]
    assert isinstance(call[0], ServerConnection)
    assert call[1] == ["one", "two"]


def test_compression_deflate_by_default() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.send(str([extension.name for extension in ws.protocol.extensions]))

    with serving(handler) as server:
        with connect(uri_of(server)) as ws:
            assert ws.response is not None
            assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
            assert ws.recv(timeout=WAIT) == "['permessage-deflate']"
        with connect(uri_of(server), compression=None) as ws:
            assert ws.recv(timeout=WAIT) == "[]"


def test_compression_none() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.send(str(ws.protocol.extensions))

    with serving(handler, compression=None) as server, connect(uri_of(server)) as ws:
        # The client offers permessage-deflate; the server declines.
        assert ws.request is not None
        assert "permessage-deflate" in ws.request.headers["Sec-WebSocket-Extensions"]
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        assert ws.recv(timeout=WAIT) == "[]"


def test_unsupported_compression() -> None:
    with pytest.raises(ValueError, match="compression"):
        serve(echo, LOCALHOST, 0, compression="gzip")


def test_max_size() -> None:
    with serving(max_size=10) as server, connect(uri_of(server)) as ws:
        ws.send("x" * 10)
        assert ws.recv(timeout=WAIT) == "x" * 10
        ws.send("x" * 11)
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=WAIT)
        assert ws.close_code == CloseCode.MESSAGE_TOO_BIG


def test_max_size_none_allows_large_messages() -> None:
    message = os.urandom(2**21)
    with (
        serving(max_size=None) as server,
        connect(uri_of(server), max_size=None) as ws,
    ):
        ws.send(message)
        assert ws.recv(timeout=WAIT) == message


def test_create_connection_subclass() -> None:
    class MyConnection(ServerConnection):
        greeting = "custom connection"

    def handler(ws: ServerConnection) -> None:
        assert isinstance(ws, MyConnection)
        ws.send(ws.greeting)

    with (
        serving(handler, create_connection=MyConnection) as server,
        connect(uri_of(server)) as ws,
    ):
        assert ws.recv(timeout=WAIT) == "custom connection"
        assert all(isinstance(c, MyConnection) for c in server.connections)


# Opening handshake failures.


def test_open_timeout_drops_silent_clients(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    with (
        serving(open_timeout=0.1) as server,
        socket.create_connection((LOCALHOST, port_of(server)), timeout=WAIT) as sock,
    ):
        start = time.monotonic()
        assert read_until_eof(sock) == b""
        elapsed = time.monotonic() - start
        # Meanwhile, the server still serves others.
        with connect(uri_of(server)) as ws:
            ws.send("alive")
            assert ws.recv(timeout=WAIT) == "alive"
    assert 0.05 < elapsed < 2
    (record,) = records(caplog, "opening handshake timed out")
    assert record.levelno == logging.INFO
    assert record.exc_info is None
    assert isinstance(websocket_of(record), ServerConnection)


def test_open_timeout_drops_clients_sending_half_a_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    with (
        serving(open_timeout=0.1) as server,
        socket.create_connection((LOCALHOST, port_of(server)), timeout=WAIT) as sock,
    ):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: loc")
        start = time.monotonic()
        assert read_until_eof(sock) == b""
        assert time.monotonic() - start < 2
    assert records(caplog, "opening handshake timed out", logging.INFO)


def test_plain_http_request_gets_426_logged_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    with serving() as server:
        response = http_get(port_of(server))
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
def test_failed_handshake_log_escapes_controls(
    request_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    with serving(origins=[Origin("https://good.example")]) as server:
        response = parse_response(exchange(port_of(server), request_bytes))
    assert 400 <= response.status_code < 500
    (record,) = records(caplog, "opening handshake failed")
    assert record.levelno == logging.INFO
    assert record.exc_info is None
    assert isinstance(websocket_of(record), ServerConnection)
    message = record.getMessage()
    assert message.isprintable(), message
    assert "\x1b" not in message
    assert "\x9b" not in message


def test_client_leaving_during_handshake_is_logged_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    with serving() as server:
        # Half a request, then the client is gone.
        assert exchange(port_of(server), b"GET / HTTP/1.1\r\nHost: loc", half_close=True) == b""
    (record,) = records(caplog, "opening handshake failed")
    assert record.levelno == logging.INFO
    assert record.exc_info is None


def test_client_closing_right_after_the_handshake(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    handled: list[ServerConnection] = []

    def handler(ws: ServerConnection) -> None:
        handled.append(ws)
        with contextlib.suppress(ConnectionClosed):
            ws.recv(timeout=WAIT)

    with serving(handler) as server:
        # The reader thread often sees the client leave before the handler
        # thread is done with the handshake.
        for _ in range(50):
            with socket.create_connection((LOCALHOST, port_of(server)), timeout=WAIT) as sock:
                sock.sendall(handshake_request())
                assert sock.recv(4096).startswith(b"HTTP/1.1 101 ")
    # The connection opened each time: the handler ran, and nothing went wrong.
    assert len(handled) == 50
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.parametrize(
    "after_request",
    [b"", b"\x88\x82\x00\x00\x00\x00\x03\xe8"],  # nothing, or a masked close frame
    ids=["eof", "close-then-eof"],
)
def test_client_leaving_right_after_the_request(
    after_request: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    with serving(wait_until_closed) as server:
        for _ in range(10):
            answer = exchange(port_of(server), handshake_request() + after_request, half_close=True)
            # Depending on who is faster: no answer, or the 101.
            assert answer == b"" or answer.startswith(b"HTTP/1.1 101 ")
    # Whatever happened, it isn't an error of the server.
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_invalid_response_from_hook_is_logged_and_aborted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")

    def hook(connection: ServerConnection, request: Request) -> Response:
        response = connection.respond(http.HTTPStatus.OK, "OK\n")
        response.reason_phrase = "forged\r\nSet-Cookie: x=y"
        return response

    with serving(process_request=hook) as server:
        # The server refuses to write a response that would corrupt HTTP.
        assert exchange(port_of(server), http_request()) == b""
    (record,) = records(caplog, "opening handshake failed", logging.ERROR)
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)


def test_shutdown_drops_connections_that_sent_nothing_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A browser's preconnects send nothing: shutdown() doesn't wait until
    # the open timeout expires for them, nor logs them as failures.
    caplog.set_level(logging.DEBUG, logger="wskit.server")
    with (
        serving(wait_until_closed, open_timeout=30) as server,
        socket.create_connection((LOCALHOST, port_of(server)), timeout=WAIT) as sock,
    ):
        until(lambda: len(server.opening) == 1)
        returns_within(server.shutdown, WAIT)
        assert read_until_eof(sock) == b""  # closed, without an answer
    assert not records(caplog, "opening handshake")
    (record,) = records(caplog, "no request before the server closed")
    assert record.levelno == logging.DEBUG
    # Neither a refusal nor a connection.
    assert (server.stats.opened, server.stats.refused, server.stats.closed) == (0, {}, {})


def test_shutdown_answers_503_to_a_connection_that_sent_part_of_its_request() -> None:
    with serving(wait_until_closed, open_timeout=30) as server:
        with socket.create_connection((LOCALHOST, port_of(server)), timeout=WAIT) as sock:
            request = handshake_request()
            sock.sendall(request[:10])
            until(lambda: any(c.protocol.bytes_received for c in server.opening))
            stopping = threading.Thread(target=server.shutdown)
            stopping.start()
            until(lambda: not server.is_serving())
            sock.sendall(request[10:])
            response = parse_response(read_until_eof(sock))
        stopping.join(WAIT)
        assert not stopping.is_alive()
    assert response.status_code == http.HTTPStatus.SERVICE_UNAVAILABLE
    assert server.stats.refused == {503: 1}


def test_handshake_after_shutdown_answers_503() -> None:
    entered = threading.Event()
    release = threading.Event()

    def slow_process_request(connection: ServerConnection, request: Request) -> None:
        entered.set()
        release.wait(WAIT)

    with (
        serving(wait_until_closed, process_request=slow_process_request) as server,
        concurrent.futures.ThreadPoolExecutor(1) as pool,
    ):
        try:
            opening = pool.submit(refused_status, uri_of(server))
            assert entered.wait(WAIT)
            # shutdown() waits for that connection's thread, which goes on.
            stopping = threading.Thread(target=server.shutdown)
            stopping.start()
            until(lambda: not server.is_serving())
        finally:
            release.set()
        assert opening.result(WAIT).status_code == http.HTTPStatus.SERVICE_UNAVAILABLE
        stopping.join(WAIT)
        assert not stopping.is_alive()


def test_debug_logs_carry_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="wskit.server")
    handled: list[ServerConnection] = []

    def handler(ws: ServerConnection) -> None:
        handled.append(ws)
        echo(ws)

    with serving(handler) as server, connect(uri_of(server)) as ws:
        ws.send("logged")
        assert ws.recv(timeout=WAIT) == "logged"
    (connection,) = handled
    connection_records = [r for r in caplog.records if hasattr(r, "websocket")]
    assert connection_records
    assert all(websocket_of(r) is connection for r in connection_records)
    assert all(r.name == "wskit.server" for r in caplog.records)
    messages = [r.getMessage() for r in connection_records]
    assert any(message.startswith("< GET / HTTP/1.1") for message in messages)
    assert any(message.startswith("> HTTP/1.1 101") for message in messages)
    assert any(message.startswith("< TEXT 'logged'") for message in messages)


# TLS.


def test_tls() -> None:
    handled: list[ServerConnection] = []

    def handler(ws: ServerConnection) -> None:
        handled.append(ws)
        echo(ws)

    message = os.urandom(2**20)
    with (
        serving(handler, ssl=server_tls(), max_size=None) as server,
        connect(uri_of(server, scheme="wss"), ssl=client_tls(), max_size=None) as ws,
    ):
        assert isinstance(ws.socket, ssl.SSLSocket)
        ws.send("over TLS")
        assert ws.recv(timeout=WAIT) == "over TLS"
        # Large enough for TLS to hold decrypted bytes between reads.
        ws.send(message)
        assert ws.recv(timeout=WAIT) == message
        for index in range(50):
            ws.send(f"{index}")
        for index in range(50):
            assert ws.recv(timeout=WAIT) == f"{index}"
    assert isinstance(handled[0].socket, ssl.SSLSocket)


@pytest.mark.parametrize(
    "garbage",
    [b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"],
    ids=["plain-http", "broken-hello"],
)
def test_failed_tls_handshake_is_logged_at_info(
    garbage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    with serving(ssl=server_tls()) as server:
        with socket.create_connection((LOCALHOST, port_of(server)), timeout=WAIT) as sock:
            sock.sendall(garbage)
            # The server hangs up, maybe after a TLS alert; it never answers in HTTP.
            with contextlib.suppress(ConnectionResetError):  # it may not read it all
                assert b"HTTP" not in read_until_eof(sock)
        # The server lives on.
        with connect(uri_of(server, scheme="wss"), ssl=client_tls()) as ws:
            ws.send("still serving")
            assert ws.recv(timeout=WAIT) == "still serving"
    (record,) = records(caplog, "opening handshake failed")
    assert record.levelno == logging.INFO
    assert record.exc_info is None
    assert record.getMessage().isprintable()


def test_tls_handshake_times_out(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    with (
        serving(ssl=server_tls(), open_timeout=0.1) as server,
        socket.create_connection((LOCALHOST, port_of(server)), timeout=WAIT) as sock,
    ):
        start = time.monotonic()
        assert read_until_eof(sock) == b""
        assert time.monotonic() - start < 2
    (record,) = records(caplog, "opening handshake failed")
    assert record.levelno == logging.INFO
    assert "timed out" in record.getMessage()


# broadcast().


def clients(server: Server, count: int, **kwargs: Any) -> list[ClientConnection]:
    """Open ``count`` more clients and wait until the server registered them all."""
    expected = len(server.connections) + count
    websockets = [connect(uri_of(server), **kwargs) for _ in range(count)]
    until(lambda: len(server.connections) == expected)
    return websockets


def close_all(websockets: list[ClientConnection]) -> None:
    for ws in websockets:
        ws.close()


def test_broadcast_reaches_every_open_connection() -> None:
    with serving(wait_until_closed) as server:
        websockets = clients(server, 3)
        try:
            broadcast(server.connections, "text")
            broadcast(server.connections, b"\x00binary")
            broadcast(server.connections, bytearray(b"array"))
            broadcast(server.connections, memoryview(b"view"))
            for ws in websockets:
                assert ws.recv(timeout=WAIT) == "text"
                assert ws.recv(timeout=WAIT) == b"\x00binary"
                assert ws.recv(timeout=WAIT) == b"array"
                assert ws.recv(timeout=WAIT) == b"view"
        finally:
            close_all(websockets)


def test_broadcast_to_a_set_that_other_threads_change() -> None:
    # Handlers share a set of members and add or remove themselves, in their
    # own threads, while another broadcasts to it.
    with serving(wait_until_closed) as server:
        websockets = clients(server, 3)
        try:
            client_of = {ws.local_address: ws for ws in websockets}
            first, second, newcomer = server.connections
            members = {first, second}
            flush = first._flush

            def flush_while_someone_joins(*, block: bool = True) -> bool:
                members.add(newcomer)  # as another thread would, at the worst time
                return flush(block=block)

            first._flush = flush_while_someone_joins  # type: ignore[method-assign]
            broadcast(members, "hello")
            for connection in (first, second):
                assert client_of[connection.remote_address].recv(timeout=WAIT) == "hello"
            # The newcomer joined once the broadcast had begun: it gets the next.
            broadcast(members, "and you")
            assert client_of[newcomer.remote_address].recv(timeout=WAIT) == "and you"
        finally:
            close_all(websockets)


def test_broadcast_text_override() -> None:
    with serving(wait_until_closed) as server:
        websockets = clients(server, 2)
        try:
            broadcast(server.connections, b"bytes as text", text=True)
            broadcast(server.connections, "text as bytes", text=False)
            for ws in websockets:
                assert ws.recv(timeout=WAIT) == "bytes as text"
                assert ws.recv(timeout=WAIT) == b"text as bytes"
        finally:
            close_all(websockets)


@pytest.mark.parametrize("message", [42, None, ["a", "b"], {"a": "b"}])
def test_broadcast_rejects_unsupported_types(message: Any) -> None:
    with serving(wait_until_closed) as server, connect(uri_of(server)) as ws:
        until(lambda: len(server.connections) == 1)
        with pytest.raises(TypeError):
            broadcast(server.connections, message)
        # Nothing was sent: the next message is the first one.
        broadcast(server.connections, "first")
        assert ws.recv(timeout=WAIT) == "first"


def test_broadcast_skips_closed_and_closing_connections() -> None:
    with serving(wait_until_closed, close_timeout=WAIT) as server:
        with connect(uri_of(server)) as gone:
            gone_server = server_side(server, gone)
        assert gone_server.wait_closed(WAIT)
        with raw_websocket(port_of(server)) as slow, connect(uri_of(server)) as alive:
            until(lambda: len(server.connections) == 2)
            (slow_server,) = [c for c in server.connections if c is not server_side(server, alive)]
            # The server sent its close frame; the raw client doesn't answer yet.
            slow_server.start_closing()
            assert slow_server.state is State.CLOSING

            connections = [gone_server, slow_server, server_side(server, alive)]
            broadcast(connections, "news", raise_exceptions=True)

            assert alive.recv(timeout=WAIT) == "news"
            # The close frame, not "news".
            assert read_frame(slow)[0] == 0x8


def counting_serialize(monkeypatch: pytest.MonkeyPatch) -> list[Frame]:
    """Count the frames that get serialized from now on."""
    calls: list[Frame] = []
    serialize = Frame.serialize

    def counting(self: Frame, **kwargs: Any) -> bytes:
        calls.append(self)
        return serialize(self, **kwargs)

    monkeypatch.setattr(Frame, "serialize", counting)
    return calls


def test_broadcast_encodes_once_for_uncompressed_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with serving(wait_until_closed, compression=None) as server:
        websockets = clients(server, 4)
        try:
            calls = counting_serialize(monkeypatch)
            broadcast(server.connections, "same bytes for everyone")
            monkeypatch.undo()
            assert len(calls) == 1
            for ws in websockets:
                assert ws.recv(timeout=WAIT) == "same bytes for everyone"
        finally:
            close_all(websockets)


def test_broadcast_to_compressed_and_uncompressed_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = "compressible " * 100
    with serving(wait_until_closed) as server:
        compressed = clients(server, 2)
        plain = clients(server, 5, compression=None)
        try:
            assert all(ws.protocol.extensions for ws in compressed)
            assert not any(ws.protocol.extensions for ws in plain)
            calls = counting_serialize(monkeypatch)
            broadcast(server.connections, message)
            monkeypatch.undo()
            # Once for the plain connections, once per compressed connection.
            assert len(calls) == 1 + 2
            for ws in [*compressed, *plain]:
                assert ws.recv(timeout=WAIT) == message
            # Compression contexts stay in sync with later messages.
            broadcast(server.connections, message[::-1])
            for ws in [*compressed, *plain]:
                assert ws.recv(timeout=WAIT) == message[::-1]
        finally:
            close_all([*compressed, *plain])


def test_broadcast_debug_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="wskit.server")
    with serving(wait_until_closed, compression=None) as server, connect(uri_of(server)) as ws:
        connection = server_side(server, ws)
        caplog.clear()
        broadcast(server.connections, "logged once")
        assert ws.recv(timeout=WAIT) == "logged once"
        sent = [r for r in caplog.records if r.getMessage().startswith("> TEXT")]
        assert len(sent) == 1
        assert "logged once" in sent[0].getMessage()
        assert websocket_of(sent[0]) is connection


def test_broadcast_from_clients() -> None:
    # Client connections mask their frames: each one encodes its own.
    with serving() as server:
        websockets = clients(server, 2)
        try:
            broadcast(websockets, "echo me")
            for ws in websockets:
                assert ws.recv(timeout=WAIT) == "echo me"
        finally:
            close_all(websockets)


def test_broadcast_skips_connection_sending_fragments(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    started = threading.Event()
    release = threading.Event()

    def handler(ws: ServerConnection) -> None:
        def fragments() -> Iterator[str]:
            yield "first half, "
            started.set()
            release.wait(WAIT)
            yield "second half"

        ws.send(fragments())
        wait_until_closed(ws)

    with serving(handler) as server, connect(uri_of(server)) as ws:
        try:
            assert started.wait(WAIT)
            connection = server_side(server, ws)
            broadcast(server.connections, "interloper")
            (warning,) = records(caplog, "skipped broadcast")
            assert warning.levelno == logging.WARNING
            assert "fragmented message" in warning.getMessage()
            assert websocket_of(warning) is connection
            with pytest.raises(ExceptionGroup) as exc_info:
                broadcast(server.connections, "interloper", raise_exceptions=True)
            (exc,) = exc_info.value.exceptions
            assert isinstance(exc, ConcurrencyError)
            assert repr(connection) in str(exc.__notes__)
            assert len(records(caplog, "skipped broadcast")) == 1
        finally:
            release.set()
        assert ws.recv(timeout=WAIT) == "first half, second half"
        # Once the message is complete, broadcasting works again.
        until(lambda: connection.fragmented_sender is None)
        broadcast([connection], "after", raise_exceptions=True)
        assert ws.recv(timeout=WAIT) == "after"


class SmallSendBuffer(ServerConnection):
    """A server connection whose writes block after a few KiB, so that a slow client shows."""

    def __init__(self, socket: socket.socket, *args: Any, **kwargs: Any) -> None:
        socket.setsockopt(SOL_SOCKET, SO_SNDBUF, 4096)
        super().__init__(socket, *args, **kwargs)


def test_broadcast_queues_behind_a_blocked_write() -> None:
    # Far more than the socket buffers hold: sending it blocks until the client reads.
    big = os.urandom(2**20)
    # Some larger than the socket takes at once; under write_limit in all.
    messages: list[Data] = [
        f"news {index}" if index % 4 else os.urandom(2**12) for index in range(20)
    ]
    assert sum(map(len, messages)) < SmallSendBuffer.write_limit

    def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        if ws.request.path == "/behind":
            ws.send(big)
        wait_until_closed(ws)

    with (
        serving(
            handler, compression=None, ping_interval=None, create_connection=SmallSendBuffer
        ) as server,
        raw_websocket(port_of(server), "/behind", rcvbuf=4096) as behind,
        connect(uri_of(server)) as reading,
    ):
        reading_server = server_side(server, reading)
        until(lambda: len(server.connections) == 2)
        (behind_server,) = server.connections - {reading_server}
        # The handler holds the connection's writes until the client reads:
        # every broadcast waits in the queue meanwhile.
        until(behind_server.send_lock.locked)

        # Back to back: bytes waiting to be written don't make a client slow.
        for message in messages:
            broadcast([behind_server, reading_server], message, raise_exceptions=True)
        assert behind_server.outgoing

        for message in messages:
            assert reading.recv(timeout=WAIT) == message
        # Once it reads, the client gets the big message, then every broadcast in order.
        assert read_frame(behind) == (0x2, True, big)
        for message in messages:
            opcode = 0x1 if isinstance(message, str) else 0x2
            payload = message.encode() if isinstance(message, str) else message
            assert read_frame(behind) == (opcode, True, payload)
        behind_server.start_closing()
        assert read_frame(behind)[0] == 0x8


class SmallWriteLimit(SmallSendBuffer):
    """Past a few KiB waiting to be written, broadcast() skips the connection."""

    write_limit = 2**12


@contextlib.contextmanager
def slow_client() -> Iterator[tuple[Server, socket.socket]]:
    """A server and one client that reads nothing, with small socket buffers on both ends."""
    with (
        serving(
            wait_until_closed,
            compression=None,
            ping_interval=None,
            create_connection=SmallWriteLimit,
        ) as server,
        raw_websocket(port_of(server), rcvbuf=4096) as slow,
    ):
        until(lambda: len(server.connections) == 1)
        yield server, slow


def test_broadcast_never_blocks_on_a_slow_client() -> None:
    with slow_client() as (server, slow):
        connections = server.connections
        chunk = b"x" * 2**16

        def broadcasts() -> None:
            for _ in range(2**8):
                broadcast(connections, chunk)

        thread = threading.Thread(target=broadcasts)
        thread.start()
        thread.join(2)
        blocked = thread.is_alive()
        slow.close()  # unblocks the write, if any
        thread.join(WAIT)
        assert not thread.is_alive()
    assert not blocked


def test_broadcast_to_a_slow_client_delivers_what_it_accepted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    with slow_client() as (server, slow):
        (slow_server,) = server.connections
        big = os.urandom(2**20)
        filler = b"x" * SmallWriteLimit.write_limit
        before = wskit_threads()
        start = time.monotonic()
        broadcast([slow_server], big)  # far more than the socket buffers take
        (writer,) = {t for t in wskit_threads() - before if t.name.startswith("wskit writer")}
        # The writer has taken the rest of the big message: the queue is empty.
        until(lambda: not slow_server.outgoing)
        # Up to write_limit bytes waiting, broadcasts queue up...
        broadcast([slow_server], "queued", raise_exceptions=True)
        broadcast([slow_server], filler, raise_exceptions=True)
        # ... past it, the client is slow and skipped.
        broadcast([slow_server], "skipped")
        assert time.monotonic() - start < 1
        (warning,) = records(caplog, "skipped broadcast")
        assert warning.levelno == logging.WARNING
        assert "write buffer is full" in warning.getMessage()
        assert websocket_of(warning) is slow_server
        with pytest.raises(ExceptionGroup) as exc_info:
            broadcast([slow_server], "skipped", raise_exceptions=True)
        (exc,) = exc_info.value.exceptions
        assert isinstance(exc, ConcurrencyError)
        assert "write buffer is full" in str(exc)

        # Once the client reads, what was accepted arrives, and the writer ends.
        assert read_frame(slow) == (0x2, True, big)
        assert read_frame(slow) == (0x1, True, b"queued")
        assert read_frame(slow) == (0x2, True, filler)
        writer.join(WAIT)
        assert not writer.is_alive()
        broadcast([slow_server], "next")
        assert read_frame(slow) == (0x1, True, b"next")


def test_broadcast_accepts_thread_pool_options() -> None:
    with serving(echo) as server, connect(uri_of(server)) as client:
        until(lambda: len(server.connections) == 1)
        broadcast(server.connections, "news", max_workers=4, thread_name_prefix="x")
        assert client.recv(timeout=WAIT) == "news"


def test_broadcast_rejects_unknown_options() -> None:
    with pytest.raises(TypeError, match="max_wokers"):
        broadcast([], "nobody listens", max_wokers=4)


# Scale.


SCALE = 1000


def test_scale_1000_concurrent_connections() -> None:
    """A server holds 1,000 connections at once: a thread each, all echoing."""
    start = time.monotonic()
    before = wskit_threads()
    with serving(echo) as server:
        uri = uri_of(server)
        websockets: list[ClientConnection] = []
        try:
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                for opening in [
                    pool.submit(connect, uri, ping_interval=None, open_timeout=WAIT)
                    for _ in range(SCALE)
                ]:
                    websockets.append(opening.result(WAIT * 4))
            until(lambda: len(server.connections) == SCALE, timeout=WAIT * 2)
            opened = time.monotonic()

            # Threads per server connection: the handler; one reader for them all.
            threads = wskit_threads() - before
            handlers = [t for t in threads if t.name == "wskit handler"]
            readers = [t for t in threads if t.name == "wskit server reader"]
            assert len(handlers) == SCALE
            assert len(readers) == 1
            # Plus one reader per client connection, in this process.
            assert len(threads) == 2 * SCALE + 1

            def round_trip(index: int) -> None:
                ws = websockets[index]
                ws.send(f"message {index}")
                assert ws.recv(timeout=WAIT) == f"message {index}"

            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                for done in [pool.submit(round_trip, index) for index in range(SCALE)]:
                    done.result(WAIT * 4)
            # Every connection stayed open during the round trips.
            assert len(server.connections) == SCALE
            assert all(ws.state is State.OPEN for ws in websockets)
            echoed = time.monotonic()
        finally:
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                list(pool.map(ClientConnection.close, websockets, timeout=WAIT * 4))
        assert all(ws.close_code == CloseCode.NORMAL_CLOSURE for ws in websockets)
        until(lambda: server.connections == set(), timeout=WAIT * 2)
    end = time.monotonic()
    print(
        f"\n{SCALE} connections: opened in {opened - start:.2f}s, "
        f"echoed in {echoed - opened:.2f}s, closed in {end - echoed:.2f}s"
    )
    assert end - start < 30


def test_many_tls_handshakes_with_session_tickets() -> None:
    # TLS 1.3 session tickets reach the client right after the handshake,
    # while it writes its request: reader and writer threads then share one
    # OpenSSL object. Every handshake must succeed.
    context = server_tls()
    assert context.num_tickets > 0
    failures: list[BaseException] = []

    def client(port: int) -> None:
        for _ in range(50):
            try:
                uri = f"wss://localhost:{port}/"
                with connect(uri, ssl=client_tls(), open_timeout=WAIT, ping_interval=None) as ws:
                    ws.send("ticket")
                    assert ws.recv(timeout=WAIT) == "ticket"
            except BaseException as exc:  # collected, asserted below
                failures.append(exc)

    with serving(ssl=context, ping_interval=None) as server:
        threads = [threading.Thread(target=client, args=(port_of(server),)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
            assert not thread.is_alive()
    assert failures == []


# Frames that come with the handshake request.


def read_response(sock: socket.socket) -> bytes:
    """Read the handshake response, one byte at a time, so as to leave the frames."""
    response = b""
    while b"\r\n\r\n" not in response:
        data = sock.recv(1)
        assert data, "the server closed the connection during the handshake"
        response += data
    return response


def test_frames_sent_with_the_request_are_answered_at_once() -> None:
    """Frames written with the request in one write don't wait for more bytes.

    Without keepalive, nothing else would ever come: the test would time out.
    """
    frames = Frame(TEXT, b"hello").serialize(mask=True) + Frame(BINARY, b"\x01").serialize(
        mask=True
    )
    with (
        serving(ping_interval=None) as server,
        socket.create_connection((LOCALHOST, port_of(server)), timeout=WAIT) as sock,
    ):
        sock.sendall(handshake_request() + frames)
        assert read_response(sock).startswith(b"HTTP/1.1 101 ")
        assert read_frame(sock) == (TEXT, True, b"hello")
        assert read_frame(sock) == (BINARY, True, b"\x01")


def test_bytes_after_the_request_are_not_read_until_the_server_answers() -> None:
    """While process_request() runs, the core holds what follows the request unparsed.

    Reading stops, so TCP pushes back on the client instead of the held bytes
    growing with what it sends.
    """
    answer = threading.Event()
    connections: list[ServerConnection] = []
    received: list[Data] = []

    def process_request(connection: ServerConnection, request: Request) -> None:
        connections.append(connection)
        answer.wait(WAIT)

    def handler(connection: ServerConnection) -> None:
        # Reads every message without writing back: the client never reads.
        received.extend(connection.recv(timeout=WAIT) for _ in range(1 + 2**6))

    frame = Frame(BINARY, b"x" * 2**16).serialize(mask=True)

    def send_more(sock: socket.socket) -> None:
        # 4 MiB: what the server doesn't read waits in the kernel's buffers.
        with contextlib.suppress(OSError):
            sock.sendall(frame * 2**6)

    with (
        serving(handler, process_request=process_request, ping_interval=None) as server,
        socket.create_connection((LOCALHOST, port_of(server)), timeout=WAIT) as sock,
    ):
        sock.sendall(handshake_request() + frame)
        until(lambda: len(connections) == 1)
        sender = threading.Thread(target=send_more, args=(sock,))
        sender.start()
        try:
            # Time for a server that kept reading to read what it can.
            sender.join(1)
            connection = connections[0]
            assert len(connection.protocol._buffer) <= 2 * connection.recv_bufsize
            answer.set()
            until(lambda: len(received) == 1 + 2**6)
            assert received == [b"x" * 2**16] * (1 + 2**6)
        finally:
            answer.set()
            sender.join(WAIT)


def test_close_sent_with_the_request_ends_the_connection_cleanly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    closed: list[ConnectionClosed] = []

    def handler(ws: ServerConnection) -> None:
        try:
            ws.recv(timeout=WAIT)
        except ConnectionClosed as exc:
            closed.append(exc)

    close = Frame(CLOSE, Close(CloseCode.GOING_AWAY, "bye").serialize())
    with serving(handler, ping_interval=None) as server:
        with socket.create_connection((LOCALHOST, port_of(server)), timeout=WAIT) as sock:
            sock.sendall(handshake_request() + close.serialize(mask=True))
            assert read_response(sock).startswith(b"HTTP/1.1 101 ")
            # The reply echoes the code and the reason, as websockets does.
            assert read_frame(sock) == (CLOSE, True, close.data)
            assert read_until_eof(sock) == b""
        until(lambda: len(closed) == 1)
    (exc,) = closed
    assert isinstance(exc, ConnectionClosedOK)
    assert exc.rcvd == Close(CloseCode.GOING_AWAY, "bye")
    assert not records(caplog, "opening handshake failed")


def test_bad_frame_sent_with_the_request_fails_at_once() -> None:
    with (
        serving(ping_interval=None) as server,
        socket.create_connection((LOCALHOST, port_of(server)), timeout=WAIT) as sock,
    ):
        sock.sendall(handshake_request() + Frame(TEXT, b"\xff").serialize(mask=True))
        read_response(sock)
        opcode, _, payload = read_frame(sock)
        assert (opcode, Close.parse(payload).code) == (CLOSE, CloseCode.INVALID_DATA)


@pytest.mark.parametrize("after", [b"", b"x"])
def test_server_closes_at_once_after_a_clean_closing_handshake(after: bytes) -> None:
    # As on asyncio (see tests/asyncio/test_connection.py): the connection
    # ends without the client's EOF, unless bytes followed its close frame.
    closed = threading.Event()

    def handler(ws: ServerConnection) -> None:
        ws.wait_closed(WAIT * 2)
        closed.set()

    with serving(handler, close_timeout=WAIT * 10) as server:
        peer = closing_client(port_of(server), after)
        with peer.sock:
            if after:
                assert not closed.wait(0.1)
                peer.sock.shutdown(socket.SHUT_WR)
            assert closed.wait(WAIT)
            # The close frame and FIN, not a reset.
            assert peer.read_frame() == (False, b"\x03\xe8")
            assert peer.sock.recv(1) == b""


@pytest.mark.parametrize("compression", ["deflate", None])
def test_closed_connections_are_freed_without_the_garbage_collector(
    compression: str | None,
) -> None:
    # As on asyncio (tests/asyncio/test_server.py): the assembler drops the
    # connection's methods once it ended, which made ~190 objects per pair
    # of connections into cycles for the collector.
    handled: list[weakref.ref[ServerConnection]] = []

    def handler(ws: ServerConnection) -> None:
        handled.append(weakref.ref(ws))
        ws.send(ws.recv())

    gc.collect()
    gc.disable()
    try:
        with serving(handler, compression=compression) as server:
            with connect(uri_of(server), compression=compression) as client:
                client.send("hello")
                assert client.recv() == "hello"
            client_ref = weakref.ref(client)
            del client
            # The reader threads finish their last step after the end.
            until(lambda: client_ref() is None)
            until(lambda: bool(handled) and handled[0]() is None)
    finally:
        gc.enable()


@pytest.mark.skipif(not kernel_allows_burst(), reason="net.core.somaxconn is below the burst")
@pytest.mark.parametrize("backlog", [None, 10])
def test_listen_backlog_holds_a_burst_of_clients(backlog: int | None) -> None:
    # socket.listen()'s default backlog (128) would drop the SYNs of the rest.
    options: dict[str, Any] = {} if backlog is None else {"backlog": backlog}
    with serve(echo, LOCALHOST, 0, **options) as server:  # not serving: nothing accepts
        queued = queued_connections((LOCALHOST, port_of(server)))
    assert queued == BURST if backlog is None else queued <= 2 * backlog
