"""Helpers for the tests of the legacy API: programs in subprocesses, plain HTTP requests."""

from __future__ import annotations

import asyncio
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, cast

from wskit.datastructures import Headers

HERE = Path(__file__).resolve().parent
LOCALHOST = "127.0.0.1"
TIMEOUT = 10  # seconds, for every single wait below


class Script:
    """A script running in a subprocess; its output read line by line, each wait bounded."""

    def __init__(self, stderr: IO[str], path: Path, *args: str, stdin: str | None = None) -> None:
        self.stderr = stderr
        self.process = subprocess.Popen(
            [sys.executable, "-u", str(path), *args],  # -u: print() reaches the test at once
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        if stdin is not None:
            assert self.process.stdin is not None
            self.process.stdin.write(stdin)
            self.process.stdin.close()
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)  # the process exited

    def next_line(self) -> str | None:
        return self.lines.get(timeout=TIMEOUT)

    def wait(self) -> int:
        return self.process.wait(TIMEOUT)

    def errors(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(TIMEOUT)
        self.reader.join(TIMEOUT)
        assert self.process.stdout is not None
        self.process.stdout.close()


@contextmanager
def running(path: Path, *args: str, stdin: str | None = None) -> Iterator[Script]:
    """Run the script at ``path``; kill it on exit if it's still running."""
    with tempfile.TemporaryFile("w+") as stderr:
        script = Script(stderr, path, *args, stdin=stdin)
        try:
            yield script
        finally:
            script.stop()


def port_of(server: Any) -> int:
    return cast(int, server.sockets[0].getsockname()[1])


async def http_get(port: int, path: str = "/", headers: str = "") -> tuple[int, Headers, bytes]:
    """Send a plain GET request; return the status, headers and body of the response.

    The servers close the connection after any response that isn't a 101:
    the body is what comes before the end of the stream.
    """
    async with asyncio.timeout(TIMEOUT):
        reader, writer = await asyncio.open_connection(LOCALHOST, port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {LOCALHOST}\r\n{headers}\r\n".encode())
        data = await reader.read()
        writer.close()
        await writer.wait_closed()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    response_headers = Headers()
    for line in header_lines:
        name, _, value = line.partition(":")
        response_headers[name] = value.strip()
    return int(status_line.split()[1]), response_headers, body
