"""Tests for wskit.sync.client: connect(), unix_connect(), ClientConnection.

Peers are wskit's threaded server, or raw TCP servers that answer the
opening handshake badly or not at all.
"""

from __future__ import annotations

import contextlib
import http
import logging
import os
import queue
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from wskit.datastructures import Headers
from wskit.exceptions import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
)
from wskit.frames import TEXT, CloseCode, Frame
from wskit.http11 import USER_AGENT, Request, Response
from wskit.protocol import State
from wskit.sync.client import ClientConnection, connect, unix_connect
from wskit.sync.server import ServerConnection, unix_serve
from wskit.typing import Origin, Subprotocol
from wskit.utils import accept_key

from .support import (
    LOCALHOST,
    WAIT,
    client_tls,
    echo,
    join_wskit_threads,
    port_of,
    read_until_eof,
    records,
    reset,
    returns_within,
    running,
    server_tls,
    serving,
    until,
    uri_of,
    wskit_threads,
)


class Recorder:
    """A handler that keeps the connections it gets, and echoes."""

    def __init__(self) -> None:
        self.connections: list[ServerConnection] = []

    def __call__(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        echo(ws)

    @property
    def request(self) -> Request:
        """The request of the one connection, once the handler got it."""
        until(lambda: len(self.connections) > 0)
        (connection,) = self.connections
        assert connection.request is not None
        return connection.request


@contextlib.contextmanager
def raw_server(answer: Callable[[socket.socket], object] = read_until_eof) -> Iterator[int]:
    """A TCP server on a free port that runs ``answer`` on one connection.

    Without ``answer``, it accepts and never says a word, until the client
    leaves. Yields the port.
    """
    errors: list[BaseException] = []

    def serve_one(listener: socket.socket) -> None:
        try:
            sock, _ = listener.accept()
            with sock:
                sock.settimeout(WAIT)
                answer(sock)
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)

    with socket.create_server((LOCALHOST, 0)) as listener:
        listener.settimeout(WAIT)
        thread = threading.Thread(target=serve_one, args=(listener,))
        thread.start()
        try:
            yield listener.getsockname()[1]
        finally:
            thread.join(WAIT)
    assert not thread.is_alive()
    # A client that gave up may reset the connection: that's not the server's problem.
    assert all(isinstance(exc, ConnectionResetError) for exc in errors), errors


def read_request(sock: socket.socket) -> bytes:
    request = b""
    while b"\r\n\r\n" not in request:
        data = sock.recv(4096)
        if not data:
            break
        request += data
    return request


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
        return port


# Opening and closing.


def test_connect_as_context_manager() -> None:
    recorder = Recorder()
    with serving(recorder) as server:
        with connect(uri_of(server)) as ws:
            until(lambda: len(recorder.connections) == 1)
            assert isinstance(ws, ClientConnection)
            assert ws.state is State.OPEN
            assert ws.request is not None
            assert ws.response is not None
            assert ws.response.status_code == 101
            assert ws.local_address == recorder.connections[0].remote_address
            assert ws.remote_address == (LOCALHOST, port_of(server))
            ws.send("Hello")
            assert ws.recv(timeout=WAIT) == "Hello"
        # Leaving the block closed the connection normally.
        assert ws.protocol.state is State.CLOSED
        assert ws.close_code == CloseCode.NORMAL_CLOSURE
        assert recorder.connections[0].wait_closed(WAIT)
        assert recorder.connections[0].close_code == CloseCode.NORMAL_CLOSURE


def test_connect_without_context_manager() -> None:
    with serving() as server:
        ws = connect(uri_of(server))
        try:
            ws.send(b"bytes")
            assert ws.recv(timeout=WAIT) == b"bytes"
        finally:
            ws.close()
        assert ws.state is State.CLOSED


def test_exception_in_block_closes_with_1011() -> None:
    recorder = Recorder()
    with serving(recorder) as server:
        with pytest.raises(RuntimeError, match="application bug"), connect(uri_of(server)):
            raise RuntimeError("application bug")
        until(lambda: len(recorder.connections) == 1)
        (connection,) = recorder.connections
        assert connection.wait_closed(WAIT)
        assert connection.close_code == CloseCode.INTERNAL_ERROR


