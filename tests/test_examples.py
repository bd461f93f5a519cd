"""Every example in examples/ runs and does what it says."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import pytest

from wskit.asyncio.client import ClientConnection, connect

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def test_sansio_pair() -> None:
    lines = run_example("sansio_pair.py").splitlines()
    assert "client received HTTP 101 Switching Protocols" in lines
    assert "server received TEXT 'Hello, wskit!' [13 bytes]" in lines
    assert "client received TEXT 'frag' [4 bytes, continued]" in lines
    assert "client received CONT 'ment' [text, 4 bytes]" in lines
    assert "server received CLOSE 1000 (OK) goodbye [9 bytes]" in lines
    compressed = next(line for line in lines if line.startswith("server sent 9000 bytes"))
    assert int(compressed.split(" in ")[1].split()[0]) < 1000
    assert lines[-2].startswith("client: CLOSED, ConnectionClosedOK(")
    assert lines[-1].startswith("server: CLOSED, ConnectionClosedOK(")


# The asyncio examples: each server runs in a subprocess on a free port, and
# the test talks to it over 127.0.0.1 as a browser or a client would.

TIMEOUT = 10  # seconds, for every single wait below
TICK = "0.05"  # seconds between clock ticks, so the clocks tests take little time


class ExampleServer:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port
        self.stopping = False

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Ask the server to stop, once: a second signal may hit the process as it exits."""
        if not self.stopping:
            self.stopping = True
            self.process.send_signal(signum)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running(
    script: str, scheme: str, *, port_from_env: bool = False, **env: str
) -> Iterator[ExampleServer]:
    """Run an example server until the end of the block, then stop it with SIGTERM.

    The port goes on the command line, or in ``PORT`` with ``port_from_env``.

    The server must say where it listens on its first line, exit with 0 on
    SIGTERM and write nothing to stderr (no warning, no traceback).
    """
    port = free_port()
    if port_from_env:
        args, env = [], {**env, "PORT": str(port)}
    else:
        args = [str(port)]
    lines: queue.Queue[str | None] = queue.Queue()

    def read_lines(stdout: IO[str]) -> None:
        for line in stdout:
            lines.put(line)
        lines.put(None)  # end of output: the process exited

    with (
        tempfile.TemporaryFile("w+") as stderr,
        subprocess.Popen(
            [sys.executable, "-W", "error", str(EXAMPLES / script), *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, **env},
        ) as process,
    ):
        assert process.stdout is not None
        reader = threading.Thread(target=read_lines, args=(process.stdout,))
        reader.start()
        server = ExampleServer(process, port)
        try:
            line = lines.get(timeout=TIMEOUT)
            assert line == f"Serving on {scheme}://127.0.0.1:{port}\n", read_all(stderr)
            yield server
        finally:
            server.stop()
            try:
                returncode = process.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(TIMEOUT)
                raise
            finally:
                reader.join(TIMEOUT)
        assert returncode == 0, read_all(stderr)
        assert read_all(stderr) == ""


def read_all(file: IO[str]) -> str:
    file.seek(0)
    return file.read()


