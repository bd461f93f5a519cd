"""Tests for wskit.sync.connection: the connection that the threaded client and server share.

Most tests open a real connection on 127.0.0.1 between :func:`~wskit.sync.server.serve`
and :func:`~wskit.sync.client.connect` and drive both ends from the test thread.
Peers that misbehave (never read, never answer pings or close frames, break the
protocol, vanish) are raw sockets: they parse what they receive with the Sans-I/O
core and write only what the test tells them to.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import queue
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest

from tests.instance_layout import COMPACT_ATTRIBUTES
from tests.pongs import count_pongs
from tests.sync.support import PingFlood, port_of, raw_websocket, read_frame, serving
from wskit.exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidStatus,
)
from wskit.frames import BINARY, CLOSE, CONT, PING, PONG, TEXT, Close, CloseCode, Frame, Opcode
from wskit.http11 import Request, Response
from wskit.protocol import CLIENT, CLOSED, OPEN, Event, Protocol
from wskit.server import ServerProtocol
from wskit.sync.client import ClientConnection, connect
from wskit.sync.connection import Connection
from wskit.sync.server import ServerConnection, serve
from wskit.typing import Data

LOCALHOST = "127.0.0.1"

CERTIFICATE = str(pathlib.Path(__file__).parents[2] / "examples" / "localhost.pem")

# Bounds every wait that should succeed: a broken connection fails the test, not the suite.
WAIT = 5

# How long to watch for something that should not happen.
SHORT = 0.2

# Slack on top of a timeout when checking how long something took.
MARGIN = 2


# Helpers.


def wait_for(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.002)


class Background(threading.Thread):
    """Runs ``function`` in a thread and keeps its result or exception."""

    def __init__(
        self, function: Callable[..., Any], *args: Any, name: str = "test background"
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.function = function
        self.args_ = args
        self.result: Any = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.result = self.function(*self.args_)
        except BaseException as exc:
            self.error = exc

    def finish(self, timeout: float = WAIT) -> Any:
        """Wait for the thread; return its result or raise its exception."""
        self.join(timeout)
        assert not self.is_alive(), "thread still running"
        if self.error is not None:
            raise self.error
        return self.result


@contextlib.contextmanager
def connection_pair(
    server_kwargs: dict[str, Any] | None = None, **client_kwargs: Any
) -> Iterator[tuple[ServerConnection, ClientConnection]]:
    """Open a connection between serve() and connect(); yield both ends.

    The server's handler hands its connection over to the test and waits until
    the connection closes.
    """
    accepted: queue.Queue[ServerConnection] = queue.Queue()

    def handler(ws: ServerConnection) -> None:
        accepted.put(ws)
        ws.wait_closed(60)

    server_kwargs = {"close_timeout": 1, **(server_kwargs or {})}
    client_kwargs = {"close_timeout": 1, **client_kwargs}
    with serve(handler, LOCALHOST, 0, **server_kwargs) as server:
        thread = threading.Thread(target=server.serve_forever, name="test serve_forever")
        thread.start()
        try:
            port = server.socket.getsockname()[1]
            scheme = "ws" if client_kwargs.get("ssl") is None else "wss"
            client = connect(f"{scheme}://{LOCALHOST}:{port}/path", **client_kwargs)
            with client:
                server_ws = accepted.get(timeout=WAIT)
                yield server_ws, client
        finally:
            server.shutdown()
            thread.join(WAIT)
    assert not thread.is_alive()


class RawPeer:
    """One end of a WebSocket connection driven by the test.

    It parses what it receives with the Sans-I/O core, which also prepares the
    automatic answers (pongs, close frames); they only go out on :meth:`flush`.
    """

    def __init__(self, sock: socket.socket, protocol: Protocol) -> None:
        self.sock = sock
        self.sock.settimeout(WAIT)
        self.protocol = protocol
        self.events: list[Event] = []
        self.eof = False

    def read(self) -> None:
        data = self.sock.recv(2**16)
        if data:
            self.protocol.receive_data(data)
        else:
            self.eof = True
            self.protocol.receive_eof()
        self.events.extend(self.protocol.events_received())

    def next_event(self) -> Event:
        while not self.events:
            if self.eof:
                raise EOFError("the connection is closed")
            self.read()
        return self.events.pop(0)

    def next_frame(self) -> Frame:
        event = self.next_event()
        assert isinstance(event, Frame)
        return event

    def expect_eof(self) -> None:
        """Read until the other end closes the TCP connection."""
        while not self.eof:
            self.read()

    def send(self, frame: Frame) -> None:
        self.sock.sendall(frame.serialize(mask=self.protocol.side is CLIENT))

    def flush(self) -> None:
        """Send what the core prepared: handshake response, pongs, close frame."""
        for data in self.protocol.data_to_send():
            if data:
                self.sock.sendall(data)
            else:
                self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.sock.close()


@contextlib.contextmanager
def raw_server(
    handshake_delay: float = 0, **client_kwargs: Any
) -> Iterator[tuple[RawPeer, ClientConnection]]:
    """Connect a wskit client to a raw server peer; yield both.

    The peer answers the handshake request after ``handshake_delay`` seconds.

    On exit the raw peer closes its socket first, so that the client never
    waits for a closing handshake that won't come.
    """
    with socket.create_server((LOCALHOST, 0)) as listener:
        listener.settimeout(WAIT)

        def accept() -> RawPeer:
            sock, _ = listener.accept()
            protocol = ServerProtocol()
            peer = RawPeer(sock, protocol)
            try:
                request = peer.next_event()
                assert isinstance(request, Request)
                time.sleep(handshake_delay)
                protocol.send_response(protocol.accept(request))
                peer.flush()
            except BaseException:
                sock.close()
                raise
            return peer

        accepting = Background(accept, name="test raw server")
        client_kwargs = {"close_timeout": 1, "ping_interval": None, **client_kwargs}
        try:
            client = connect(f"ws://{LOCALHOST}:{listener.getsockname()[1]}/", **client_kwargs)
        except BaseException:
            accepting.join(WAIT)
            if isinstance(accepting.result, RawPeer):
                accepting.result.close()
            raise
        try:
            peer: RawPeer = accepting.finish()
        except BaseException:
            client._abort()
            client.wait_for_close()
            raise
        try:
            yield peer, client
        finally:
            peer.close()
            client.close()
            assert client.wait_closed(WAIT)


def collecting_peer(peer: RawPeer, messages: int) -> Background:
    """Read frames in a thread until ``messages`` messages ended; its result is the frames."""

    def collect() -> list[Frame]:
        frames: list[Frame] = []
        ended = 0  # counted as frames come: a sum over all of them each time was quadratic
        while ended < messages:
            frame = peer.next_frame()
            frames.append(frame)
            ended += frame.fin
        return frames

    return Background(collect, name="test collector")


# recv()


def test_recv_text_and_binary() -> None:
    with connection_pair() as (server_ws, client):
        server_ws.send("café")
        server_ws.send(b"\x00\xff")
        assert client.recv(timeout=WAIT) == "café"
        assert client.recv(timeout=WAIT) == b"\x00\xff"
        client.send("back")
        assert server_ws.recv(timeout=WAIT) == "back"


def test_recv_decode_overrides_the_message_type() -> None:
    with connection_pair() as (server_ws, client):
        server_ws.send("café")
        server_ws.send("thé".encode())
        assert client.recv(timeout=WAIT, decode=False) == "café".encode()
        assert client.recv(timeout=WAIT, decode=True) == "thé"


def test_recv_fragmented_message() -> None:
    with connection_pair() as (server_ws, client):
        server_ws.send(["ca", "fé"])
        server_ws.send([b"\x01", b"\x02", b"\x03"])
        assert client.recv(timeout=WAIT) == "café"
        assert client.recv(timeout=WAIT) == b"\x01\x02\x03"


def test_long_message_is_read_into_its_payload() -> None:
    # Past its start, a long frame is read from the socket straight into the
    # payload that recv() returns.
    options = {"max_size": None, "compression": None}
    with connection_pair(options, **options) as (server, client):
        read_into: list[int] = []
        receive_into = client.protocol.receive_into

        def recording_receive_into(nbytes: int) -> None:
            read_into.append(nbytes)
            receive_into(nbytes)

        client.protocol.receive_into = recording_receive_into  # type: ignore[method-assign]
        message = os.urandom(2**20)
        server.send(message)
        assert client.recv(timeout=WAIT) == message
        # All of it but what came before 1/32 of it had arrived.
        assert sum(read_into) > 2**19
        server.send(b"short")
        assert client.recv(timeout=WAIT) == b"short"


def test_recv_timeout() -> None:
    with connection_pair() as (server_ws, client):
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            client.recv(timeout=0.05)
        assert 0.04 <= time.monotonic() - start < MARGIN
        assert client.state is OPEN
        server_ws.send("after the timeout")
        assert client.recv(timeout=WAIT) == "after the timeout"


def test_recv_timeout_loses_nothing_of_a_message_split_across_frames() -> None:
    with raw_server() as (peer, client):
        peer.send(Frame(TEXT, b"one ", fin=False))
        wait_for(lambda: len(client.recv_messages.queue) == 1)
        with pytest.raises(TimeoutError):
            client.recv(timeout=0.05)
        peer.send(Frame(CONT, b"two ", fin=False))
        with pytest.raises(TimeoutError):
            client.recv(timeout=0.05)
        peer.send(Frame(CONT, b"three", fin=True))
        assert client.recv(timeout=WAIT) == "one two three"


def test_recv_timeout_zero_returns_only_a_message_already_there() -> None:
    with connection_pair() as (server_ws, client):
        with pytest.raises(TimeoutError):
            client.recv(timeout=0)
        server_ws.send("here")
        wait_for(lambda: len(client.recv_messages.queue) == 1)
        assert client.recv(timeout=0) == "here"
        with pytest.raises(TimeoutError):
            client.recv(timeout=0)


def test_recv_decode_true_on_invalid_utf8_fails_with_1007() -> None:
    with connection_pair() as (server_ws, client):
        server_ws.send(b"\xff\xfe")
        with pytest.raises(ConnectionClosedError) as raised:
            client.recv(timeout=WAIT, decode=True)
        assert raised.value.sent is not None
        assert raised.value.sent.code == CloseCode.INVALID_DATA
        assert client.state is CLOSED
        assert server_ws.wait_closed(WAIT)
        assert server_ws.close_code == CloseCode.INVALID_DATA


def test_recv_returns_messages_received_before_the_close() -> None:
    with connection_pair() as (server_ws, client):
        for index in range(3):
            server_ws.send(f"message {index}")
        server_ws.close()
        assert client.wait_closed(WAIT)
        for index in range(3):
            assert client.recv(timeout=WAIT) == f"message {index}"
        with pytest.raises(ConnectionClosedOK):
            client.recv(timeout=WAIT)
        with pytest.raises(ConnectionClosedOK):
            client.recv(timeout=0)  # and again


def test_recv_after_an_abnormal_closure_raises_connection_closed_error() -> None:
    with raw_server() as (peer, client):
        peer.send(Frame(TEXT, b"last words"))
        peer.close()
        assert client.recv(timeout=WAIT) == "last words"
        with pytest.raises(ConnectionClosedError) as raised:
            client.recv(timeout=WAIT)
        assert raised.value.rcvd is None
        assert raised.value.rcvd is None  # 1006
        assert client.close_code == CloseCode.ABNORMAL_CLOSURE


def test_recv_in_two_threads_raises_concurrency_error() -> None:
    with connection_pair() as (server_ws, client):
        first = Background(lambda: client.recv(timeout=WAIT))
        wait_for(lambda: client.recv_messages.get_in_progress)
        with pytest.raises(ConcurrencyError) as raised:
            client.recv(timeout=WAIT)
        assert str(raised.value) == (
            "cannot call recv() while another thread is already running recv() or recv_streaming()"
        )
        with pytest.raises(ConcurrencyError) as raised:
            next(client.recv_streaming())
        assert str(raised.value) == (
            "cannot call recv_streaming() while another thread is already running "
            "recv() or recv_streaming()"
        )
        server_ws.send("for the first thread")
        assert first.finish() == "for the first thread"
        assert client.state is OPEN


# recv_streaming()


def test_recv_streaming_yields_fragments_as_they_arrive() -> None:
    with raw_server() as (peer, client):
        peer.send(Frame(TEXT, b"ca", fin=False))
        fragments = client.recv_streaming()
        assert next(fragments) == "ca"  # before the rest is even sent
        peer.send(Frame(CONT, "fé".encode(), fin=False))
        assert next(fragments) == "fé"
        peer.send(Frame(CONT, b"!", fin=True))
        assert list(fragments) == ["!"]


def test_recv_streaming_decode() -> None:
    with connection_pair() as (server_ws, client):
        server_ws.send(["a", "b"])
        server_ws.send([b"c", b"d"])
        server_ws.send(b"e")
        assert list(client.recv_streaming(decode=False)) == [b"a", b"b", b""]
        assert list(client.recv_streaming(decode=True)) == ["c", "d", ""]
        assert list(client.recv_streaming()) == [b"e"]


def test_recv_streaming_stopped_early_drops_the_rest() -> None:
    with raw_server() as (peer, client):
        peer.send(Frame(BINARY, b"a", fin=False))
        for fragment in client.recv_streaming():
            assert fragment == b"a"
            break
        peer.send(Frame(CONT, b"dropped", fin=False))
        peer.send(Frame(CONT, b"dropped too", fin=True))
        peer.send(Frame(TEXT, b"next"))
        assert client.recv(timeout=WAIT) == "next"


def test_recv_streaming_decode_true_on_invalid_utf8_fails_with_1007() -> None:
    with connection_pair() as (server_ws, client):
        server_ws.send([b"ok", b"\xff"])
        fragments = client.recv_streaming(decode=True)
        assert next(fragments) == "ok"
        with pytest.raises(ConnectionClosedError) as raised:
            next(fragments)
        assert raised.value.sent is not None
        assert raised.value.sent.code == CloseCode.INVALID_DATA


def test_recv_streaming_after_close_raises_connection_closed() -> None:
    with connection_pair() as (server_ws, client):
        server_ws.send(["last", " words"])
        server_ws.close()
        assert list(client.recv_streaming()) == ["last", " words", ""]
        with pytest.raises(ConnectionClosedOK):
            next(client.recv_streaming())


def test_recv_streaming_when_the_peer_vanishes_mid_message() -> None:
    with raw_server() as (peer, client):
        peer.send(Frame(TEXT, b"half", fin=False))
        fragments = client.recv_streaming()
        assert next(fragments) == "half"
        peer.close()
        with pytest.raises(ConnectionClosedError):
            next(fragments)


# Iteration.


@pytest.mark.parametrize("code", [CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY])
def test_iteration_ends_quietly_on_a_normal_closure(code: CloseCode) -> None:
    with connection_pair() as (server_ws, client):
        server_ws.send("one")
        server_ws.send("two")
        server_ws.close(code)
        assert list(client) == ["one", "two"]
        assert client.close_code == code


@pytest.mark.parametrize("code", [CloseCode.INTERNAL_ERROR, 4000])
def test_iteration_raises_on_an_error_closure(code: int) -> None:
    with connection_pair() as (server_ws, client):
        server_ws.send("one")
        server_ws.close(code, "oops")
        received: list[Data] = []

        def receive_all() -> None:
            for message in client:
                received.append(message)

        with pytest.raises(ConnectionClosedError) as raised:
            receive_all()
        assert received == ["one"]
        assert raised.value.rcvd is not None
        assert raised.value.rcvd.code == code
        assert raised.value.rcvd.reason == "oops"


# send()


def test_send_str_and_bytes_like() -> None:
    with raw_server() as (peer, client):
        client.send("café")
        client.send(b"bytes")
        client.send(bytearray(b"bytearray"))
        client.send(memoryview(b"xmemoryviewx")[1:-1])
        frames = [peer.next_frame() for _ in range(4)]
        assert [(frame.opcode, bytes(frame.data), frame.fin) for frame in frames] == [
            (TEXT, "café".encode(), True),
            (BINARY, b"bytes", True),
            (BINARY, b"bytearray", True),
            (BINARY, b"memoryview", True),
        ]


def test_send_text_overrides_the_message_type() -> None:
    with raw_server() as (peer, client):
        client.send(b"caf\xc3\xa9", text=True)
        client.send("café", text=False)
        client.send([b"a", bytearray(b"b")], text=True)
        client.send(["c", "d"], text=False)
        assert (peer.next_frame().opcode, peer.next_frame().opcode) == (TEXT, BINARY)
        assert [peer.next_frame().opcode for _ in range(3)] == [TEXT, CONT, CONT]
        assert [peer.next_frame().opcode for _ in range(3)] == [BINARY, CONT, CONT]


def test_send_iterable_sends_one_fragmented_message() -> None:
    with raw_server() as (peer, client):
        client.send(iter(["ca", "f", "é"]))
        frames = [peer.next_frame() for _ in range(4)]
        assert [(frame.opcode, bytes(frame.data), frame.fin) for frame in frames] == [
            (TEXT, b"ca", False),
            (CONT, b"f", False),
            (CONT, "é".encode(), False),
            (CONT, b"", True),
        ]
        client.send([b"\x01", memoryview(b"\x02")])
        frames = [peer.next_frame() for _ in range(3)]
        assert [(frame.opcode, bytes(frame.data), frame.fin) for frame in frames] == [
            (BINARY, b"\x01", False),
            (CONT, b"\x02", False),
            (CONT, b"", True),
        ]


def test_send_iterable_reaches_a_wskit_peer_as_one_message() -> None:
    with connection_pair() as (server_ws, client):
        client.send(chunk for chunk in ["a", "b", "c"])
        client.send([b"x"])
        assert server_ws.recv(timeout=WAIT) == "abc"
        assert server_ws.recv(timeout=WAIT) == b"x"


def test_send_empty_iterable_sends_nothing() -> None:
    with raw_server() as (peer, client):
        client.send([])
        client.send(iter(()))
        client.send("marker")
        frame = peer.next_frame()
        assert (frame.opcode, bytes(frame.data)) == (TEXT, b"marker")
        assert client.state is OPEN


def test_send_iterable_of_mixed_types_fails_with_1011() -> None:
    with raw_server() as (peer, client):
        with pytest.raises(TypeError):
            client.send(["text", b"bytes"])
        frame = peer.next_frame()
        assert (frame.opcode, bytes(frame.data), frame.fin) == (TEXT, b"text", False)
        frame = peer.next_frame()
        assert frame.opcode is CLOSE
        assert Close.parse(frame.data).code == CloseCode.INTERNAL_ERROR
        peer.flush()  # answer the close frame
        peer.close()
        assert client.wait_closed(WAIT)
        with pytest.raises(ConnectionClosedError):
            client.send("anything")


def test_send_iterable_that_raises_fails_with_1011() -> None:
    def chunks() -> Iterator[str]:
        yield "first"
        raise RuntimeError("boom")

    with connection_pair() as (server_ws, client):
        with pytest.raises(RuntimeError, match="boom"):
            client.send(chunks())
        assert client.wait_closed(WAIT)
        assert server_ws.wait_closed(WAIT)
        assert server_ws.close_code == CloseCode.INTERNAL_ERROR
        assert server_ws.close_reason == "error in fragmented message"


@pytest.mark.parametrize("message", [{"a": "b"}, 42, None, 4.2, [1, 2]])
def test_send_unsupported_type_raises_type_error(message: Any) -> None:
    with connection_pair() as (server_ws, client):
        with pytest.raises(TypeError):
            client.send(message)
        # Nothing went out: the connection is still usable.
        client.send("still open")
        assert server_ws.recv(timeout=WAIT) == "still open"


def test_send_after_close_raises_connection_closed() -> None:
    with connection_pair() as (server_ws, client):
        client.close()
        with pytest.raises(ConnectionClosedOK):
            client.send("too late")
        with pytest.raises(ConnectionClosedOK):
            client.send(["too", "late"])
        with pytest.raises(ConnectionClosedOK):
            server_ws.send("too late")


def test_send_from_many_threads_keeps_messages_whole() -> None:
    threads, count = 8, 500

    def message(thread: int, index: int) -> Data | list[Data] | Iterator[Data]:
        label = f"{thread}:{index}:"
        if index % 5 == 0:
            return [label, "x" * (index % 7), "end"]  # fragmented
        if index % 5 == 1:
            # Fragmented, and gives other threads a chance in between.
            def slow() -> Iterator[Data]:
                for part in (label.encode(), b"y", b"end"):
                    time.sleep(0)
                    yield part

            return slow()
        if index % 5 == 2:
            return (label + "end").encode()
        return label + "end"

    def expected(thread: int, index: int) -> tuple[int, bytes]:
        label = f"{thread}:{index}:"
        if index % 5 == 0:
            return TEXT, (label + "x" * (index % 7) + "end").encode()
        if index % 5 == 1:
            return BINARY, (label + "yend").encode()
        if index % 5 == 2:
            return BINARY, (label + "end").encode()
        return TEXT, (label + "end").encode()

    with raw_server() as (peer, client):
        collector = collecting_peer(peer, threads * count)
        start = threading.Barrier(threads)

        def send_all(thread: int) -> None:
            start.wait(WAIT)
            for index in range(count):
                # A message can't start while another thread sends a
                # fragmented one: send() says so at once; try again.
                while True:
                    try:
                        client.send(message(thread, index))
                    except ConcurrencyError:
                        time.sleep(0)
                    else:
                        break

        senders = [Background(send_all, thread) for thread in range(threads)]
        for sender in senders:
            sender.finish(timeout=30)
        frames: list[Frame] = collector.finish(timeout=30)

    # Rebuild messages from the frames: a data frame other than a continuation
    # may only start a message once the previous one is over.
    received: dict[int, list[tuple[int, bytes]]] = {thread: [] for thread in range(threads)}
    current: list[Frame] = []
    for frame in frames:
        if current:
            assert frame.opcode is CONT, "a message started inside another one"
        else:
            assert frame.opcode in (TEXT, BINARY)
        current.append(frame)
        if frame.fin:
            payload = b"".join(bytes(part.data) for part in current)
            thread = int(payload.split(b":")[0])
            received[thread].append((current[0].opcode, payload))
            current = []
    assert not current
    for thread in range(threads):
        # Each thread's messages arrive whole and in the order it sent them.
        assert received[thread] == [expected(thread, index) for index in range(count)]


# close()


def test_close_from_another_thread_unblocks_recv() -> None:
    with connection_pair() as (server_ws, client):
        receiving = Background(lambda: client.recv(timeout=WAIT))
        wait_for(lambda: client.recv_messages.get_in_progress)
        start = time.monotonic()
        client.close()
        receiving.join(WAIT)
        assert not receiving.is_alive()
        assert time.monotonic() - start < MARGIN
        assert isinstance(receiving.error, ConnectionClosedOK)
        assert client.state is CLOSED
        assert server_ws.wait_closed(WAIT)
        assert server_ws.close_code == CloseCode.NORMAL_CLOSURE


def test_close_from_another_thread_unblocks_recv_streaming() -> None:
    with raw_server() as (peer, client):
        peer.send(Frame(TEXT, b"first", fin=False))
        fragments = client.recv_streaming()
        assert next(fragments) == "first"
        receiving = Background(lambda: next(fragments))
        time.sleep(0.02)
        assert receiving.is_alive()  # the rest of the message isn't coming
        closing = Background(client.close)
        assert peer.next_frame().opcode is CLOSE
        peer.flush()  # answer the close frame and close the TCP connection
        closing.finish()
        receiving.join(WAIT)
        assert not receiving.is_alive()
        assert isinstance(receiving.error, ConnectionClosedOK)


def test_close_is_idempotent() -> None:
    with connection_pair() as (server_ws, client):
        client.close()
        assert client.state is CLOSED
        client.close()
        client.close(4000, "ignored")
        assert client.state is CLOSED
        assert server_ws.wait_closed(WAIT)
        assert server_ws.close_code == CloseCode.NORMAL_CLOSURE
        server_ws.close()  # closing the other end after the fact is harmless too


def test_close_code_and_reason_reach_the_peer() -> None:
    with connection_pair() as (server_ws, client):
        client.close(4000, "bye")
        assert server_ws.wait_closed(WAIT)
        assert (server_ws.close_code, server_ws.close_reason) == (4000, "bye")
        with pytest.raises(ConnectionClosedError) as raised:
            server_ws.recv(timeout=WAIT)
        assert raised.value.rcvd == Close(4000, "bye")
        # The server echoed the code: the client sees it too.
        assert client.close_code == 4000


def test_close_from_the_server() -> None:
    with connection_pair() as (server_ws, client):
        server_ws.close(CloseCode.GOING_AWAY, "restarting")
        assert client.wait_closed(WAIT)
        assert (client.close_code, client.close_reason) == (CloseCode.GOING_AWAY, "restarting")
        with pytest.raises(ConnectionClosedOK) as raised:
            client.recv(timeout=WAIT)
        assert raised.value.rcvd_then_sent is True


def test_context_manager_closes_with_1000_or_1011() -> None:
    with connection_pair() as (server_ws, client):
        with client:
            pass
        assert client.state is CLOSED
        assert server_ws.wait_closed(WAIT)
        assert server_ws.close_code == CloseCode.NORMAL_CLOSURE
    with connection_pair() as (server_ws, client):
        with pytest.raises(ZeroDivisionError), client:
            1 / 0  # noqa: B018
        assert server_ws.wait_closed(WAIT)
        assert server_ws.close_code == CloseCode.INTERNAL_ERROR


def test_close_during_a_fragmented_send_fails_with_1011() -> None:
    release = threading.Event()

    def chunks() -> Iterator[str]:
        yield "first"
        release.wait(WAIT)
        yield "second"

    with connection_pair() as (server_ws, client):
        sending = Background(lambda: client.send(chunks()))
        wait_for(lambda: client.fragmented_sender is not None)
        client.close()
        release.set()
        sending.join(WAIT)
        assert not sending.is_alive()
        assert isinstance(sending.error, ConnectionClosedError)
        assert client.state is CLOSED
        assert server_ws.wait_closed(WAIT)
        assert server_ws.close_code == CloseCode.INTERNAL_ERROR
        assert server_ws.close_reason == "close during fragmented message"


@pytest.mark.parametrize("side", ["client", "server"])
def test_send_during_a_fragmented_send_raises_concurrency_error(side: str) -> None:
    # As websockets: at once, in another thread or in the iterable's own; it
    # used to wait for the fragmented message to end, forever if the
    # iterable waited for that other send().
    release = threading.Event()

    with connection_pair() as (server_ws, client):
        sender, receiver = (client, server_ws) if side == "client" else (server_ws, client)

        def chunks() -> Iterator[str]:
            yield "frag"
            with pytest.raises(ConcurrencyError, match="fragmented message is being sent"):
                sender.send("from the iterable")
            release.wait(WAIT)
            yield "mented"

        fragmented = Background(sender.send, chunks())
        wait_for(lambda: sender.fragmented_sender is not None)
        for message in ("whole", ["another", "fragmented"]):
            other = Background(sender.send, message)
            with pytest.raises(ConcurrencyError, match="fragmented message is being sent"):
                other.finish(WAIT)
        release.set()
        fragmented.finish()
        # The connection is fine: the message went out whole, and the next one.
        sender.send("next")
        assert receiver.recv(timeout=WAIT) == "fragmented"
        assert receiver.recv(timeout=WAIT) == "next"


@pytest.mark.parametrize("side", ["client", "server"])
def test_ping_during_a_fragmented_send_goes_at_once(side: str) -> None:
    release = threading.Event()

    def chunks() -> Iterator[str]:
        yield "frag"
        release.wait(WAIT)
        yield "mented"

    with connection_pair() as (server_ws, client):
        sender, receiver = (client, server_ws) if side == "client" else (server_ws, client)
        fragmented = Background(sender.send, chunks())
        wait_for(lambda: sender.fragmented_sender is not None)
        try:
            pong = Background(sender.ping, b"between").finish(WAIT)
            # The peer answers while the fragmented message is still going.
            assert pong.wait(WAIT)
            assert fragmented.is_alive()
        finally:
            release.set()
        fragmented.finish()
        assert receiver.recv(timeout=WAIT) == "fragmented"


def test_ping_with_a_pending_payload_during_a_fragmented_send_raises_at_once() -> None:
    release = threading.Event()

    def chunks() -> Iterator[bytes]:
        yield b"frag"
        release.wait(WAIT)
        yield b"mented"

    # A raw peer, which doesn't answer pings unless told to.
    with raw_server() as (peer, client):
        fragmented = Background(client.send, chunks())
        try:
            assert peer.next_frame().data == b"frag"
            Background(client.ping, b"awaiting").finish(WAIT)
            frame = peer.next_frame()
            assert (frame.opcode, frame.data) == (PING, b"awaiting")
            duplicate = Background(client.ping, b"awaiting")
            with pytest.raises(ConcurrencyError, match="same data"):
                duplicate.finish(WAIT)
        finally:
            release.set()
        fragmented.finish()
        assert [(f.opcode, f.data, f.fin) for f in (peer.next_frame(), peer.next_frame())] == [
            (CONT, b"mented", False),
            (CONT, b"", True),
        ]


def test_peer_vanishing_closes_with_1006() -> None:
    with raw_server() as (peer, client):
        receiving = Background(lambda: client.recv(timeout=WAIT))
        wait_for(lambda: client.recv_messages.get_in_progress)
        peer.close()
        receiving.join(WAIT)
        assert isinstance(receiving.error, ConnectionClosedError)
        assert receiving.error.rcvd is None  # 1006
        assert client.state is CLOSED
        assert (client.close_code, client.close_reason) == (CloseCode.ABNORMAL_CLOSURE, "")


def test_peer_resetting_the_connection_closes_with_1006() -> None:
    with raw_server() as (peer, client):
        client.send("unread")  # closing with unread data sends a reset
        assert peer.sock.recv(1, socket.MSG_PEEK)
        peer.close()
        with pytest.raises(ConnectionClosedError) as raised:
            client.recv(timeout=WAIT)
        assert raised.value.rcvd is None  # 1006
        assert isinstance(raised.value.__cause__, OSError)


def test_protocol_error_from_the_peer_fails_with_1002() -> None:
    with raw_server() as (peer, client):
        peer.send(Frame(CONT, b"no message to continue"))
        frame = peer.next_frame()
        assert frame.opcode is CLOSE
        assert Close.parse(frame.data).code == CloseCode.PROTOCOL_ERROR
        peer.close()  # a server closes the TCP connection after a close frame
        with pytest.raises(ConnectionClosedError) as raised:
            client.recv(timeout=WAIT)
        assert raised.value.sent is not None
        assert raised.value.sent.code == CloseCode.PROTOCOL_ERROR
        assert client.state is CLOSED


def send_message_then_protocol_error(peer: RawPeer, *, fin: bool = True) -> None:
    """Write a message (or its first fragment), a frame with RSV1 set (no
    extension gives it a meaning), and a ping, all in one chunk (Autobahn 3.2)."""
    peer.sock.sendall(
        Frame(TEXT, b"Hello", fin=fin).serialize(mask=False)
        + Frame(BINARY, b"bad", rsv1=True).serialize(mask=False)
        + Frame(PING, b"never answered").serialize(mask=False)
    )


def expect_failure_after(peer: RawPeer, *frames: Frame) -> None:
    """The peer receives ``frames``, then a 1002 close frame; then it hangs up."""
    for frame in frames:
        assert peer.next_frame() == frame
    close = peer.next_frame()
    assert close.opcode is CLOSE
    assert Close.parse(close.data).code == CloseCode.PROTOCOL_ERROR
    peer.close()  # a server closes the TCP connection after a close frame


def test_message_before_a_protocol_error_can_be_answered() -> None:
    """Autobahn 3.2-3.4, 4.1.3, 4.1.4, 4.2.3, 4.2.4, 5.15: the connection fails
    once the application has read (and answered) what came before the error."""
    with raw_server() as (peer, client):
        send_message_then_protocol_error(peer)
        message = client.recv(timeout=WAIT)
        assert message == "Hello"
        client.send(message)
        receiving = Background(client.recv, WAIT)
        expect_failure_after(peer, Frame(TEXT, b"Hello"))
        with pytest.raises(ConnectionClosedError) as raised:
            receiving.finish()
        assert raised.value.sent == Close(CloseCode.PROTOCOL_ERROR, "reserved bits must be 0")


def test_data_after_a_held_failure_does_not_release_it() -> None:
    with raw_server() as (peer, client):
        send_message_then_protocol_error(peer)
        message = client.recv(timeout=WAIT)
        # The application works on its answer; more data comes meanwhile.
        peer.send(Frame(PING, b"later"))  # ignored, like everything after the error
        time.sleep(SHORT)
        client.send(message)
        receiving = Background(lambda: list(client.recv_streaming()))
        expect_failure_after(peer, Frame(TEXT, b"Hello"))
        with pytest.raises(ConnectionClosedError):
            receiving.finish()


def test_message_of_an_earlier_read_before_a_protocol_error_can_be_answered() -> None:
    """The failure comes after every message received before it, unread ones
    of earlier reads too: the application reads and answers them first."""
    with raw_server() as (peer, client):
        peer.send(Frame(TEXT, b"Hello"))
        wait_for(client.recv_messages.message_waiting)
        peer.send(Frame(BINARY, b"bad", rsv1=True))
        wait_for(lambda: client.protocol.held_failure is not None)
        message = client.recv(timeout=WAIT)
        client.send(message)
        receiving = Background(client.recv, WAIT)
        expect_failure_after(peer, Frame(TEXT, b"Hello"))
        with pytest.raises(ConnectionClosedError):
            receiving.finish()


def test_close_with_a_held_failure_sends_the_error_code() -> None:
    with raw_server() as (peer, client):
        send_message_then_protocol_error(peer)
        wait_for(client.recv_messages.message_waiting)
        closing = Background(client.close)
        expect_failure_after(peer)
        closing.finish()
        assert client.protocol.close_sent == Close(
            CloseCode.PROTOCOL_ERROR, "reserved bits must be 0"
        )


def test_protocol_error_within_a_message_being_read_fails_at_once() -> None:
    """Nothing received before the error can be read whole: no reason to wait."""
    with raw_server() as (peer, client):
        receiving = Background(client.recv, WAIT)
        time.sleep(SHORT)
        send_message_then_protocol_error(peer, fin=False)
        expect_failure_after(peer)
        with pytest.raises(ConnectionClosedError):
            receiving.finish()


def test_peer_never_answering_the_close_frame_is_dropped_after_close_timeout() -> None:
    with raw_server(close_timeout=0.2) as (peer, client):
        start = time.monotonic()
        client.close()
        elapsed = time.monotonic() - start
        assert 0.15 <= elapsed < 0.2 + MARGIN
        assert client.state is CLOSED
        frame = peer.next_frame()
        assert frame.opcode is CLOSE
        peer.expect_eof()  # the client closed the TCP connection
        with pytest.raises(ConnectionClosedError) as raised:
            client.recv(timeout=WAIT)
        assert raised.value.rcvd is None
        assert raised.value.sent == Close(CloseCode.NORMAL_CLOSURE, "")


def test_server_never_closing_the_tcp_connection_is_dropped_after_close_timeout() -> None:
    with raw_server(close_timeout=0.2) as (peer, client):
        peer.send(Frame(CLOSE, Close(CloseCode.NORMAL_CLOSURE, "").serialize()))
        # The client answers, then waits for the server to close the TCP connection.
        assert peer.next_frame().opcode is CLOSE
        start = time.monotonic()
        assert client.wait_closed(WAIT)
        assert time.monotonic() - start < 0.2 + MARGIN
        peer.expect_eof()
        # The closing handshake completed: it's a normal closure all the same.
        with pytest.raises(ConnectionClosedOK):
            client.recv(timeout=WAIT)


def test_wait_closed() -> None:
    with connection_pair() as (server_ws, client):
        start = time.monotonic()
        assert client.wait_closed(0.05) is False
        assert time.monotonic() - start >= 0.04
        closing = Background(lambda: client.wait_closed(WAIT))
        server_ws.close()
        assert closing.finish() is True
        assert client.wait_closed() is True
        assert client.wait_closed(0) is True


# ping() and pong()


def test_ping_returns_an_event_set_by_the_pong() -> None:
    with connection_pair(ping_interval=None) as (server_ws, client):
        assert client.latency == 0
        pong_received = client.ping()
        assert isinstance(pong_received, threading.Event)
        assert pong_received.wait(WAIT)
        assert client.latency > 0
        # The server answers pings too.
        assert server_ws.ping(b"from the server").wait(WAIT)


def test_ping_payload_reaches_the_peer() -> None:
    with raw_server() as (peer, client):
        pong_received = client.ping(b"payload")
        frame = peer.next_frame()
        assert (frame.opcode, bytes(frame.data)) == (PING, b"payload")
        client.ping("café")
        frame = peer.next_frame()
        assert (frame.opcode, bytes(frame.data)) == (PING, "café".encode())
        client.ping()  # a random payload
        frame = peer.next_frame()
        assert frame.opcode is PING
        assert len(frame.data) == 4
        assert not pong_received.is_set()
        peer.send(Frame(PONG, b"not the payload"))
        peer.send(Frame(PING, b"sync"))  # when its pong comes back, the pong above was read
        frame = peer.next_frame()
        assert (frame.opcode, bytes(frame.data)) == (PONG, b"sync")
        assert not pong_received.is_set()
        peer.send(Frame(PONG, b"payload"))
        assert pong_received.wait(WAIT)


def test_pong_answers_earlier_pings_too() -> None:
    with raw_server() as (peer, client):
        first = client.ping(b"1")
        second = client.ping(b"2")
        third = client.ping(b"3")
        peer.send(Frame(PONG, b"2"))
        assert first.wait(WAIT)
        assert second.wait(WAIT)
        assert not third.is_set()


def test_duplicate_ping_raises_concurrency_error() -> None:
    with raw_server() as (peer, client):
        pong_received = client.ping(b"same")
        with pytest.raises(ConcurrencyError):
            client.ping(b"same")
        with pytest.raises(ConcurrencyError):
            client.ping("same")
        assert peer.next_frame().opcode is PING  # only one went out
        peer.send(Frame(PONG, b"same"))
        assert pong_received.wait(WAIT)
        client.ping(b"same")  # answered: the payload is free again
        frame = peer.next_frame()
        assert (frame.opcode, bytes(frame.data)) == (PING, b"same")


def test_ping_ack_on_close() -> None:
    with raw_server() as (peer, client):
        acknowledged = client.ping(b"ack", ack_on_close=True)
        unacknowledged = client.ping(b"no ack")
        peer.close()
        assert client.wait_closed(WAIT)
        assert acknowledged.is_set()
        assert not unacknowledged.is_set()
        with pytest.raises(ConnectionClosedError):
            client.ping()


def test_ping_ack_on_close_answered_by_a_pong() -> None:
    with raw_server() as (peer, client):
        acknowledged = client.ping(b"ack", ack_on_close=True)
        peer.send(Frame(PONG, b"ack"))
        assert acknowledged.wait(WAIT)
        assert client.ack_on_close == set()  # not kept until the close


def test_ping_after_close_raises_connection_closed() -> None:
    with connection_pair() as (_, client):
        client.close()
        with pytest.raises(ConnectionClosedOK):
            client.ping()
        with pytest.raises(ConnectionClosedOK):
            client.pong()


def test_pong_reaches_the_peer() -> None:
    with raw_server() as (peer, client):
        client.pong()
        client.pong(b"heartbeat")
        client.pong("café")
        frames = [peer.next_frame() for _ in range(3)]
        assert [(frame.opcode, bytes(frame.data)) for frame in frames] == [
            (PONG, b""),
            (PONG, b"heartbeat"),
            (PONG, "café".encode()),
        ]


def test_unsolicited_pong_is_ignored() -> None:
    with connection_pair(ping_interval=None) as (server_ws, client):
        server_ws.pong(b"unsolicited")
        server_ws.send("after the pong")
        assert client.recv(timeout=WAIT) == "after the pong"
        assert client.latency == 0
        assert client.state is OPEN


# Keepalive.


def test_keepalive_fails_the_connection_when_the_peer_never_answers() -> None:
    start = time.monotonic()
    with raw_server(ping_interval=0.05, ping_timeout=0.1, close_timeout=0.5) as (peer, client):
        pings = 0
        while (frame := peer.next_frame()).opcode is PING:
            pings += 1
        assert pings >= 1
        assert frame.opcode is CLOSE
        assert Close.parse(frame.data) == Close(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
        assert time.monotonic() - start < 0.05 + 0.1 + MARGIN
        peer.close()
        with pytest.raises(ConnectionClosedError) as raised:
            client.recv(timeout=WAIT)
        assert raised.value.sent == Close(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
        assert client.state is CLOSED


def test_keepalive_keeps_a_healthy_connection_open() -> None:
    # A ping timeout that threads stalled on a busy machine can't outlast: the
    # keepalive waits for each pong before the next ping, so several pongs
    # within the test's time show that pongs end the waits.
    keepalive: dict[str, Any] = {"ping_interval": 0.05, "ping_timeout": WAIT}
    with connection_pair(server_kwargs=keepalive, **keepalive) as (server_ws, client):
        client_pongs, server_pongs = count_pongs(client.pings), count_pongs(server_ws.pings)
        wait_for(lambda: client_pongs[0] >= 3 and server_pongs[0] >= 3)
        assert client.state is OPEN
        assert server_ws.state is OPEN
        assert client.latency > 0
        assert server_ws.latency > 0
        client.send("still there?")
        assert server_ws.recv(timeout=WAIT) == "still there?"


def test_keepalive_sends_pings_at_each_interval() -> None:
    with raw_server(ping_interval=0.05, ping_timeout=None) as (peer, client):
        start = time.monotonic()
        payloads = set()
        for _ in range(4):
            frame = peer.next_frame()
            assert frame.opcode is PING
            payloads.add(bytes(frame.data))
        elapsed = time.monotonic() - start
        assert len(payloads) == 4  # a new payload each time
        assert 0.1 < elapsed < 2
        # Without a ping timeout, unanswered pings never fail the connection.
        assert client.state is OPEN


def test_keepalive_waits_for_the_opening_handshake() -> None:
    with raw_server(ping_interval=0.05, ping_timeout=0.5, handshake_delay=0.2) as (peer, client):
        # A ping during the handshake would have broken it; the first one comes after.
        frame = peer.next_frame()
        assert frame.opcode is PING
        peer.send(Frame(PONG, frame.data))
        wait_for(lambda: client.latency > 0)


def test_keepalive_stops_once_closing() -> None:
    with raw_server(ping_interval=0.05, ping_timeout=None, close_timeout=0.3) as (peer, client):
        assert peer.next_frame().opcode is PING
        closing = Background(client.close)
        while (frame := peer.next_frame()).opcode is PING:
            pass
        assert frame.opcode is CLOSE
        # The peer doesn't answer: no more pings until the client gives up.
        peer.expect_eof()
        assert [event for event in peer.events if isinstance(event, Frame)] == []
        closing.finish()


def test_keepalive_does_not_time_out_while_reading_is_paused() -> None:
    keepalive: dict[str, Any] = {"ping_interval": 0.05, "ping_timeout": 0.1}
    with connection_pair(max_queue=4, **keepalive) as (server_ws, client):
        for index in range(20):
            server_ws.send(f"message {index}")
        wait_for(lambda: client.recv_messages.queue.paused)
        # Pongs wait behind unread messages; that isn't the server's fault.
        time.sleep(0.5)
        assert client.state is OPEN
        assert client.recv_messages.queue.paused
        for index in range(20):
            assert client.recv(timeout=WAIT) == f"message {index}"
        assert not client.recv_messages.queue.paused
        # Reading again: the pongs come through.
        wait_for(lambda: client.latency > 0)
        assert client.state is OPEN


# Backpressure.


def test_slow_reader_stops_reading_from_the_network() -> None:
    with connection_pair(max_queue=4) as (server_ws, client):
        queue = client.recv_messages.queue

        def queued(count: int) -> Callable[[], bool]:
            return lambda: len(queue) == count

        sent = 0
        while not queue.paused:  # send one message at a time, each read on arrival
            server_ws.send(f"message {sent}")
            sent += 1
            wait_for(queued(sent))
        assert sent == 5  # over the high water mark
        assert not client.reading_allowed.is_set()

        # The server keeps sending; nothing more is read meanwhile.
        def send_more() -> None:
            for more_index in range(5, 205):
                server_ws.send(f"message {more_index}")

        more = Background(send_more)
        more.finish()
        time.sleep(SHORT)
        assert len(queue) == 5
        assert queue.paused
        assert client.state is OPEN

        for expected in range(205):
            assert client.recv(timeout=WAIT) == f"message {expected}"
        assert client.reading_allowed.is_set()
        assert len(queue) == 0


def test_slow_reader_makes_a_fast_sender_block() -> None:
    # Without compression, so that every byte sent fills the socket buffers.
    options = {"compression": None}
    with connection_pair(server_kwargs=options, max_queue=1, **options) as (server_ws, client):
        chunk = os.urandom(2**19)
        sent = 0

        def flood() -> None:
            nonlocal sent
            for _ in range(200):
                server_ws.send(chunk)
                sent += 1

        sending = Background(flood)
        wait_for(lambda: client.recv_messages.queue.paused)
        before = -1
        while sent != before:  # until sending stops making progress
            before = sent
            time.sleep(SHORT)
        assert sending.is_alive()
        assert sent < 100  # bounded by socket buffers, not by the message count
        assert len(client.recv_messages.queue) <= 3
        # Reading all messages lets the sender finish.
        for _ in range(200):
            assert client.recv(timeout=WAIT) == chunk
        sending.finish()


def test_send_to_a_peer_that_never_reads_blocks_until_close() -> None:
    with raw_server(close_timeout=0.3) as (_, client):
        chunk = bytes(2**20)
        sent = 0

        def flood() -> None:
            nonlocal sent
            for _ in range(200):
                client.send(chunk)
                sent += 1

        sending = Background(flood)
        before = -1
        while sent != before:  # until sending stops making progress
            before = sent
            time.sleep(SHORT)
        assert sending.is_alive()
        assert sent < 100
        time.sleep(SHORT)
        assert sending.is_alive()  # still blocked
        assert sent == before

        start = time.monotonic()
        client.close()
        sending.join(WAIT)
        assert not sending.is_alive()
        assert time.monotonic() - start < 0.3 + MARGIN
        assert isinstance(sending.error, ConnectionClosed)
        assert sent == before  # the blocked send raised, it didn't return
        assert client.state is CLOSED


@contextlib.contextmanager
def flooded_pair(side: str) -> Iterator[tuple[Connection, socket.socket, Callable[[], Frame]]]:
    """Yield the connection under test on ``side``, its raw peer's socket, and a frame reader."""
    if side == "client":
        with raw_server(ping_interval=None) as (peer, client):
            yield client, peer.sock, peer.next_frame
        return
    accepted: queue.Queue[ServerConnection] = queue.Queue()

    def handler(ws: ServerConnection) -> None:
        accepted.put(ws)
        ws.wait_closed(60)

    with (
        serving(handler, ping_interval=None, close_timeout=1) as server,
        # Small, so that the connection's pongs fill it soon.
        raw_websocket(port_of(server), rcvbuf=4096) as sock,
    ):
        ws = accepted.get(timeout=WAIT)

        def next_frame() -> Frame:
            opcode, fin, payload = read_frame(sock)
            return Frame(Opcode(opcode), payload, fin)

        yield ws, sock, next_frame


