"""``wskit demo``: the page's files, the counter, users online, the clock.

The page itself, in a browser, is tested in test_browser.py.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest

from wskit.asyncio.client import ClientConnection, connect
from wskit.asyncio.server import ServerConnection
from wskit.cli.demo import Demo, running
from wskit.cli.demo import run as run_demo
from wskit.cli.parser import build_parser
from wskit.exceptions import InvalidStatus

from .support import TIMEOUT

TICK = 0.05


@asynccontextmanager
async def demo() -> AsyncIterator[str]:
    """Serve the demo with a fast clock; yield host:port."""
    async with running("127.0.0.1", 0, tick=TICK) as server:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def get(address: str, path: str) -> tuple[str, dict[str, str], bytes]:
    """Send a plain HTTP GET; return the status line, headers and body."""
    host, port = address.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n".encode())
        async with asyncio.timeout(TIMEOUT):
            response = await reader.read()  # the demo closes after answering
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = response.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return status, headers, body


async def recv_json(websocket: ClientConnection) -> Any:
    async with asyncio.timeout(TIMEOUT):
        return json.loads(await websocket.recv())


@pytest.mark.parametrize(
    ("path", "media_type", "content"),
    [
        ("/", "text/html; charset=utf-8", b'<script src="demo.js" defer></script>'),
        ("/?from=test", "text/html; charset=utf-8", b"<title>wskit demo</title>"),
        ("/demo.css", "text/css; charset=utf-8", b"#clock"),
        ("/demo.js", "text/javascript; charset=utf-8", b'endpoint("/counter")'),
        ("/favicon.svg", "image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg"'),
        ("/favicon.ico", "image/svg+xml", b'<svg xmlns="http://www.w3.org/2000/svg"'),
    ],
)
async def test_serves_the_page(path: str, media_type: str, content: bytes) -> None:
    async with demo() as address:
        status, headers, body = await get(address, path)
    assert status == "HTTP/1.1 200 OK"
    assert headers["Content-Type"] == media_type
    assert headers["Content-Length"] == str(len(body))
    assert headers["Content-Security-Policy"] == "default-src 'self'"
    assert content in body


async def test_unknown_paths_are_not_found() -> None:
    async with demo() as address:
        status, _, _ = await get(address, "/secret")
        assert status == "HTTP/1.1 404 Not Found"
        with pytest.raises(InvalidStatus) as raised:
            await connect(f"ws://{address}/elsewhere")
        assert raised.value.response.status_code == 404


async def test_other_sites_cannot_connect() -> None:
    async with demo() as address:
        with pytest.raises(InvalidStatus) as raised:
            await connect(f"ws://{address}/counter", origin="https://evil.test")  # type: ignore[arg-type]
        assert raised.value.response.status_code == 403
        # The page's own origin, and clients that aren't browsers, may.
        for origin in (f"http://{address}", None):
            async with connect(f"ws://{address}/counter", origin=origin) as websocket:  # type: ignore[arg-type]
                assert await recv_json(websocket) == {"users": 1}


async def test_counter_is_shared_with_users_online() -> None:
    async with demo() as address:
        uri = f"ws://{address}/counter"
        async with connect(uri) as first:
            assert await recv_json(first) == {"users": 1}
            assert await recv_json(first) == {"value": 0}
            async with connect(uri) as second:
                assert await recv_json(first) == {"users": 2}
                assert await recv_json(second) == {"users": 2}
                assert await recv_json(second) == {"value": 0}
                await first.send("+")
                await first.send("+")
                await second.send("-")
                for websocket in (first, second):
                    assert [await recv_json(websocket) for _ in range(3)] == [
                        {"value": 1},
                        {"value": 2},
                        {"value": 1},
                    ]
                # Anything else is ignored.
                await second.send("*")
                await second.send(b"+")
                await second.send("+")
                assert await recv_json(first) == {"value": 2}
            assert await recv_json(first) == {"users": 1}
        # The value outlives the users.
        async with connect(uri) as third:
            assert await recv_json(third) == {"users": 1}
            assert await recv_json(third) == {"value": 2}


async def test_clock_ticks_in_every_tab_at_once() -> None:
    async with demo() as address:
        uri = f"ws://{address}/clock"
        async with connect(uri) as first, connect(uri) as second:
            # Each tab gets the time at once, then every tick.
            first_times = [(await recv_json(first))["time"] for _ in range(8)]
            second_times = [(await recv_json(second))["time"] for _ in range(8)]
    # Ticks are broadcast: after the first message, both tabs got the same
    # ones, which carry the time of the tick itself.
    common = set(first_times[1:]) & set(second_times[1:])
    assert len(common) >= 2
    assert all(time_ms % round(TICK * 1000) == 0 for time_ms in common)
    assert first_times == sorted(first_times)


async def test_a_tab_opened_while_a_tick_is_late_gets_the_time_of_that_tick() -> None:
    # Else its clock would go back when the late tick arrives.
    demo = Demo(TICK)
    demo.next_tick = time.time() - TICK
    sent: list[str] = []

    class Tab:
        async def send(self, message: str) -> None:
            sent.append(message)

        async def wait_closed(self) -> None:
            pass

    await demo.clock(cast(ServerConnection, Tab()))
    assert [json.loads(message) for message in sent] == [{"time": round(demo.next_tick * 1000)}]
    assert not demo.clocks


async def test_run_prints_the_url_and_stops_on_sigterm() -> None:
    out = io.StringIO()
    task = asyncio.create_task(run_demo(build_parser().parse_args(["demo", "--port", "0"]), out))
    async with asyncio.timeout(TIMEOUT):
        while not out.getvalue().endswith("\n"):
            await asyncio.sleep(0.01)
    match = re.fullmatch(
        r"wskit demo: open (http://127\.0\.0\.1:(\d+)/) in several tabs; Ctrl-C stops\n",
        out.getvalue(),
    )
    assert match is not None
    status, _, _ = await get(f"127.0.0.1:{match[2]}", "/")
    assert status == "HTTP/1.1 200 OK"
    os.kill(os.getpid(), signal.SIGTERM)
    async with asyncio.timeout(TIMEOUT):
        assert await task == 0


async def test_run_explains_a_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        args = build_parser().parse_args(["demo", "--port", str(port)])
        assert await run_demo(args, io.StringIO()) == 3
    assert (
        capsys.readouterr().err == f"wskit: cannot use 127.0.0.1:{port}: Address already in use\n"
    )