def run_client(script: str, port: int, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-W", "error", str(EXAMPLES / script), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, "PORT": str(port)},
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    return result.stdout


def fetch_page(port: int) -> str:
    """GET / like a browser would; return the page, after checking it's HTML."""
    url = f"http://127.0.0.1:{port}/"
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        page: str = response.read().decode()
    assert page.startswith("<!DOCTYPE html>")
    assert "new WebSocket(" in page
    with pytest.raises(urllib.error.HTTPError) as exc_info:
        urllib.request.urlopen(f"{url}missing", timeout=TIMEOUT)
    with exc_info.value as error:
        assert error.code == 404
    return page


async def receive_texts(websocket: ClientConnection, count: int) -> list[str]:
    messages = []
    for _ in range(count):
        message = await websocket.recv()
        assert isinstance(message, str)
        messages.append(message)
    return messages


def check_timestamps(messages: list[str]) -> None:
    """The messages are the current time, in ISO 8601, strictly increasing."""
    times = [datetime.fromisoformat(message) for message in messages]
    now = datetime.now(UTC)
    for time in times:
        assert time.tzinfo is not None
        assert abs(now - time) < timedelta(seconds=TIMEOUT)
    assert all(earlier < later for earlier, later in itertools.pairwise(times))


def test_hello() -> None:
    with running("hello_server.py", "ws") as server:
        assert run_client("hello_client.py", server.port, "Alice") == "Hello Alice!\n"
        output = run_client("hello_client.py", server.port, stdin="Bob\n")
        assert output == "What's your name? Hello Bob!\n"


def test_hello_port_from_environment_and_ctrl_c() -> None:
    with running("hello_server.py", "ws", port_from_env=True) as server:
        assert run_client("hello_client.py", server.port, "Carol") == "Hello Carol!\n"
        server.stop(signal.SIGINT)  # Ctrl-C: exits with 0 too, without a traceback


def test_hello_on_trio() -> None:
    with running("trio/hello_server.py", "ws") as server:
        assert run_client("trio/hello_client.py", server.port, "Alice") == "Hello Alice!\n"
        output = run_client("trio/hello_client.py", server.port, stdin="Bob\n")
        assert output == "What's your name? Hello Bob!\n"
        # Either client talks to either server.
        assert run_client("hello_client.py", server.port, "Dave") == "Hello Dave!\n"
    with running("hello_server.py", "ws") as server:
        assert run_client("trio/hello_client.py", server.port, "Erin") == "Hello Erin!\n"


def test_hello_on_trio_stops_on_ctrl_c() -> None:
    with running("trio/hello_server.py", "ws", port_from_env=True) as server:
        assert run_client("trio/hello_client.py", server.port, "Carol") == "Hello Carol!\n"
        server.stop(signal.SIGINT)  # Ctrl-C: exits with 0 too, without a traceback


def test_hello_tls() -> None:
    with running("hello_server_tls.py", "wss") as server:
        assert run_client("hello_client_tls.py", server.port, "Alice") == "Hello Alice!\n"
        # The server speaks TLS only: a plain ws:// client can't get in.
        output = subprocess.run(
            [sys.executable, str(EXAMPLES / "hello_client.py"), "Mallory"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env={**os.environ, "PORT": str(server.port)},
            check=False,
        )
        assert output.returncode != 0
        assert "Hello" not in output.stdout


def test_clock() -> None:
    with running("clock/server.py", "http", INTERVAL=TICK) as server:
        fetch_page(server.port)

        async def main() -> None:
            uri = f"ws://127.0.0.1:{server.port}/"
            async with asyncio.timeout(TIMEOUT), connect(uri) as websocket:
                check_timestamps(await receive_texts(websocket, 3))
                # Stopping the server closes the connection properly.
                server.stop()
                await websocket.wait_closed()
                assert websocket.close_code == 1001  # going away

        asyncio.run(main())


def test_clock_broadcast() -> None:
    with running("clock_broadcast/server.py", "http", INTERVAL=TICK) as server:
        fetch_page(server.port)

        async def main() -> None:
            uri = f"ws://127.0.0.1:{server.port}/"
            count = 6
            async with asyncio.timeout(TIMEOUT), connect(uri) as first, connect(uri) as second:
                one, two = await asyncio.gather(
                    receive_texts(first, count), receive_texts(second, count)
                )
                check_timestamps(one)
                check_timestamps(two)
                # The second client joined after the first, maybe a tick or two
                # later: from then on, both got the very same timestamps.
                if two[0] not in one:
                    one, two = two, one  # the second client got the first tick
                assert two[0] in one, (one, two)
                skipped = one.index(two[0])
                assert one[skipped:] == two[: count - skipped]
                assert count - skipped >= 3
                server.stop()
                await first.wait_closed()
                await second.wait_closed()
                assert first.close_code == second.close_code == 1001

        asyncio.run(main())


class CounterTab:
    """A client of the counter example that keeps what its page would show."""

    def __init__(self, websocket: ClientConnection) -> None:
        self.websocket = websocket
        self.shown: dict[str, int] = {}

    async def click(self, action: str) -> None:
        await self.websocket.send(json.dumps({"action": action}))

    async def wait_for(self, **expected: int) -> None:
        """Read messages until the page shows what's expected."""
        while any(self.shown.get(key) != value for key, value in expected.items()):
            message = json.loads(await self.websocket.recv())
            if message["type"] == "value":
                self.shown["value"] = message["value"]
            else:
                assert message["type"] == "users"
                self.shown["users"] = message["count"]


def test_counter() -> None:
    with running("counter/server.py", "http") as server:
        page = fetch_page(server.port)
        assert "online" in page

        async def main() -> None:
            uri = f"ws://127.0.0.1:{server.port}/"
            async with asyncio.timeout(TIMEOUT), connect(uri) as ws1, connect(uri) as ws2:
                async with connect(uri) as ws3:
                    tabs = [CounterTab(ws) for ws in (ws1, ws2, ws3)]
                    for tab in tabs:
                        await tab.wait_for(value=0, users=3)
                    await tabs[0].click("plus")
                    for tab in tabs:
                        await tab.wait_for(value=1)
                    await tabs[1].click("plus")
                    for tab in tabs:
                        await tab.wait_for(value=2)
                    await tabs[2].click("minus")
                    for tab in tabs:
                        await tab.wait_for(value=1)
                # The third tab left: the others see it, and nothing else changed.
                for tab in tabs[:2]:
                    await tab.wait_for(users=2)
                    assert tab.shown == {"value": 1, "users": 2}

            # A newcomer sees the current value.
            async with asyncio.timeout(TIMEOUT), connect(uri) as websocket:
                tab = CounterTab(websocket)
                await tab.wait_for(users=1)
                await tab.wait_for(value=1)

        asyncio.run(main())