@pytest.mark.parametrize("side", ["client", "server"])
def test_ping_flood_from_a_peer_that_never_reads_stops_reading(side: str) -> None:
    # The pongs count against write_limit: the reader thread stops reading
    # rather than queue them without bound (it did: by 440 MiB in 30 s).
    payload = b"p" * 125  # the longest: the most memory per ping
    with flooded_pair(side) as (ws, sock, next_frame):
        # Kernel buffers small enough to fill soon, not so small that TCP
        # stalls (see the asyncio tests' shrink_buffers()).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 2**16)
        for buffer in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            ws.socket.setsockopt(socket.SOL_SOCKET, buffer, 2**16)
        memory = psutil.Process()
        rss_before = memory.memory_info().rss
        flood = PingFlood(sock, Frame(PING, payload).serialize(mask=side == "server"))
        # TCP pushes back: the flooding peer's writes stop going through.
        assert flood.blocked.wait(WAIT)
        wait_for(lambda: ws.writes_awaited)
        with ws.protocol_mutex:
            unwritten = sum(map(len, ws.outgoing))
        # Past write_limit by the pongs of one read at most (a masked pong is
        # a few bytes longer than its ping).
        assert ws.write_limit < unwritten <= ws.write_limit + ws.recv_bufsize + 2**12
        assert memory.memory_info().rss - rss_before < 2**23
        # Less than the kernel buffers and what the reader read before it stopped.
        assert flood.sent < 2**20

        # The peer reads at last: every ping was answered, the connection works.
        reading = Background(lambda: [next_frame() for _ in range(flood.pings() + 1)])
        sock.settimeout(WAIT)
        sock.sendall(flood.rest() + Frame(TEXT, b"still there?").serialize(mask=side == "server"))
        assert ws.recv(timeout=WAIT) == "still there?"
        ws.send("yes")
        frames = reading.finish()
        assert frames[:-1] == [Frame(PONG, payload)] * flood.pings()
        assert frames[-1] == Frame(TEXT, b"yes")
        assert not ws.writes_awaited


