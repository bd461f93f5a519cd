"""Tests for wskit.asyncio.connection: receiving, sending, pings, keepalive, closing, flow control.

Connections are real: :func:`~wskit.asyncio.server.serve` and
:func:`~wskit.asyncio.client.connect` on 127.0.0.1. Where the test needs a peer
that misbehaves (never reads, never answers pings or the close frame, breaks
the protocol, vanishes), the peer is a :class:`RawPeer`: asyncio streams and
the Sans-I/O core, which only parses what arrives and writes only what the
test tells it to.

Most tests run twice, with the connection under test on the client side and
on the server side (the ``side`` parameter).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dis
import gc
import logging
import os
import socket
import ssl
import struct
import sys
import time
import uuid
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import psutil
import pytest
import uvloop

from tests.asyncio.conftest import run as run_on_test_loop
from tests.asyncio.conftest import watches_transport_calls
from tests.instance_layout import COMPACT_ATTRIBUTES
from tests.pongs import count_pongs
from wskit.asyncio.client import ClientConnection, connect
from wskit.asyncio.connection import READ_BUFFER_SIZE, Connection, gathers_writes
from wskit.asyncio.server import ServerConnection, serve
from wskit.client import ClientProtocol
from wskit.exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    ProtocolError,
)
from wskit.frames import BINARY, CLOSE, CONT, PING, PONG, TEXT, Close, CloseCode, Frame
from wskit.http11 import Request, Response
from wskit.protocol import OPEN, Event, Protocol, Side, State
from wskit.server import ServerProtocol
from wskit.typing import Data
from wskit.uri import parse_uri

HOST = "127.0.0.1"

# Bounds every wait on the network: a broken connection fails the test, not the suite.
WAIT = 5

SIDES = ["client", "server"]

# The most asyncio reads from a socket at once (the read buffer of the connection).
MAX_READ = READ_BUFFER_SIZE

CERTIFICATE = Path(__file__).parents[2] / "examples" / "localhost.pem"


# Helpers: pairs of wskit connections.


def port_of(server: Any) -> int:
    return cast(int, server.sockets[0].getsockname()[1])


@contextlib.asynccontextmanager
async def connected(
    client_options: dict[str, Any] | None = None,
    server_options: dict[str, Any] | None = None,
    path: str = "/",
    scheme: str = "ws",
) -> AsyncIterator[tuple[ClientConnection, ServerConnection]]:
    """Yield a wskit client and the wskit server connection it is connected to.

    The server's handler waits until the connection is closed; leaving the
    block closes the client, then the server.
    """
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[ServerConnection] = loop.create_future()

    async def handler(ws: ServerConnection) -> None:
        accepted.set_result(ws)
        await ws.wait_closed()

    async with (
        serve(handler, HOST, 0, **(server_options or {})) as server,
        connect(
            f"{scheme}://{HOST}:{port_of(server)}{path}",
            open_timeout=WAIT,
            **(client_options or {}),
        ) as client,
    ):
        async with asyncio.timeout(WAIT):
            server_ws = await accepted
        yield client, server_ws


@contextlib.asynccontextmanager
async def ws_pair(
    side: str,
    options: dict[str, Any] | None = None,
    peer_options: dict[str, Any] | None = None,
) -> AsyncIterator[tuple[Connection, Connection]]:
    """Yield ``(ws, peer)``: the connection under test on ``side`` and its wskit peer."""
    if side == "client":
        async with connected(options, peer_options) as (client, server):
            yield client, server
    else:
        async with connected(peer_options, options) as (client, server):
            yield server, client


# Helpers: a peer driven by hand.


class RawPeer:
    """The other end of a WebSocket connection, doing only what the test says.

    Its Sans-I/O core parses incoming frames (so they are checked for masking
    and framing), but nothing the core would answer is written: no pong, no
    close frame, unless the test sends it with :meth:`send`.
    """

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, protocol: Protocol
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.protocol = protocol
        # Frames may have come right after the handshake.
        self.events: deque[Event] = deque(protocol.events_received())
        self.reading_stopped = False

    def send(self, frame: Frame) -> None:
        """Write a frame, built by hand: it may break any rule."""
        self.writer.write(frame.serialize(mask=isinstance(self.protocol, ClientProtocol)))

    def send_unchecked(
        self, opcode: int, data: bytes, *, fin: bool = True, rsv1: bool = False
    ) -> None:
        """Write a frame that :meth:`Frame.serialize` would refuse to build."""
        first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
        if isinstance(self.protocol, ClientProtocol):
            mask = os.urandom(4)
            masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(data))
            self.writer.write(bytes([first, 0x80 | len(data)]) + mask + masked)
        else:
            self.writer.write(bytes([first, len(data)]) + data)

    def stop_reading(self) -> None:
        """Read nothing from the socket until the next receive: TCP pushes back on the sender.

        Otherwise the stream reader goes on reading in the background, up to
        its limit, whenever the event loop gets to it.
        """
        cast(asyncio.Transport, self.writer.transport).pause_reading()
        self.reading_stopped = True

    async def _read(self) -> bool:
        if self.reading_stopped:
            cast(asyncio.Transport, self.writer.transport).resume_reading()
            self.reading_stopped = False
        data = await self.reader.read(2**16)
        if not data:
            self.protocol.receive_eof()
            return False
        self.protocol.receive_data(data)
        self.events.extend(self.protocol.events_received())
        return True

    async def receive_frame(self) -> Frame:
        """Return the next frame received.

        Raises:
            EOFError: The connection ended first.
        """
        async with asyncio.timeout(WAIT):
            while True:
                while self.events:
                    event = self.events.popleft()
                    if isinstance(event, Frame):
                        return event
                if not await self._read():
                    raise EOFError("connection closed")

    async def receive_frames(self, until: Callable[[Frame], bool]) -> list[Frame]:
        """Return frames received up to and including the first one matching ``until``."""
        frames = []
        while True:
            frame = await self.receive_frame()
            frames.append(frame)
            if until(frame):
                return frames

    async def receive_eof(self) -> list[Frame]:
        """Read until the connection ends; return the frames received meanwhile."""
        frames = []
        with contextlib.suppress(EOFError):
            while True:
                frames.append(await self.receive_frame())
        return frames

    def abort(self, reset: bool = True) -> None:
        """Drop the TCP connection at once: with a RST when ``reset``, else a FIN."""
        if reset and not self.writer.transport.is_closing():
            sock = self.writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


def close_frame(code: int, reason: str = "") -> Frame:
    return Frame(CLOSE, Close(code, reason).serialize())


def listening_socket(rcvbuf: int | None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        # Accepted sockets inherit the size of the receive buffer.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind((HOST, 0))
    return sock


@contextlib.asynccontextmanager
async def raw_server(
    rcvbuf: int | None = None, **options: Any
) -> AsyncIterator[tuple[ClientConnection, RawPeer]]:
    """Yield a wskit client connected to a :class:`RawPeer` server."""
    loop = asyncio.get_running_loop()
    peers: asyncio.Future[RawPeer] = loop.create_future()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        protocol = ServerProtocol(max_size=None)
        events: list[Event] = []
        while not events:
            data = await reader.read(2**16)
            if not data:
                writer.close()
                return
            protocol.receive_data(data)
            events = protocol.events_received()
        protocol.send_response(protocol.accept(cast(Request, events[0])))
        for data in protocol.data_to_send():
            writer.write(data)
        peers.set_result(RawPeer(reader, writer, protocol))

    listener = await asyncio.start_server(accept, sock=listening_socket(rcvbuf))
    async with listener:
        client = await connect(
            f"ws://{HOST}:{port_of(listener)}/", open_timeout=WAIT, compression=None, **options
        )
        try:
            async with asyncio.timeout(WAIT):
                peer = await peers
            try:
                yield client, peer
            finally:
                peer.abort()
        finally:
            client.transport.abort()
            async with asyncio.timeout(WAIT):
                await client.wait_closed()


@contextlib.asynccontextmanager
async def raw_client(
    rcvbuf: int | None = None, **options: Any
) -> AsyncIterator[tuple[ServerConnection, RawPeer]]:
    """Yield a wskit server connection whose client is a :class:`RawPeer`."""
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[ServerConnection] = loop.create_future()

    async def handler(ws: ServerConnection) -> None:
        accepted.set_result(ws)
        await ws.wait_closed()

    async with serve(handler, HOST, 0, compression=None, **options) as server:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, (HOST, port_of(server)))
        except BaseException:
            sock.close()
            raise
        reader, writer = await asyncio.open_connection(sock=sock)
        try:
            protocol = ClientProtocol(parse_uri(f"ws://{HOST}:{port_of(server)}/"), max_size=None)
            protocol.send_request(protocol.connect())
            for data in protocol.data_to_send():
                writer.write(data)
            async with asyncio.timeout(WAIT):
                while protocol.state is not OPEN:
                    data = await reader.read(2**16)
                    assert data, "server closed the connection during the handshake"
                    protocol.receive_data(data)
                response = protocol.events_received()
                assert isinstance(response[0], Response)
                ws = await accepted
            peer = RawPeer(reader, writer, protocol)
            peer.events.extend(response[1:])
            yield ws, peer
        finally:
            writer.transport.abort()


@contextlib.asynccontextmanager
async def raw_pair(
    side: str, rcvbuf: int | None = None, **options: Any
) -> AsyncIterator[tuple[Connection, RawPeer]]:
    """Yield ``(ws, peer)``: the connection under test on ``side`` and a raw peer."""
    if side == "client":
        async with raw_server(rcvbuf, **options) as (client, peer):
            yield client, peer
    else:
        async with raw_client(rcvbuf, **options) as (server, peer):
            yield server, peer


async def eventually(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait until ``predicate()`` is true, polling."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


async def wait_until_blocked(task: Awaitable[Any]) -> None:
    """Let ``task`` (a task or future) run until it waits for something, and check that it does."""
    await asyncio.sleep(0.02)
    assert not cast(asyncio.Future[Any], task).done()


async def blocked_chunks(
    first: Data, gate: asyncio.Event, *rest: Data, started: asyncio.Event | None = None
) -> AsyncIterator[Data]:
    """Yield ``first``, wait for ``gate``, then yield ``rest``: a fragmented message in progress."""
    yield first
    if started is not None:
        started.set()
    await gate.wait()
    for chunk in rest:
        yield chunk


def streaming(ws: Connection, decode: bool | None = None) -> AsyncGenerator[Data, None]:
    """Call recv_streaming(), for aclosing()."""
    return ws.recv_streaming(decode)


async def collect(
    ws: Connection,
    fragments: list[Data] | None = None,
    *,
    decode: bool | None = None,
    then: Callable[[], object] | None = None,
) -> list[Data]:
    """Read one message with recv_streaming(); call ``then`` after each fragment."""
    if fragments is None:
        fragments = []
    async for fragment in ws.recv_streaming(decode):
        fragments.append(fragment)
        if then is not None:
            then()
    return fragments


async def iterate(ws: Connection, messages: list[Data]) -> None:
    """Read messages with ``async for`` until the loop ends."""
    async for message in ws:
        messages.append(message)


# recv()


@pytest.mark.parametrize("side", SIDES)
async def test_recv_returns_text_as_str_and_binary_as_bytes(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        await peer.send("café")
        await peer.send(b"\x00\xff")
        await peer.send("")
        await peer.send(b"")
        for expected in ["café", b"\x00\xff", "", b""]:
            message = await ws.recv()
            assert message == expected
            assert type(message) is type(expected)


@watches_transport_calls
@pytest.mark.parametrize("side", SIDES)
async def test_recv_returns_within_the_callback_that_reads_the_message(side: str) -> None:
    # The reader resumes in buffer_updated(), not on the loop's next iteration.
    async with ws_pair(side) as (ws, peer):
        received: list[Data] = []

        async def reader() -> None:
            received.append(await ws.recv())

        task = asyncio.create_task(reader())
        await asyncio.sleep(0)
        seen_on_return: list[list[Data]] = []
        buffer_updated = ws.buffer_updated

        def recording_buffer_updated(nbytes: int) -> None:
            buffer_updated(nbytes)
            seen_on_return.append(list(received))

        ws.buffer_updated = recording_buffer_updated  # type: ignore[method-assign]
        await peer.send("hello")
        await task
        assert seen_on_return[0] == ["hello"]


@pytest.mark.parametrize("side", SIDES)
async def test_recv_decode_overrides_message_type(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        await peer.send("café")
        await peer.send("été".encode())
        text_as_bytes = await ws.recv(decode=False)
        assert text_as_bytes == "café".encode()
        assert type(text_as_bytes) is bytes
        binary_as_text = await ws.recv(decode=True)
        assert binary_as_text == "été"
        assert type(binary_as_text) is str
        # The conversion works on fragmented messages too.
        await peer.send(["ca", "fé"])
        await peer.send(["été".encode()[:1], "été".encode()[1:]])
        assert await ws.recv(decode=False) == "café".encode()
        assert await ws.recv(decode=True) == "été"


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("streaming", [False, True])
async def test_recv_decode_true_on_invalid_utf8_fails_with_1007(side: str, streaming: bool) -> None:
    async with ws_pair(side) as (ws, peer):
        await peer.send(b"\xff\xfe")
        with pytest.raises(ConnectionClosedError) as raised:
            await (collect(ws, decode=True) if streaming else ws.recv(decode=True))
        exc = raised.value
        assert exc.sent is not None
        assert exc.sent.code == CloseCode.INVALID_DATA
        assert "invalid start byte at position 0" in exc.sent.reason
        assert ws.state is State.CLOSED
        async with asyncio.timeout(WAIT):
            await peer.wait_closed()
        assert peer.close_code == CloseCode.INVALID_DATA


@pytest.mark.parametrize("side", SIDES)
async def test_messages_received_before_close_are_returned_first(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        await peer.send("one")
        await peer.send(b"two")
        await peer.send(["th", "ree"])
        await peer.close()
        async with asyncio.timeout(WAIT):
            await ws.wait_closed()
        assert ws.state is State.CLOSED
        assert await ws.recv() == "one"
        assert await ws.recv() == b"two"
        assert await ws.recv() == "three"
        with pytest.raises(ConnectionClosedOK):
            await ws.recv()
        with pytest.raises(ConnectionClosedOK):
            await ws.recv()  # again: the stream stays ended


@pytest.mark.parametrize("side", SIDES)
async def test_invalid_utf8_after_close_raises_connection_closed(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        await peer.send(b"\xff")
        await peer.close()
        async with asyncio.timeout(WAIT):
            await ws.wait_closed()
        # Too late to fail the connection: it ended normally.
        with pytest.raises(ConnectionClosedOK):
            await ws.recv(decode=True)


@pytest.mark.parametrize("side", SIDES)
async def test_message_incomplete_at_close_is_dropped(side: str) -> None:
    async with raw_pair(side) as (ws, peer):
        peer.send(Frame(TEXT, b"whole"))
        peer.send(Frame(TEXT, b"incomp", fin=False))
        peer.send(close_frame(CloseCode.NORMAL_CLOSURE))
        closing = await peer.receive_frame()
        assert closing.opcode is CLOSE
        assert Close.parse(closing.data).code == CloseCode.NORMAL_CLOSURE
        peer.abort(reset=False)
        async with asyncio.timeout(WAIT):
            await ws.wait_closed()
        assert await ws.recv() == "whole"
        with pytest.raises(ConnectionClosedOK):
            await ws.recv()


@pytest.mark.parametrize("side", SIDES)
async def test_recv_after_error_chains_the_cause(side: str) -> None:
    async with raw_pair(side) as (ws, peer):
        peer.abort(reset=True)
        with pytest.raises(ConnectionClosedError) as raised:
            await ws.recv()
        assert raised.value.rcvd is None  # 1006
        assert isinstance(raised.value.__cause__, ConnectionResetError)


# recv_streaming()


@pytest.mark.parametrize("side", SIDES)
async def test_recv_streaming_yields_fragments_as_they_arrive(side: str) -> None:
    async with raw_pair(side) as (ws, peer):
        peer.send(Frame(TEXT, b"caf", fin=False))
        async with contextlib.aclosing(streaming(ws)) as fragments:
            assert await anext(fragments) == "caf"
            # The rest isn't sent yet: the reader waits for it.
            pending = asyncio.ensure_future(anext(fragments))
            await wait_until_blocked(pending)
            peer.send(Frame(CONT, b"\xc3", fin=False))  # half a character
            assert await pending == ""
            peer.send(Frame(CONT, b"\xa9!", fin=True))
            assert await anext(fragments) == "é!"
            with pytest.raises(StopAsyncIteration):
                await anext(fragments)


@pytest.mark.parametrize("side", SIDES)
async def test_recv_streaming_decode(side: str) -> None:
    async with raw_pair(side) as (ws, peer):
        peer.send(Frame(TEXT, b"ab", fin=False))
        peer.send(Frame(CONT, b"c"))
        peer.send(Frame(BINARY, b"caf\xc3", fin=False))
        peer.send(Frame(CONT, b"\xa9"))
        peer.send(Frame(BINARY, b"\x00\x01"))
        assert await collect(ws, decode=False) == [b"ab", b"c"]
        assert await collect(ws, decode=True) == ["caf", "é"]
        fragments = await collect(ws)
        assert fragments == [b"\x00\x01"]
        assert type(fragments[0]) is bytes


@pytest.mark.parametrize("side", SIDES)
async def test_stopping_recv_streaming_early_drops_the_rest_of_the_message(side: str) -> None:
    async with raw_pair(side) as (ws, peer):
        peer.send(Frame(BINARY, b"first", fin=False))
        async with contextlib.aclosing(streaming(ws)) as fragments:
            async for fragment in fragments:
                assert fragment == b"first"
                break
        # The next recv() is allowed at once, and skips what remains of the
        # message, including fragments that arrive only now.
        receiving = asyncio.ensure_future(ws.recv())
        await wait_until_blocked(receiving)
        peer.send(Frame(CONT, b"second", fin=False))
        peer.send(Frame(CONT, b"third"))
        peer.send(Frame(TEXT, b"next"))
        async with asyncio.timeout(WAIT):
            assert await receiving == "next"


@pytest.mark.parametrize("side", SIDES)
async def test_stopping_recv_streaming_early_with_queued_fragments(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        await peer.send(["a", "b", "c"])
        await peer.send("next")
        async with contextlib.aclosing(streaming(ws)) as fragments:
            assert await anext(fragments) == "a"
        assert await ws.recv() == "next"


@pytest.mark.parametrize("side", SIDES)
async def test_recv_streaming_after_close(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        await peer.close(CloseCode.GOING_AWAY)
        async with asyncio.timeout(WAIT):
            await ws.wait_closed()
        with pytest.raises(ConnectionClosedOK):
            await collect(ws)


@pytest.mark.parametrize("side", SIDES)
async def test_recv_streaming_when_connection_fails_mid_message(side: str) -> None:
    async with raw_pair(side) as (ws, peer):
        peer.send(Frame(TEXT, b"a", fin=False))
        received: list[Data] = []
        with pytest.raises(ConnectionClosedError) as raised:
            await collect(ws, received, then=peer.abort)
        assert received == ["a"]
        assert raised.value.rcvd is None  # 1006


# async for message in websocket


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("code", [CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY])
async def test_iteration_ends_quietly_after_normal_closure(side: str, code: CloseCode) -> None:
    async with ws_pair(side) as (ws, peer):
        await peer.send("a")
        await peer.send(b"b")
        await peer.close(code)
        async with asyncio.timeout(WAIT):
            messages = [message async for message in ws]
        assert messages == ["a", b"b"]
        assert ws.close_code == code


async def test_iteration_ends_when_server_shuts_down() -> None:
    async with connected() as (client, server_ws):
        await server_ws.send("bye")
        server_ws.server.close()  # closes connections with 1001
        async with asyncio.timeout(WAIT):
            messages = [message async for message in client]
        assert messages == ["bye"]
        assert client.close_code == CloseCode.GOING_AWAY


@pytest.mark.parametrize("side", SIDES)
async def test_iteration_raises_after_error_closure(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        await peer.send("a")
        await peer.close(CloseCode.INTERNAL_ERROR, "oops")
        messages: list[Data] = []
        with pytest.raises(ConnectionClosedError) as raised:
            await iterate(ws, messages)
        assert messages == ["a"]
        assert raised.value.rcvd is not None
        assert raised.value.rcvd.code == CloseCode.INTERNAL_ERROR
        assert raised.value.rcvd.reason == "oops"


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("code", [CloseCode.NORMAL_CLOSURE, CloseCode.INTERNAL_ERROR])
async def test_iteration_ends_without_recv_once_the_stream_ended(
    side: str, code: CloseCode
) -> None:
    # Once the connection is closed and its messages read, the loop ends
    # with how it closed, without recv() raising and catching on the way.
    async with ws_pair(side) as (ws, peer):
        await peer.send("a")
        await peer.close(code)
        await ws.wait_closed()
        calls: list[bool | None] = []
        original = ws.recv

        async def recv(decode: bool | None = None) -> Data:
            calls.append(decode)
            return await original(decode)

        ws.recv = recv  # type: ignore[method-assign,assignment]
        messages: list[Data] = []
        if code == CloseCode.NORMAL_CLOSURE:
            await iterate(ws, messages)
        else:
            with pytest.raises(ConnectionClosedError) as raised:
                await iterate(ws, messages)
            assert raised.value.rcvd is not None
            assert raised.value.rcvd.code == code
        assert messages == ["a"]
        assert calls == []


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("code", [CloseCode.NORMAL_CLOSURE, CloseCode.INTERNAL_ERROR])
async def test_iteration_that_raised_is_over(side: str, code: CloseCode) -> None:
    # As with websockets' async generator: once a step has ended the loop or
    # raised, the same iterator's next steps end the loop; a new one raises again.
    async with ws_pair(side) as (ws, peer):
        await peer.close(code)
        messages = aiter(ws)
        async with asyncio.timeout(WAIT):
            if code == CloseCode.NORMAL_CLOSURE:
                with pytest.raises(StopAsyncIteration):
                    await anext(messages)
            else:
                with pytest.raises(ConnectionClosedError):
                    await anext(messages)
                with pytest.raises(ConnectionClosedError):
                    await anext(aiter(ws))
            with pytest.raises(StopAsyncIteration):
                await anext(messages)


# Concurrent readers.


@pytest.mark.parametrize("side", SIDES)
async def test_concurrent_recv_raises_concurrency_error(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        first = asyncio.create_task(ws.recv())
        await wait_until_blocked(first)
        with pytest.raises(ConcurrencyError, match=r"cannot call recv\(\) while another"):
            await ws.recv()
        with pytest.raises(ConcurrencyError, match=r"cannot call recv_streaming\(\) while another"):
            await anext(ws.recv_streaming())
        # The first reader isn't disturbed and no message is lost.
        await peer.send("x")
        async with asyncio.timeout(WAIT):
            assert await first == "x"
        await peer.send("y")
        assert await ws.recv() == "y"


@pytest.mark.parametrize("side", SIDES)
async def test_recv_during_recv_streaming_raises_concurrency_error(side: str) -> None:
    async with raw_pair(side) as (ws, peer):
        peer.send(Frame(TEXT, b"a", fin=False))
        async with contextlib.aclosing(streaming(ws)) as fragments:
            assert await anext(fragments) == "a"
            with pytest.raises(ConcurrencyError, match=r"recv\(\)"):
                await ws.recv()
            with pytest.raises(ConcurrencyError, match=r"recv_streaming\(\)"):
                await anext(ws.recv_streaming())
            peer.send(Frame(CONT, b"b"))
            assert await anext(fragments) == "b"


@pytest.mark.parametrize("side", SIDES)
async def test_cancelled_recv_loses_no_message(side: str) -> None:
    async with raw_pair(side) as (ws, peer):
        peer.send(Frame(TEXT, b"hel", fin=False))
        receiving = asyncio.create_task(ws.recv())
        await wait_until_blocked(receiving)
        receiving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await receiving
        peer.send(Frame(CONT, b"lo"))
        async with asyncio.timeout(WAIT):
            assert await ws.recv() == "hello"


# send()


@pytest.mark.parametrize("side", SIDES)
async def test_send_str_and_bytes_like(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        await ws.send("café")
        await ws.send(b"\x00\xff")
        await ws.send(bytearray(b"array"))
        await ws.send(memoryview(b"view"))
        await ws.send(memoryview(b"-sliced-")[1:-1])
        for expected in ["café", b"\x00\xff", b"array", b"view", b"sliced"]:
            message = await peer.recv()
            assert message == expected
            assert type(message) is type(expected)


@pytest.mark.parametrize("side", SIDES)
async def test_send_text_overrides_message_type(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        await ws.send("café".encode(), text=True)
        await ws.send("été", text=False)
        await ws.send(memoryview(b"view"), text=True)
        await ws.send([b"ca", b"fe"], text=True)
        await ws.send(["a", "b"], text=False)
        await ws.send("still text", text=None)
        assert await peer.recv() == "café"
        assert await peer.recv() == "été".encode()
        assert await peer.recv() == "view"
        assert await peer.recv() == "cafe"
        assert await peer.recv() == b"ab"
        assert await peer.recv() == "still text"


async def aiter_of(*items: Data) -> AsyncIterator[Data]:
    for item in items:
        await asyncio.sleep(0)
        yield item


def data_frames(frames: list[Frame]) -> list[Frame]:
    return [frame for frame in frames if frame.opcode in (TEXT, BINARY, CONT)]


def check_one_fragmented_message(frames: list[Frame], opcode: int, chunks: list[bytes]) -> None:
    """Check that ``frames`` are one message of type ``opcode``, one frame per chunk at least."""
    assert frames[0].opcode == opcode
    assert all(frame.opcode is CONT for frame in frames[1:])
    assert [frame.fin for frame in frames] == [False] * (len(frames) - 1) + [True]
    # Each chunk went out in a frame of its own, in order.
    assert [bytes(frame.data) for frame in frames if frame.data] == chunks


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize(
    ("make_message", "opcode"),
    [
        (lambda: ["ab", "cd", "é"], TEXT),
        (lambda: (chunk for chunk in [b"ab", bytearray(b"cd"), memoryview("é".encode())]), BINARY),
        (lambda: aiter_of("ab", "cd", "é"), TEXT),
        (lambda: aiter_of(b"ab", b"cd", "é".encode()), BINARY),
    ],
    ids=["list of str", "generator of bytes-like", "async iterable of str", "async of bytes"],
)
async def test_send_iterable_sends_one_fragmented_message(
    side: str, make_message: Callable[[], Any], opcode: int
) -> None:
    async with raw_pair(side) as (ws, peer):
        await ws.send(make_message())
        await ws.send("after")
        frames = data_frames(await peer.receive_frames(until=lambda f: f.data == b"after"))
        assert frames[-1] == Frame(TEXT, b"after")
        check_one_fragmented_message(frames[:-1], opcode, [b"ab", b"cd", "é".encode()])


@pytest.mark.parametrize("side", SIDES)
async def test_send_fragmented_message_to_wskit_peer(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        await ws.send(["ca", "fé"])
        await ws.send(aiter_of(b"\x00", b"\x01"))
        await ws.send(iter(["single"]))
        assert await peer.recv() == "café"
        assert await peer.recv() == b"\x00\x01"
        assert await peer.recv() == "single"


@pytest.mark.parametrize("side", SIDES)
async def test_send_empty_iterable_sends_nothing(side: str) -> None:
    async with raw_pair(side) as (ws, peer):
        await ws.send([])
        await ws.send(iter(()))
        await ws.send(aiter_of())
        await ws.send("after")
        assert data_frames([await peer.receive_frame()]) == [Frame(TEXT, b"after")]
        assert ws.state is OPEN


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize(
    "make_message",
    [lambda: ["a", b"b"], lambda: [b"a", "b"], lambda: aiter_of("a", "b", b"c"), lambda: ["a", 1]],
    ids=["str then bytes", "bytes then str", "async mixed", "str then int"],
)
async def test_send_mixed_fragments_fails_with_1011(
    side: str, make_message: Callable[[], Any]
) -> None:
    async with ws_pair(side) as (ws, peer):
        with pytest.raises(TypeError):
            await ws.send(make_message())
        async with asyncio.timeout(WAIT):
            await peer.wait_closed()
        assert peer.close_code == CloseCode.INTERNAL_ERROR
        assert peer.close_reason == "error in fragmented message"
        with pytest.raises(ConnectionClosedError):
            await ws.send("after")


@pytest.mark.parametrize("side", SIDES)
async def test_send_exception_from_iterable_fails_with_1011(side: str) -> None:
    async def failing() -> AsyncIterator[str]:
        yield "a"
        raise RuntimeError("boom")

    async with ws_pair(side) as (ws, peer):
        with pytest.raises(RuntimeError, match="boom"):
            await ws.send(failing())
        async with asyncio.timeout(WAIT):
            await peer.wait_closed()
        assert peer.close_code == CloseCode.INTERNAL_ERROR


@pytest.mark.parametrize("side", SIDES)
async def test_cancelled_fragmented_send_fails_with_1011(side: str) -> None:
    gate = asyncio.Event()
    async with ws_pair(side) as (ws, peer):
        sending = asyncio.create_task(ws.send(blocked_chunks("a", gate, "b")))
        await wait_until_blocked(sending)
        sending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sending
        # Half a message is out and the rest never will be: the connection ends.
        async with asyncio.timeout(WAIT):
            await peer.wait_closed()
        assert peer.close_code == CloseCode.INTERNAL_ERROR
        with pytest.raises(ConnectionClosedError):
            await ws.send("after")


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize(
    ("make_message", "error"),
    [
        (lambda: {"a": "b"}, "mapping"),
        (dict, "mapping"),
        (lambda: 42, "not int"),
        (lambda: None, "not NoneType"),
        (lambda: 3.5, "not float"),
        # Nothing went out: the connection stays open.
        (lambda: [1], "not int"),
        (lambda: aiter_of(cast(Data, object())), "not object"),
    ],
    ids=["dict", "empty dict", "int", "None", "float", "list of int", "async of object"],
)
async def test_send_unsupported_type_raises_type_error(
    side: str, make_message: Callable[[], Any], error: str
) -> None:
    async with ws_pair(side) as (ws, peer):
        with pytest.raises(TypeError, match=error):
            await ws.send(make_message())
        assert ws.state is OPEN
        await ws.send("still open")
        assert await peer.recv() == "still open"


@pytest.mark.parametrize("side", SIDES)
async def test_send_waits_for_fragmented_send_to_finish(side: str) -> None:
    gate = asyncio.Event()
    async with ws_pair(side) as (ws, peer):
        fragmented = asyncio.create_task(ws.send(blocked_chunks("frag", gate, "mented")))
        await wait_until_blocked(fragmented)
        single = asyncio.create_task(ws.send("single"))
        other_fragmented = asyncio.create_task(ws.send(["other ", "one"]))
        await wait_until_blocked(single)
        await wait_until_blocked(other_fragmented)
        # Control frames aren't held up by the fragmented message.
        pong_waiter = await ws.ping()
        async with asyncio.timeout(WAIT):
            await pong_waiter
        gate.set()
        async with asyncio.timeout(WAIT):
            await asyncio.gather(fragmented, single, other_fragmented)
            received = {await peer.recv() for _ in range(3)}
        # Whatever the order of the waiters, no message is interleaved with another.
        assert received == {"fragmented", "single", "other one"}


@pytest.mark.parametrize("side", SIDES)
async def test_send_waits_for_fragmented_send_in_order_on_the_wire(side: str) -> None:
    gate = asyncio.Event()
    async with raw_pair(side) as (ws, peer):
        fragmented = asyncio.create_task(ws.send(blocked_chunks(b"a", gate, b"b")))
        await wait_until_blocked(fragmented)
        single = asyncio.create_task(ws.send(b"single"))
        await wait_until_blocked(single)
        gate.set()
        async with asyncio.timeout(WAIT):
            await asyncio.gather(fragmented, single)
        frames = data_frames(await peer.receive_frames(until=lambda f: f.data == b"single"))
        check_one_fragmented_message(frames[:-1], BINARY, [b"a", b"b"])
        assert frames[-1] == Frame(BINARY, b"single")


@pytest.mark.parametrize("side", SIDES)
async def test_send_waiting_for_fragmented_send_raises_when_connection_closes(side: str) -> None:
    gate = asyncio.Event()
    async with ws_pair(side) as (ws, peer):
        fragmented = asyncio.create_task(ws.send(blocked_chunks("a", gate, "b")))
        await wait_until_blocked(fragmented)
        single = asyncio.create_task(ws.send("single"))
        await wait_until_blocked(single)
        await peer.close()
        async with asyncio.timeout(WAIT):
            await ws.wait_closed()
        gate.set()
        async with asyncio.timeout(WAIT):
            results = await asyncio.gather(fragmented, single, return_exceptions=True)
        # Each sender learns that the connection is closed (normally, here),
        # not some internal state error.
        assert [type(result) for result in results] == [ConnectionClosedOK, ConnectionClosedOK]


@pytest.mark.parametrize("side", SIDES)
async def test_send_after_close_raises_connection_closed_ok(side: str) -> None:
    async with ws_pair(side) as (ws, _):
        await ws.close()
        with pytest.raises(ConnectionClosedOK):
            await ws.send("late")
        with pytest.raises(ConnectionClosedOK):
            await ws.send(["la", "te"])
        with pytest.raises(ConnectionClosedOK):
            await ws.send(aiter_of(b"la", b"te"))
        with pytest.raises(ConnectionClosedOK):
            await ws.ping()
        with pytest.raises(ConnectionClosedOK):
            await ws.pong()


@pytest.mark.parametrize("side", SIDES)
async def test_send_while_closing_waits_for_the_end_then_raises(side: str) -> None:
    async with raw_pair(side, close_timeout=0.2) as (ws, peer):
        closing = asyncio.create_task(ws.close())
        close = await peer.receive_frame()
        assert close.opcode is CLOSE
        assert ws.state is State.CLOSING
        sending = asyncio.create_task(ws.send("late"))
        await wait_until_blocked(sending)
        peer.send(close_frame(CloseCode.NORMAL_CLOSURE))
        peer.abort(reset=False)
        async with asyncio.timeout(WAIT):
            await closing
            with pytest.raises(ConnectionClosedOK):
                await sending


# ping() and pong()


@pytest.mark.parametrize("side", SIDES)
async def test_ping_resolves_to_latency(side: str) -> None:
    async with ws_pair(side) as (ws, _):
        assert ws.latency == 0
        pong_waiter = await ws.ping()
        async with asyncio.timeout(WAIT):
            latency = await pong_waiter
        assert isinstance(latency, float)
        assert 0 < latency < WAIT
        assert ws.latency == latency


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize(
    ("data", "payload"),
    [("héllo", "héllo".encode()), (b"\x00\x01", b"\x00\x01"), (bytearray(b"ba"), b"ba")],
)
async def test_ping_with_explicit_data(side: str, data: Data, payload: bytes) -> None:
    async with raw_pair(side) as (ws, peer):
        pong_waiter = await ws.ping(data)
        ping = await peer.receive_frame()
        assert ping == Frame(PING, payload)
        peer.send(Frame(PONG, b"unrelated"))  # answers no ping
        await wait_until_blocked(pong_waiter)
        peer.send(Frame(PONG, payload))
        async with asyncio.timeout(WAIT):
            assert await pong_waiter == ws.latency
        assert ws.latency > 0


@pytest.mark.parametrize("side", SIDES)
async def test_ping_without_data_sends_random_payload(side: str) -> None:
    async with raw_pair(side) as (ws, peer):
        await ws.ping()
        await ws.ping()
        first, second = await peer.receive_frame(), await peer.receive_frame()
        assert first.opcode is PING
        assert second.opcode is PING
        assert len(first.data) == 4
        assert first.data != second.data


@pytest.mark.parametrize("side", SIDES)
async def test_ping_with_pending_data_raises_concurrency_error(side: str) -> None:
    async with raw_pair(side) as (ws, peer):
        pong_waiter = await ws.ping(b"same")
        with pytest.raises(ConcurrencyError):
            await ws.ping(b"same")
        with pytest.raises(ConcurrencyError):
            await ws.ping("same")
        assert await peer.receive_frame() == Frame(PING, b"same")
        peer.send(Frame(PONG, b"same"))
        async with asyncio.timeout(WAIT):
            await pong_waiter
        # Answered: the payload may be used again.
        await ws.ping(b"same")
        assert await peer.receive_frame() == Frame(PING, b"same")


@pytest.mark.parametrize("side", SIDES)
async def test_pong_acknowledges_earlier_pings(side: str) -> None:
    async with raw_pair(side) as (ws, peer):
        first = await ws.ping(b"1")
        await asyncio.sleep(0.01)
        second = await ws.ping(b"2")
        third = await ws.ping(b"3")
        for _ in range(3):
            await peer.receive_frame()
        peer.send(Frame(PONG, b"2"))
        async with asyncio.timeout(WAIT):
            first_latency = await first
            second_latency = await second
        assert first_latency > second_latency
        assert ws.latency == second_latency
        await wait_until_blocked(third)
        peer.send(Frame(PONG, b"3"))
        async with asyncio.timeout(WAIT):
            assert await third == ws.latency


@pytest.mark.parametrize("side", SIDES)
async def test_pending_pings_raise_connection_closed(side: str) -> None:
    async with raw_pair(side) as (ws, peer):
        pong_waiter = await ws.ping()
        peer.abort()
        async with asyncio.timeout(WAIT):
            with pytest.raises(ConnectionClosedError):
                await pong_waiter


@pytest.mark.parametrize("side", SIDES)
async def test_pending_pings_nobody_awaits_are_not_reported(
    side: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with raw_pair(side) as (ws, peer):
        await ws.ping()
        cancelled = await ws.ping()
        cast(asyncio.Future[float], cancelled).cancel()
        peer.abort()
        async with asyncio.timeout(WAIT):
            await ws.wait_closed()
    gc.collect()
    await asyncio.sleep(0)
    assert not [record for record in caplog.records if "never retrieved" in record.getMessage()]


@pytest.mark.parametrize("side", SIDES)
async def test_pong_answering_a_cancelled_ping_is_ignored(side: str) -> None:
    async with raw_pair(side) as (ws, peer):
        pong_waiter = await ws.ping(b"x")
        cast(asyncio.Future[float], pong_waiter).cancel()
        peer.send(Frame(PONG, b"x"))
        # The connection goes on: the cancelled waiter is simply forgotten.
        peer.send(Frame(TEXT, b"after"))
        async with asyncio.timeout(WAIT):
            assert await ws.recv() == "after"
        await ws.ping(b"x")


@pytest.mark.parametrize("side", SIDES)
async def test_pong_sends_unsolicited_pong(side: str) -> None:
    async with raw_pair(side) as (ws, peer):
        await ws.pong(b"beat")
        await ws.pong("héart")
        await ws.pong()
        assert await peer.receive_frame() == Frame(PONG, b"beat")
        assert await peer.receive_frame() == Frame(PONG, "héart".encode())
        assert await peer.receive_frame() == Frame(PONG, b"")


@pytest.mark.parametrize("side", SIDES)
async def test_pong_reaches_wskit_peer_harmlessly(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        await ws.pong(b"beat")
        await ws.send("after")
        assert await peer.recv() == "after"
        assert peer.state is OPEN


# Keepalive.


@pytest.mark.parametrize("side", SIDES)
async def test_keepalive_fails_connection_when_peer_never_answers(side: str) -> None:
    start = time.monotonic()
    async with raw_pair(side, ping_interval=0.05, ping_timeout=0.1, close_timeout=0.2) as (
        ws,
        peer,
    ):
        frames = await peer.receive_eof()
        assert [frame.opcode for frame in frames] == [PING, CLOSE]
        assert Close.parse(frames[1].data) == Close(
            CloseCode.INTERNAL_ERROR, "keepalive ping timeout"
        )
        async with asyncio.timeout(WAIT):
            await ws.wait_closed()
        elapsed = time.monotonic() - start
        # interval + timeout + (for a client) close_timeout, not the default
        # close_timeout (10 s); a busy machine may take seconds to get there.
        assert 0.15 <= elapsed < WAIT
        with pytest.raises(ConnectionClosedError) as raised:
            await ws.recv()
        assert raised.value.sent == Close(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")


@pytest.mark.parametrize("side", SIDES)
async def test_keepalive_without_ping_timeout_never_fails(side: str) -> None:
    async with raw_pair(side, ping_interval=0.02, ping_timeout=None) as (ws, peer):
        for _ in range(4):
            assert (await peer.receive_frame()).opcode is PING
        assert ws.state is OPEN
        assert ws.latency == 0


@pytest.mark.parametrize("side", SIDES)
async def test_keepalive_timeout_while_closing_does_not_fail_the_connection(
    side: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with raw_pair(side, ping_interval=0.05, ping_timeout=0.1, close_timeout=WAIT) as (
        ws,
        peer,
    ):
        assert (await peer.receive_frame()).opcode is PING
        # The closing handshake starts while the ping waits for its pong...
        closing = asyncio.create_task(ws.close())
        close = await peer.receive_frame()
        assert Close.parse(close.data) == Close(CloseCode.NORMAL_CLOSURE, "")
        # ... and the ping times out before the peer answers the close frame:
        # keepalive ends then, without failing the connection.
        await eventually(cast(asyncio.Task[None], ws.keepalive_task).done)
        assert ws.state is State.CLOSING
        peer.send(close)
        peer.abort(reset=False)
        async with asyncio.timeout(WAIT):
            await closing
        # The answer was read, not discarded as after a failure: a clean close.
        assert ws.close_code == CloseCode.NORMAL_CLOSURE
        with pytest.raises(ConnectionClosedOK):
            await ws.recv()
    assert "keepalive ping timeout" not in caplog.text


async def test_keepalive_keeps_a_healthy_connection_open() -> None:
    # A ping timeout that a loop stalled on a busy machine can't outlast: the
    # keepalive must wait for each pong before the next ping, so several pongs
    # within the test's time show that pongs end the waits.
    options = {"ping_interval": 0.05, "ping_timeout": WAIT}
    async with connected(options, options) as (client, server_ws):
        client_pongs, server_pongs = count_pongs(client.pings), count_pongs(server_ws.pings)
        await eventually(lambda: client_pongs[0] >= 3 and server_pongs[0] >= 3)
        assert client.state is OPEN
        assert server_ws.state is OPEN
        assert client.latency > 0
        assert server_ws.latency > 0
        await client.send("still there")
        assert await server_ws.recv() == "still there"


async def test_keepalive_disabled() -> None:
    async with connected({"ping_interval": None}, {"ping_interval": None}) as (client, server):
        assert client.keepalive_task is None
        assert server.keepalive_task is None


async def test_keepalive_task_starts_with_the_first_ping() -> None:
    # Until a ping is due, a timer waits, not a task: short connections never
    # start one.
    async with connected({"ping_interval": WAIT}, {"ping_interval": 0.05}) as (client, server):
        assert client.keepalive_task is None
        client_timer = client.keepalive_timer
        assert client_timer is not None
        # The server's first ping is due: its task starts and pings.
        await eventually(lambda: server.latency > 0)
        assert server.keepalive_task is not None
        assert server.keepalive_timer is None
    # Closing cancels the timer of a connection that never pinged.
    assert client_timer.cancelled()
    assert client.keepalive_task is None


async def test_keepalive_stops_when_connection_closes() -> None:
    options = {"ping_interval": 0.05, "ping_timeout": 1}
    async with connected(options, options) as (client, server):
        await asyncio.sleep(0.1)
        await client.close()
        client_keepalive = cast(asyncio.Task[None], client.keepalive_task)
        server_keepalive = cast(asyncio.Task[None], server.keepalive_task)
        async with asyncio.timeout(WAIT):
            await asyncio.wait([client_keepalive, server_keepalive])


async def test_keepalive_tolerates_pong_stuck_behind_unread_messages() -> None:
    # The client reads nothing, so its reading pauses, and the server's pongs
    # sit behind the messages it doesn't read: that isn't the server's fault.
    client_options = {
        "ping_interval": 0.05,
        "ping_timeout": 0.1,
        "max_queue": 1,
        "compression": None,
    }
    async with connected(client_options, {"compression": None}) as (client, server_ws):
        shrink_buffers(client, server_ws)
        payloads = [bytes([index]) * 2**14 for index in range(64)]
        sending = asyncio.create_task(send_all(server_ws, payloads))
        await eventually(lambda: client.recv_messages.queue.paused)
        await asyncio.sleep(0.4)  # several ping timeouts
        assert client.state is OPEN
        # Reading it all back takes as long as the machine makes it, while
        # the pongs are still behind messages: keepalive has had its say.
        keepalive = cast(asyncio.Task[None], client.keepalive_task)
        keepalive.cancel()
        async with asyncio.timeout(WAIT):
            for payload in payloads:
                assert await client.recv() == payload
            await sending
        assert client.state is OPEN


# close()


@pytest.mark.parametrize("side", SIDES)
async def test_close_performs_closing_handshake(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        assert ws.close_code is None
        assert ws.close_reason is None
        await ws.close()
        assert ws.state is State.CLOSED
        assert ws.close_code == CloseCode.NORMAL_CLOSURE
        assert ws.close_reason == ""
        async with asyncio.timeout(WAIT):
            await peer.wait_closed()
        assert peer.close_code == CloseCode.NORMAL_CLOSURE
        assert peer.close_reason == ""

        with pytest.raises(ConnectionClosedOK) as raised:
            await ws.recv()
        normal = Close(CloseCode.NORMAL_CLOSURE, "")
        assert raised.value.sent == normal
        assert raised.value.rcvd == normal
        assert raised.value.rcvd_then_sent is False
        assert str(raised.value) == "sent 1000 (OK); then received 1000 (OK)"

        with pytest.raises(ConnectionClosedOK) as raised:
            await peer.recv()
        assert raised.value.sent == normal
        assert raised.value.rcvd == normal
        assert raised.value.rcvd_then_sent is True


@pytest.mark.parametrize("side", SIDES)
async def test_close_with_custom_code_and_reason(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        await ws.close(4000, "bye now")
        async with asyncio.timeout(WAIT):
            await peer.wait_closed()
        assert peer.close_code == 4000
        assert peer.close_reason == "bye now"
        # The peer echoes the code and the reason, as websockets does.
        assert ws.close_code == 4000
        assert ws.close_reason == "bye now"
        # 4000 isn't a normal closure.
        with pytest.raises(ConnectionClosedError) as raised:
            await ws.recv()
        assert raised.value.sent == Close(4000, "bye now")
        with pytest.raises(ConnectionClosedError):
            await peer.recv()


@pytest.mark.parametrize("side", SIDES)
async def test_close_going_away_is_a_normal_closure(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        await ws.close(CloseCode.GOING_AWAY, "restarting")
        async with asyncio.timeout(WAIT):
            await peer.wait_closed()
        assert peer.close_code == CloseCode.GOING_AWAY
        assert peer.close_reason == "restarting"
        with pytest.raises(ConnectionClosedOK):
            await peer.recv()


@pytest.mark.parametrize("side", SIDES)
async def test_close_is_idempotent(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        async with asyncio.timeout(WAIT):
            await asyncio.gather(ws.close(), ws.close(4001), ws.close())
        assert ws.close_code == CloseCode.NORMAL_CLOSURE
        async with asyncio.timeout(WAIT):
            await ws.close(4002, "ignored")
            await peer.wait_closed()
        assert ws.close_code == CloseCode.NORMAL_CLOSURE
        assert peer.close_code == CloseCode.NORMAL_CLOSURE
        assert peer.close_reason == ""


@pytest.mark.parametrize("side", SIDES)
async def test_close_by_both_sides_at_once(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        async with asyncio.timeout(WAIT):
            await asyncio.gather(ws.close(4001), peer.close(4002))
        assert ws.close_code == 4002
        assert peer.close_code == 4001


@pytest.mark.parametrize("side", SIDES)
async def test_close_during_fragmented_send_fails_with_1011(side: str) -> None:
    gate = asyncio.Event()
    async with ws_pair(side) as (ws, peer):
        sending = asyncio.create_task(ws.send(blocked_chunks("a", gate, "b")))
        await wait_until_blocked(sending)
        async with asyncio.timeout(WAIT):
            await ws.close()
            await peer.wait_closed()
        assert peer.close_code == CloseCode.INTERNAL_ERROR
        assert peer.close_reason == "close during fragmented message"
        gate.set()
        with pytest.raises(ConnectionClosedError):
            await sending


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("rest", [("b",), ()], ids=["more chunks", "no more chunks"])
async def test_peer_closing_during_fragmented_send(side: str, rest: tuple[str, ...]) -> None:
    gate = asyncio.Event()
    async with ws_pair(side) as (ws, peer):
        sending = asyncio.create_task(ws.send(blocked_chunks("a", gate, *rest)))
        await wait_until_blocked(sending)
        async with asyncio.timeout(WAIT):
            await peer.close()
            await ws.wait_closed()
        assert ws.close_code == CloseCode.NORMAL_CLOSURE
        gate.set()
        with pytest.raises(ConnectionClosedOK):
            await sending


@pytest.mark.parametrize("side", SIDES)
async def test_iterable_failing_after_close_raises_its_exception(side: str) -> None:
    gate = asyncio.Event()

    async def failing() -> AsyncIterator[str]:
        yield "a"
        await gate.wait()
        raise RuntimeError("boom")

    async with ws_pair(side) as (ws, peer):
        sending = asyncio.create_task(ws.send(failing()))
        await wait_until_blocked(sending)
        async with asyncio.timeout(WAIT):
            await peer.close(4000)
            await ws.wait_closed()
        gate.set()
        with pytest.raises(RuntimeError, match="boom"):
            await sending
        # The connection was closed by then: its close code stands.
        assert ws.close_code == 4000


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("reset", [True, False], ids=["RST", "FIN"])
async def test_peer_vanishing_closes_with_1006(side: str, reset: bool) -> None:
    async with raw_pair(side) as (ws, peer):
        receiving = asyncio.create_task(ws.recv())
        await wait_until_blocked(receiving)
        peer.abort(reset=reset)
        with pytest.raises(ConnectionClosedError) as raised:
            async with asyncio.timeout(WAIT):
                await receiving
        assert raised.value.rcvd is None  # 1006
        assert raised.value.rcvd is None
        assert raised.value.sent is None
        assert ws.state is State.CLOSED
        assert ws.close_code == CloseCode.ABNORMAL_CLOSURE
        assert ws.close_reason == ""
        await ws.close()  # nothing left to do


@pytest.mark.parametrize("side", SIDES)
async def test_protocol_error_fails_with_1002(side: str) -> None:
    async with raw_pair(side, close_timeout=WAIT) as (ws, peer):
        peer.send_unchecked(TEXT, b"x", rsv1=True)  # no extension gives RSV1 a meaning
        close = await peer.receive_frame()
        assert close.opcode is CLOSE
        assert Close.parse(close.data).code == CloseCode.PROTOCOL_ERROR
        peer.abort(reset=False)
        with pytest.raises(ConnectionClosedError) as raised:
            async with asyncio.timeout(WAIT):
                await ws.recv()
        assert raised.value.sent is not None
        assert raised.value.sent.code == CloseCode.PROTOCOL_ERROR
        assert isinstance(raised.value.__cause__, ProtocolError)


def send_message_then_protocol_error(peer: RawPeer, *, fin: bool = True) -> None:
    """Write a message (or its first fragment), a frame with RSV1 set (no
    extension gives it a meaning), and a ping, all in one chunk (Autobahn 3.2)."""
    mask = isinstance(peer.protocol, ClientProtocol)
    peer.writer.write(
        Frame(TEXT, b"Hello", fin=fin).serialize(mask=mask)
        + Frame(BINARY, b"bad", rsv1=True).serialize(mask=mask)
        + Frame(PING, b"never answered").serialize(mask=mask)
    )


async def expect_failure_after(peer: RawPeer, *frames: Frame) -> None:
    """The peer receives ``frames``, then a 1002 close frame, and nothing else."""
    received = await peer.receive_frames(until=lambda frame: frame.opcode is CLOSE)
    assert received[:-1] == list(frames)
    assert Close.parse(received[-1].data).code == CloseCode.PROTOCOL_ERROR
    peer.abort(reset=False)


@pytest.mark.parametrize("side", SIDES)
async def test_message_before_a_protocol_error_can_be_answered(side: str) -> None:
    """Autobahn 3.2-3.4, 4.1.3, 4.1.4, 4.2.3, 4.2.4, 5.15: the connection fails
    once the application has read (and answered) what came before the error."""
    async with raw_pair(side, close_timeout=WAIT) as (ws, peer):
        send_message_then_protocol_error(peer)
        async with asyncio.timeout(WAIT):
            message = await ws.recv()
        assert message == "Hello"
        await ws.send(message)
        with pytest.raises(ConnectionClosedError) as raised:
            async with asyncio.timeout(WAIT):
                await asyncio.gather(ws.recv(), expect_failure_after(peer, Frame(TEXT, b"Hello")))
        assert raised.value.sent == Close(CloseCode.PROTOCOL_ERROR, "reserved bits must be 0")
        assert isinstance(raised.value.__cause__, ProtocolError)


@pytest.mark.parametrize("side", SIDES)
async def test_data_after_a_held_failure_does_not_release_it(side: str) -> None:
    async with raw_pair(side, close_timeout=WAIT) as (ws, peer):
        send_message_then_protocol_error(peer)
        async with asyncio.timeout(WAIT):
            message = await ws.recv()
        # The application works on its answer; more data comes meanwhile.
        peer.send(Frame(PING, b"later"))  # ignored, like everything after the error
        await asyncio.sleep(0.1)
        await ws.send(message)
        streaming = asyncio.create_task(collect(ws))
        await expect_failure_after(peer, Frame(TEXT, b"Hello"))
        with pytest.raises(ConnectionClosedError):
            async with asyncio.timeout(WAIT):
                await streaming


@pytest.mark.parametrize("side", SIDES)
async def test_message_of_an_earlier_read_before_a_protocol_error_can_be_answered(
    side: str,
) -> None:
    """The failure comes after every message received before it, unread ones
    of earlier reads too: the application reads and answers them first."""
    async with raw_pair(side, close_timeout=WAIT) as (ws, peer):
        peer.send(Frame(TEXT, b"Hello"))
        await eventually(ws.recv_messages.message_waiting)
        peer.send_unchecked(BINARY, b"bad", rsv1=True)
        await eventually(lambda: ws.protocol.held_failure is not None)
        async with asyncio.timeout(WAIT):
            message = await ws.recv()
        await ws.send(message)
        with pytest.raises(ConnectionClosedError):
            async with asyncio.timeout(WAIT):
                await asyncio.gather(ws.recv(), expect_failure_after(peer, Frame(TEXT, b"Hello")))


@pytest.mark.parametrize("side", SIDES)
async def test_held_failure_reached_after_the_connection_is_lost(side: str) -> None:
    # The end of the stream comes before the failure held back, which the
    # core drops at EOF: the assembler's fail() may be a no-op (let_go()).
    async with raw_pair(side, close_timeout=WAIT) as (ws, peer):
        send_message_then_protocol_error(peer)
        await eventually(lambda: ws.protocol.held_failure is not None)
        peer.abort(reset=False)
        async with asyncio.timeout(WAIT):
            await ws.wait_closed()
            assert await ws.recv() == "Hello"
            with pytest.raises(ConnectionClosedError) as raised:
                await ws.recv()
        assert raised.value.rcvd is None
        assert raised.value.sent is None
        assert ws.protocol.held_failure is None  # dropped at the end of the stream
        assert ws.protocol.data_to_send() == []


@pytest.mark.parametrize("side", SIDES)
async def test_close_with_a_held_failure_sends_the_error_code(side: str) -> None:
    async with raw_pair(side, close_timeout=WAIT) as (ws, peer):
        send_message_then_protocol_error(peer)
        await eventually(ws.recv_messages.message_waiting)
        closing = asyncio.create_task(ws.close())
        await expect_failure_after(peer)
        async with asyncio.timeout(WAIT):
            await closing
        assert ws.close_code == CloseCode.ABNORMAL_CLOSURE  # the peer didn't answer
        assert ws.protocol.close_sent == Close(CloseCode.PROTOCOL_ERROR, "reserved bits must be 0")


@pytest.mark.parametrize("side", SIDES)
async def test_protocol_error_within_a_message_being_read_fails_at_once(side: str) -> None:
    """Nothing received before the error can be read whole: no reason to wait."""
    async with raw_pair(side, close_timeout=WAIT) as (ws, peer):
        receiving = asyncio.create_task(ws.recv())
        await wait_until_blocked(receiving)
        send_message_then_protocol_error(peer, fin=False)
        await expect_failure_after(peer)
        with pytest.raises(ConnectionClosedError):
            async with asyncio.timeout(WAIT):
                await receiving


@pytest.mark.parametrize("side", SIDES)
async def test_close_timeout_drops_an_unresponsive_peer(
    side: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with raw_pair(side, close_timeout=0.2) as (ws, peer):
        start = time.monotonic()
        async with asyncio.timeout(WAIT):
            await ws.close()
        elapsed = time.monotonic() - start
        assert 0.18 <= elapsed < 1.2
        assert ws.state is State.CLOSED
        assert ws.close_code == CloseCode.ABNORMAL_CLOSURE  # no close frame came back
        frames = await peer.receive_eof()
        assert [Close.parse(frame.data) for frame in frames] == [
            Close(CloseCode.NORMAL_CLOSURE, "")
        ]
    assert "timed out waiting for the peer to close the TCP connection" in caplog.text


@pytest.mark.parametrize("side", SIDES)
async def test_peer_eof_ends_the_connection_after_the_messages_before_it(side: str) -> None:
    # eof_received() writes the EOF that answers it and nothing more: what
    # came before it was handled and handed over when it was read.
    async with raw_pair(side) as (ws, peer):
        peer.send(Frame(TEXT, b"a"))
        peer.send(Frame(TEXT, b"b", fin=False))  # a message the EOF cuts short
        peer.writer.write_eof()
        async with asyncio.timeout(WAIT):
            assert await ws.recv() == "a"
            with pytest.raises(ConnectionClosedError) as raised:
                await ws.recv()
        assert raised.value.rcvd is None  # 1006: no close frame came
        assert ws.close_code == CloseCode.ABNORMAL_CLOSURE
        assert await peer.receive_eof() == []  # EOF back, and no frame


@pytest.mark.parametrize("after", [b"", b"x"])
async def test_server_closes_at_once_after_a_clean_closing_handshake(after: bytes) -> None:
    # The client sent its close frame and nothing after it: the server
    # closes without waiting for the client's EOF (Protocol.eof_closes),
    # which a half-close would wait for, up to close_timeout (held off here).
    async with raw_pair("server", close_timeout=WAIT * 10) as (ws, peer):
        peer.writer.write(close_frame(1000).serialize(mask=True) + after)
        if after:  # bytes after it: the client may send more; half-close
            await asyncio.sleep(0.1)
            assert ws.state is State.CLOSING
            assert ws.close_timer is not None
            peer.writer.write_eof()
        async with asyncio.timeout(WAIT):
            await ws.wait_closed()
        if not after:
            assert ws.close_timer is None  # it ended at once: no timer was due
        assert isinstance(ws.protocol.close_exc, ConnectionClosedOK)
        # The same close frame and FIN on the wire, not a reset.
        assert await peer.receive_eof() == [close_frame(1000)]


@watches_transport_calls
async def test_client_closes_after_the_servers_eof_without_half_closing() -> None:
    # The server closed first, as it does after a clean closing handshake:
    # close() sends the client's FIN as write_eof() then close() would.
    async with raw_pair("client") as (ws, peer):
        half_closes: list[None] = []
        ws.transport.write_eof = lambda: half_closes.append(None)  # type: ignore[method-assign]
        closing = asyncio.create_task(ws.close())
        assert await peer.receive_frame() == close_frame(1000)
        peer.send(close_frame(1000))
        peer.writer.write_eof()
        async with asyncio.timeout(WAIT):
            await closing
        assert half_closes == []
        assert isinstance(ws.protocol.close_exc, ConnectionClosedOK)
        # The client's FIN, not a reset.
        assert await peer.receive_eof() == []


@pytest.mark.parametrize("side", SIDES)
async def test_close_timeout_after_failing(side: str) -> None:
    async with raw_pair(side, close_timeout=0.2) as (ws, peer):
        start = time.monotonic()
        peer.send(Frame(TEXT, b"\xff"))  # invalid UTF-8: 1007
        async with asyncio.timeout(WAIT):
            await ws.wait_closed()
        assert time.monotonic() - start < 1.2
        frames = await peer.receive_eof()
        assert [Close.parse(frame.data).code for frame in frames] == [CloseCode.INVALID_DATA]


@pytest.mark.parametrize("side", SIDES)
async def test_close_without_close_timeout_waits_for_the_peer(side: str) -> None:
    async with raw_pair(side, close_timeout=None) as (ws, peer):
        closing = asyncio.create_task(ws.close())
        close = await peer.receive_frame()
        await asyncio.sleep(0.1)
        assert not closing.done()
        assert ws.close_timer is None
        peer.send(close)  # echo it
        peer.abort(reset=False)
        async with asyncio.timeout(WAIT):
            await closing
        assert ws.close_code == CloseCode.NORMAL_CLOSURE


@pytest.mark.parametrize("side", SIDES)
async def test_wait_closed(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        waiting = asyncio.create_task(ws.wait_closed())
        await wait_until_blocked(waiting)
        await peer.close(4003)
        async with asyncio.timeout(WAIT):
            await waiting
        assert ws.state is State.CLOSED
        assert ws.close_code == 4003
        await ws.wait_closed()  # returns at once now


@pytest.mark.parametrize("side", SIDES)
async def test_connection_as_context_manager(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        async with ws as entered:
            assert entered is ws
        async with asyncio.timeout(WAIT):
            await peer.wait_closed()
        assert peer.close_code == CloseCode.NORMAL_CLOSURE


@pytest.mark.parametrize("side", SIDES)
async def test_connection_as_context_manager_closes_with_1011_on_error(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        with pytest.raises(RuntimeError):
            async with ws:
                raise RuntimeError("boom")
        async with asyncio.timeout(WAIT):
            await peer.wait_closed()
        assert peer.close_code == CloseCode.INTERNAL_ERROR


@pytest.mark.parametrize("side", SIDES)
async def test_clean_close_over_tls(side: str) -> None:
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(CERTIFICATE)
    client_context = ssl.create_default_context(cafile=CERTIFICATE)
    async with connected({"ssl": client_context}, {"ssl": server_context}, scheme="wss") as (
        client,
        server_ws,
    ):
        ws, peer = (client, server_ws) if side == "client" else (server_ws, client)
        assert not ws.transport.can_write_eof()
        await ws.send("secret")
        assert await peer.recv() == "secret"
        async with asyncio.timeout(WAIT):
            await ws.close()
            await peer.wait_closed()
        assert ws.close_code == CloseCode.NORMAL_CLOSURE
        assert peer.close_code == CloseCode.NORMAL_CLOSURE


# Flow control.


def shrink_buffers(*connections: Connection) -> None:
    """Make the kernel buffers small, so that TCP pushes back soon.

    Not too small: below 64 KiB, throughput on loopback collapses.
    """
    for connection in connections:
        sock = connection.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 2**16)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2**16)


async def send_all(connection: Connection, messages: list[bytes]) -> None:
    for message in messages:
        await connection.send(message)


@pytest.mark.parametrize("side", SIDES)
async def test_slow_reader_stops_reading_from_the_network(side: str) -> None:
    size = 2**14
    count = 128  # 2 MiB: far more than the socket buffers hold
    async with ws_pair(side, {"max_queue": 4, "compression": None}, {"compression": None}) as (
        ws,
        peer,
    ):
        shrink_buffers(ws, peer)
        payloads = [bytes([index]) * size for index in range(count)]
        sending = asyncio.create_task(send_all(peer, payloads))

        await eventually(lambda: ws.recv_messages.queue.paused)
        assert not ws.transport.is_reading()
        held = len(ws.recv_messages.queue)
        # Above the high water mark, by no more than what one read brought.
        assert 4 < held <= 4 + MAX_READ // size + 1
        await asyncio.sleep(0.1)
        # Nothing more is read while paused: the frames and bytes held stay bounded...
        assert len(ws.recv_messages.queue) == held
        assert sum(len(frame.data) for frame in ws.recv_messages.queue.frames) == held * size
        # ... and TCP pushes back on the sender, which waits.
        assert not sending.done()
        assert peer.writing_paused

        # Reading down to the low water mark (high // 4) resumes reading.
        for index in range(held - 1):
            assert await ws.recv() == payloads[index]
        assert not ws.recv_messages.queue.paused
        assert ws.transport.is_reading()

        async with asyncio.timeout(WAIT):
            for index in range(held - 1, count):
                assert await ws.recv() == payloads[index]
                assert len(ws.recv_messages.queue) <= 4 + MAX_READ // size + 1
            await sending
        assert ws.transport.is_reading()


@pytest.mark.parametrize("side", SIDES)
async def test_max_queue_none_never_pauses(side: str) -> None:
    async with ws_pair(side, {"max_queue": None}) as (ws, peer):
        for index in range(50):
            await peer.send(str(index))
        await eventually(lambda: len(ws.recv_messages.queue) == 50)
        assert not ws.recv_messages.queue.paused
        assert ws.transport.is_reading()
        assert [await ws.recv() for _ in range(50)] == [str(index) for index in range(50)]


async def receive_all(peer: RawPeer, count: int) -> list[bytes]:
    """Read ``count`` messages on a raw peer; return their payloads."""
    messages: list[bytes] = []
    chunks: list[bytes] = []
    while len(messages) < count:
        frame = await peer.receive_frame()
        if frame.opcode in (TEXT, BINARY, CONT):
            chunks.append(bytes(frame.data))
            if frame.fin:
                messages.append(b"".join(chunks))
                chunks = []
    return messages


# Fragments in a fragmented message: 512 KiB, several times what the write
# buffer and the socket buffers hold (under 200 KiB), so that send() waits in
# the middle of the first message; no more, since the peer reads it all back
# through a 4 KiB receive buffer, which is slow on a busy machine.
FRAGMENTS = 64


def fast_sender_messages(fragmented: bool) -> Iterator[Any]:
    chunk = b"x" * 2**13
    while True:
        yield [chunk] * FRAGMENTS if fragmented else chunk


async def send_until_blocked(
    ws: Connection, peer: RawPeer, fragmented: bool
) -> tuple[int, asyncio.Task[None]]:
    """Send messages until send() waits; return how many went out and the waiting send.

    The peer reads nothing meanwhile, so a send() that waits for the write
    buffer to drain waits until the peer reads: that is a state to wait for,
    not a delay to guess.
    """
    shrink_buffers(ws)
    peer.stop_reading()
    for sent, message in enumerate(fast_sender_messages(fragmented)):
        assert sent < 1000, "send() never waited"
        sending = asyncio.create_task(ws.send(message))
        await eventually(lambda: sending.done() or bool(ws.drain_waiters))  # noqa: B023
        if not sending.done():
            return sent, sending
        sending.result()
    raise AssertionError("unreachable")  # pragma: no cover


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("fragmented", [False, True], ids=["messages", "fragments"])
async def test_fast_sender_waits_for_slow_peer(side: str, fragmented: bool) -> None:
    write_limit = 2**15
    async with raw_pair(side, rcvbuf=4096, write_limit=write_limit) as (ws, peer):
        sent, sending = await send_until_blocked(ws, peer, fragmented)
        assert ws.writing_paused
        buffered = ws.transport.get_write_buffer_size()
        # A send() writes its frame, then waits until the buffer drains below
        # the low water mark (a quarter of write_limit): one frame over the
        # limit at most.
        assert write_limit // 4 < buffered <= write_limit + 2**13 + 16
        await asyncio.sleep(0.1)
        assert not sending.done()
        assert ws.transport.get_write_buffer_size() <= buffered

        # The peer reads at last: the send completes and everything arrives.
        async with asyncio.timeout(WAIT):
            messages = await receive_all(peer, sent + 1)
            await sending
        expected = b"x" * 2**13 * (FRAGMENTS if fragmented else 1)
        assert messages == [expected] * (sent + 1)
        assert not ws.writing_paused


async def test_long_payloads_wait_for_a_slow_peer_too() -> None:
    # A server writes a long payload after its header with writelines()
    # where the transport gathers writes: that must count against the write
    # limit too. (CPython's didn't before 3.12.9 and 3.13.2: there, send()
    # never waited, and the buffer grew by a message per send.)
    write_limit = 2**15
    message = b"x" * 2**17
    async with raw_pair("server", rcvbuf=4096, write_limit=write_limit) as (ws, peer):
        shrink_buffers(ws)
        peer.stop_reading()
        sent = 0
        while True:
            sending = asyncio.create_task(ws.send(message))
            await eventually(lambda: sending.done() or bool(ws.drain_waiters))  # noqa: B023
            if not sending.done():
                break
            sending.result()
            sent += 1
            assert sent < 10, "send() never waited"
        # One message over the limit at most: the one that made send() wait.
        assert ws.transport.get_write_buffer_size() <= write_limit + len(message) + 10
        async with asyncio.timeout(WAIT):
            assert await receive_all(peer, sent + 1) == [message] * (sent + 1)
            await sending


def test_writes_are_gathered_only_where_writelines_has_flow_control(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Joining(asyncio.WriteTransport):
        pass  # writelines() joins its buffers, as on Python 3.11

    class Gathering(asyncio.WriteTransport):
        def writelines(self, list_of_data: Any) -> None:
            raise NotImplementedError  # pragma: no cover

    class CPythons(Gathering):
        pass

    CPythons.__module__ = "asyncio.selector_events"
    assert not gathers_writes(Joining())
    assert gathers_writes(Gathering())
    for version, gathers in [
        ((3, 12, 8), False),
        ((3, 12, 9), True),
        ((3, 13, 1), False),
        ((3, 13, 2), True),
        ((3, 14, 0), True),
    ]:
        monkeypatch.setattr(sys, "version_info", version)
        assert gathers_writes(CPythons()) is gathers, version


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("fragmented", [False, True], ids=["messages", "fragments"])
async def test_send_waiting_for_slow_peer_raises_when_peer_vanishes(
    side: str, fragmented: bool
) -> None:
    async with raw_pair(side, rcvbuf=4096) as (ws, peer):
        _, sending = await send_until_blocked(ws, peer, fragmented)
        peer.abort()
        with pytest.raises(ConnectionClosedError):
            async with asyncio.timeout(WAIT):
                await sending
        assert not ws.drain_waiters


@pytest.mark.parametrize("side", SIDES)
async def test_peer_closing_while_fragmented_send_waits_for_slow_peer(side: str) -> None:
    async with raw_pair(side, rcvbuf=4096) as (ws, peer):
        _, sending = await send_until_blocked(ws, peer, fragmented=True)
        # The peer writes a close frame while it reads nothing: the close frame
        # that answers it waits behind the fragments in the write buffer.
        peer.send(close_frame(CloseCode.NORMAL_CLOSURE))
        await eventually(lambda: ws.state is State.CLOSING)
        assert not sending.done()
        frames = await peer.receive_frames(until=lambda frame: frame.opcode is CLOSE)
        peer.abort(reset=False)
        assert Close.parse(frames[-1].data) == Close(CloseCode.NORMAL_CLOSURE, "")
        # The fragmented message can't be finished: send() says the connection closed.
        with pytest.raises(ConnectionClosedOK):
            async with asyncio.timeout(WAIT):
                await sending


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("then", ["peer reads", "peer vanishes"])
async def test_cancelled_send_waiting_for_slow_peer(side: str, then: str) -> None:
    async with raw_pair(side, rcvbuf=4096) as (ws, peer):
        sent, sending = await send_until_blocked(ws, peer, fragmented=False)
        sending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sending
        # The message was in the buffer already: it still goes out whole.
        if then == "peer reads":
            async with asyncio.timeout(WAIT):
                messages = await receive_all(peer, sent + 1)
                await eventually(lambda: not ws.writing_paused)
            assert messages == [b"x" * 2**13] * (sent + 1)
            await ws.send("after")
            assert await peer.receive_frame() == Frame(TEXT, b"after")
        else:
            peer.abort()
            async with asyncio.timeout(WAIT):
                await ws.wait_closed()
        assert not ws.drain_waiters


async def flood_with_pings(peer: RawPeer, payload: bytes, stop: asyncio.Event) -> int:
    """Write pings as fast as TCP takes them, until ``stop``; return how many."""
    mask = isinstance(peer.protocol, ClientProtocol)
    burst = b"".join(Frame(PING, payload).serialize(mask=mask) for _ in range(128))
    count = 0
    while not stop.is_set():
        peer.writer.write(burst)
        count += 128
        # Waits while the peer's own buffer is over its high-water mark.
        await peer.writer.drain()
    return count


@pytest.mark.parametrize("side", SIDES)
async def test_ping_flood_from_a_peer_that_never_reads_stops_reading(side: str) -> None:
    # The pongs count against write_limit: the connection stops reading
    # rather than buffer them without bound (it used to, by 12 MiB in 30 s).
    await check_ping_flood(side)


def test_ping_flood_on_uvloop() -> None:
    uvloop.run(check_ping_flood("server"), debug=True)


async def check_ping_flood(side: str) -> None:
    write_limit = 2**15
    payload = b"p" * 125  # the longest: the most memory per ping
    async with raw_pair(side, rcvbuf=4096, write_limit=write_limit, ping_interval=None) as (
        ws,
        peer,
    ):
        shrink_buffers(ws)
        peer.writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 2**16)
        # Not even into the stream's buffer.
        peer_transport = cast(asyncio.Transport, peer.writer.transport)
        peer_transport.pause_reading()
        memory = psutil.Process()
        rss_before = memory.memory_info().rss
        stop = asyncio.Event()
        flooding = asyncio.create_task(flood_with_pings(peer, payload, stop))
        try:
            await eventually(lambda: not ws.transport.is_reading())
            # TCP pushes back: the flooding peer's own buffer fills, it waits.
            await eventually(lambda: peer.writer.transport.get_write_buffer_size() > 2**16)
            stop.set()
            buffered = ws.transport.get_write_buffer_size()
            # Twice write_limit: the pongs buffered until it's over its
            # high-water mark, then those counted against write_limit; each
            # past it by the pongs of one read at most (a masked pong is a
            # few bytes longer than its ping).
            assert buffered <= 2 * (write_limit + MAX_READ + 2**12)
            await asyncio.sleep(0.1)
            # Nothing more is read while the peer doesn't read.
            assert not ws.transport.is_reading()
            assert ws.transport.get_write_buffer_size() <= buffered
            assert memory.memory_info().rss - rss_before < 2**23
        finally:
            stop.set()

        # The peer reads at last: every ping was answered, the connection works.
        peer_transport.resume_reading()
        async with asyncio.timeout(WAIT):
            pongs = 0
            while not flooding.done() or pongs < flooding.result():
                frame = await peer.receive_frame()
                assert frame == Frame(PONG, payload)
                pongs += 1
        # Less than the kernel buffers and what the connection read before it stopped.
        assert pongs * (len(payload) + 6) < 2**20
        assert ws.transport.is_reading()
        peer.send(Frame(TEXT, b"still there?"))
        assert await ws.recv() == "still there?"
        await ws.send("yes")
        assert await peer.receive_frame() == Frame(TEXT, b"yes")


async def test_reading_resumes_when_neither_the_queue_nor_unread_answers_hold_it() -> None:
    async with raw_pair("server", write_limit=2**15, max_queue=1) as (ws, peer):
        for index in range(3):
            peer.send(Frame(TEXT, str(index).encode()))
        await eventually(lambda: ws.recv_messages.queue.paused)
        # Pongs past write_limit are waiting as well (as _send_answers counts them).
        ws.answers_size = ws.write_limit[0] + 1
        assert [await ws.recv() for _ in range(3)] == ["0", "1", "2"]
        assert not ws.recv_messages.queue.paused
        assert not ws.transport.is_reading()  # the pongs still hold it
        ws.resume_writing()  # as the transport calls it once the buffer drains
        assert ws.transport.is_reading()
        peer.send(Frame(TEXT, b"3"))
        assert await ws.recv() == "3"

        # The other way round: the buffer drains while the queue holds reading.
        for index in range(4, 7):
            peer.send(Frame(TEXT, str(index).encode()))
        await eventually(lambda: ws.recv_messages.queue.paused)
        ws.answers_size = ws.write_limit[0] + 1
        ws.resume_writing()
        assert not ws.transport.is_reading()
        assert [await ws.recv() for _ in range(3)] == ["4", "5", "6"]
        assert ws.transport.is_reading()


async def test_write_limit_as_high_and_low_marks() -> None:
    async with connected({"write_limit": (2**16, 2**10)}, {"write_limit": 2**12}) as (
        client,
        server_ws,
    ):
        assert client.transport.get_write_buffer_limits() == (2**10, 2**16)
        # A single value is the high mark; the low one defaults to a quarter of it.
        assert server_ws.transport.get_write_buffer_limits() == (2**10, 2**12)


async def test_eager_task_factory() -> None:
    """Python 3.12's eager tasks run a task's first step inside create_task()."""
    if sys.version_info < (3, 12):
        pytest.skip("eager tasks come with Python 3.12")
    asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)
    options = {"ping_interval": 0.05, "ping_timeout": WAIT}
    async with connected(options, options) as (client, server_ws):
        pongs = count_pongs(client.pings)
        await client.send("hello")
        assert await server_ws.recv() == "hello"
        await server_ws.send(["frag", "ments"])
        assert await client.recv() == "fragments"
        async with contextlib.aclosing(streaming(client)) as fragments:
            await server_ws.send(["a", "b"])
            assert "".join([str(fragment) async for fragment in fragments]) == "ab"
        await eventually(lambda: pongs[0] >= 1)
        await client.close()
        await server_ws.wait_closed()
    assert client.close_code == server_ws.close_code == CloseCode.NORMAL_CLOSURE


# Attributes.


async def test_attributes_of_both_sides() -> None:
    async with connected(
        {"subprotocols": ["superchat", "chat"]},
        {"subprotocols": ["chat", "superchat"]},
        path="/room?id=7",
    ) as (client, server_ws):
        assert client.state is OPEN
        assert server_ws.state is OPEN
        assert isinstance(client.id, uuid.UUID)
        assert isinstance(server_ws.id, uuid.UUID)
        assert client.id != server_ws.id
        assert client.id == client.protocol.id

        port = server_ws.server.sockets[0].getsockname()[1]
        assert client.remote_address == (HOST, port)
        assert server_ws.local_address == (HOST, port)
        assert client.local_address == server_ws.remote_address
        assert client.local_address[0] == HOST

        assert client.request is not None
        assert server_ws.request is not None
        assert client.request.path == server_ws.request.path == "/room?id=7"
        assert server_ws.request.headers["Sec-WebSocket-Key"] == client.protocol.key
        assert client.response is not None
        assert server_ws.response is not None
        assert client.response.status_code == server_ws.response.status_code == 101
        assert client.response.headers == server_ws.response.headers

        assert client.subprotocol == "chat"
        assert server_ws.subprotocol == "chat"

        for ws in (client, server_ws):
            assert ws.close_code is None
            assert ws.close_reason is None
            assert repr(ws) == f"<{type(ws).__name__} {str(ws.id)[:8]} OPEN>"
            assert isinstance(ws.logger, logging.LoggerAdapter)
            assert ws.logger.extra is not None
            assert ws.logger.extra["websocket"] is ws

        await client.close(4010, "done")
        async with asyncio.timeout(WAIT):
            await server_ws.wait_closed()
        assert client.state is State.CLOSED
        assert server_ws.state is State.CLOSED
        assert (client.close_code, client.close_reason) == (4010, "done")
        assert (server_ws.close_code, server_ws.close_reason) == (4010, "done")
        assert repr(client).endswith(" CLOSED>")
        # Addresses remain readable after the connection is closed.
        assert client.remote_address == (HOST, port)


async def test_subprotocol_is_none_when_none_negotiated() -> None:
    async with connected() as (client, server_ws):
        assert client.subprotocol is None
        assert server_ws.subprotocol is None


@pytest.mark.parametrize("side", SIDES)
async def test_logs_name_the_connection(side: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="wskit")
    async with ws_pair(side) as (ws, _):
        ws.logger.info("hello from the test")
        await ws.send("logged")
    (record,) = [r for r in caplog.records if r.getMessage() == "hello from the test"]
    assert getattr(record, "websocket", None) is ws
    # The core's own records go through the adapter too.
    sent = [r for r in caplog.records if r.getMessage().startswith("> TEXT 'logged'")]
    assert sent
    assert all(getattr(r, "websocket", None) is ws for r in sent)


@watches_transport_calls
@pytest.mark.parametrize("gathers", [True, False])
async def test_server_writes_a_long_payload_after_its_header_uncopied(gathers: bool) -> None:
    # In one writelines() where the transport gathers buffers: written alone,
    # the header would go out in a packet of its own.
    options = {"max_size": None, "compression": None}
    async with ws_pair("server", options, options) as (ws, peer):
        ws.gathers_writes = gathers
        # Not on the socket itself: see test_own_socket.py.
        ws.payload_socket_sought, ws.socket_fd = True, None
        calls: list[tuple[str, Any]] = []
        transport = ws.transport
        write, writelines = transport.write, transport.writelines

        def recording_write(data: Any) -> None:
            calls.append(("write", data))
            write(data)

        def recording_writelines(list_of_data: Any) -> None:
            calls.append(("writelines", list_of_data))
            writelines(list_of_data)

        transport.write = recording_write  # type: ignore[method-assign]
        transport.writelines = recording_writelines  # type: ignore[method-assign]
        message = os.urandom(2**17)
        await ws.send(message)
        if gathers:  # (on 3.11, writelines() then calls write() with both joined)
            name, (header, payload) = calls[0]
            assert name == "writelines"
            assert payload is message
        else:
            [(_, header), (_, payload)] = calls
            assert payload.obj is message
        assert header == Frame(BINARY, message).serialize_header()
        async with asyncio.timeout(WAIT):
            assert await peer.recv() == message


async def test_invalid_utf8_read_into_a_long_payload_fails_at_once() -> None:
    # Reading straight into the payload, the connection still fails as soon
    # as the bad bytes arrive, not once the frame is whole.
    async with raw_pair("server", max_size=None) as (ws, peer):
        payload = bytearray(b"a" * 2**18)
        payload[2**16] = 0xFF
        frame = Frame(TEXT, bytes(payload)).serialize(mask=True)
        peer.writer.write(frame[: 2**15])  # more than 1/32 of the payload
        await eventually(lambda: ws.protocol.incoming_payload is not None)
        peer.writer.write(frame[2**15 : 2**17])  # the bad byte, not the end
        [close] = await peer.receive_frames(until=lambda frame: frame.opcode is CLOSE)
        assert Close.parse(close.data).code == CloseCode.INVALID_DATA


async def test_connections_keep_a_compact_layout() -> None:
    async with connected({"subprotocols": ["chat"]}, {"subprotocols": ["chat"]}) as (
        client,
        server_ws,
    ):
        await client.send("hello")
        await server_ws.send(await server_ws.recv())
        assert await client.recv() == "hello"
        await (await client.ping())
        await client.close()
        await server_ws.wait_closed()
        for ws in (client, server_ws):
            assert len(vars(ws)) <= COMPACT_ATTRIBUTES, sorted(vars(ws))


# uvloop, and aiofastnet's transports on asyncio's loop.


@pytest.mark.parametrize("loop", ["uvloop", "aiofastnet"])
def test_echo_round_trip_on_compiled_transports(loop: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        async with asyncio.timeout(WAIT):
            async with connected() as (client, server_ws):
                for ws in client, server_ws:
                    assert type(ws.transport).__module__.startswith(loop), type(ws.transport)
                assert client.gathers_writes
                assert server_ws.gathers_writes
                messages: list[Data] = ["café", b"\x00\xff", "x" * 2**17]
                for message in messages:
                    await client.send(message)
                    await server_ws.send(await server_ws.recv())
                    assert await client.recv() == message
                await client.send(["frag", "mented"])
                assert await server_ws.recv() == "fragmented"
                latency = await (await client.ping())
                assert latency > 0
                await client.close()
                await server_ws.wait_closed()
                assert client.close_code == server_ws.close_code == CloseCode.NORMAL_CLOSURE

    monkeypatch.setenv("WSKIT_TEST_LOOP", loop)
    run_on_test_loop(main)


def test_backpressure_on_uvloop() -> None:
    async def main() -> None:
        async with (
            asyncio.timeout(WAIT),
            connected({"max_queue": 2, "compression": None}, {"compression": None}) as (
                client,
                server_ws,
            ),
        ):
            payloads = [bytes([index]) * 2**14 for index in range(256)]
            sending = asyncio.create_task(send_all(server_ws, payloads))
            await eventually(lambda: client.recv_messages.queue.paused)
            assert len(client.recv_messages.queue) < 64
            for payload in payloads:
                assert await client.recv() == payload
            await sending

    uvloop.run(main(), debug=True)


# Odds and ends.


async def test_connection_closed_is_the_base_of_both_outcomes() -> None:
    # recv() raises subclasses of ConnectionClosed, which applications catch.
    async with connected() as (client, server_ws):
        await server_ws.close(4000)
        with pytest.raises(ConnectionClosed):
            await client.recv()


def test_connections_read_into_the_buffer_of_their_thread() -> None:
    # One buffer per thread: shared by the connections of an event loop,
    # never by two loops that may run at the same time.
    async def read_buffer() -> memoryview:
        return Connection(Protocol(Side.CLIENT)).read_buffer

    first, second = asyncio.run(read_buffer()), asyncio.run(read_buffer())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        other = pool.submit(asyncio.run, read_buffer()).result(WAIT)
    assert first is second
    assert other is not first


# Bursts: messages sent back to back go out in few writes.


def count_writes(ws: Connection) -> list[bytes]:
    """Record what ws writes to its transport from now on."""
    writes: list[bytes] = []
    write = ws.transport.write

    def recording_write(data: Any) -> None:
        writes.append(bytes(data))
        write(data)

    ws.transport.write = recording_write  # type: ignore[method-assign]
    return writes


@watches_transport_calls
@pytest.mark.parametrize("side", SIDES)
async def test_burst_of_messages_is_written_in_few_writes(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        writes = count_writes(ws)
        messages = [i.to_bytes(2, "big") * 32 for i in range(1000)]
        for message in messages:
            await ws.send(message)
        # 66 bytes per frame: a 32 KiB burst holds about 500.
        assert len(writes) <= 5
        async with asyncio.timeout(WAIT):
            received = [await peer.recv() for _ in messages]
        assert received == messages  # all of them, in order


@watches_transport_calls
@pytest.mark.parametrize("side", SIDES)
async def test_burst_goes_out_when_the_sender_yields(side: str) -> None:
    async with raw_pair(side) as (ws, peer):
        writes = count_writes(ws)
        await ws.send(b"first")
        await ws.send(b"second")
        await ws.send(b"third")
        assert len(writes) == 1  # the first one; the others wait for the loop
        await asyncio.sleep(0)
        assert len(writes) == 2
        assert await receive_all(peer, 3) == [b"first", b"second", b"third"]


@watches_transport_calls
@pytest.mark.parametrize("side", SIDES)
async def test_send_after_a_read_is_written_at_once(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        writes = count_writes(ws)
        for number in range(3):
            await ws.send(f"request {number}")
            assert len(writes) == number + 1  # written before send() returned
            await peer.send(await peer.recv())
            assert await ws.recv() == f"request {number}"


@pytest.mark.parametrize("side", SIDES)
async def test_close_frame_follows_the_burst(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        for number in range(10):
            await ws.send(str(number))
        await ws.close()
        async with asyncio.timeout(WAIT):
            assert [message async for message in peer] == [str(n) for n in range(10)]
        assert peer.protocol.close_rcvd == Close(CloseCode.NORMAL_CLOSURE, "")


@pytest.mark.parametrize("side", SIDES)
async def test_large_message_in_a_burst_keeps_its_place(side: str) -> None:
    async with ws_pair(side, {"max_size": None}, {"max_size": None}) as (ws, peer):
        messages = [b"a", b"b", b"L" * 2**17, b"c"]
        for message in messages:
            await ws.send(message)
        async with asyncio.timeout(WAIT):
            assert [await peer.recv() for _ in messages] == messages


@watches_transport_calls
@pytest.mark.parametrize("side", SIDES)
async def test_long_message_is_read_into_its_payload(side: str) -> None:
    # Past its start, a long frame is read straight into the payload that
    # recv() returns, not into the read buffer.
    options = {"max_size": None, "compression": None}
    async with ws_pair(side, options, options) as (ws, peer):
        # The transport reads it all: see test_own_socket.py.
        peer.payload_socket_sought, peer.socket_fd = True, None
        buffers: list[memoryview] = []
        get_buffer = peer.get_buffer

        def recording_get_buffer(sizehint: int) -> memoryview:
            buffer = get_buffer(sizehint)
            buffers.append(buffer)
            return buffer

        peer.get_buffer = recording_get_buffer  # type: ignore[method-assign]
        message = os.urandom(4 * READ_BUFFER_SIZE)
        await ws.send(message)
        async with asyncio.timeout(WAIT):
            assert await peer.recv() == message
        windows = [buffer for buffer in buffers if buffer is not peer.read_buffer]
        # Reading went to the payload once 1/32 of it had arrived: after at
        # most a 32nd and one read buffer.
        assert len(windows[0]) > 2 * READ_BUFFER_SIZE
        assert not windows[0].readonly
        await ws.send(b"short")
        async with asyncio.timeout(WAIT):
            assert await peer.recv() == b"short"
        assert buffers[-1] is peer.read_buffer


@watches_transport_calls
@pytest.mark.parametrize("side", SIDES)
async def test_long_frame_is_written_as_it_is_after_the_burst(side: str) -> None:
    # Joining it to the burst would copy it; so would asyncio when the socket
    # doesn't take it at once, if it weren't a view.
    options = {"max_size": None, "compression": None}
    async with ws_pair(side, options, options) as (ws, peer):
        ws.gathers_writes = False  # else a server's goes with writelines(): see below
        writes: list[Any] = []
        write = ws.transport.write

        def recording_write(data: Any) -> None:
            writes.append(data)
            write(data)

        ws.transport.write = recording_write  # type: ignore[method-assign]
        messages = [b"a", b"b", b"L" * 2**17, b"c"]
        for message in messages:
            await ws.send(message)
        [long_write] = [data for data in writes if len(data) >= 2**16]
        assert isinstance(long_write, memoryview)
        if side == "server":  # unmasked: the payload itself, after its header
            assert long_write.obj is messages[2]
        async with asyncio.timeout(WAIT):
            assert [await peer.recv() for _ in messages] == messages


# Performance devices (ARCHITECTURE.md): send() writes a whole message's frame
# itself (the core's side of it: tests/core/test_protocol.py), _process_events()
# queues data frames itself, send_text() and
# send_binary() called as methods, send() and recv() without a coroutine level
# when no fragmented message is in the way.


@pytest.mark.parametrize("side", SIDES)
async def test_send_of_a_whole_message_skips_send_data(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        calls: list[None] = []
        send_data = ws._send_data

        def recording_send_data() -> None:
            calls.append(None)
            send_data()

        ws._send_data = recording_send_data  # type: ignore[method-assign]
        messages: list[Data] = ["text", b"binary", "x" * 2**17, b""]
        for message in messages:
            await ws.send(message)
        await ws.send("uncompressed", compress=False)
        assert calls == []
        async with asyncio.timeout(WAIT):
            assert [await peer.recv() for _ in messages] == messages
            assert await peer.recv() == "uncompressed"


@pytest.mark.parametrize("side", SIDES)
async def test_data_frames_are_queued_without_process_event(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        processed: list[Event] = []
        process_event = ws.process_event

        def recording_process_event(event: Event) -> None:
            processed.append(event)
            process_event(event)

        ws.process_event = recording_process_event  # type: ignore[method-assign]
        await peer.send("text")
        await peer.send(b"binary")
        await peer.send(["frag", "ment"])
        async with asyncio.timeout(WAIT):
            await (await peer.ping(b"ping"))  # ws answered: its ping was processed
            await (await ws.ping(b"pong"))
            assert [await ws.recv() for _ in range(3)] == ["text", b"binary", "fragment"]
            await peer.close()
            await ws.wait_closed()
        frames = [event for event in processed if isinstance(event, Frame)]
        assert [(frame.opcode, frame.data) for frame in frames[:2]] == [
            (PING, b"ping"),
            (PONG, b"pong"),
        ]
        assert [frame.opcode for frame in frames[2:]] == [CLOSE]


def test_send_calls_send_text_and_send_binary_as_methods() -> None:
    # A bound method picked by a conditional expression isn't specialized.
    calls = {
        instruction.argval: instruction.opname == "LOAD_METHOD"
        # 3.12+: LOAD_ATTR with the low bit of its argument set
        or (instruction.opname == "LOAD_ATTR" and bool(cast(int, instruction.arg) & 1))
        for instruction in dis.get_instructions(Connection.send)
        if instruction.argval in ("send_text", "send_binary")
    }
    assert calls == {"send_text": True, "send_binary": True}


@pytest.mark.parametrize("side", SIDES)
async def test_send_and_recv_complete_without_suspending(side: str) -> None:
    async with ws_pair(side) as (ws, peer):
        waits: list[None] = []
        wait_for_fragmented_send = ws._wait_for_fragmented_send

        async def recording_wait() -> None:
            waits.append(None)
            await wait_for_fragmented_send()

        ws._wait_for_fragmented_send = recording_wait  # type: ignore[method-assign]
        await peer.send("queued")
        async with asyncio.timeout(WAIT):
            await (await ws.ping())  # the pong comes after the message
        receiving = ws.recv()
        with pytest.raises(StopIteration) as stop:
            receiving.send(None)
        assert stop.value.value == "queued"
        assert ws.transport.get_write_buffer_size() < ws.transport.get_write_buffer_limits()[1]
        sending = ws.send("short")
        with pytest.raises(StopIteration):
            sending.send(None)
        # No fragmented message in the way: not even a coroutine returning at once.
        assert waits == []
        async with asyncio.timeout(WAIT):
            assert await peer.recv() == "short"


@pytest.mark.parametrize("side", SIDES)
async def test_cancelled_close_leaves_the_other_waits(
    side: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each wait for the end of the connection has a future of its own
    # (_lost_waiter()), not shield(connection_lost_waiter): cancelling one
    # cancels neither the connection's waiter nor the other waits.
    def no_shield(*args: object) -> None:
        raise AssertionError("shield() called")

    async with raw_pair(side) as (ws, peer):
        monkeypatch.setattr(asyncio, "shield", no_shield)
        closing = asyncio.create_task(ws.close())
        waiting = asyncio.create_task(ws.wait_closed())
        await wait_until_blocked(closing)
        await wait_until_blocked(waiting)
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        assert not ws.connection_lost_waiter.done()
        assert not waiting.done()
        peer.abort()
        async with asyncio.timeout(WAIT):
            await waiting
            await ws.close()  # the connection is lost: returns at once
        assert ws.connection_lost_waiter.result() is None
        monkeypatch.undo()  # the server's wait_closed() shields its own wait
