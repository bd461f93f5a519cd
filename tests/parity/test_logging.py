"""Logs: logger names, how frames read, and keeping a websockets logging setup."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from .runner import WSKIT, Lib, run, same

FRAME_LINE = re.compile(r"[<>] (TEXT|BINARY|CONT|PING|PONG|CLOSE) ")


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def recording(name: str, level: int = logging.DEBUG) -> Iterator[Records]:
    logger = logging.getLogger(name)
    handler = Records()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


async def talk(lib: Lib) -> None:
    """A server and a client exchange a text, a binary, a ping and close."""

    async def handler(websocket: Any) -> None:
        async for message in websocket:
            await websocket.send(message)

    async with lib.mod("asyncio.server").serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        uri = f"ws://127.0.0.1:{port}/"
        async with lib.mod("asyncio.client").connect(uri, compression=None) as client:
            await client.send("hello")
            await client.recv()
            await client.send(b"\x00\xff")
            await client.recv()
            pong = await client.ping(b"ping")
            await pong
            await client.send(["frag", "ments"])
            await client.recv()
        await asyncio.sleep(0)


def test_logger_names_follow_the_package_name() -> None:
    # wskit.server and wskit.client, as websockets.server and websockets.client.
    async def scenario(lib: Lib) -> Any:
        with recording(lib.name) as handler:
            await talk(lib)
        return sorted({record.name.removeprefix(lib.name) for record in handler.records})

    assert same(scenario) == [".client", ".server"]


def test_frames_read_the_same_in_debug_logs() -> None:
    async def scenario(lib: Lib) -> Any:
        with recording(lib.name) as handler:
            await talk(lib)
        return sorted(
            (record.name.removeprefix(lib.name), record.getMessage())
            for record in handler.records
            if FRAME_LINE.match(record.getMessage())
        )

    lines = same(scenario)
    assert (".client", "> PING 'ping' [text, 4 bytes]") in lines
    assert (".server", "< TEXT 'frag' [4 bytes, continued]") in lines


@pytest.mark.parametrize(
    ("level", "expected"), [(logging.DEBUG, True), (logging.INFO, False)], ids=["debug", "info"]
)
def test_a_websockets_logging_setup_hears_wskit_with_one_line(level: int, expected: bool) -> None:
    # The README's one-liner for a migration that keeps its logging setup:
    # wskit's records go where websockets' went, under the levels set there.
    wskit_logger = logging.getLogger("wskit")
    saved_parent = wskit_logger.parent
    try:
        wskit_logger.parent = logging.getLogger("websockets")
        with recording("websockets", level) as handler:
            run(talk, WSKIT)
    finally:
        wskit_logger.parent = saved_parent
    names = {record.name for record in handler.records}
    assert "wskit.server" in names  # "server listening on ..." at INFO
    assert names <= {"wskit.client", "wskit.server"}
    assert any(record.levelno == logging.DEBUG for record in handler.records) is expected
    # Without the line, nothing reaches that setup.
    with recording("websockets") as handler:
        run(talk, WSKIT)
    assert handler.records == []
