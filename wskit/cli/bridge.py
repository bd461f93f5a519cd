"""``wskit serve --exec``: one process per connection, bridged to the WebSocket.

Each text message received becomes a line on the process's standard input
(binary messages are written as they are); each line of its standard output
becomes a text message. When the process exits, the connection closes with
1000 if it succeeded and 1011 if not; when the connection closes, the
process's input ends, and a process that doesn't exit then gets SIGTERM,
then SIGKILL.

The command runs in a session of its own, so that these signals reach every
process it started (``sh -c "a | b"``), and whatever it left running in the
background is killed when the connection is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from typing import cast

from ..asyncio.server import ServerConnection
from ..exceptions import ConnectionClosed
from ..frames import CloseCode
from ..protocol import State
from .fdio import CHUNK, LineSplitter

__all__ = ["bridge"]

GRACE = 2.0
"""Seconds a process gets to exit at the end of its input, then after SIGTERM."""


async def bridge(websocket: ServerConnection, command: str, grace: float = GRACE) -> None:
    """Run ``command`` with ``/bin/sh`` and relay between it and ``websocket``.

    Args:
        websocket: The connection.
        command: Shell command to run for this connection.
        grace: Seconds the process gets to exit once its input ended, and
            again after SIGTERM, before SIGKILL.
    """
    process = await asyncio.create_subprocess_shell(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True
    )
    # PIPE gives streams.
    stdin = cast(asyncio.StreamWriter, process.stdin)
    stdout = cast(asyncio.StreamReader, process.stdout)
    feeder = asyncio.create_task(feed(websocket, stdin))
    pumper = asyncio.create_task(pump(stdout, websocket))
    try:
        # Either the connection closed (and the input with it) or the output ended.
        await asyncio.wait({feeder, pumper}, return_when=asyncio.FIRST_COMPLETED)
        status = await stop(process, grace)
        # What the process wrote before exiting still goes out.
        await asyncio.wait({pumper}, timeout=grace)
        if websocket.protocol.state is State.OPEN:
            if status == 0:
                await websocket.close()
            else:
                await websocket.close(CloseCode.INTERNAL_ERROR, f"command exited with {status}")
    finally:
        feeder.cancel()
        pumper.cancel()
        signal_group(process, signal.SIGKILL)
        if process.returncode is None:  # the handler was cancelled
            await process.wait()


async def feed(websocket: ServerConnection, stdin: asyncio.StreamWriter) -> None:
    """Write messages to the process until the connection or the process ends."""
    try:
        async for message in websocket:
            stdin.write(message.encode() + b"\n" if isinstance(message, str) else message)
            await stdin.drain()
    except (ConnectionClosed, ConnectionError):  # BrokenPipeError: the process is gone
        pass
    finally:
        stdin.close()


async def pump(stdout: asyncio.StreamReader, websocket: ServerConnection) -> None:
    """Send the process's output, line by line, until it ends or the connection does."""
    splitter = LineSplitter()
    try:
        while True:
            data = await stdout.read(CHUNK)
            for line in splitter.feed(data):
                await websocket.send(line.decode(errors="replace"))
            if not data:
                return
    except ConnectionClosed:
        pass


async def stop(process: asyncio.subprocess.Process, grace: float) -> int:
    """Wait for ``process`` to exit, escalating to SIGTERM then SIGKILL; return its status."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            return await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            signal_group(process, signum)
    return await process.wait()


def signal_group(process: asyncio.subprocess.Process, signum: int) -> None:
    """Send ``signum`` to every process left in the session of ``process``."""
    # Its process group is named after it, and lives while any member does.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)
