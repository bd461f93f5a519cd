"""External server processes for tests: a free port, a start and a stop bounded in time.

What the throwaway redis-server (:mod:`tests.pubsub.redis_server`) and the
deployment guides' proxies (:mod:`tests.deployment.proxies`) share.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

__all__ = ["Started", "free_port", "stop_process", "wait_for", "wait_started"]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Started:
    """Started on entering a ``with`` block, stopped on leaving it (or if starting fails)."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def wait_for(what: str, check: Callable[[], bool], timeout: float, log: Callable[[], str]) -> None:
    """Poll ``check()`` until it's true, for ``timeout`` seconds at most.

    Raises:
        TimeoutError: It wasn't true in time; the message ends with ``log()``.
    """
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}:\n{log()}")
        time.sleep(0.01)


def wait_started(
    name: str,
    process: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    timeout: float,
    log: Callable[[], str],
) -> None:
    """Wait until ``ready()``, which tells that ``process`` (``name``) serves.

    Raises:
        RuntimeError: The process exited first.
        TimeoutError: It wasn't ready in time; it runs on.
    """

    def started() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited at start:\n{log()}")
        return ready()

    wait_for(f"{name} to start", started, timeout, log)


def stop_process(
    process: subprocess.Popen[bytes],
    timeout: float,
    kill_others: Callable[[], None] | None = None,
) -> None:
    """Terminate ``process`` and wait for it; kill it if it doesn't exit in time.

    ``kill_others()`` runs before that kill: it kills the processes that
    ``process`` started and that would outlive it.
    """
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        if kill_others is not None:
            kill_others()
        process.kill()
        process.wait(timeout)