def test_server_closing_right_after_accepting() -> None:
    def bye(ws: ServerConnection) -> None:
        ws.send("bye")
        ws.close(CloseCode.GOING_AWAY, "gone")

    with serving(bye) as server:
        for _ in range(20):  # the close frame often arrives with the response
            with connect(uri_of(server)) as ws:
                assert ws.recv(timeout=WAIT) == "bye"
                with pytest.raises(ConnectionClosedOK):
                    ws.recv(timeout=WAIT)
                assert (ws.close_code, ws.close_reason) == (CloseCode.GOING_AWAY, "gone")


def accept_handshake(sock: socket.socket, after: bytes = b"") -> None:
    """Read the handshake request on ``sock`` and accept it; send ``after`` in the same write."""
    headers = read_request(sock).decode("latin-1").split("\r\n")
    (key,) = [
        line.split(":", 1)[1].strip()
        for line in headers
        if line.lower().startswith("sec-websocket-key:")
    ]
    sock.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n" + after
    )


def test_frame_in_the_same_write_as_the_101_is_received_at_once() -> None:
    """A frame that comes with the response needs no further bytes to be delivered."""

    def answer(sock: socket.socket) -> None:
        accept_handshake(sock, Frame(TEXT, b"hello").serialize(mask=False))
        # The client closes once it got the frame; then the server closes TCP.
        assert sock.recv(1) == b"\x88"  # FIN + CLOSE

    with raw_server(answer) as port, connect(f"ws://{LOCALHOST}:{port}/", ping_interval=None) as ws:
        assert ws.recv(timeout=WAIT) == "hello"


# What the client sends in the opening handshake.


def test_request_defaults() -> None:
    recorder = Recorder()
    with serving(recorder) as server, connect(uri_of(server, "/path?query=1")):
        request = recorder.request
        assert request.path == "/path?query=1"
        assert request.headers["Host"] == f"{LOCALHOST}:{port_of(server)}"
        assert request.headers["User-Agent"] == USER_AGENT
        assert "permessage-deflate" in request.headers["Sec-WebSocket-Extensions"]
        assert "Origin" not in request.headers
        assert "Sec-WebSocket-Protocol" not in request.headers


def test_origin() -> None:
    recorder = Recorder()
    origin = Origin("https://app.example")
    with serving(recorder, origins=[origin]) as server, connect(uri_of(server), origin=origin):
        assert recorder.request.headers["Origin"] == "https://app.example"


def test_subprotocols() -> None:
    recorder = Recorder()
    offer = [Subprotocol("v2.chat"), Subprotocol("v1.chat")]
    with (
        serving(recorder, subprotocols=[Subprotocol("v1.chat")]) as server,
        connect(uri_of(server), subprotocols=offer) as ws,
    ):
        assert recorder.request.headers["Sec-WebSocket-Protocol"] == "v2.chat, v1.chat"
        assert ws.subprotocol == "v1.chat"
        assert recorder.connections[0].subprotocol == "v1.chat"


def test_connect_validates_subprotocols() -> None:
    with pytest.raises(TypeError):
        connect("ws://localhost/", subprotocols="chat")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Token": "secret", "X-Other": "1"},
        [("X-Token", "secret"), ("X-Other", "1")],
        Headers([("X-Token", "secret"), ("X-Other", "1")]),
    ],
    ids=["dict", "list", "Headers"],
)
def test_additional_headers(headers: Any) -> None:
    recorder = Recorder()
    with serving(recorder) as server, connect(uri_of(server), additional_headers=headers):
        assert recorder.request.headers["X-Token"] == "secret"
        assert recorder.request.headers["X-Other"] == "1"


def test_additional_headers_repeated() -> None:
    recorder = Recorder()
    headers = [("X-Many", "a"), ("X-Many", "b")]
    with serving(recorder) as server, connect(uri_of(server), additional_headers=headers):
        assert recorder.request.headers.get_all("X-Many") == ["a", "b"]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, USER_AGENT),
        ({"user_agent_header": "Robot/1.0"}, "Robot/1.0"),
        ({"user_agent_header": None}, None),
        # An explicit header wins over the parameter.
        ({"additional_headers": {"User-Agent": "Explicit/2.0"}}, "Explicit/2.0"),
    ],
    ids=["default", "custom", "none", "additional-headers"],
)
def test_user_agent_header(kwargs: dict[str, Any], expected: str | None) -> None:
    recorder = Recorder()
    with serving(recorder) as server, connect(uri_of(server), **kwargs):
        assert recorder.request.headers.get_all("User-Agent") == ([expected] if expected else [])


