"""Reading standard input without blocking the loop; writing all of the output."""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading

import pytest

from wskit.cli.fdio import FdReader, LineSplitter, write_all


async def test_reads_a_pipe_as_data_arrives() -> None:
    read_fd, write_fd = os.pipe()
    try:
        reader = FdReader(read_fd)
        pending = asyncio.create_task(reader.read())
        await asyncio.sleep(0.01)
        assert not pending.done()  # waiting, without blocking the loop
        os.write(write_fd, b"hello")
        assert await asyncio.wait_for(pending, 5) == b"hello"
        os.close(write_fd)
        write_fd = -1
        assert await asyncio.wait_for(reader.read(), 5) == b""
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)


async def test_cancelled_read_leaves_no_reader_behind() -> None:
    read_fd, write_fd = os.pipe()
    try:
        pending = asyncio.create_task(FdReader(read_fd).read())
        await asyncio.sleep(0.01)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        loop = asyncio.get_running_loop()
        assert not loop.remove_reader(read_fd)  # already removed
    finally:
        os.close(read_fd)
        os.close(write_fd)


async def test_reads_a_regular_file_directly() -> None:
    with tempfile.TemporaryFile() as file:
        file.write(b"line 1\nline 2\n")
        file.flush()
        file.seek(0)
        reader = FdReader(file.fileno())
        assert await reader.read() == b"line 1\nline 2\n"
        assert not reader.watchable
        assert await reader.read() == b""


async def test_a_hung_up_terminal_ends_the_input() -> None:
    master, slave = os.openpty()
    try:
        reader = FdReader(master)
        os.close(slave)
        slave = -1
        assert await asyncio.wait_for(reader.read(), 5) == b""  # EIO
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def test_line_splitter() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"one\r\ntw") == [b"one"]
    assert splitter.feed(b"o\n\nthree") == [b"two", b""]
    assert splitter.feed(b"") == [b"three"]
    assert splitter.feed(b"") == []


def test_write_all_loops_over_partial_writes() -> None:
    read_fd, write_fd = os.pipe()
    try:
        data = os.urandom(300_000)  # more than a pipe holds: several writes
        received = bytearray()

        def drain() -> None:
            while len(received) < len(data):
                received.extend(os.read(read_fd, 65536))

        thread = threading.Thread(target=drain)
        thread.start()
        write_all(write_fd, data)
        thread.join(10)
        assert bytes(received) == data
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_write_all_to_a_closed_pipe_raises_broken_pipe() -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    try:
        with pytest.raises(BrokenPipeError):
            write_all(write_fd, b"nobody listens")
    finally:
        os.close(write_fd)
