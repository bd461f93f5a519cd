"""Standard input and output as file descriptors, read without blocking the event loop.

A thread blocked in ``read()`` would outlive the event loop when the peer
closes the connection first; waiting for readability with the loop instead
leaves nothing behind. Regular files can't be watched that way, but reading
them never blocks, so they are read directly.
"""

from __future__ import annotations

import asyncio
import os

__all__ = ["FdReader", "LineSplitter", "write_all"]

CHUNK = 2**16


class FdReader:
    """Read chunks of bytes from ``fd`` as they become available.

    Args:
        fd: A pipe, terminal, socket or regular file, open for reading.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.watchable = True

    async def read(self) -> bytes:
        """Return the next chunk; ``b""`` at the end of the input."""
        if self.watchable:
            try:
                await self.readable()
            except PermissionError:  # epoll refuses regular files
                self.watchable = False
        try:
            return os.read(self.fd, CHUNK)
        except OSError:
            # EIO: the terminal went away (hangup), which ends the input too.
            return b""

    async def readable(self) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake_up() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(self.fd, wake_up)
        try:
            await ready
        finally:
            loop.remove_reader(self.fd)


class LineSplitter:
    """Cut a byte stream into lines, without their ``\\n`` or ``\\r\\n``."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return the lines it completes. ``b""`` marks the end of input."""
        if not data:
            rest, self.buffer = self.buffer, b""
            return [rest] if rest else []
        *lines, self.buffer = (self.buffer + data).split(b"\n")
        return [line.removesuffix(b"\r") for line in lines]


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to ``fd``, which may take several writes.

    Raises:
        BrokenPipeError: The reader went away (``wskit ... | head -1``).
    """
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
