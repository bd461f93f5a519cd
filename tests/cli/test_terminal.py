"""The interactive client's terminal, on a pseudo-terminal."""

from __future__ import annotations

import asyncio
import fcntl
import os
import struct
import termios
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from wskit.cli.display import Formatter
from wskit.cli.terminal import Terminal

from .support import Driver, Screen


@contextmanager
def pty() -> Iterator[tuple[int, int]]:
    master, slave = os.openpty()
    try:
        yield master, slave
    finally:
        os.close(master)
        os.close(slave)


def terminal(slave: int) -> Terminal:
    return Terminal(slave, slave, Formatter(interactive=True))


async def read_all(term: Terminal) -> list[str]:
    lines = []
    while (line := await term.read_line()) is not None:
        lines.append(line)
    assert await term.read_line() is None  # and again
    return lines


async def screen(driver: Driver, *expected: str) -> Screen:
    """Wait for each of ``expected`` to come out in turn; return the screen then."""
    for text in expected:
        await driver.expect(text)
    return Screen(driver.text)


def test_cbreak_mode_while_in_use_then_restored() -> None:
    with pty() as (_, slave):
        before = termios.tcgetattr(slave)
        with terminal(slave):
            lflag = termios.tcgetattr(slave)[3]
            assert not lflag & termios.ECHO
            assert not lflag & termios.ICANON
            assert lflag & termios.ISIG  # Ctrl-C is still a signal
        assert termios.tcgetattr(slave) == before


async def test_show_prints_above_the_line_being_typed() -> None:
    with pty() as (master, slave):
        driver = Driver(master, master)
        with terminal(slave) as term:
            term.editor.feed("half-typ")
            term.redraw()
            term.message("incoming")
            term.notice("note")
            shown = await screen(driver, "note", "> half-typ\x1b[K")
            assert shown.lines == ["< incoming", "* note", "> half-typ"]
            assert shown.col == len("> half-typ")
        # On exit the prompt line is erased, for the shell.
        shown = await screen(driver, "\r\x1b[K")
        assert shown.lines[-1] == ""


async def test_lines_yields_typed_lines_until_ctrl_d() -> None:
    with pty() as (master, slave):
        driver = Driver(master, master)
        with terminal(slave) as term:
            driver.type("one\r\rtw")
            driver.type("o\r\x04ignored\r")
            lines = await read_all(term)
        assert lines == ["one", "two"]
        shown = await screen(driver, "> two", "\n")
        # Submitted lines stay on screen as typed; an empty one is skipped.
        assert shown.lines[:2] == ["> one", "> two"]


async def test_lines_end_when_the_terminal_goes_away() -> None:
    master, slave = os.openpty()
    try:
        with terminal(slave) as term:
            os.close(master)
            master = -1
            lines = await read_all(term)
        assert lines == []
    finally:
        os.close(slave)
        if master >= 0:
            os.close(master)


async def test_reject_gives_the_line_back_for_editing() -> None:
    with pty() as (master, slave):
        driver = Driver(master, master)
        with terminal(slave) as term:
            term.reject("{not json", "not JSON: Expecting property name")
            shown = await screen(driver, "> {not json\x1b[K")
            assert shown.lines == ["* not JSON: Expecting property name", "> {not json"]
            driver.type("}\r\x04")
            assert await read_all(term) == ["{not json}"]


async def test_width_follows_the_window_size() -> None:
    with pty() as (master, slave):
        driver = Driver(master, master)
        with terminal(slave) as term:
            assert term.width() == 80  # a new pseudo-terminal has no size
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 12, 0, 0))
            assert term.width() == 12
            term.editor.feed("0123456789abcdef")
            term.redraw()
            shown = await screen(driver, "789abcdef\x1b[K")
            assert shown.cursor_line == "> 789abcdef"


def test_width_without_a_terminal() -> None:
    read_fd, write_fd = os.pipe()
    try:
        assert Terminal(read_fd, write_fd, Formatter()).width() == 80
    finally:
        os.close(read_fd)
        os.close(write_fd)


async def test_keys_typed_before_start_are_kept() -> None:
    with pty() as (master, slave):
        os.write(master, b"early\r")
        await asyncio.sleep(0.05)
        with terminal(slave) as term:
            os.write(master, b"\x04")
            assert await read_all(term) == ["early"]


async def test_cancelling_read_line_loses_nothing() -> None:
    with pty() as (master, slave), terminal(slave) as term:
        reading = asyncio.create_task(term.read_line())
        await asyncio.sleep(0.01)
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading
        os.write(master, b"kept\r")
        async with asyncio.timeout(5):
            assert await term.read_line() == "kept"