def test_compression_none() -> None:
    recorder = Recorder()
    with serving(recorder) as server, connect(uri_of(server), compression=None) as ws:
        assert "Sec-WebSocket-Extensions" not in recorder.request.headers
        assert ws.protocol.extensions == []
        # Messages go uncompressed; they still arrive.
        ws.send("a" * 1000)
        assert ws.recv(timeout=WAIT) == "a" * 1000


def test_compression_deflate_negotiated() -> None:
    with serving() as server, connect(uri_of(server)) as ws:
        assert [extension.name for extension in ws.protocol.extensions] == ["permessage-deflate"]
        ws.send("a" * 1000)
        assert ws.recv(timeout=WAIT) == "a" * 1000


def test_unsupported_compression() -> None:
    with pytest.raises(ValueError, match="compression"):
        connect("ws://localhost/", compression="gzip")


def test_max_size() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.send("x" * 10)
        ws.send("x" * 11)
        ws.wait_closed(WAIT)

    with serving(handler) as server, connect(uri_of(server), max_size=10) as ws:
        assert ws.recv(timeout=WAIT) == "x" * 10
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=WAIT)
        assert ws.protocol.close_sent is not None
        assert ws.protocol.close_sent.code == CloseCode.MESSAGE_TOO_BIG


def test_custom_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="test.client")
    with (
        serving() as server,
        connect(uri_of(server), logger=logging.getLogger("test.client")) as ws,
    ):
        ws.send("logged")
        assert ws.recv(timeout=WAIT) == "logged"
    client_records = [r for r in caplog.records if r.name == "test.client"]
    assert any(r.getMessage().startswith("> GET / HTTP/1.1") for r in client_records)
    assert any(r.getMessage().startswith("> TEXT 'logged'") for r in client_records)
    assert all(getattr(r, "websocket", None) is ws for r in client_records)


def test_create_connection_subclass() -> None:
    class MyConnection(ClientConnection):
        def greet(self) -> str:
            self.send("hello from a subclass")
            return str(self.recv(timeout=WAIT))

    with serving() as server, connect(uri_of(server), create_connection=MyConnection) as ws:
        assert isinstance(ws, MyConnection)
        assert ws.greet() == "hello from a subclass"


def test_extra_arguments_go_to_create_connection() -> None:
    with serving() as server:
        with connect(uri_of(server), source_address=(LOCALHOST, 0)) as ws:
            assert ws.local_address[0] == LOCALHOST
        with pytest.raises(TypeError):
            connect(uri_of(server), no_such_argument=True)


# Failures to connect.


def test_invalid_uri() -> None:
    for uri in ("http://localhost/", "not a uri", "ws://"):
        with pytest.raises(InvalidURI):
            connect(uri)


def test_connection_refused() -> None:
    # An OSError, as socket.create_connection() raises it.
    with pytest.raises(ConnectionRefusedError):
        connect(f"ws://{LOCALHOST}:{free_port()}/", open_timeout=WAIT)


def test_open_timeout_when_server_never_answers() -> None:
    before = wskit_threads()
    with raw_server() as port:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            connect(f"ws://{LOCALHOST}:{port}/", open_timeout=0.1)
        elapsed = time.monotonic() - start
    assert 0.05 < elapsed < 2
    # The connection is gone, with its reader thread.
    assert wskit_threads() - before == set()


def test_open_timeout_when_tls_server_never_answers() -> None:
    with raw_server() as port:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            connect(f"wss://localhost:{port}/", ssl=client_tls(), open_timeout=0.1)
        assert time.monotonic() - start < 2


