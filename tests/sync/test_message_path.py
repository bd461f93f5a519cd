"""Tests for the per-message path of threaded connections.

``send()`` of a whole plain message takes its frame from the core's
``send_message()`` and writes it at once (``Connection._send_whole()``); a
read of whole messages puts them in the queue through the core's
``receive_messages()``, without events (``Connection._read_socket()``).
Each test checks that the general path was skipped, or taken where it must
be, and that what goes on the wire or comes out of ``recv()`` is what the
general path gives.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from tests.sync.support import client_tls, port_of, raw_websocket, server_tls, serving
from tests.sync.test_connection import (
    WAIT,
    Background,
    RawPeer,
    connection_pair,
    raw_server,
    wait_for,
)
from wskit.exceptions import ConnectionClosedError, ConnectionClosedOK
from wskit.frames import BINARY, CLOSE, PING, PONG, TEXT, Frame
from wskit.protocol import Event, Protocol
from wskit.sync.client import ClientConnection
from wskit.sync.server import ServerConnection


@pytest.fixture
def general_sends(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the calls of the core's general path for data frames."""
    calls: list[str] = []
    for name in ("send_text", "send_binary", "send_frame"):
        original = getattr(Protocol, name)

        def spy(self: Protocol, *args: Any, _name: str = name, _original: Any = original) -> Any:
            calls.append(_name)
            return _original(self, *args)

        monkeypatch.setattr(Protocol, name, spy)
    return calls


def test_send_of_a_plain_message_skips_the_general_path(general_sends: list[str]) -> None:
    with raw_server() as (peer, client):
        client.send(b"binary")
        client.send("text")
        client.send(bytearray(b"bytes-like"), text=True)
        assert general_sends == []
        assert [(frame.opcode, frame.data) for frame in frames(peer, 3)] == [
            (BINARY, b"binary"),
            (TEXT, b"text"),
            (TEXT, b"bytes-like"),
        ]
        assert client.protocol.messages_sent == 3


def test_send_of_a_fragmented_message_takes_the_general_path(general_sends: list[str]) -> None:
    with raw_server() as (peer, client):
        client.send([b"one", b"two"])
        assert "send_binary" in general_sends
        assert [frame.data for frame in frames(peer, 3)] == [b"one", b"two", b""]


def test_server_writes_what_the_general_path_writes(general_sends: list[str]) -> None:
    # A server's frames are not masked: the bytes are the core's, exactly.
    sent = threading.Event()

    # A long payload of bytes comes after its header, uncopied.
    long = bytes(range(256)) * 300

    def handler(ws: ServerConnection) -> None:
        ws.send(b"\x00" * 200)
        ws.send("caf\u00e9")
        ws.send(long)
        sent.set()
        ws.wait_closed(WAIT)

    with serving(handler, compression=None) as server:
        sock = raw_websocket(port_of(server))
        with sock:
            expected = b"".join(
                frame.serialize(mask=False)
                for frame in (
                    Frame(BINARY, b"\x00" * 200),
                    Frame(TEXT, "caf\u00e9".encode()),
                    Frame(BINARY, long),
                )
            )
            received = b""
            while len(received) < len(expected):
                received += sock.recv(len(expected) - len(received))
            assert received == expected
            assert sent.wait(WAIT)
    assert general_sends == []


def test_send_while_another_thread_writes_queues_behind_it(
    general_sends: list[str],
) -> None:
    with raw_server() as (peer, client):
        client.send_lock.acquire()  # as a thread writing to a slow peer holds it
        sending = Background(client.send, b"queued")
        wait_for(lambda: bool(client.outgoing))
        assert general_sends[:1] == ["send_binary"]
        client.send_lock.release()
        # No writer holds the lock any more: whoever takes it next writes the
        # queue first, the sender being the one.
        sending.finish()
        client.send(b"next")
        assert [frame.data for frame in frames(peer, 2)] == [b"queued", b"next"]


def test_bytes_queued_during_the_write_go_out_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    with raw_server() as (peer, client):
        send = socket.socket.send

        def sending_close_meanwhile(sock: socket.socket, data: Any, *args: Any) -> int:
            if sock is client.socket and data[:1] == b"\x82":
                # Another thread queues a close frame and finds send_lock taken:
                # it leaves the write to the holder (start_closing() never waits).
                Background(client.start_closing).finish()
            return send(sock, data, *args)

        monkeypatch.setattr(socket.socket, "send", sending_close_meanwhile)
        client.send(b"first")
        assert client.outgoing == []  # written by send(), not by the end of the connection
        first, close = frames(peer, 2)
        assert first.data == b"first"
        assert close.opcode is CLOSE


def test_failed_write_raises_connection_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    with raw_server() as (_peer, client):
        send = socket.socket.send

        def failing(sock: socket.socket, data: Any, *args: Any) -> int:
            if sock is client.socket:
                raise BrokenPipeError
            return send(sock, data, *args)

        monkeypatch.setattr(socket.socket, "send", failing)
        with pytest.raises(ConnectionClosedError):
            client.send(b"lost")
        monkeypatch.undo()


def test_send_after_close_raises_connection_closed() -> None:
    with connection_pair() as (_server, client):
        client.close()
        with pytest.raises(ConnectionClosedOK):
            client.send(b"too late")


@pytest.fixture
def delivered(monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    """Record what process_event() is given, the general path of what is read."""
    record: list[Event] = []
    process_event = ClientConnection.process_event

    def spy(self: ClientConnection, event: Event) -> None:
        record.append(event)
        process_event(self, event)

    monkeypatch.setattr(ClientConnection, "process_event", spy)
    return record


def test_whole_messages_reach_recv_without_process_event(delivered: list[Event]) -> None:
    with raw_server() as (peer, client):
        for frame in (Frame(TEXT, b"text"), Frame(BINARY, b"binary")):
            peer.send(frame)
        assert client.recv(timeout=WAIT) == "text"
        assert client.recv(timeout=WAIT) == b"binary"
        assert not any(isinstance(event, Frame) for event in delivered)
        assert client.protocol.messages_received == 2


def test_a_ping_read_with_a_message_is_answered(delivered: list[Event]) -> None:
    with raw_server() as (peer, client):
        # One write: the message goes to the queue, the ping to the core's rules.
        peer.sock.sendall(
            Frame(TEXT, b"before").serialize(mask=False)
            + Frame(PING, b"ping").serialize(mask=False)
        )
        assert client.recv(timeout=WAIT) == "before"
        pong = peer.next_frame()
        assert (pong.opcode, pong.data) == (PONG, b"ping")
        assert [event.opcode for event in delivered if isinstance(event, Frame)] == [PING]


def test_a_waiting_recv_is_woken_by_the_reader() -> None:
    # TLS: recv() never reads the socket itself; the reader queues the
    # message without process_event() and must wake it.
    with connection_pair({"ssl": server_tls()}, ssl=client_tls()) as (server, client):
        receiving = Background(client.recv, WAIT)
        wait_for(lambda: client.recv_messages.waiting)
        server.send(b"wake up")
        assert receiving.finish() == b"wake up"


def frames(peer: RawPeer, count: int) -> list[Frame]:
    return [peer.next_frame() for _ in range(count)]
