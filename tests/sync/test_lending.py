"""Tests for wskit.sync.lending: a thread in recv() reads the socket itself.

Each test checks who read the socket (a spy on ``Connection._read_socket()``
records the thread) or what must happen when no thread calls recv(), so that
it fails when the reading mode breaks; none relies on timing alone. The
lease is set long where a test needs the socket to stay lent on a busy
machine, and short where it needs the reader to take it back.
"""

from __future__ import annotations

import contextlib
import ssl
import threading

import pytest

from tests.sync.support import client_tls, server_tls
from tests.sync.test_connection import (
    WAIT,
    Background,
    connection_pair,
    raw_server,
    wait_for,
)
from wskit.exceptions import ConnectionClosedError, ConnectionClosedOK
from wskit.frames import BINARY, CLOSE, CONT, TEXT, CloseCode, Frame
from wskit.protocol import CLOSED
from wskit.sync import lending
from wskit.sync.connection import Connection
from wskit.sync.utils import Deadline

pytestmark = pytest.mark.skipif(not lending.LENDING, reason="needs epoll")

Reads = list[tuple[Connection, str]]


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    """Record each read from a socket: the connection, and the thread that read."""
    record: Reads = []
    read_socket = Connection._read_socket

    def spy(self: Connection) -> bool:
        record.append((self, threading.current_thread().name))
        return read_socket(self)

    monkeypatch.setattr(Connection, "_read_socket", spy)
    return record


def readers(reads: Reads, connection: Connection) -> list[str]:
    return [name for read_by, name in reads if read_by is connection]


