"""Helpers for the tests of wskit.sync's server and client: servers in threads, raw sockets.

Every blocking call here is bounded by :data:`WAIT`, so that a broken server
fails a test instead of hanging the suite.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

from wskit.http11 import Response, ResponseParser
from wskit.sync.server import Server, ServerConnection, serve

LOCALHOST = "127.0.0.1"

# Bounds every wait on the network.
WAIT = 5

# Self-signed for localhost and 127.0.0.1; key and certificate in one file.
CERTIFICATE = str(Path(__file__).resolve().parents[2] / "examples" / "localhost.pem")


def server_tls() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERTIFICATE)
    return context


def client_tls() -> ssl.SSLContext:
    """A client context that trusts the test certificate, and only it."""
    return ssl.create_default_context(cafile=CERTIFICATE)


# Handlers.


def echo(ws: ServerConnection) -> None:
    for message in ws:
        ws.send(message)


def wait_until_closed(ws: ServerConnection) -> None:
    ws.wait_closed(WAIT * 2)


def until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait until ``predicate()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for a condition"
        time.sleep(0.005)


# Running servers.


def port_of(server: Server) -> int:
    return cast(int, server.socket.getsockname()[1])


def uri_of(server: Server, path: str = "/", user_info: str = "", scheme: str = "ws") -> str:
    return f"{scheme}://{user_info}{LOCALHOST}:{port_of(server)}{path}"


def returns_within(function: Callable[[], object], timeout: float) -> None:
    """Call ``function`` in a thread; fail, rather than hang, if it doesn't return in time."""
    thread = threading.Thread(target=function, name="test bounded call", daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"{getattr(function, '__name__', function)}() hung"


def wskit_threads() -> set[threading.Thread]:
    """The threads that wskit.sync started and that are still running."""
    return {thread for thread in threading.enumerate() if thread.name.startswith("wskit ")}


def join_wskit_threads(before: set[threading.Thread]) -> None:
    """Wait for the handler and reader threads started since ``before`` to end."""
    for thread in wskit_threads() - before:
        thread.join(WAIT)
        assert not thread.is_alive(), f"{thread.name} is still running"


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    """Run ``server.serve_forever()`` in a thread until the end of the block.

    On exit, shut the server down and wait for every thread it started.
    """
    before = wskit_threads()
    thread = threading.Thread(target=server.serve_forever, name="test serve_forever")
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(WAIT)
        assert not thread.is_alive(), "serve_forever() didn't return after shutdown()"
        join_wskit_threads(before)


@contextlib.contextmanager
def serving(handler: Callable[[ServerConnection], None] = echo, **kwargs: Any) -> Iterator[Server]:
    """Serve ``handler`` on 127.0.0.1, on a free port, until the end of the block."""
    with serve(handler, LOCALHOST, 0, **kwargs) as server, running(server):
        yield server


# Logs.


def records(caplog: Any, message: str, level: int | None = None) -> list[logging.LogRecord]:
    """The records captured by ``caplog`` whose message starts with ``message``."""
    return [
        record
        for record in caplog.records
        if record.getMessage().startswith(message) and (level is None or record.levelno == level)
    ]


def websocket_of(record: logging.LogRecord) -> Any:
    """The connection that a log record is about, if any."""
    return getattr(record, "websocket", None)


# Raw HTTP over TCP, to send what a well-behaved client never would.


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


def read_until_eof(sock: socket.socket) -> bytes:
    chunks = []
    while data := sock.recv(2**16):
        chunks.append(data)
    return b"".join(chunks)


def exchange(port: int, request: bytes, *, half_close: bool = False) -> bytes:
    """Send raw bytes to the server; return what it answers until it closes.

    With ``half_close``, the client sends EOF after ``request``.
    """
    with socket.create_connection((LOCALHOST, port), timeout=WAIT) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return read_until_eof(sock)


def parse_response(data: bytes) -> Response:
    parser = ResponseParser()
    response = parser.feed(data)
    return response if response is not None else parser.feed_eof()


def http_get(port: int, path: str = "/", headers: Sequence[tuple[str, str]] = ()) -> Response:
    return parse_response(exchange(port, http_request(path, headers)))


def raw_websocket(port: int, path: str = "/", *, rcvbuf: int | None = None) -> socket.socket:
    """Open a WebSocket connection by hand and return its socket, past the 101.

    The caller reads frames, or doesn't: a client that never reads is a slow client.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(WAIT)
        sock.connect((LOCALHOST, port))
        sock.sendall(handshake_request(path))
        response = b""
        while b"\r\n\r\n" not in response:
            # One byte at a time, so as not to read any frame past the response.
            data = sock.recv(1)
            assert data, "the server closed the connection during the handshake"
            response += data
        assert response.startswith(b"HTTP/1.1 101 "), response
    except BaseException:
        sock.close()
        raise
    return sock


def reset(sock: socket.socket) -> None:
    """Close ``sock`` with a TCP reset."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        data = sock.recv(min(size, 2**20))
        assert data, "the server closed the connection in the middle of a frame"
        chunks.append(data)
        size -= len(data)
    return b"".join(chunks)


def read_frame(sock: socket.socket) -> tuple[int, bool, bytes]:
    """Read one frame from a server (unmasked, uncompressed): opcode, fin, payload."""
    first, second = read_exactly(sock, 2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", read_exactly(sock, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", read_exactly(sock, 8))
    return first & 0x0F, bool(first & 0x80), read_exactly(sock, length)


class PingFlood(threading.Thread):
    """Writes pings on a raw socket as fast as TCP takes them and never reads.

    It stops when a write takes nothing for ``stall`` seconds (``blocked`` is
    set) or after ``limit`` bytes.
    """

    def __init__(
        self, sock: socket.socket, ping: bytes, limit: int = 2**25, stall: float = 0.2
    ) -> None:
        super().__init__(name="test ping flood", daemon=True)
        self.sock = sock
        self.ping = ping
        self.burst = memoryview(ping * 128)
        self.limit = limit
        self.stall = stall
        self.sent = 0
        self.blocked = threading.Event()
        self.start()

    def run(self) -> None:
        self.sock.settimeout(self.stall)
        while self.sent < self.limit:
            try:
                self.sent += self.sock.send(self.burst[self.sent % len(self.burst) :])
            except TimeoutError:
                self.blocked.set()
                return

    def rest(self) -> bytes:
        """The end of the ping the flood stopped in the middle of, if any."""
        offset = self.sent % len(self.burst)
        return bytes(self.burst[offset : offset + -self.sent % len(self.ping)])

    def pings(self) -> int:
        return -(-self.sent // len(self.ping))
