"""``wskit serve --exec``: a process per connection, bridged to the WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from wskit.asyncio.client import ClientConnection, connect
from wskit.asyncio.server import ServerConnection
from wskit.cli.bridge import bridge
from wskit.exceptions import ConnectionClosedError

from .support import TIMEOUT, wskit_server

PYTHON = shlex.quote(sys.executable)
GRACE = 0.2


@asynccontextmanager
async def bridged(command: str, grace: float = GRACE) -> AsyncIterator[ClientConnection]:
    """Serve ``command`` with --exec; yield a client connected to it."""
    handled = asyncio.Event()

    async def handler(websocket: ServerConnection) -> None:
        try:
            await bridge(websocket, command, grace)
        finally:
            handled.set()

    async with wskit_server(handler) as uri, connect(uri) as websocket:
        yield websocket
        await websocket.close()
        # The handler is done: no process is left behind.
        async with asyncio.timeout(TIMEOUT):
            await handled.wait()


def state(pid: int) -> str | None:
    """Return the state of process ``pid`` (R, S, Z...), or None if there's none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


async def gone(pid: int) -> bool:
    """Tell whether ``pid`` ended (a zombie counts: its orphans wait for init)."""
    async with asyncio.timeout(TIMEOUT):  # a signal takes a moment to land
        while state(pid) not in (None, "Z"):
            await asyncio.sleep(0.02)
    return True


async def recv(websocket: ClientConnection) -> str | bytes:
    async with asyncio.timeout(TIMEOUT):
        return await websocket.recv()


async def test_messages_are_input_lines_and_output_lines_are_messages() -> None:
    async with bridged("cat") as websocket:
        await websocket.send("hello")
        assert await recv(websocket) == "hello"
        await websocket.send("two\nlines")
        assert await recv(websocket) == "two"
        assert await recv(websocket) == "lines"
        await websocket.send(b"bin")  # binary messages are written as they are
        await websocket.send(b"ary\n")
        assert await recv(websocket) == "binary"
        await websocket.send("caf\u00e9")
        assert await recv(websocket) == "caf\u00e9"


async def test_a_successful_exit_closes_with_1000_after_the_output() -> None:
    async with bridged("echo one; echo two") as websocket:
        assert [message async for message in websocket] == ["one", "two"]
        assert websocket.close_code == 1000


async def test_a_failed_exit_closes_with_1011() -> None:
    async with bridged("read line; echo got $line; exit 3") as websocket:
        await websocket.send("it")
        assert await recv(websocket) == "got it"
        with pytest.raises(ConnectionClosedError):
            await recv(websocket)
        assert (websocket.close_code, websocket.close_reason) == (1011, "command exited with 3")


async def test_output_without_final_newline_is_sent() -> None:
    async with bridged("printf 'no newline'") as websocket:
        assert [message async for message in websocket] == ["no newline"]


async def test_closing_the_connection_ends_the_input() -> None:
    # The command reports its PID, then waits for the end of its input.
    async with bridged("echo $$; cat > /dev/null") as websocket:
        pid = int(await recv(websocket))
        assert state(pid) not in (None, "Z")
    assert await gone(pid)


async def test_a_process_that_ignores_its_input_ending_is_terminated() -> None:
    script = "import os, time; print(os.getpid(), flush=True); time.sleep(60)"
    async with bridged(f"exec {PYTHON} -c {shlex.quote(script)}") as websocket:
        pid = int(await recv(websocket))
    assert await gone(pid)


async def test_a_process_that_ignores_sigterm_is_killed() -> None:
    script = (
        "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print(os.getpid(), flush=True); time.sleep(60)"
    )
    async with bridged(f"exec {PYTHON} -c {shlex.quote(script)}") as websocket:
        pid = int(await recv(websocket))
    assert await gone(pid)


async def test_background_processes_are_killed_too() -> None:
    # sh exits at once; its background child holds the output open.
    async with bridged("sleep 60 & echo $!") as websocket:
        pid = int(await recv(websocket))
    assert await gone(pid)


async def test_a_pipeline_is_stopped_as_a_whole() -> None:
    async with bridged("cat | cat") as websocket:
        await websocket.send("through two processes")
        assert await recv(websocket) == "through two processes"


async def test_a_process_that_closes_its_input_still_gets_messages_dropped() -> None:
    async with bridged("exec 0<&-; echo ready; sleep 60") as websocket:
        assert await recv(websocket) == "ready"
        for _ in range(3):  # writes fail: the bridge stops feeding, quietly
            await websocket.send("into the void")


async def test_cancelled_bridge_kills_the_process() -> None:
    tasks: list[asyncio.Task[None]] = []

    async def handler(websocket: ServerConnection) -> None:
        task = asyncio.create_task(bridge(websocket, "echo $$; exec sleep 60", GRACE))
        tasks.append(task)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async with wskit_server(handler) as uri, connect(uri) as websocket:
        pid = int(await recv(websocket))
        tasks[0].cancel()
        await asyncio.wait(tasks, timeout=TIMEOUT)
        assert tasks[0].cancelled()
        assert await gone(pid)
