"""Tests for wskit.trio.connection over real sockets, and over trio's memory streams."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio
import trio.testing

from wskit.exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
)
from wskit.frames import Close, CloseCode, Frame, Opcode
from wskit.protocol import CLOSED, OPEN, Protocol, Side
from wskit.trio.client import connect
from wskit.trio.connection import Connection
from wskit.trio.server import ServerConnection

from .helpers import serving, uri_of

# Over real sockets.


async def test_text_and_binary_round_trip() -> None:
    async with serving() as server, connect(uri_of(server)) as websocket:
        await websocket.send("café")
        assert await websocket.recv() == "café"
        await websocket.send(b"\x00\xff")
        assert await websocket.recv() == b"\x00\xff"
        await websocket.send("text")
        assert await websocket.recv(decode=False) == b"text"
        await websocket.send(b"bytes")
        assert await websocket.recv(decode=True) == "bytes"
        await websocket.send(b"as text", text=True)
        assert await websocket.recv() == "as text"
        await websocket.send("as binary", text=False)
        assert await websocket.recv() == b"as binary"


async def test_fragmented_messages_from_iterables() -> None:
    async def chunks() -> AsyncIterator[str]:
        for chunk in ["a", "b", "c"]:
            await trio.lowlevel.checkpoint()
            yield chunk

    async with serving() as server, connect(uri_of(server)) as websocket:
        await websocket.send([b"x", bytearray(b"y"), memoryview(b"z")])
        assert await websocket.recv() == b"xyz"
        await websocket.send(chunks())
        assert await websocket.recv() == "abc"
        await websocket.send([])  # no message at all
        await websocket.send("after")
        assert await websocket.recv() == "after"


async def test_recv_streaming_yields_fragments() -> None:
    async def handler(websocket: ServerConnection) -> None:
        await websocket.send(["one ", "two ", "three"])
        await websocket.recv()

    async with serving(handler) as server, connect(uri_of(server)) as websocket:
        fragments = [fragment async for fragment in websocket.recv_streaming()]
        assert fragments == ["one ", "two ", "three", ""]  # the final frame is empty
        await websocket.send("done")


async def test_send_rejects_bad_types_and_mixed_fragments() -> None:
    async with serving() as server, connect(uri_of(server)) as websocket:
        with pytest.raises(TypeError, match="mapping"):
            await websocket.send({"a": 1})
        with pytest.raises(TypeError, match="not int"):
            await websocket.send(42)  # type: ignore[arg-type]
        # Half a message went out: the connection must fail.
        with pytest.raises(TypeError, match="same type"):
            await websocket.send(["text", b"bytes"])
        with pytest.raises(ConnectionClosedError):
            await websocket.recv()
        assert websocket.protocol.close_sent is not None
        assert websocket.protocol.close_sent.code == CloseCode.INTERNAL_ERROR


async def test_iteration_ends_quietly_on_normal_closure() -> None:
    async def handler(websocket: ServerConnection) -> None:
        await websocket.send("one")
        await websocket.send("two")

    async with serving(handler) as server, connect(uri_of(server)) as websocket:
        assert [message async for message in websocket] == ["one", "two"]
        assert websocket.close_code == CloseCode.NORMAL_CLOSURE
        with pytest.raises(ConnectionClosedOK):
            await websocket.recv()
        with pytest.raises(ConnectionClosedOK):
            await websocket.send("late")


async def test_iteration_raises_after_an_error() -> None:
    async def handler(websocket: ServerConnection) -> None:
        await websocket.aclose(CloseCode.POLICY_VIOLATION, "go away")

    async with serving(handler) as server, connect(uri_of(server)) as websocket:
        with pytest.raises(ConnectionClosedError) as raised:
            async for _ in websocket:
                pass
        assert raised.value.rcvd is not None
        assert raised.value.rcvd.code == CloseCode.POLICY_VIOLATION
        assert websocket.close_reason == "go away"


async def test_aclose_is_idempotent_and_waits_for_tcp() -> None:
    async with serving() as server, connect(uri_of(server)) as websocket:
        await websocket.aclose(CloseCode.GOING_AWAY, "bye")
        assert websocket.state is CLOSED
        assert websocket.stream_closed.is_set()
        await websocket.aclose()
        await websocket.wait_closed()
        assert websocket.protocol.close_sent == Close(CloseCode.GOING_AWAY, "bye")


async def test_concurrent_recv_is_refused() -> None:
    async with (
        serving() as server,
        connect(uri_of(server)) as websocket,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(websocket.recv)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(ConcurrencyError, match="recv"):
            await websocket.recv()
        await websocket.send("unblock")


async def test_ping_measures_latency_and_refuses_duplicates() -> None:
    async with serving() as server, connect(uri_of(server)) as websocket:
        assert websocket.latency == 0
        pong = await websocket.ping(b"x")
        with pytest.raises(ConcurrencyError):
            await websocket.ping("x")
        await pong.wait()
        assert websocket.latency > 0
        # Random payloads never collide with pending ones.
        await (await websocket.ping()).wait()
        await websocket.pong("unsolicited")


async def test_ping_with_ack_on_close_is_set_on_closing() -> None:
    async def handler(websocket: ServerConnection) -> None:
        await websocket.recv()

    async with serving(handler) as server, connect(uri_of(server)) as websocket:
        # The server never answers pings while its reading is paused; simplest:
        # close right after the ping, before any pong can be handled.
        acked = await websocket.ping(ack_on_close=True)
        plain = await websocket.ping()
        websocket.abort()
        await websocket.wait_closed()
        assert acked.is_set()
        assert not plain.is_set() or websocket.latency > 0
        with pytest.raises(ConnectionClosed):
            await websocket.ping()
        with pytest.raises(ConnectionClosed):
            await websocket.pong()


async def test_invalid_utf8_when_decoding_fails_with_1007() -> None:
    async def handler(websocket: ServerConnection) -> None:
        await websocket.send(b"\xff")
        await websocket.wait_closed()

    async with serving(handler) as server, connect(uri_of(server)) as websocket:
        with pytest.raises(ConnectionClosedError):
            await websocket.recv(decode=True)
        assert websocket.protocol.close_sent is not None
        assert websocket.protocol.close_sent.code == CloseCode.INVALID_DATA


async def test_addresses_and_stats() -> None:
    async with serving() as server, connect(uri_of(server)) as websocket:
        await websocket.send("hello")
        await websocket.recv()
        assert websocket.remote_address[1] == server.listeners[0].socket.getsockname()[1]
        assert websocket.local_address[0] == "127.0.0.1"
        stats = websocket.stats
        assert stats.messages_sent == 1
        assert stats.messages_received == 1
        assert stats.buffered_outgoing == 0
        assert "OPEN" in repr(websocket)


async def test_cancelling_the_body_drops_the_connection() -> None:
    closed = trio.Event()

    async def handler(websocket: ServerConnection) -> None:
        with pytest.raises(ConnectionClosed):
            await websocket.recv()
        closed.set()

    async with serving(handler) as server:
        with trio.move_on_after(0.2):
            async with connect(uri_of(server)) as websocket:
                await trio.sleep_forever()
        assert websocket.state is CLOSED
        await closed.wait()


# Over memory streams: one end is a wskit.trio connection, the other a
# Sans-I/O protocol driven by the test.


class Peer:
    """The other end of a connection, frame by frame."""

    def __init__(self, stream: trio.abc.Stream, side: Side = Side.SERVER) -> None:
        self.stream = stream
        self.protocol = Protocol(side)

    async def flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                await self.stream.send_all(data)

    async def send(self, frame: Frame) -> None:
        self.protocol.send_frame(frame)
        await self.flush()

    async def receive(self) -> list[Frame]:
        """Read until some frames arrive; answer what the core answers."""
        while True:
            data = await self.stream.receive_some(65536)
            if not data:
                self.protocol.receive_eof()
                return []
            self.protocol.receive_data(data)
            await self.flush()
            events = [e for e in self.protocol.events_received() if isinstance(e, Frame)]
            if events:
                return events


def connection_pair(
    nursery: trio.Nursery, stream_pair: Any = trio.testing.memory_stream_pair, **kwargs: Any
) -> tuple[Connection, Peer]:
    ours, theirs = stream_pair()
    connection = Connection(nursery, ours, Protocol(Side.CLIENT), **kwargs)
    return connection, Peer(theirs)


async def test_close_timeout_drops_a_peer_that_never_closes(clock: Any, caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    async with trio.open_nursery() as nursery:
        connection, peer = connection_pair(nursery, close_timeout=3)
        start = trio.current_time()
        async with trio.open_nursery() as closing:
            closing.start_soon(connection.aclose)
            # The peer answers the close frame and keeps TCP open.
            await peer.receive()
        assert trio.current_time() - start == pytest.approx(3)
        assert connection.state is CLOSED
        assert "timed out waiting for the peer to close" in caplog.text


async def test_keepalive_fails_a_peer_that_never_answers(clock: Any) -> None:
    async with trio.open_nursery() as nursery:
        connection, peer = connection_pair(
            nursery, ping_interval=5, ping_timeout=2, close_timeout=1
        )
        connection.start_keepalive()
        # Read the ping without answering: the peer's core answers pongs, so
        # read the raw bytes instead.
        await peer.stream.receive_some(65536)
        await connection.wait_closed()
        assert trio.current_time() == pytest.approx(5 + 2 + 1)
        assert connection.protocol.close_sent is not None
        assert connection.protocol.close_sent.code == CloseCode.INTERNAL_ERROR


async def test_keepalive_pings_measure_latency(clock: Any) -> None:
    async with trio.open_nursery() as nursery:
        connection, peer = connection_pair(nursery, ping_interval=5, ping_timeout=2)
        connection.start_keepalive()
        [ping] = await peer.receive()  # the peer's core answers it
        assert ping.opcode is Opcode.PING
        await trio.testing.wait_all_tasks_blocked()
        assert connection.state is OPEN
        [ping] = await peer.receive()
        assert trio.current_time() == pytest.approx(10)
        connection.abort()


async def test_max_queue_stops_reading_until_the_application_reads() -> None:
    async with trio.open_nursery() as nursery:
        connection, peer = connection_pair(
            nursery, stream_pair=trio.testing.lockstep_stream_pair, max_queue=(4, 1)
        )
        sent = 0

        async def flood() -> None:
            nonlocal sent
            for _ in range(10):
                await peer.send(Frame(Opcode.TEXT, b"x"))
                sent += 1

        nursery.start_soon(flood)
        await trio.testing.wait_all_tasks_blocked()
        # The reader took 5 frames (over the high mark of 4), then stopped,
        # so the peer's sixth write waits.
        assert len(connection.recv_messages.queue) == 5
        assert sent == 5
        for _ in range(3):
            assert await connection.recv() == "x"
        await trio.testing.wait_all_tasks_blocked()
        assert sent == 5  # above the low mark: still paused
        assert await connection.recv() == "x"
        await trio.testing.wait_all_tasks_blocked()
        assert sent > 5  # at the low mark: reading resumed
        nursery.cancel_scope.cancel()


async def test_write_limit_makes_send_wait_for_the_peer() -> None:
    async with trio.open_nursery() as nursery:
        connection, peer = connection_pair(
            nursery, stream_pair=trio.testing.lockstep_stream_pair, write_limit=1000
        )
        sending = trio.Event()

        async def send_big() -> None:
            await connection.send(b"x" * 2000)
            sending.set()

        nursery.start_soon(send_big)
        await trio.testing.wait_all_tasks_blocked()
        assert not sending.is_set()
        assert connection.outgoing_size > 1000
        [frame] = await peer.receive()
        assert len(frame.data) == 2000
        await sending.wait()
        assert connection.outgoing_size == 0
        connection.abort()


async def test_answers_to_pings_stop_reading_when_the_peer_never_reads() -> None:
    async with trio.open_nursery() as nursery:
        connection, peer = connection_pair(
            nursery, stream_pair=trio.testing.lockstep_stream_pair, write_limit=300
        )
        sent = 0

        async def flood() -> None:
            nonlocal sent
            for _ in range(100):
                await peer.send(Frame(Opcode.PING, b"p" * 100))
                sent += 1

        nursery.start_soon(flood)
        await trio.testing.wait_all_tasks_blocked()
        # Pongs of 102 bytes: reading stops once more than 300 wait unsent.
        assert sent <= 5
        assert 300 < connection.outgoing_size <= 600
        nursery.cancel_scope.cancel()


async def test_close_frame_between_fragments_is_answered() -> None:
    async with trio.open_nursery() as nursery:
        connection, peer = connection_pair(nursery)
        await peer.send(Frame(Opcode.TEXT, b"half", fin=False))
        peer.protocol.send_close(CloseCode.NORMAL_CLOSURE)
        await peer.flush()
        [close] = await peer.receive()
        assert close.opcode is Opcode.CLOSE
        await peer.stream.aclose()
        with pytest.raises(ConnectionClosedOK):
            await connection.recv()


async def test_message_before_bad_frame_is_delivered_first() -> None:
    async with trio.open_nursery() as nursery:
        connection, peer = connection_pair(nursery)
        await peer.stream.send_all(b"\x81\x02ok" + b"\x83\x00")  # reserved opcode 3
        assert await connection.recv() == "ok"

        async def recv_fails() -> None:
            with pytest.raises(ConnectionClosedError):
                await connection.recv()

        # The failure waits until the application asks for the next message.
        nursery.start_soon(recv_fails)
        [close] = await peer.receive()
        assert Close.parse(close.data).code == CloseCode.PROTOCOL_ERROR
        await peer.stream.aclose()


async def test_cancelling_the_nursery_ends_every_task() -> None:
    with trio.move_on_after(0.1):
        async with trio.open_nursery() as nursery:
            connection, _ = connection_pair(nursery, ping_interval=0.01)
            connection.start_keepalive()
    # The nursery exited: no task of the connection survived it.
    assert connection.stream_closed.is_set()
    assert connection.state is CLOSED


async def test_peer_dropping_tcp_ends_the_connection_with_1006() -> None:
    async with trio.open_nursery() as nursery:
        connection, peer = connection_pair(nursery)
        await peer.stream.aclose()
        with pytest.raises(ConnectionClosedError) as raised:
            await connection.recv()
        assert raised.value.rcvd is None
        assert connection.close_code == CloseCode.ABNORMAL_CLOSURE


async def test_frames_wait_in_order_while_the_peer_doesnt_read() -> None:
    # Over a real socket pair, whose buffers fill up: send() waits, and the
    # frames come out whole and in order once the peer reads.
    left, right = trio.socket.socketpair()
    async with trio.open_nursery() as nursery:
        connection = Connection(nursery, trio.SocketStream(left), Protocol(Side.CLIENT))
        peer = Peer(trio.SocketStream(right))
        peer.protocol = Protocol(Side.SERVER, max_size=None)
        done = trio.Event()

        async def send_all() -> None:
            await connection.send(b"a" * 2**22)  # more than the socket buffers
            await connection.send("then this")
            done.set()

        nursery.start_soon(send_all)
        await trio.testing.wait_all_tasks_blocked()
        assert not done.is_set()  # send() waits: the peer hasn't read
        assert connection.outgoing_size > connection.write_limit[0]
        frames: list[Frame] = []
        while len(frames) < 2:
            frames += await peer.receive()
        assert [len(frame.data) for frame in frames] == [2**22, 9]
        await done.wait()
        connection.abort()
        await peer.stream.aclose()


async def test_water_marks_in_the_wrong_order_are_refused() -> None:
    async with trio.open_nursery() as nursery:
        with pytest.raises(ValueError, match="write_limit"):
            connection_pair(nursery, write_limit=(100, 200))
        with pytest.raises(ValueError, match="max_queue"):
            connection_pair(nursery, max_queue=(4, 8))