# Attributes.


def test_attributes() -> None:
    subprotocols = {"subprotocols": ["chat"]}
    with connection_pair(server_kwargs=subprotocols, **subprotocols) as (server_ws, client):
        assert client.state is OPEN
        assert server_ws.state is OPEN
        assert isinstance(client.id, uuid.UUID)
        assert client.id == client.protocol.id
        assert client.id != server_ws.id
        assert client.local_address == server_ws.remote_address
        assert client.remote_address == server_ws.local_address
        assert client.remote_address[0] == LOCALHOST

        assert isinstance(client.request, Request)
        assert isinstance(client.response, Response)
        assert isinstance(server_ws.request, Request)
        assert isinstance(server_ws.response, Response)
        assert client.request.path == server_ws.request.path == "/path"
        key = client.request.headers["Sec-WebSocket-Key"]
        assert server_ws.request.headers["Sec-WebSocket-Key"] == key
        assert client.response.status_code == server_ws.response.status_code == 101
        accept = server_ws.response.headers["Sec-WebSocket-Accept"]
        assert client.response.headers["Sec-WebSocket-Accept"] == accept

        assert client.subprotocol == server_ws.subprotocol == "chat"
        assert (client.close_code, client.close_reason) == (None, None)
        assert repr(client) == f"<ClientConnection {str(client.id)[:8]} OPEN>"

        server_ws.close(4001, "done")
        assert client.wait_closed(WAIT)
        assert client.state is CLOSED
        assert (client.close_code, client.close_reason) == (4001, "done")
        assert server_ws.close_code == 4001
        assert repr(server_ws) == f"<ServerConnection {str(server_ws.id)[:8]} CLOSED>"


