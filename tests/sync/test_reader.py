"""Tests for wskit.sync.reader: one thread reads from every connection of a server.

The connection tests (test_connection.py) drive mostly the client's own reader
thread; these drive what only the server's shared reader does: many
connections leaving at once, reading paused and resumed, TLS bytes that the
selector can't see, server timers, and the thread's own lifecycle.
"""

from __future__ import annotations

import contextlib
import queue
import resource
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, cast

import pytest

from wskit.exceptions import ConnectionClosedError
from wskit.frames import BINARY, PING, CloseCode, Frame
from wskit.protocol import CLOSED, CLOSING
from wskit.sync.client import connect
from wskit.sync.reader import Reader
from wskit.sync.server import ServerConnection, serve

from .support import (
    WAIT,
    PingFlood,
    client_tls,
    join_wskit_threads,
    port_of,
    raw_websocket,
    read_frame,
    reset,
    returns_within,
    server_tls,
    serving,
    until,
    uri_of,
    wskit_threads,
)

READER = "wskit server reader"


def reader_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == READER]


def handler_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "wskit handler"]


def masked_text(text: str) -> bytes:
    """A masked text frame, with an all-zero key so that the payload reads as is."""
    payload = text.encode()
    assert len(payload) < 126
    return struct.pack("!BB4s", 0x81, 0x80 | len(payload), b"\0\0\0\0") + payload


# Many clients leaving at once.

# Enough idle connections that a reader thread per connection stalled the
# server for seconds when they all reset; few enough for a busy 2-core machine.
IDLE = 2000

# The idle clients live in a process of their own, so that they all reset
# at once while the server is idle, as when a network link fails. Resetting
# them from the test's thread, between two of the server's threads, would
# spread the resets out.
IDLE_CLIENTS = r"""
import socket, struct, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
request = (
    b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
sockets = []
while len(sockets) < count:
    # Batches below the listen backlog, so that no SYN is dropped.
    batch = [
        socket.create_connection(("127.0.0.1", port), timeout=10)
        for _ in range(min(50, count - len(sockets)))
    ]
    for sock in batch:
        sock.sendall(request)
    for sock in batch:
        response = b""
        while not response.endswith(b"\r\n\r\n"):
            data = sock.recv(1)
            if not data:
                sys.exit("the server closed a connection during the handshake")
            response += data
    sockets.extend(batch)
print("open", flush=True)
sys.stdin.readline()
for sock in sockets:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
print("reset", flush=True)
"""