def test_forbidden() -> None:
    def forbid(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(http.HTTPStatus.FORBIDDEN, "Not you.\n")

    before = wskit_threads()
    with serving(process_request=forbid) as server, pytest.raises(InvalidStatus) as exc_info:
        connect(uri_of(server), open_timeout=WAIT)
    response = exc_info.value.response
    assert response.status_code == 403
    assert response.body == b"Not you.\n"
    assert "403" in str(exc_info.value)
    assert wskit_threads() - before == set()


def test_server_answers_without_upgrading() -> None:
    def answer(sock: socket.socket) -> None:
        read_request(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhi\n")

    with raw_server(answer) as port, pytest.raises(InvalidStatus) as exc_info:
        connect(f"ws://{LOCALHOST}:{port}/", open_timeout=WAIT)
    assert exc_info.value.response.status_code == 200


def test_server_answers_garbage() -> None:
    def answer(sock: socket.socket) -> None:
        read_request(sock)
        sock.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")

    with raw_server(answer) as port, pytest.raises(InvalidMessage):
        connect(f"ws://{LOCALHOST}:{port}/", open_timeout=WAIT)


def test_server_hangs_up() -> None:
    with raw_server(read_request) as port, pytest.raises(InvalidHandshake):
        connect(f"ws://{LOCALHOST}:{port}/", open_timeout=WAIT)


# TLS.


def test_wss_with_a_context_that_trusts_the_server() -> None:
    recorder = Recorder()
    with (
        serving(recorder, ssl=server_tls()) as server,
        connect(f"wss://localhost:{port_of(server)}/", ssl=client_tls()) as ws,
    ):
        assert isinstance(ws.socket, ssl.SSLSocket)
        assert ws.socket.server_hostname == "localhost"
        ws.send("secure")
        assert ws.recv(timeout=WAIT) == "secure"
        assert recorder.request.headers["Host"] == f"localhost:{port_of(server)}"


def test_wss_with_the_default_context_checks_the_certificate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="wskit.server")
    before = wskit_threads()
    with serving(ssl=server_tls()) as server:
        # The certificate is self-signed: the system's CAs don't vouch for it.
        with pytest.raises(ssl.SSLCertVerificationError):
            connect(f"wss://localhost:{port_of(server)}/", open_timeout=WAIT)
        with pytest.raises(ssl.SSLCertVerificationError):
            connect(
                f"wss://localhost:{port_of(server)}/",
                ssl=ssl.create_default_context(),
                open_timeout=WAIT,
            )
    assert wskit_threads() - before == set()
    # The server saw two failed TLS handshakes.
    assert len(records(caplog, "opening handshake failed", logging.INFO)) == 2


def test_ws_uri_with_ssl_is_an_error() -> None:
    with pytest.raises(ValueError, match="ws://"):
        connect("ws://localhost/", ssl=client_tls())


def test_server_hostname() -> None:
    names: list[str | None] = []
    context = server_tls()
    context.sni_callback = lambda sock, name, context: names.append(name)

    with serving(ssl=context) as server:
        port = port_of(server)
        # The certificate is checked against server_hostname, not the URI's host.
        with pytest.raises(ssl.SSLCertVerificationError, match="match"):
            connect(
                f"wss://localhost:{port}/",
                ssl=client_tls(),
                server_hostname="other.example",
                open_timeout=WAIT,
            )
        with connect(
            f"wss://{LOCALHOST}:{port}/", ssl=client_tls(), server_hostname="localhost"
        ) as ws:
            assert isinstance(ws.socket, ssl.SSLSocket)
            assert ws.socket.server_hostname == "localhost"
            ws.send("named")
            assert ws.recv(timeout=WAIT) == "named"
    # Sent as SNI.
    assert names == ["other.example", "localhost"]


# Bring your own socket.


def test_sock_connected_already() -> None:
    recorder = Recorder()
    with serving(recorder) as server:
        sock = socket.create_connection((LOCALHOST, port_of(server)), timeout=WAIT)
        # The URI only names the server in the request: no new TCP connection.
        with connect("ws://example.invalid:1234/over-my-socket", sock=sock) as ws:
            assert ws.socket is sock
            # The connection owns the socket now: non-blocking, no timeout.
            assert sock.gettimeout() == 0.0
            ws.send("mine")
            assert ws.recv(timeout=WAIT) == "mine"
            assert recorder.request.headers["Host"] == "example.invalid:1234"
            assert recorder.request.path == "/over-my-socket"
        assert sock.fileno() == -1  # closed with the connection


def test_sock_with_tls() -> None:
    with serving(ssl=server_tls()) as server:
        sock = socket.create_connection((LOCALHOST, port_of(server)), timeout=WAIT)
        with connect("wss://localhost/", sock=sock, ssl=client_tls()) as ws:
            assert isinstance(ws.socket, ssl.SSLSocket)
            ws.send("wrapped")
            assert ws.recv(timeout=WAIT) == "wrapped"


def test_sock_closed_when_tls_fails() -> None:
    with serving(ssl=server_tls()) as server:
        sock = socket.create_connection((LOCALHOST, port_of(server)), timeout=WAIT)
        with pytest.raises(ssl.SSLCertVerificationError):
            connect("wss://other.example/", sock=sock, ssl=client_tls())
        assert sock.fileno() == -1


# Unix sockets.


def test_unix_connect() -> None:
    recorder = Recorder()
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "ws.sock")
        with unix_serve(recorder, path) as server, running(server):
            with unix_connect(path) as ws:
                ws.send("local")
                assert ws.recv(timeout=WAIT) == "local"
                assert ws.remote_address == path
                assert recorder.request.headers["Host"] == "localhost"
            with unix_connect(path, "ws://chat.example/room"):
                until(lambda: len(recorder.connections) == 2)
                assert recorder.connections[-1].request is not None
                assert recorder.connections[-1].request.headers["Host"] == "chat.example"
                assert recorder.connections[-1].request.path == "/room"