def test_no_subprotocol() -> None:
    with connection_pair() as (server_ws, client):
        assert client.subprotocol is None
        assert server_ws.subprotocol is None


def test_logger_names_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="wskit.client")
    with connection_pair() as (_, client):
        assert isinstance(client.logger, logging.LoggerAdapter)
        assert client.logger.extra is not None
        assert client.logger.extra["websocket"] is client
        assert client.protocol.logger is client.logger  # the core's records too
        client.send("logged")
    sent = [
        record for record in caplog.records if record.getMessage() == "> TEXT 'logged' [6 bytes]"
    ]
    assert len(sent) == 1
    assert getattr(sent[0], "websocket", None) is client


# Threads.


def reader_threads() -> list[threading.Thread]:
    return [
        thread
        for thread in threading.enumerate()
        if thread.name.startswith(("wskit reader", "wskit server reader"))
    ]


def timer_threads() -> list[threading.Thread]:
    """Timer threads, but the one pytest-timeout runs during every test."""
    return [
        thread
        for thread in threading.enumerate()
        if isinstance(thread, threading.Timer) and not thread.name.startswith("pytest_timeout")
    ]


def test_one_reader_thread_per_client_one_per_server_and_none_left_after_close() -> None:
    wait_for(lambda: not reader_threads() and not timer_threads())  # earlier tests are over
    keepalive: dict[str, Any] = {"ping_interval": 0.05, "ping_timeout": 0.5}
    with connection_pair(server_kwargs=keepalive, **keepalive) as (server_ws, client):
        time.sleep(0.2)  # a few keepalive pings each way
        wait_for(lambda: client.latency > 0 and server_ws.latency > 0)
        names = sorted(thread.name for thread in reader_threads())
        assert names == [f"wskit reader {str(client.id)[:8]}", "wskit server reader"]
        assert timer_threads() == []  # keepalive runs in the reader threads
        client.close()
        assert server_ws.wait_closed(WAIT)
    wait_for(lambda: not reader_threads() and not timer_threads())


