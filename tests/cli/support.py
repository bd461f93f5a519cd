"""Helpers of the command-line tests.

- :func:`running_client` runs ``wskit connect`` in the test's event loop, on
  pipes or on a pseudo-terminal, with a :class:`Driver` to type and read;
- :class:`Screen` is a tiny terminal emulator that knows only the escape
  sequences the client may send, and fails on anything else;
- :func:`wskit_server` serves a handler on a free port of 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from wskit.asyncio.server import ServerConnection, serve
from wskit.cli import client
from wskit.cli.fdio import FdReader
from wskit.cli.parser import build_parser, with_command

TIMEOUT = 10  # seconds, for any single wait


class Screen:
    """What a terminal shows after some output.

    It understands printable characters, ``\\r``, ``\\n``, erase to the end of
    the line (``ESC [ K``) and cursor moves left and right (``ESC [ n D``,
    ``ESC [ n C``): all the interactive client needs. Anything else, such as
    a control sequence from a hostile peer, raises :exc:`AssertionError`.
    """

    SEQUENCE = re.compile(r"\x1b\[(\d*)([A-Za-z])")

    def __init__(self, text: str = "") -> None:
        self.lines = [""]
        self.row = 0
        self.col = 0
        self.feed(text)

    def feed(self, text: str) -> None:
        index = 0
        while index < len(text):
            char = text[index]
            if char == "\x1b":
                match = self.SEQUENCE.match(text, index)
                if match is None or match[2] not in "KDC":
                    raise AssertionError(
                        f"unexpected escape sequence: {text[index : index + 10]!r}"
                    )
                self.escape(int(match[1] or "1"), match[2])
                index = match.end()
                continue
            if char == "\r":
                self.col = 0
            elif char == "\n":
                self.row += 1
                if self.row == len(self.lines):
                    self.lines.append("")
            elif char.isprintable():
                line = self.lines[self.row].ljust(self.col)
                self.lines[self.row] = line[: self.col] + char + line[self.col + 1 :]
                self.col += 1
            else:
                raise AssertionError(f"unexpected control character: {char!r}")
            index += 1

    def escape(self, count: int, command: str) -> None:
        if command == "K":
            self.lines[self.row] = self.lines[self.row][: self.col]
        elif command == "D":
            self.col = max(self.col - count, 0)
        else:
            self.col += count

    @property
    def cursor_line(self) -> str:
        return self.lines[self.row]


class Driver:
    """Type into the client's input; wait for its output."""

    def __init__(self, write_fd: int, read_fd: int) -> None:
        self.write_fd = write_fd
        self.reader = FdReader(read_fd)
        self.output = b""
        self.position = 0  # in the decoded output: what expect() already matched

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")

    def type(self, keys: str) -> None:
        os.write(self.write_fd, keys.encode())

    async def expect(self, text: str, timeout: float = TIMEOUT) -> None:
        """Wait until ``text`` comes out after what the previous call matched."""
        try:
            async with asyncio.timeout(timeout):
                while (index := self.text.find(text, self.position)) < 0:
                    if not await self.read():
                        raise EOFError
        except (TimeoutError, EOFError):
            raise AssertionError(f"{text!r} never came; output: {self.text!r}") from None
        self.position = index + len(text)

    async def read(self) -> bool:
        data = await self.reader.read()
        self.output += data
        return bool(data)

    async def read_to_end(self) -> str:
        async with asyncio.timeout(TIMEOUT):
            while await self.read():
                pass
        return self.text


@dataclasses.dataclass
class Client:
    """``wskit connect`` running in a task."""

    task: asyncio.Task[int]
    driver: Driver
    stderr: io.StringIO
    # The client's ends of its pipes or its terminal, closed once it returns,
    # and the test's ends.
    own_fds: list[int]
    test_fds: list[int]

    def close_input(self) -> None:
        """End the client's piped input."""
        self.test_fds.remove(self.driver.write_fd)
        os.close(self.driver.write_fd)

    async def status(self) -> int:
        """Wait for the exit status; then the output can be read to its end."""
        async with asyncio.timeout(TIMEOUT):
            status = await asyncio.shield(self.task)
        close_all(self.own_fds)
        return status

    async def finish(self) -> tuple[int, str]:
        """Wait for the exit status and return it with the whole output."""
        status = await self.status()
        return status, await self.driver.read_to_end()


def close_all(fds: list[int]) -> None:
    while fds:
        os.close(fds.pop())


@contextlib.asynccontextmanager
async def running_client(*argv: str, tty: bool = False) -> AsyncIterator[Client]:
    """Run ``wskit [connect] ARGV...`` on pipes, or on a pseudo-terminal with ``tty``."""
    args = build_parser().parse_args(with_command(list(argv)))
    stderr = io.StringIO()
    if tty:
        master, slave = os.openpty()
        test_fds, own_fds = [master], [slave]
        driver = Driver(master, master)
        stdin = stdout = slave
    else:
        stdin, to_client = os.pipe()
        from_client, stdout = os.pipe()
        test_fds, own_fds = [to_client, from_client], [stdin, stdout]
        driver = Driver(to_client, from_client)
    task = asyncio.create_task(client.run(args, stdin=stdin, stdout=stdout, stderr=stderr))
    try:
        yield Client(task, driver, stderr, own_fds, test_fds)
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        close_all(own_fds)
        close_all(test_fds)


@contextlib.asynccontextmanager
async def wskit_server(
    handler: Callable[[ServerConnection], Awaitable[None]], **kwargs: Any
) -> AsyncIterator[str]:
    """Serve ``handler`` on 127.0.0.1; yield its ``ws://`` URI."""
    async with serve(handler, "127.0.0.1", 0, **kwargs) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"{'wss' if 'ssl' in kwargs else 'ws'}://127.0.0.1:{port}/"


async def echo(websocket: ServerConnection) -> None:
    async for message in websocket:
        await websocket.send(message)