@contextlib.contextmanager
def idle_clients(port: int, count: int) -> Iterator[Callable[[], None]]:
    """Open ``count`` idle connections from another process; yield what resets them.

    Resetting doesn't wait for the other process: the test starts timing
    new clients at once.
    """
    child = subprocess.Popen(
        [sys.executable, "-c", IDLE_CLIENTS, str(port), str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    stdin, stdout = cast(IO[bytes], child.stdin), cast(IO[bytes], child.stdout)
    try:
        assert stdout.readline() == b"open\n"

        def reset() -> None:
            stdin.write(b"\n")
            stdin.flush()

        yield reset
        assert stdout.readline() == b"reset\n"
    finally:
        child.kill()
        child.wait(WAIT)
        stdin.close()
        stdout.close()


def serve_one_client(port: int) -> None:
    """Connect a new client and have a message echoed."""
    with raw_websocket(port) as sock:
        sock.sendall(masked_text("still there?"))
        assert read_frame(sock) == (0x1, True, b"still there?")


@pytest.fixture
def file_descriptors() -> Iterator[None]:
    """Allow the client and server ends of IDLE connections in this process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * IDLE + 1000
    if soft >= needed:
        yield
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"needs {needed} file descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.usefixtures("file_descriptors")
def test_clients_leaving_all_at_once_dont_stall_the_server() -> None:
    before = wskit_threads()
    with serving() as server, idle_clients(port_of(server), IDLE) as reset:
        until(lambda: len(handler_threads()) >= IDLE, timeout=WAIT * 2)
        assert len(wskit_threads() - before) == IDLE + 1  # a handler each, one reader

        reset()
        # New clients keep coming, one after the other, while the server ends
        # the idle connections; none waits long. Time between two clients
        # served counts, not only each client's time: the clients run in the
        # server's process, and may wait for the GIL in between. The first
        # comes at once, whether the server is quick to be done or not.
        waits = []
        last = start = time.monotonic()
        while True:
            serve_one_client(port_of(server))
            waits.append(time.monotonic() - last)
            last += waits[-1]
            if not handler_threads():
                break
            assert last - start < 30, f"{len(handler_threads())} handlers left"
        assert max(waits) < 1.0, sorted(waits)[-5:]

        # Nothing of the idle connections is left behind.
        until(lambda: not reader_threads())
        assert server.connections == set()
        assert server.reader.connections == {}
        assert server.reader.timers == []
        serve_one_client(port_of(server))
    assert wskit_threads() - before == set()


# Reading paused and resumed.


def test_reading_pauses_while_the_handler_is_behind_then_resumes() -> None:
    handlers: queue.Queue[ServerConnection] = queue.Queue()
    go_on = threading.Event()
    received: list[str] = []

    def handler(ws: ServerConnection) -> None:
        handlers.put(ws)
        go_on.wait(WAIT)
        received.extend(str(message) for message in ws)

    with serving(handler, max_queue=4) as server, connect(uri_of(server)) as client:
        server_ws = handlers.get(timeout=WAIT)
        for index in range(100):
            client.send(f"message {index}")
        until(lambda: not server_ws.reading_allowed.is_set())
        until(lambda: server.reader.paused == {server_ws.socket.fileno()})
        # How many of the first 100 one read took depends on the machine's
        # load; what comes after the pause stays in the socket.
        queued = len(server_ws.recv_messages.queue)
        for index in range(100, 200):
            client.send(f"message {index}")
        time.sleep(0.1)
        assert len(server_ws.recv_messages.queue) == queued  # nothing read meanwhile

        go_on.set()
        until(lambda: len(received) == 200)
        assert received == [f"message {index}" for index in range(200)]
        until(lambda: server.reader.paused == set())
        client.send("after the pause")
        until(lambda: len(received) == 201)


def test_connection_ending_while_paused() -> None:
    handlers: queue.Queue[ServerConnection] = queue.Queue()

    def handler(ws: ServerConnection) -> None:
        handlers.put(ws)
        ws.wait_closed(WAIT)

    with (
        serving(handler, max_queue=1, close_timeout=0.2) as server,
        connect(uri_of(server), close_timeout=0.2) as client,
    ):
        server_ws = handlers.get(timeout=WAIT)
        for index in range(10):
            client.send(f"message {index}")
        until(lambda: server.reader.paused == {server_ws.socket.fileno()})
        client._abort()  # the reader doesn't watch the socket, and must learn of it
        server_ws.close()
        assert server_ws.wait_closed(WAIT)
        until(lambda: server.reader.connections == {} and server.reader.paused == set())


def test_connection_paused_by_a_ping_flood_doesnt_stop_the_others() -> None:
    # A peer that floods pings and never reads the pongs pauses its own
    # connection (write_limit), not the reader thread that serves them all.
    handlers: queue.Queue[ServerConnection] = queue.Queue()

    def handler(ws: ServerConnection) -> None:
        handlers.put(ws)
        for message in ws:
            ws.send(message)

    with (
        serving(handler, ping_interval=None) as server,
        raw_websocket(port_of(server), rcvbuf=4096) as sock,
    ):
        flooded = handlers.get(timeout=WAIT)
        flooded.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 2**16)
        flood = PingFlood(sock, Frame(PING, b"p" * 125).serialize(mask=True))
        assert flood.blocked.wait(WAIT)
        until(lambda: flooded.writes_awaited)
        until(lambda: server.reader.paused == {flooded.socket.fileno()})

        with connect(uri_of(server)) as client:
            for index in range(20):
                client.send(f"message {index}")
                assert client.recv(timeout=WAIT) == f"message {index}"
        assert flooded.writes_awaited  # still paused all along
        assert server.reader.paused == {flooded.socket.fileno()}
        assert len(reader_threads()) == 1


# TLS.


class SmallReads(ServerConnection):
    recv_bufsize = 1000  # less than a TLS record: the rest waits inside the TLS layer


def test_tls_bytes_the_selector_cant_see_are_read() -> None:
    message = bytes(range(256)) * 400
    with (
        serving(ssl=server_tls(), create_connection=SmallReads, compression=None) as server,
        connect(uri_of(server, scheme="wss"), ssl=client_tls()) as client,
    ):
        # One message in one TLS record: poll() can't see what's left after the first read.
        client.send("x" * 5000)
        assert client.recv(timeout=WAIT) == "x" * 5000
        client.send(message)
        assert client.recv(timeout=WAIT) == message
        client.send("and after it")
        assert client.recv(timeout=WAIT) == "and after it"


# Timers.


def test_keepalive_of_many_connections_runs_in_the_reader() -> None:
    with (
        serving(ping_interval=0.05, ping_timeout=WAIT) as server,
        connect(uri_of(server), ping_interval=None) as first,
        connect(uri_of(server), ping_interval=None) as second,
    ):
        until(lambda: len(server.connections) == 2)
        until(lambda: all(ws.latency > 0 for ws in server.connections))
        assert len(reader_threads()) == 1
        for client in (first, second):
            client.send("hello")
            assert client.recv(timeout=WAIT) == "hello"


def test_keepalive_timeout_on_the_server_fails_the_connection() -> None:
    handlers: queue.Queue[ServerConnection] = queue.Queue()

    def handler(ws: ServerConnection) -> None:
        handlers.put(ws)
        ws.wait_closed(WAIT)

    keepalive = {"ping_interval": 0.05, "ping_timeout": 0.1, "close_timeout": 0.2}
    # The client never answers.
    with serving(handler, **keepalive) as server, raw_websocket(port_of(server)) as sock:
        server_ws = handlers.get(timeout=WAIT)
        # Pings, then a close frame with 1011, then the end: the reader
        # ran the keepalive timeout, then the close timeout.
        while (frame := read_frame(sock))[0] == 0x9:
            pass
        assert frame[0] == 0x8
        assert frame[2][:2] == struct.pack("!H", CloseCode.INTERNAL_ERROR)
        assert server_ws.wait_closed(WAIT)
        assert sock.recv(1) == b""
        with pytest.raises(ConnectionClosedError):
            server_ws.recv(timeout=WAIT)


def test_close_timeout_on_the_server_drops_a_silent_client() -> None:
    handlers: queue.Queue[ServerConnection] = queue.Queue()

    def handler(ws: ServerConnection) -> None:
        handlers.put(ws)
        ws.close()  # the client never answers: dropped after close_timeout

    with serving(handler, close_timeout=0.2) as server, raw_websocket(port_of(server)) as sock:
        start = time.monotonic()
        server_ws = handlers.get(timeout=WAIT)
        assert read_frame(sock)[0] == 0x8
        assert server_ws.wait_closed(WAIT)
        assert time.monotonic() - start < WAIT
        assert sock.recv(1) == b""


# The thread.


def test_reader_thread_runs_only_while_there_are_connections() -> None:
    with serving() as server:
        assert reader_threads() == []
        for _ in range(2):
            with connect(uri_of(server)) as client:
                client.send("hello")
                assert client.recv(timeout=WAIT) == "hello"
                assert len(reader_threads()) == 1
            until(lambda: reader_threads() == [])


def test_a_failure_of_the_reader_drops_its_connections_and_it_serves_the_next(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    failures = iter([RuntimeError("a bug in the bookkeeping")])

    def run_timers(self: Reader) -> float | None:
        for failure in failures:
            raise failure
        return original(self)

    original = Reader._run_timers
    with serving() as server:
        with connect(uri_of(server)) as client:
            client.send("hello")
            assert client.recv(timeout=WAIT) == "hello"
            # The next turn of the reader's loop fails: the connection ends
            # rather than waiting forever for a reader that no longer reads.
            monkeypatch.setattr(Reader, "_run_timers", run_timers)
            client.ping()
            with pytest.raises(ConnectionClosedError):
                client.recv(timeout=WAIT)
        assert "server reader failed; dropping its connections" in caplog.text
        serve_one_client(port_of(server))


# Peers that leave while reading is paused and the handler is stuck sending.

STUCK_CLOSE_TIMEOUT = 0.5


class StuckEcho:
    """An echo server and clients that send and never read, until both ends are stuck.

    For each client, the handler is blocked sending an echo that is larger than
    every buffer between the two ends, and the server's queue is full, so that
    its reading is paused and its socket unwatched. ``outcomes`` gets how each
    handler's loop ended.
    """

    def __init__(self, clients: int = 1) -> None:
        self.before = wskit_threads()
        self.handlers: queue.Queue[tuple[ServerConnection, threading.Event]] = queue.Queue()
        self.outcomes: queue.Queue[BaseException | None] = queue.Queue()
        self.server = serve(
            self.echo,
            "127.0.0.1",
            0,
            compression=None,
            max_queue=1,
            ping_interval=None,
            close_timeout=STUCK_CLOSE_TIMEOUT,
        )
        self.serving = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.serving.start()
        self.pairs: list[tuple[ServerConnection, socket.socket]] = []
        for _ in range(clients):
            self.pairs.append(self.stuck_client())

    def echo(self, ws: ServerConnection) -> None:
        sending = threading.Event()
        self.handlers.put((ws, sending))
        try:
            for message in ws:
                sending.set()
                ws.send(message)
        except ConnectionClosedError as exc:
            self.outcomes.put(exc)
        else:
            self.outcomes.put(None)

    def stuck_client(self) -> tuple[ServerConnection, socket.socket]:
        sock = raw_websocket(port_of(self.server), rcvbuf=4096)
        server_ws, sending = self.handlers.get(timeout=WAIT)
        server_ws.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        fd = server_ws.socket.fileno()
        # Far more than both ends' buffers: the first echo never ends.
        stream = memoryview(Frame(BINARY, b"x" * 2**18).serialize(mask=True))
        sent = 0
        sock.setblocking(False)

        def stuck() -> bool:
            nonlocal sent
            with contextlib.suppress(BlockingIOError):
                sent += sock.send(stream[sent % len(stream) :])
            return sending.is_set() and fd in self.server.reader.paused

        until(stuck)
        return server_ws, sock

    def shutdown(self) -> None:
        """Shut the server down; fail if that or any of its threads doesn't end in time."""
        returns_within(self.server.shutdown, STUCK_CLOSE_TIMEOUT + WAIT)
        self.serving.join(WAIT)
        join_wskit_threads(self.before)
        for _, sock in self.pairs:
            sock.close()


def test_shutdown_after_a_paused_peer_resets() -> None:
    stuck = StuckEcho()
    (_, sock), *_ = stuck.pairs
    reset(sock)
    stuck.shutdown()


def test_shutdown_after_a_paused_peer_closes() -> None:
    stuck = StuckEcho()
    (_, sock), *_ = stuck.pairs
    sock.close()  # data is unread: TCP resets the connection rather than closing it
    stuck.shutdown()


def test_shutdown_after_a_paused_peer_half_closes() -> None:
    stuck = StuckEcho()
    (_, sock), *_ = stuck.pairs
    sock.shutdown(socket.SHUT_WR)  # and it still doesn't read: close_timeout ends it
    stuck.shutdown()


def test_shutdown_while_paused_peers_are_there_then_reset() -> None:
    stuck = StuckEcho(clients=2)
    shutdown = threading.Thread(target=stuck.server.shutdown, name="test shutdown", daemon=True)
    shutdown.start()
    until(lambda: all(server_ws.state is CLOSING for server_ws, _ in stuck.pairs))
    reset(stuck.pairs[0][1])  # the other one stays and never reads
    shutdown.join(STUCK_CLOSE_TIMEOUT + WAIT)
    assert not shutdown.is_alive(), "shutdown() hung"
    stuck.shutdown()  # done already: this joins the threads


def test_paused_peer_that_resets_ends_its_connection() -> None:
    stuck = StuckEcho()
    ((server_ws, sock),) = stuck.pairs
    reset(sock)
    # The blocked send fails, and the connection ends though its socket is
    # unwatched, without waiting for a closing handshake or a shutdown.
    assert isinstance(stuck.outcomes.get(timeout=WAIT), ConnectionClosedError)
    assert server_ws.wait_closed(WAIT)
    assert server_ws.state is CLOSED
    serve_one_client(port_of(stuck.server))  # the reader thread serves the others
    stuck.shutdown()


def test_close_timeout_ends_a_paused_connection_that_nobody_waits_for() -> None:
    stuck = StuckEcho()
    ((server_ws, _),) = stuck.pairs
    server_ws.start_closing()  # the reader runs the close timer, paused or not
    assert server_ws.wait_closed(STUCK_CLOSE_TIMEOUT + WAIT)
    assert isinstance(stuck.outcomes.get(timeout=WAIT), ConnectionClosedError)
    stuck.shutdown()
