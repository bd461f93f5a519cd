"""How an asyncio connection reads long payloads: fewer wake-ups, fewer passes of the loop.

While a long binary payload arrives, an asyncio connection sets its socket's
read low-water mark (``SO_RCVLOWAT``) to the payload's missing bytes, so that
the event loop wakes it once they can all be read, rather than for each TCP
segment (see ``Connection._wait_for_payload()``), then back to 1 byte.

On asyncio's own socket transports, which read once per pass of the loop, a
read that fills the read buffer with the start of a long payload is followed
at once by a read into the payload (see ``Connection._read_payload_now()``);
on Python 3.11, a long payload and its header are written in one system call
(``Connection._write_gathered()``).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from typing import cast

__all__ = [
    "READ_LOW_WATER_MARKS",
    "WHOLE_PAYLOAD_MISSING",
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