def test_unix_connect_to_missing_path() -> None:
    with tempfile.TemporaryDirectory() as directory, pytest.raises(FileNotFoundError):
        unix_connect(os.path.join(directory, "nobody.sock"))


# A server that stops reading and leaves while the client's reading is paused.

STUCK_CLOSE_TIMEOUT = 0.5


class StuckClient:
    """A client stuck with a raw server that sends and never reads.

    The client's queue is full, so that its reader thread waits for the
    application, which is blocked sending a message larger than every buffer
    between the two ends. ``outcome`` gets how that ``send()`` ended.
    """

    def __init__(self) -> None:
        self.before = wskit_threads()
        self.listener = socket.create_server((LOCALHOST, 0))
        # Inherited by the accepted socket: the server's window stays small.
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.listener.settimeout(WAIT)
        accepted: queue.Queue[socket.socket] = queue.Queue()

        def accept() -> None:
            sock, _ = self.listener.accept()
            accepted.put(sock)
            accept_handshake(sock)

        threading.Thread(target=accept, name="test accept", daemon=True).start()
        self.client = connect(
            f"ws://{LOCALHOST}:{self.listener.getsockname()[1]}/",
            compression=None,
            max_queue=1,
            ping_interval=None,
            close_timeout=STUCK_CLOSE_TIMEOUT,
        )
        self.server = accepted.get(timeout=WAIT)
        self.client.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        self.outcome: queue.Queue[BaseException | None] = queue.Queue()
        # Set once send() waits for the socket: it took the message from
        # the queue, and it can't write it all while the server doesn't read.
        blocked = threading.Event()
        wait_writable = self.client.wait_writable

        def waiting_writable(timeout: float | None) -> bool:
            blocked.set()
            return wait_writable(timeout)

        self.client.wait_writable = waiting_writable

        def send() -> None:
            try:
                self.client.send(b"x" * 2**18)
            except ConnectionClosedError as exc:
                self.outcome.put(exc)
            else:
                self.outcome.put(None)

        threading.Thread(target=send, name="test send", daemon=True).start()
        stream = memoryview(Frame(TEXT, b"x" * 1024).serialize(mask=False) * 16)
        sent = 0
        self.server.setblocking(False)

        def stuck() -> bool:
            nonlocal sent
            with contextlib.suppress(BlockingIOError):
                sent += self.server.send(stream[sent % len(stream) :])
            # Once reading is paused, the reader thread waits for resumed,
            # with no timer running.
            client = self.client
            return blocked.is_set() and client._reading_paused() and not client.resumed.is_set()

        until(stuck)

    def close(self) -> None:
        """Close the client; fail if that or any of its threads doesn't end in time."""
        returns_within(self.client.close, STUCK_CLOSE_TIMEOUT + WAIT)
        join_wskit_threads(self.before)
        self.server.close()
        self.listener.close()


def test_paused_client_whose_server_resets_ends() -> None:
    stuck = StuckClient()
    reset(stuck.server)
    # The blocked send fails, and the connection ends though the reader
    # thread waits for the application to catch up.
    assert isinstance(stuck.outcome.get(timeout=WAIT), ConnectionClosedError)
    assert stuck.client.wait_closed(WAIT)
    stuck.close()


def test_paused_client_closes_within_close_timeout() -> None:
    stuck = StuckClient()  # and the server stays, never reading
    stuck.close()
    assert isinstance(stuck.outcome.get(timeout=WAIT), ConnectionClosedError)


def test_paused_client_closing_when_the_server_resets() -> None:
    stuck = StuckClient()
    closing = threading.Thread(target=stuck.client.close, name="test close", daemon=True)
    closing.start()
    until(lambda: stuck.client.state is State.CLOSING)
    reset(stuck.server)
    closing.join(STUCK_CLOSE_TIMEOUT + WAIT)
    assert not closing.is_alive(), "close() hung"
    stuck.close()
