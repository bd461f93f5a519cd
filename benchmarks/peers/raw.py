"""The ceiling: a raw TCP echo with length-prefixed messages, no WebSocket.

On an event loop, both ends are bare :class:`asyncio.Protocol` callbacks (the
client sends the next message from ``data_received``); on threads, blocking
sockets with a thread per server connection. The protocol:

- the client's first byte chooses the mode, ``E`` (echo) or ``C`` (count),
  like the ``/echo`` and ``/count`` paths of the WebSocket peers;
- a message is a 4-byte big-endian length followed by the payload;
- echo sends every message back; count adds up payload lengths and answers an
  empty message with an 8-byte message holding the total, then resets it;
- a length of 0xFFFFFFFF asks the server to close the connection: as in a
  WebSocket closing handshake, the server closes TCP first (and so keeps the
  TIME_WAIT state; the client's ephemeral ports don't run out).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import cast

from .base import (
    ECHO_PATH,
    BenchmarkError,
    Connection,
    Peer,
    SyncConnection,
    SyncPeer,
    ThreadedPeer,
    check_count,
    listen_options,
)

__all__ = [
    "HELLO",
    "HELLO_REPLY",
    "AsyncioConnection",
    "AsyncioPeer",
    "ServerProtocol",
    "length_prefixed",
    "make_peer",
]

ECHO, COUNT = b"E", b"C"
EMPTY = b"\0\0\0\0"
CLOSE = b"\xff\xff\xff\xff"
# What the lean opener of idle connections sends and expects: echo mode, one
# empty message and its echo, so the server has surely set the connection up.
HELLO, HELLO_REPLY = ECHO + EMPTY, EMPTY


def length_prefixed(message: bytes) -> bytes:
    """A message as sent on the wire: its 4-byte length, then the message."""
    return len(message).to_bytes(4, "big") + message


def _mode(path: str) -> bytes:
    return ECHO if path == ECHO_PATH else COUNT


class ServerProtocol(asyncio.Protocol):
    transport: asyncio.Transport

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.echo: bool | None = None
        self.count = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if self.echo is None:
            self.echo = buffer[:1] == ECHO
            del buffer[:1]
        start = 0
        while len(buffer) - start >= 4:
            if buffer[start : start + 4] == CLOSE:
                self.transport.close()
                buffer.clear()
                return
            end = start + 4 + int.from_bytes(buffer[start : start + 4], "big")
            if end > len(buffer):
                break
            if self.echo:
                self.echo_message(buffer[start:end])
            elif end == start + 4:
                self.transport.write(length_prefixed(self.count.to_bytes(8, "big")))
                self.count = 0
            else:
                self.count += end - start - 4
            start = end
        del buffer[:start]

    def echo_message(self, message: bytearray) -> None:
        """Send ``message`` (with its length) back."""
        self.transport.write(message)


class _ClientProtocol(asyncio.Protocol):
    transport: asyncio.Transport

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.closed = loop.create_future()
        self.resumed: asyncio.Future[None] | None = None
        # Round trips: the frame to send, how much of its echo came, until when.
        self.frame = b""
        self.received = 0
        self.deadline = 0.0
        self.count = 0
        self.done: asyncio.Future[int] | None = None
        # Other replies: bytes received while no round trips run.
        self.buffer = bytearray()
        self.waiter: tuple[int, asyncio.Future[bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.done is None:
            self.buffer += data
            if self.waiter is not None and len(self.buffer) >= self.waiter[0]:
                self.waiter[1].set_result(bytes(self.buffer))
                self.buffer.clear()
                self.waiter = None
            return
        self.received += len(data)
        if self.received < len(self.frame):
            return
        if self.received > len(self.frame):
            self.done.set_exception(BenchmarkError("echo longer than the message"))
            return
        self.received = 0
        self.count += 1
        if time.perf_counter() < self.deadline:
            self.transport.write(self.frame)
        else:
            self.done.set_result(self.count)

    def pause_writing(self) -> None:
        self.resumed = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.resumed is not None:
            self.resumed.set_result(None)
            self.resumed = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set_result(None)

    async def read(self, size: int) -> bytes:
        """Wait for ``size`` bytes outside round trips."""
        if len(self.buffer) < size:
            self.waiter = (size, asyncio.get_running_loop().create_future())
            return await self.waiter[1]
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


class AsyncioConnection(Connection):
    def __init__(self, protocol: _ClientProtocol) -> None:
        self.protocol = protocol

    async def round_trips(self, message: bytes, deadline: float) -> int:
        protocol = self.protocol
        protocol.frame, protocol.deadline, protocol.count = length_prefixed(message), deadline, 0
        protocol.done = asyncio.get_running_loop().create_future()
        protocol.transport.write(protocol.frame)
        try:
            return await protocol.done
        finally:
            protocol.done = None

    async def stream(self, message: bytes, deadline: float) -> int:
        protocol = self.protocol
        frame = length_prefixed(message)
        count = 0
        while True:
            protocol.transport.write(frame)
            count += 1
            if protocol.resumed is not None:
                await protocol.resumed
            if time.perf_counter() >= deadline:
                break
        protocol.transport.write(EMPTY)
        counted = int.from_bytes((await protocol.read(12))[4:], "big")
        check_count(counted, count * len(message))
        return count

    async def close(self) -> None:
        self.protocol.transport.write(CLOSE)
        await self.protocol.closed


class AsyncioPeer(Peer):
    """The raw TCP baseline on an event loop."""

    websocket = False
    compression = False
    server_protocol: type[ServerProtocol] = ServerProtocol
    connection_class: type[AsyncioConnection] = AsyncioConnection

    async def serve(self, compression: bool, backlog: int | None = None) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            self.server_protocol, "127.0.0.1", 0, **listen_options(backlog)
        )
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def connect(self, port: int, path: str) -> Connection:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_ClientProtocol, "127.0.0.1", port)
        protocol.transport.write(_mode(path))
        return self.connection_class(protocol)


def _receive(sock: socket.socket, size: int) -> bytearray:
    """Read exactly ``size`` bytes; raise :exc:`EOFError` if the peer closes first."""
    data = bytearray(size)
    view = memoryview(data)
    while view:
        received = sock.recv_into(view)
        if not received:
            raise EOFError
        view = view[received:]
    return data


def _serve_connection(sock: socket.socket) -> None:
    # Like asyncio's transports: no Nagle delay on small writes.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with sock:
        try:
            echo = _receive(sock, 1) == ECHO
            count = 0
            while True:
                header = _receive(sock, 4)
                if header == CLOSE:
                    return
                size = int.from_bytes(header, "big")
                payload = _receive(sock, size)
                if echo:
                    sock.sendall(header + payload)
                elif size == 0:
                    sock.sendall(length_prefixed(count.to_bytes(8, "big")))
                    count = 0
                else:
                    count += size
        except (EOFError, ConnectionError):
            return


def _accept(listener: socket.socket) -> None:
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=_serve_connection, args=(sock,), daemon=True).start()


class _ThreadsConnection(SyncConnection):
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def round_trips(self, message: bytes, deadline: float) -> int:
        frame = length_prefixed(message)
        count = 0
        while True:
            self.sock.sendall(frame)
            _receive(self.sock, len(frame))
            count += 1
            if time.perf_counter() >= deadline:
                return count

    def stream(self, message: bytes, deadline: float) -> int:
        frame = length_prefixed(message)
        count = 0
        while True:
            self.sock.sendall(frame)
            count += 1
            if time.perf_counter() >= deadline:
                break
        self.sock.sendall(EMPTY)
        check_count(int.from_bytes(_receive(self.sock, 12)[4:], "big"), count * len(message))
        return count

    def close(self) -> None:
        with self.sock:
            self.sock.sendall(CLOSE)
            while self.sock.recv(4096):  # until the server closes
                pass


class ThreadsPeer(SyncPeer):
    """The raw TCP baseline on threads: blocking sockets."""

    websocket = False
    compression = False

    def serve(self, compression: bool, backlog: int | None = None) -> int:
        listener = socket.create_server(
            ("127.0.0.1", 0), backlog=100 if backlog is None else backlog
        )
        # The server process ends with os._exit(): the thread needs no join.
        threading.Thread(target=_accept, args=(listener,), daemon=True).start()
        port: int = listener.getsockname()[1]
        return port

    def connect(self, port: int, path: str) -> SyncConnection:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(_mode(path))
        return _ThreadsConnection(sock)


def make_peer(loop: str) -> Peer:
    """The raw baseline for ``loop``."""
    return ThreadedPeer(ThreadsPeer()) if loop == "threads" else AsyncioPeer()


if __name__ == "__main__":
    from .process import main

    main(make_peer)
