"""The client's pipe mode: lines in, one line per message out, notices on stderr."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from wskit.cli.display import Formatter
from wskit.cli.pipe import Pipe


@contextmanager
def pipes() -> Iterator[tuple[Pipe, int, int, io.StringIO]]:
    """Yield a Pipe, the fd that feeds its input, the fd that reads its output, its stderr."""
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    stderr = io.StringIO()
    try:
        with Pipe(in_r, out_w, stderr, Formatter()) as pipe:
            yield pipe, in_w, out_r, stderr
    finally:
        for fd in (in_r, in_w, out_r, out_w):
            os.close(fd)


async def test_read_line_splits_chunks_into_lines() -> None:
    with pipes() as (pipe, to_pipe, _, _):
        os.write(to_pipe, b"one\r\ntw")
        assert await pipe.read_line() == "one"
        reading = asyncio.create_task(pipe.read_line())
        await asyncio.sleep(0.01)
        assert not reading.done()  # "tw" isn't a line yet
        os.write(to_pipe, b"o\nthree\n\xffend")
        assert await reading == "two"
        assert await pipe.read_line() == "three"
        # "\xffend" waits for its newline or the end of the input.
        reading = asyncio.create_task(pipe.read_line())
        await asyncio.sleep(0.01)
        assert not reading.done()
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading


async def test_read_line_returns_the_last_line_then_none() -> None:
    in_r, in_w = os.pipe()
    try:
        pipe = Pipe(in_r, 1, io.StringIO(), Formatter())
        os.write(in_w, b"a\n\xffb")
        os.close(in_w)
        in_w = -1
        assert await pipe.read_line() == "a"
        assert await pipe.read_line() == "\ufffdb"
        assert await pipe.read_line() is None
        assert await pipe.read_line() is None
    finally:
        os.close(in_r)
        if in_w >= 0:
            os.close(in_w)


async def test_cancelling_read_line_loses_nothing() -> None:
    with pipes() as (pipe, to_pipe, _, _):
        reading = asyncio.create_task(pipe.read_line())
        await asyncio.sleep(0.01)
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading
        os.write(to_pipe, b"kept\n")
        async with asyncio.timeout(5):
            assert await pipe.read_line() == "kept"


def test_messages_are_lines_and_notices_go_to_stderr() -> None:
    with pipes() as (pipe, _, from_pipe, stderr):
        pipe.message("a\nb")
        pipe.message(b"\x01\x02")
        assert os.read(from_pipe, 100) == b"a\\nb\n0102\n"
        pipe.notice("hello")
        pipe.reject("{x", "not JSON: oops")
        assert stderr.getvalue() == "wskit: hello\nwskit: skipped a line, not JSON: oops\n"