# Odd cases.


def test_decode_error_after_the_connection_closed_raises_connection_closed() -> None:
    with connection_pair() as (server_ws, client):
        server_ws.send(b"\xff")
        server_ws.close()
        assert client.wait_closed(WAIT)
        # Too late to fail the connection with 1007: it closed normally.
        with pytest.raises(ConnectionClosedOK):
            client.recv(timeout=WAIT, decode=True)


def test_iterable_raising_after_the_connection_closed_keeps_its_exception() -> None:
    release = threading.Event()

    def chunks() -> Iterator[bytes]:
        yield b"first"
        release.wait(WAIT)
        raise RuntimeError("boom")

    with raw_server() as (peer, client):
        sending = Background(client.send, chunks())
        # Written, not only queued: a write after the close fails, and then
        # send() rightly raises ConnectionClosedError before the iterable.
        assert peer.next_frame().data == b"first"
        peer.close()
        assert client.wait_closed(WAIT)
        release.set()
        with pytest.raises(RuntimeError, match="boom"):
            sending.finish()
        assert client.close_code == CloseCode.ABNORMAL_CLOSURE


def test_close_without_close_timeout() -> None:
    with connection_pair(close_timeout=None) as (server_ws, client):
        assert client.close_timeout is None
        client.close(CloseCode.GOING_AWAY)
        assert client.state is CLOSED
        assert server_ws.wait_closed(WAIT)
        assert server_ws.close_code == CloseCode.GOING_AWAY


