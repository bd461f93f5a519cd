"""What a server's listening socket queues while nothing accepts its connections.

A listen backlog can't be read back from a socket, but its effect can be seen:
the kernel completes connections into the queue until it is full, then drops
their SYNs, and those clients wait a second or more before trying again.
"""

from __future__ import annotations

import select
import socket
import time

# Beyond socket.listen()'s default (128) and asyncio's (100).
BURST = 300


def kernel_allows_burst() -> bool:
    """Whether the kernel lets a backlog be as long as :data:`BURST`."""
    try:
        with open("/proc/sys/net/core/somaxconn") as limit:
            return int(limit.read()) >= BURST
    except OSError:
        return False


def queued_connections(address: tuple[str, int], count: int = BURST, timeout: float = 1.0) -> int:
    """Open ``count`` connections to ``address`` at once; return how many complete.

    The caller makes sure nothing accepts them meanwhile. Each connection
    that completes within ``timeout`` seconds was queued by the kernel.
    """
    poller = select.poll()
    pending: dict[int, socket.socket] = {}
    connected = 0
    try:
        for _ in range(count):
            sock = socket.socket()
            pending[sock.fileno()] = sock
            sock.setblocking(False)
            sock.connect_ex(address)
            poller.register(sock, select.POLLOUT)
        deadline = time.monotonic() + timeout
        while pending and (remaining := deadline - time.monotonic()) > 0:
            for fd, _ in poller.poll(remaining * 1000):
                poller.unregister(fd)
                sock = pending.pop(fd)
                connected += sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
                sock.close()
    finally:
        for sock in pending.values():
            sock.close()
    return connected
