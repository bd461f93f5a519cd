"""The client as a pipe tool: lines in, messages out, one line per message.

When standard input or output isn't a terminal (or with ``--raw``), each
input line is sent as a message and each message received is written as one
line, with control characters escaped so that it stays one line. Notices and
warnings go to standard error.
"""

from __future__ import annotations

import collections
from typing import TextIO

from ..typing import Data
from .display import Formatter
from .fdio import FdReader, LineSplitter, write_all

__all__ = ["Pipe"]


class Pipe:
    """Read lines from ``fd_in``; write messages to ``fd_out``, notices to ``stderr``.

    Args:
        fd_in: Where messages to send come from, one per line.
        fd_out: Where messages received go, one per line.
        stderr: Where notices go.
        formatter: Turns messages into lines.
    """

    def __init__(self, fd_in: int, fd_out: int, stderr: TextIO, formatter: Formatter) -> None:
        self.fd_out = fd_out
        self.stderr = stderr
        self.formatter = formatter
        self.reader = FdReader(fd_in)
        self.splitter = LineSplitter()
        # Lines read but not returned yet, and whether the input ended after them.
        self.pending: collections.deque[str] = collections.deque()
        self.ended = False

    def __enter__(self) -> Pipe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass

    def message(self, message: Data) -> None:
        """Write an incoming message as one line.

        Raises:
            BrokenPipeError: Nobody reads the output anymore.
        """
        write_all(
            self.fd_out, "".join(line + "\n" for line in self.formatter.message(message)).encode()
        )

    def notice(self, text: str) -> None:
        """Write a notice to standard error."""
        print(f"wskit: {text}", file=self.stderr, flush=True)

    def reject(self, line: str, reason: str) -> None:
        """Say why ``line`` isn't sent; it is skipped."""
        self.notice(f"skipped a line, {reason}")

    async def read_line(self) -> str | None:
        """Return the next input line; :obj:`None` at the end of the input.

        Cancelling this call loses nothing: data is only read once it is
        there, and lines that came together wait for the next calls.
        """
        while not (self.pending or self.ended):
            data = await self.reader.read()
            self.ended = not data
            # Invalid UTF-8 can't go in a text message: it becomes U+FFFD.
            self.pending.extend(line.decode(errors="replace") for line in self.splitter.feed(data))
        return self.pending.popleft() if self.pending else None