def test_unexpected_error_in_the_reader_thread_closes_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(event: Event) -> None:
        raise RuntimeError("bug")

    with raw_server() as (peer, client):
        client.process_event = broken  # type: ignore[method-assign]
        # A ping: whole data messages may reach the queue without process_event().
        peer.send(Frame(PING, b"trigger"))
        with pytest.raises(ConnectionClosedError) as raised:
            client.recv(timeout=WAIT)
        assert isinstance(raised.value.__cause__, RuntimeError)
        assert client.state is CLOSED
        peer.expect_eof()
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert [record.getMessage() for record in errors] == ["unexpected error while reading"]
    assert errors[0].exc_info is not None


def test_keepalive_timeout_during_the_closing_handshake_changes_nothing() -> None:
    options = {"ping_interval": 0.05, "ping_timeout": 0.1, "close_timeout": 0.4}
    with raw_server(**options) as (peer, client):
        assert peer.next_frame().opcode is PING
        start = time.monotonic()
        client.close()  # the peer answers neither the ping nor the close frame
        assert time.monotonic() - start >= 0.3  # the pong timeout didn't cut it short
        frame = peer.next_frame()
        assert Close.parse(frame.data) == Close(CloseCode.NORMAL_CLOSURE, "")
        peer.expect_eof()
        assert [event for event in peer.events if isinstance(event, Frame)] == []


