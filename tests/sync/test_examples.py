"""The threaded examples in examples/sync/ run and do what they say.

Each server runs in a subprocess on a free port; the test waits for the line
that says where it listens, talks to it, then stops it with a signal and
checks that it exits with 0 and writes nothing to stderr.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from wskit.exceptions import ConnectionClosedOK
from wskit.frames import CloseCode
from wskit.sync.client import ClientConnection, connect

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

TIMEOUT = 10  # seconds, for every single wait below


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def read_all(file: IO[str]) -> str:
    file.seek(0)
    return file.read()


@contextlib.contextmanager
def running(
    script: str, *args: str, stop: signal.Signals = signal.SIGTERM, **env: str
) -> Iterator[int]:
    """Run an example server until the end of the block; yield its port.

    The server gets the port as its argument, unless ``args`` or ``env`` say
    otherwise. On exit, it gets ``stop``, and must exit with 0 without a
    word on stderr.
    """
    port = int(env.get("PORT", "0")) or free_port()
    lines: queue.Queue[str | None] = queue.Queue()

    def read_lines(stdout: IO[str]) -> None:
        for line in stdout:
            lines.put(line)
        lines.put(None)  # the process exited

    with (
        tempfile.TemporaryFile("w+") as stderr,
        subprocess.Popen(
            [sys.executable, "-W", "error", str(EXAMPLES / script), *(args or [str(port)])],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, **env},
        ) as process,
    ):
        assert process.stdout is not None
        reader = threading.Thread(target=read_lines, args=(process.stdout,))
        reader.start()
        try:
            try:
                line = lines.get(timeout=TIMEOUT)
            except queue.Empty:
                pytest.fail(f"{script} didn't start within {TIMEOUT}s")
            assert line == f"Serving on ws://127.0.0.1:{port}\n", read_all(stderr)
            yield port
        finally:
            process.send_signal(stop)
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


def test_hello() -> None:
    with running("sync/hello_server.py") as port:
        assert run_client("sync/hello_client.py", port, "Alice") == "Hello Alice!\n"
        output = run_client("sync/hello_client.py", port, stdin="Bob\n")
        assert output == "What's your name? Hello Bob!\n"


def test_hello_port_from_environment_and_ctrl_c() -> None:
    port = free_port()
    with running("sync/hello_server.py", stop=signal.SIGINT, PORT=str(port)) as started:
        assert started == port
        assert run_client("sync/hello_client.py", port, "Carol") == "Hello Carol!\n"


def test_hello_clients_and_servers_of_both_layers() -> None:
    # The threaded client talks to the asyncio server, and the other way around.
    with running("hello_server.py") as port:
        assert run_client("sync/hello_client.py", port, "Dave") == "Hello Dave!\n"
    with running("sync/hello_server.py") as port:
        assert run_client("hello_client.py", port, "Erin") == "Hello Erin!\n"


def test_echo() -> None:
    with running("sync/echo_server.py") as port, connect(f"ws://127.0.0.1:{port}") as ws:
        messages: list[str | bytes] = ["Is anybody out there?", b"\x00\x01", "caf\u00e9"]
        for message in messages:
            ws.send(message)
            assert ws.recv(timeout=TIMEOUT) == message


def test_echo_server_stops_with_clients_connected() -> None:
    clients: list[ClientConnection] = []
    try:
        with running("sync/echo_server.py") as port:
            clients = [connect(f"ws://127.0.0.1:{port}") for _ in range(2)]
            clients[0].send("before")
            assert clients[0].recv(timeout=TIMEOUT) == "before"
        # The server got SIGTERM with both clients connected, and exited with 0:
        # it closed their connections first, as going away.
        for ws in clients:
            with pytest.raises(ConnectionClosedOK):
                ws.recv(timeout=TIMEOUT)
            assert ws.close_code == CloseCode.GOING_AWAY
    finally:
        for ws in clients:
            ws.close()
