"""Run a throwaway redis-server on 127.0.0.1 for a test (or a benchmark).

Debian's ``redis-server`` (installed by ``scripts/setup.d/40-redis.sh``)
runs in a temporary directory, on a free port, without persistence, and
is stopped at the end. It can be killed and restarted on the same port, or
frozen, to break the links of the brokers under test.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import redis

from tests.processes import Started, free_port, stop_process, wait_started

__all__ = ["RedisServer"]

START_TIMEOUT = 10.0  # seconds for redis-server to accept connections
STOP_TIMEOUT = 10.0  # seconds for it to exit


class RedisServer(Started):
    """A redis-server subprocess: :meth:`start`, :meth:`kill`, :meth:`stop`...

    Args:
        port: Where it listens; a free port by default.
        options: More ``redis-server`` options, e.g. ``{"cluster-enabled": "yes"}``.

    Raises:
        RuntimeError: ``redis-server`` isn't installed.
    """

    def __init__(self, port: int | None = None, options: dict[str, str] | None = None) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError(
                "redis-server isn't installed: run scripts/setup.d/40-redis.sh "
                "(apt-get install redis-server)"
            )
        self.executable = executable
        self.port = free_port() if port is None else port
        self.options = options or {}
        self.directory = tempfile.TemporaryDirectory(prefix="wskit-redis-")
        self.process: subprocess.Popen[bytes] | None = None
        self.frozen = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log(self) -> str:
        path = Path(self.directory.name) / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        """Start the server (again, on the same port) and wait until it answers PING."""
        if self.process is not None:
            raise RuntimeError("redis-server is running")
        # SO_REUSEADDR in redis-server lets it take its port back at once after a kill.
        options = {
            "bind": "127.0.0.1",
            "port": str(self.port),
            "save": "",  # no snapshots, no append-only file: nothing to clean but the dir
            "appendonly": "no",
            "dir": self.directory.name,
            "logfile": "redis.log",
            "daemonize": "no",
            **self.options,
        }
        arguments = [item for name, value in options.items() for item in (f"--{name}", value)]
        self.process = subprocess.Popen(
            [self.executable, *arguments],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_started(
                "redis-server", self.process, self._answers_ping, START_TIMEOUT, lambda: self.log
            )
        except BaseException:
            self.kill()  # if it's still there
            raise

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """Kill the server with SIGKILL, as a crash would, and wait until it's gone."""
        if self.process is None:
            return
        if self.frozen:
            self.resume()
        self.process.kill()
        self.process.wait(STOP_TIMEOUT)
        self.process = None

    def freeze(self) -> None:
        """Stop the server with SIGSTOP: connections stay open but nothing answers."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)
            self.frozen = True

    def resume(self) -> None:
        """Undo :meth:`freeze`."""
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            self.frozen = False

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        if self.process is not None:
            if self.frozen:
                self.resume()
            stop_process(self.process, STOP_TIMEOUT)
            self.process = None
        with contextlib.suppress(OSError):
            self.directory.cleanup()

    def numsub(self, channel: str) -> int:
        """Return how many connections subscribe to ``channel`` (``PUBSUB NUMSUB``)."""
        with redis.Redis.from_url(self.url, socket_timeout=STOP_TIMEOUT) as client:
            [(_, count)] = client.pubsub_numsub(channel)
            return int(count)

    def publish_raw(self, channel: str, payload: bytes) -> None:
        """Publish bytes as they are, bypassing wskit's format, as a foreign writer would."""
        with redis.Redis.from_url(self.url, socket_timeout=STOP_TIMEOUT) as client:
            client.publish(channel, payload)

    def script_flush(self) -> None:
        """Make Redis forget its Lua scripts, as a restart or a failover would."""
        with redis.Redis.from_url(self.url, socket_timeout=STOP_TIMEOUT) as client:
            client.script_flush()