def test_keepalive_tolerates_pongs_slower_than_the_interval() -> None:
    # Each pong takes longer than the interval, but less than the timeout
    # (which leaves room for a busy machine: the peer's sleep may last longer).
    options = {"ping_interval": 0.05, "ping_timeout": WAIT}
    with raw_server(**options) as (peer, client):
        for _ in range(4):
            frame = peer.next_frame()
            assert frame.opcode is PING, frame
            time.sleep(0.08)
            peer.send(Frame(PONG, frame.data))
        assert client.state is OPEN
        assert client.latency >= 0.08


class SmallReads(ClientConnection):
    recv_bufsize = 1000  # less than a TLS record: the rest waits inside the TLS layer


def test_tls_with_reads_smaller_than_a_record() -> None:
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(CERTIFICATE)
    client_context = ssl.create_default_context(cafile=CERTIFICATE)
    with connection_pair(
        {"ssl": server_context},
        ssl=client_context,
        server_hostname="localhost",
        create_connection=SmallReads,
    ) as (server_ws, client):
        assert isinstance(client.socket, ssl.SSLSocket)
        # One message in one TLS record: poll() can't see what's left after the first read.
        server_ws.send("x" * 5000)
        assert client.recv(timeout=WAIT) == "x" * 5000
        message = os.urandom(100_000)
        server_ws.send(message)
        assert client.recv(timeout=WAIT) == message