@pytest.fixture
def long_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the socket lent between calls, however slow the machine."""
    monkeypatch.setattr(lending, "LEASE", 60.0)


@pytest.fixture
def short_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lending, "LEASE", 0.01)


def echoing(ws: Connection, count: int) -> Background:
    def echo() -> None:
        for _ in range(count):
            ws.send(ws.recv(timeout=WAIT))

    return Background(echo, name="test echo")


def settled(*connections: Connection) -> None:
    """Wait until the readers are done with the handshake: recv() then finds the token free.

    Else a thread in recv() that finds the reader still holding it waits
    for the reader this once, and the socket isn't lent yet.
    """
    wait_for(lambda: not any(connection.read_token.locked() for connection in connections))


def waiting_in_recv(connection: Connection) -> bool:
    """Whether a thread waits in recv() for the reader to deliver."""
    condition = connection.recv_messages.frame_added
    with condition:
        return bool(condition._waiters)  # type: ignore[attr-defined]


@pytest.mark.usefixtures("long_lease")
def test_threads_in_recv_read_the_socket(reads: Reads) -> None:
    with connection_pair() as (server_ws, client):
        settled(server_ws, client)
        echo = echoing(server_ws, 20)
        wait_for(lambda: server_ws.lent)
        with pytest.raises(TimeoutError):
            client.recv(timeout=0.01)  # the client's socket is lent too
        reads.clear()
        for index in range(20):
            client.send(f"message {index}")
            assert client.recv(timeout=WAIT) == f"message {index}"
        echo.finish()
        assert client.lent
        assert server_ws.lent
        assert readers(reads, client) == ["MainThread"] * 20
        assert readers(reads, server_ws) == ["test echo"] * 20


def test_tls_connections_leave_reading_to_the_reader() -> None:
    with connection_pair({"ssl": server_tls()}, ssl=client_tls()) as (server_ws, client):
        assert isinstance(client.socket, ssl.SSLSocket)
        assert client.recv_messages.read is None
        assert server_ws.recv_messages.read is None
        server_ws.send("over TLS")
        assert client.recv(timeout=WAIT) == "over TLS"


@pytest.mark.parametrize("side", ["client", "server"])
@pytest.mark.usefixtures("short_lease")
def test_pings_are_answered_when_no_thread_calls_recv(side: str, reads: Reads) -> None:
    with connection_pair(ping_interval=None) as (server_ws, client):
        reader, peer = (client, server_ws) if side == "client" else (server_ws, client)
        peer.send("lend me the socket")
        assert reader.recv(timeout=WAIT) == "lend me the socket"
        # The thread left recv() and won't come back: the reader takes the
        # socket back when the lease ends and answers the ping.
        assert peer.ping(b"anyone?").wait(WAIT)
        assert readers(reads, reader)[-1].startswith("wskit")


@pytest.mark.usefixtures("short_lease")
def test_a_close_is_seen_when_no_thread_calls_recv() -> None:
    with connection_pair({"close_timeout": WAIT * 2}) as (server_ws, client):
        server_ws.send("lend me the socket")
        assert client.recv(timeout=WAIT) == "lend me the socket"
        # Answered by the client's reader: the server's close doesn't time out
        # (which would end with 1006).
        server_ws.close()
        assert server_ws.close_code == CloseCode.NORMAL_CLOSURE
        assert server_ws.protocol.close_rcvd is not None
        assert client.wait_closed(WAIT)


@pytest.mark.usefixtures("long_lease")
def test_recv_with_short_timeouts_while_messages_arrive_loses_nothing() -> None:
    count = 200
    with connection_pair() as (server_ws, client):

        def send() -> None:
            for index in range(count):
                server_ws.send(index.to_bytes(2, "big"))

        sending = Background(send, name="test sender")
        received: list[int] = []
        deadline = Deadline(WAIT * 4)
        while len(received) < count:
            deadline.timeout()
            with contextlib.suppress(TimeoutError):
                received.append(int.from_bytes(client.recv(timeout=0.001, decode=False), "big"))
        sending.finish()
        assert received == list(range(count))


def test_recv_timeout_with_the_socket_lent() -> None:
    with connection_pair() as (_, client):
        settled(client)
        with pytest.raises(TimeoutError):
            client.recv(timeout=0.01)
        assert client.lent  # the wait was shorter than a lease: it kept the socket


@pytest.mark.usefixtures("long_lease")
def test_close_from_another_thread_while_a_thread_reads() -> None:
    with connection_pair() as (server_ws, client):
        settled(client)
        receiving = Background(lambda: client.recv(timeout=WAIT))
        wait_for(lambda: client.lent)
        client.close()
        receiving.join(WAIT)
        assert isinstance(receiving.error, ConnectionClosedOK)
        assert client.state is CLOSED
        assert server_ws.wait_closed(WAIT)
        assert server_ws.close_code == CloseCode.NORMAL_CLOSURE


@pytest.mark.usefixtures("long_lease")
def test_close_timeout_while_a_thread_reads_drops_the_connection() -> None:
    # The reader ends the connection while a thread in recv() holds the
    # socket: it shuts it down, which wakes that thread, then waits for it.
    with raw_server(close_timeout=0.1) as (peer, client):
        # Longer than the wait below: only the shutdown wakes it in time.
        settled(client)
        receiving = Background(lambda: client.recv(timeout=WAIT * 4))
        wait_for(lambda: client.lent)
        # The raw peer never answers; nothing but the reader's close timeout
        # ends the connection.
        client.start_closing()
        assert peer.next_frame().opcode is CLOSE
        receiving.join(WAIT)
        assert isinstance(receiving.error, ConnectionClosedError)
        assert client.state is CLOSED


@pytest.mark.usefixtures("long_lease")
def test_peer_vanishing_while_a_thread_reads(reads: Reads) -> None:
    with raw_server() as (peer, client):
        settled(client)
        receiving = Background(lambda: client.recv(timeout=WAIT), name="test recv")
        wait_for(lambda: client.lent)
        peer.close()
        receiving.join(WAIT)
        assert isinstance(receiving.error, ConnectionClosedError)
        assert receiving.error.rcvd is None  # 1006
        # The thread in recv() found the end; the reader read it again and ended it.
        assert readers(reads, client)[-2:] == ["test recv", readers(reads, client)[-1]]
        assert readers(reads, client)[-1].startswith("wskit")


@pytest.mark.parametrize("error", [OSError("boom"), RuntimeError("bug")])
@pytest.mark.usefixtures("long_lease")
def test_read_failing_in_recv_ends_the_connection(
    error: Exception, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    read_socket = Connection._read_socket

    def failing(self: Connection) -> bool:
        if threading.current_thread().name == "test recv":
            self.socket.recv(2**16)  # as a read that fails loses what it read
            raise error
        return read_socket(self)

    monkeypatch.setattr(Connection, "_read_socket", failing)
    with raw_server() as (peer, client):
        settled(client)
        receiving = Background(lambda: client.recv(timeout=WAIT), name="test recv")
        wait_for(lambda: client.lent)
        peer.send(Frame(TEXT, b"lost"))
        receiving.join(WAIT)
        assert isinstance(receiving.error, ConnectionClosedError)
        assert receiving.error.__cause__ is error
    bug_logged = any("unexpected error" in r.getMessage() for r in caplog.records)
    assert bug_logged is not isinstance(error, OSError)


@pytest.mark.usefixtures("long_lease")
def test_message_arriving_while_the_reader_holds_the_socket(reads: Reads) -> None:
    with connection_pair() as (server_ws, client):
        client.read_token.acquire()  # as the reader does while it reads
        try:
            receiving = Background(lambda: client.recv(timeout=WAIT), name="test recv")
            wait_for(lambda: waiting_in_recv(client))
            server_ws.send("for the reader")
        finally:
            client.read_token.release()
        assert receiving.finish() == "for the reader"
        assert not client.lent
        assert readers(reads, client)[-1].startswith("wskit")


@pytest.mark.usefixtures("short_lease")
def test_a_thread_waiting_in_recv_answers_pings(reads: Reads) -> None:
    with connection_pair() as (server_ws, client):
        settled(client)
        receiving = Background(lambda: client.recv(timeout=WAIT), name="test recv")
        # Lent, and untimed: the reader leaves it to the thread while it waits.
        wait_for(lambda: client.lent and client.lease_untimed)
        assert server_ws.ping(b"anyone?").wait(WAIT)
        assert readers(reads, client)[-1] == "test recv"
        server_ws.send("done")
        assert receiving.finish() == "done"
        # Leaving recv(), the thread had the reader time the lease again:
        # the reader takes the socket back and answers the next ping.
        assert server_ws.ping(b"and now?").wait(WAIT)
        assert readers(reads, client)[-1].startswith("wskit")


@pytest.mark.usefixtures("short_lease")
def test_idle_server_threads_give_the_socket_back(reads: Reads) -> None:
    # Then idle connections wait for the server's one reader, not each in
    # poll(): thousands of clients leaving at once don't wake their threads.
    with connection_pair() as (server_ws, client):
        receiving = Background(lambda: server_ws.recv(timeout=WAIT), name="test recv")
        wait_for(lambda: waiting_in_recv(server_ws))
        assert not server_ws.lent
        client.send("for the reader")
        assert receiving.finish() == "for the reader"
        assert readers(reads, server_ws)[-1].startswith("wskit")


@pytest.mark.usefixtures("long_lease")
def test_reading_in_recv_pauses_and_resumes_with_max_queue() -> None:
    count = 100
    with connection_pair({"max_queue": 2}) as (server_ws, client):
        for index in range(count):
            client.send(index.to_bytes(2, "big"))
        received = [int.from_bytes(server_ws.recv(WAIT, decode=False), "big") for _ in range(count)]
        assert received == list(range(count))


@pytest.mark.usefixtures("long_lease")
def test_recv_streaming_reads_the_socket(reads: Reads) -> None:
    with raw_server() as (peer, client):
        settled(client)
        fragments = client.recv_streaming()
        first = Background(lambda: next(fragments), name="test recv")
        wait_for(lambda: client.lent)
        peer.send(Frame(BINARY, b"first", fin=False))
        assert first.finish() == b"first"
        peer.send(Frame(CONT, b"second"))
        assert list(fragments) == [b"second"]
        assert readers(reads, client)[-2:] == ["test recv", "MainThread"]
