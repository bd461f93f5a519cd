"""How an asyncio connection reads and writes long payloads: fewer wake-ups,
fewer passes of the loop, fewer system calls.

While a long binary payload arrives, an asyncio connection sets its socket's
read low-water mark (``SO_RCVLOWAT``) to the payload's missing bytes, so that
the event loop wakes it once they can all be read, rather than for each TCP
segment (see ``LongPayloads._wait_for_payload()``), then back to 1 byte.

On asyncio's own socket transports, which read once per pass of the loop, a
read that fills the read buffer with the start of a long payload is followed
at once by a read into the payload (see ``LongPayloads._read_payload_now()``);
on Python 3.11, a long payload and its header are written in one system call
(``LongPayloads._write_gathered()``).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from collections.abc import Callable
from typing import cast

from ..protocol import Protocol
from ..shared.messages import AsyncAssembler

__all__ = [
    "READ_LOW_WATER_MARKS",
    "WHOLE_PAYLOAD_MISSING",
    "LongPayloads",
    "own_socket_fd",
    "set_read_low_water",
    "whole_payload_socket",
]


def _linux_from(version: tuple[int, int]) -> bool:
    if sys.platform != "linux":
        return False
    release = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return release is not None and (int(release[1]), int(release[2])) >= version


# Linux's epoll honours a TCP socket's read low-water mark (SO_RCVLOWAT),
# and wakes a reader at EOF whatever the mark; before 5.10, the mark could
# hang a connection (fat buffers, memory pressure), so it isn't used there.
READ_LOW_WATER_MARKS = _linux_from((5, 10))
# The mark is set for a payload that misses this much or more. It saves a
# wake-up per TCP segment, and costs two system calls and the overlap of
# reading with arriving: 256 KiB round trips gained nothing measurable with
# it, and took more CPU; 1 MiB ones took 8-21% less with the two ends on two
# CPUs (benchmarks/README, "1 MiB round trips, fourth round").
WHOLE_PAYLOAD_MISSING = 2**19


def whole_payload_socket(transport: asyncio.BaseTransport) -> socket.socket | None:
    """The TCP socket under ``transport``, if readiness on it can wait for a
    long payload's missing bytes (see READ_LOW_WATER_MARKS). Not under TLS,
    whose bytes on the socket aren't the payload's.
    """
    if not READ_LOW_WATER_MARKS or transport.get_extra_info("sslcontext") is not None:
        return None
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    return cast(socket.socket, sock)


def set_read_low_water(sock: socket.socket, size: int) -> bool:
    """Set the read low-water mark of ``sock``; whether that worked."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, size)
    except OSError:
        return False
    return True


def own_socket_fd(transport: asyncio.BaseTransport) -> int | None:
    """The file descriptor under ``transport`` if it is one of asyncio's own
    socket transports, else None. They read once per pass of the loop, where
    libuv (and aiofastnet) read again as long as a read fills the buffer, and
    on Python 3.11 their ``writelines()`` joins its buffers, a copy.

    Not under TLS: the bytes on the socket aren't the payload's (asyncio's TLS
    transport isn't a socket transport). Not where ``os.readv()`` is missing.
    """
    if type(transport).__module__ != "asyncio.selector_events" or not hasattr(os, "readv"):
        return None
    sock = transport.get_extra_info("socket")
    return None if sock is None else cast(int, sock.fileno())


class LongPayloads:
    """Long payloads on the socket, for :class:`~wskit.asyncio.connection.Connection`,
    which sets the attributes (in its slots)."""

    protocol: Protocol
    transport: asyncio.Transport
    burst: list[bytes] | None
    # Whether _seek_payload_socket() ran, and what it found.
    payload_socket_sought: bool
    whole_payload_socket: socket.socket | None
    socket_fd: int | None
    read_low_water: int
    recv_messages: AsyncAssembler
    _handle_received: Callable[[], None]

    def _seek_payload_socket(self) -> None:
        """Look at the socket under the transport, at the first long payload
        (sent or received) rather than when the connection is made: most
        connections never have one, and looking took ~4% of a server's
        handshake on uvloop. See whole_payload_socket() and own_socket_fd().
        """
        self.payload_socket_sought = True
        self.whole_payload_socket = whole_payload_socket(self.transport)
        self.socket_fd = own_socket_fd(self.transport)

    def _read_rest_now(self) -> None:
        """After a read that filled the read buffer: if it started a long
        payload, read what has arrived of the rest at once, on asyncio's own
        socket transports (see _read_payload_now)."""
        if self.protocol.incoming_payload is not None:
            if not self.payload_socket_sought:
                self._seek_payload_socket()
            if self.socket_fd is not None:
                self._read_payload_now(self.socket_fd)

    def _read_payload_now(self, fd: int) -> None:
        """Read what has arrived of the long payload that began in a full read
        buffer, on a transport that reads once per pass of the loop.

        The rest of the frame often came with its start (always, when the
        peer runs on the same CPU): reading it now, into the payload, saves a
        pass of the loop, about as much Python as the rest of the message.
        Nothing to read costs a system call. The end of the stream is left to
        the transport, which finds it on its next read; a failure reaches it
        as its own read's would, once what came before is handled.
        """
        protocol = self.protocol
        with protocol.incoming_payload.window() as window:  # type: ignore[union-attr]
            try:
                nbytes = os.readv(fd, (window,))
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._handle_received()
                raise
        # The end of a binary message goes straight to the queue, and
        # _handle_received() wakes the reader (see ReadPath.buffer_updated).
        if nbytes and not protocol.receive_payload_end(nbytes, self.recv_messages.queue):
            protocol.receive_into(nbytes)

    def _wait_for_payload(self) -> None:
        """Have the loop wake the connection once the missing bytes of a long
        payload can be read (or at EOF), when nothing checks them as they come.

        Otherwise, each TCP segment that arrives wakes it: a pass of the loop,
        a read and the Python around it, five to seven times per 1 MiB
        payload. The peer sends a frame whole, so they all come. The kernel
        caps the mark to half the socket's receive buffer, growing the
        buffer to match, and wakes the connection early when its receive
        window closes.
        """
        if not self.payload_socket_sought:
            self._seek_payload_socket()
        sock = self.whole_payload_socket
        if sock is None:  # TLS, not Linux 5.10+, or the mark failed: nothing to ask the core
            return
        size = self.protocol.payload_missing_unchecked()
        if size < WHOLE_PAYLOAD_MISSING:
            size = 1
        if size != self.read_low_water:
            if set_read_low_water(sock, size):
                self.read_low_water = size
            else:  # e.g. the socket is closed: read as it comes
                self.whole_payload_socket = None

    def _write_gathered(self, header: bytes, payload: bytes) -> bool:
        """Write a long payload and its header in one system call, on the socket
        of a transport that would write them apart (asyncio's own, on Python
        3.11), when it has nothing to write before them; return whether it did.

        What the socket doesn't take goes to the transport. A failure is left
        to the transport's own write, which fails as it would (a reset seen
        here first shows there as a broken pipe).
        """
        if not self.payload_socket_sought:
            self._seek_payload_socket()
        fd = self.socket_fd
        transport = self.transport
        if (
            fd is None
            or self.burst is not None
            or transport.get_write_buffer_size()
            or transport.is_closing()
        ):
            return False
        try:
            sent = os.writev(fd, (header, payload))
        except OSError:  # BlockingIOError too: the socket's buffer is full
            return False
        if sent < len(header):
            transport.write(header[sent:])
            sent = len(header)
        if sent - len(header) < len(payload):
            transport.write(memoryview(payload)[sent - len(header) :])
        return True
