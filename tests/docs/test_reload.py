"""The reload guide: "reload/watch.py" restarts "reload/server.py" on a change,
and "reload/client.py" reconnects to each new server.

Everything runs as a user would run it, in subprocesses, on a copy of the
server in a temporary directory that the test edits.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

from tests.test_examples import EXAMPLES, TIMEOUT, free_port

# Reconnect at once while the server restarts: the backoff's knobs.
FAST_BACKOFF = {
    "WSKIT_BACKOFF_INITIAL_DELAY": "0.05",
    "WSKIT_BACKOFF_MIN_DELAY": "0.05",
    "WSKIT_BACKOFF_MAX_DELAY": "0.2",
}


class Lines:
    """The lines a stream gives, read by a thread, awaited one by one."""

    def __init__(self, stream: IO[str]) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        self.thread = threading.Thread(target=self.read, args=(stream,), daemon=True)
        self.thread.start()

    def read(self, stream: IO[str]) -> None:
        for line in stream:
            self.queue.put(line.rstrip("\n"))

    def expect(self, expected: str) -> None:
        """Skip lines until ``expected``; fail after TIMEOUT seconds without it."""
        seen = []
        try:
            while (line := self.queue.get(timeout=TIMEOUT)) != expected:
                seen.append(line)
        except queue.Empty:
            raise AssertionError(f"never got {expected!r}; got {seen}") from None


@contextmanager
def started(command: list[str], status: int = 0, **env: str) -> Iterator[tuple[Lines, Lines]]:
    """Run ``command``; yield its output and error lines; stop it with SIGTERM.

    It must then exit with ``status``.
    """
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        try:
            yield Lines(process.stdout), Lines(process.stderr)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                assert process.wait(TIMEOUT) == status
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_server_restarts_on_change_and_client_reconnects(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    server = app / "server.py"
    server.write_text((EXAMPLES / "reload" / "server.py").read_text())
    port = str(free_port())
    watcher = [sys.executable, str(EXAMPLES / "reload/watch.py"), str(app), "--interval", "0.05"]
    with ExitStack() as stack:
        output, errors = stack.enter_context(
            started([*watcher, "--", sys.executable, str(server), port])
        )
        output.expect(f"Serving on ws://127.0.0.1:{port}")
        # The client stops on Ctrl-C; SIGINT may be ignored where tests run
        # in the background, so SIGTERM ends it, without cleaning up.
        client = [sys.executable, str(EXAMPLES / "reload/client.py")]
        heard, _ = stack.enter_context(started(client, -signal.SIGTERM, PORT=port, **FAST_BACKOFF))
        heard.expect("Hello")

        edit(server, 'GREETING = "Hello"', 'GREETING = "Bonjour"')
        errors.expect("watch: a file changed; restarting")
        output.expect(f"Serving on ws://127.0.0.1:{port}")
        heard.expect("Bonjour")

        # A broken version exits at once; the watcher waits for the fix.
        edit(server, 'GREETING = "Bonjour"', 'GREETING = "Hallo"\n(')
        errors.expect("watch: exited with 1; waiting for a change")
        edit(server, 'GREETING = "Hallo"\n(', 'GREETING = "Hallo"')
        output.expect(f"Serving on ws://127.0.0.1:{port}")
        heard.expect("Hallo")
