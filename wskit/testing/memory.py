"""A pair of asyncio transports joined in memory, like the two ends of a socket.

What one side writes is handed to the other side's protocol on a later turn
of the event loop (never within ``write()``, as with a real socket), and
flow control works as it does over TCP: a protocol that pauses reading
leaves the bytes with the writer, whose buffer grows past its high-water
mark until ``pause_writing()`` tells it to wait.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

__all__ = ["MemoryTransport", "connect_pair"]

# Bytes handed to a buffered protocol per get_buffer() call at most.
CHUNK_SIZE = 2**16


class MemoryTransport(asyncio.Transport):
    """One end of an in-memory byte stream; see :func:`connect_pair`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str) -> None:
        super().__init__({"peername": None, "sockname": None, "socket": None})
        self.loop = loop
        self.name = name
        self.peer: MemoryTransport
        self.protocol: asyncio.BaseProtocol
        # Bytes this side wrote that the peer's protocol didn't take yet.
        self.outgoing = bytearray()
        self.eof_written = False
        self.closing = False
        self.reading_paused = False
        self.writing_paused = False
        self.high_water = 2**16
        self.low_water = 2**14
        self.delivery: asyncio.Handle | None = None
        self.eof_seen = False
        self.lost = False

    def __repr__(self) -> str:
        return f"<MemoryTransport {self.name}>"

    # Writing side.

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.closing or self.eof_written:
            return  # like a socket transport after close(): dropped
        self.outgoing += data
        self._schedule_delivery()
        if not self.writing_paused and len(self.outgoing) > self.high_water:
            self.writing_paused = True
            self.protocol.pause_writing()

    def write_eof(self) -> None:
        self.eof_written = True
        self._schedule_delivery()

    def can_write_eof(self) -> bool:
        return True

    def get_write_buffer_size(self) -> int:
        return len(self.outgoing)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (self.low_water, self.high_water)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.high_water = 2**16 if high is None else high
        self.low_water = self.high_water // 4 if low is None else low

    # Reading side.

    def pause_reading(self) -> None:
        self.reading_paused = True

    def resume_reading(self) -> None:
        if self.reading_paused:
            self.reading_paused = False
            self.peer._schedule_delivery()

    def is_reading(self) -> bool:
        return not self.reading_paused and not self.closing

    # Closing.

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        """Close once the written bytes reach the peer, as a socket does."""
        if not self.closing:
            self.closing = True
            self.eof_written = True
            self._schedule_delivery()

    def abort(self) -> None:
        """Close at once and drop what wasn't delivered; the peer sees a reset."""
        if not self.closing:
            self.closing = True
            self.outgoing.clear()
            self.loop.call_soon(self._lost, None)
        self.peer._reset()

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    # Delivery to the peer.

    def _schedule_delivery(self) -> None:
        if self.delivery is None:
            self.delivery = self.loop.call_soon(self._deliver)

    def _deliver(self) -> None:
        self.delivery = None
        peer = self.peer
        # A transport that closed reads nothing more: what it didn't read is lost.
        while self.outgoing and not peer.reading_paused and not peer.closing:
            _feed(peer.protocol, self._take())
        if peer.closing:
            self.outgoing.clear()
        if self.writing_paused and len(self.outgoing) <= self.low_water:
            self.writing_paused = False
            self.protocol.resume_writing()
        if self.outgoing or not self.eof_written:
            return
        if not peer.closing and not peer.eof_seen:
            peer.eof_seen = True
            if not cast(asyncio.Protocol, peer.protocol).eof_received():
                peer.close()
        if self.closing:
            self._lost(None)

    def _take(self) -> bytes:
        chunk = bytes(self.outgoing[:CHUNK_SIZE])
        del self.outgoing[:CHUNK_SIZE]
        return chunk

    def _reset(self) -> None:
        if not self.closing:
            self.closing = True
            self.outgoing.clear()
            self.loop.call_soon(self._lost, ConnectionResetError("connection reset by peer"))
        else:  # closing already: it ends now that nobody reads its bytes
            self._schedule_delivery()

    def _lost(self, exc: Exception | None) -> None:
        if not self.lost:
            self.lost = True
            self.protocol.connection_lost(exc)


def _feed(protocol: Any, data: bytes) -> None:
    if isinstance(protocol, asyncio.BufferedProtocol):
        view = memoryview(data)
        while view:
            buffer = memoryview(protocol.get_buffer(len(view)))
            size = min(len(buffer), len(view))
            buffer[:size] = view[:size]
            protocol.buffer_updated(size)
            view = view[size:]
    else:
        protocol.data_received(data)


def connect_pair(
    first: asyncio.BaseProtocol, second: asyncio.BaseProtocol
) -> tuple[MemoryTransport, MemoryTransport]:
    """Join two protocols with a pair of in-memory transports.

    Both protocols' ``connection_made()`` run before this returns, ``first``'s
    first; neither sees data before the loop runs again.
    """
    loop = asyncio.get_running_loop()
    one, two = MemoryTransport(loop, "first"), MemoryTransport(loop, "second")
    one.peer, two.peer = two, one
    one.protocol, two.protocol = first, second
    first.connection_made(one)
    second.connection_made(two)
    return one, two