def test_handshake_response_ending_at_eof_reaches_the_client() -> None:
    # The response's body runs until the server closes the connection: the
    # reader thread only gets the response when it handles the EOF.
    with socket.create_server((LOCALHOST, 0)) as listener:
        listener.settimeout(WAIT)

        def refuse() -> None:
            sock, _ = listener.accept()
            with sock:
                sock.settimeout(WAIT)
                request = b""
                while not request.endswith(b"\r\n\r\n"):
                    request += sock.recv(4096)
                sock.sendall(b"HTTP/1.1 503 Service Unavailable\r\n\r\ncome back later")

        refusing = Background(refuse)
        with pytest.raises(InvalidStatus) as raised:
            connect(f"ws://{LOCALHOST}:{listener.getsockname()[1]}/", open_timeout=WAIT)
        refusing.finish()
    assert raised.value.response.status_code == 503
    assert raised.value.response.body == b"come back later"


def test_connections_keep_a_compact_layout() -> None:
    with connection_pair({"subprotocols": ["chat"]}, subprotocols=["chat"]) as (
        server_ws,
        client,
    ):
        client.send("hello")
        server_ws.send(server_ws.recv(WAIT))
        assert client.recv(WAIT) == "hello"
        assert client.ping().wait(WAIT)
        client.close()
        assert server_ws.wait_closed(WAIT)
        for ws in (client, server_ws):
            assert len(vars(ws)) <= COMPACT_ATTRIBUTES, sorted(vars(ws))
