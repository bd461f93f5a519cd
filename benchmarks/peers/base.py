"""What every peer of the harness provides: a server and a client connection.

A peer is one library (or the raw TCP baseline) on one kind of I/O: an event
loop (``asyncio`` or ``uvloop``) or threads. Its server answers two paths:

- ``/echo``: every binary message is sent back as it came;
- ``/count``: binary messages are counted, not answered; a text message asks
  for the number of payload bytes received since the last one, which the
  server sends back as text (decimal) and resets;
- ``/broadcast``: connections that only receive broadcasts;
- ``/control``: a text message ``"<messages> <size>"`` has the server
  broadcast that many binary messages of that size to every ``/broadcast``
  connection, back to back, the way the library does it (``broadcast()``, or a
  loop of sends); the server answers ``"<connections> <seconds>"``, how many
  it sent to and how long that took, until the messages are written, which
  for wskit is on the loop's next pass (:func:`run_broadcasts`,
  :func:`run_broadcasts_on_loop`).

Its client opens a connection to one of those paths and runs the inner loop of
a workload until a deadline, in whatever style is idiomatic for the library:
``await send(); await recv()`` for the websockets API, callbacks for picows.
The workloads around the loops (warm-up, windows, many connections) live once,
in :mod:`benchmarks.workloads`.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Callable, Collection
from typing import Any

__all__ = [
    "BROADCAST_PATH",
    "CONTROL_PATH",
    "COUNT_PATH",
    "COUNT_REQUEST",
    "ECHO_PATH",
    "MAX_SIZE",
    "BenchmarkError",
    "Connection",
    "Peer",
    "SyncConnection",
    "SyncPeer",
    "ThreadedPeer",
    "check_count",
    "check_reply",
    "listen_options",
    "run_broadcasts",
    "run_broadcasts_on_loop",
]

# Above the largest message measured (1 MiB) so that no default limit applies.
MAX_SIZE = 4 * 1024 * 1024

# Path and text message of the counting server; see the module docstring.
ECHO_PATH = "/echo"
COUNT_PATH = "/count"
BROADCAST_PATH = "/broadcast"
CONTROL_PATH = "/control"
COUNT_REQUEST = "?"


class BenchmarkError(Exception):
    """A peer did not behave as the benchmark expects (wrong echo, lost bytes)."""


def check_reply(reply: bytes | bytearray | memoryview, message: bytes) -> None:
    """Raise :exc:`BenchmarkError` unless an echo returned the message sent."""
    if len(reply) != len(message) or bytes(reply[:16]) != message[:16]:
        raise BenchmarkError(f"echo returned {len(reply)} bytes, expected {len(message)}")


def check_count(counted: int, sent: int) -> int:
    """Return the bytes the server counted, or raise if any were lost."""
    if counted != sent:
        raise BenchmarkError(f"server counted {counted} bytes, client sent {sent}")
    return counted


def run_broadcasts(
    command: str | bytes,
    subscribers: Collection[Any],
    send_to_all: Callable[[Any, bytes], object],
) -> str:
    """Run a ``/control`` command with the library's way of broadcasting; return the answer.

    For a library whose sends write at once (picows' ``WSTransport.send()``).
    """
    start = _broadcast(command, subscribers, send_to_all)
    return f"{len(subscribers)} {time.perf_counter() - start}"


async def run_broadcasts_on_loop(
    command: str | bytes,
    subscribers: Collection[Any],
    send_to_all: Callable[[Any, bytes], object],
) -> str:
    """Like :func:`run_broadcasts`, until the loop's next pass has run.

    A ``broadcast()`` may leave its writes to that pass (wskit's gathers the
    messages that follow one another there): the time they take counts.
    """
    start = _broadcast(command, subscribers, send_to_all)
    await asyncio.sleep(0)
    return f"{len(subscribers)} {time.perf_counter() - start}"


def _broadcast(
    command: str | bytes,
    subscribers: Collection[Any],
    send_to_all: Callable[[Any, bytes], object],
) -> float:
    """Broadcast what a ``/control`` command asks for; return when it started."""
    messages, size = (int(field) for field in command.split())
    message = b"x" * size
    start = time.perf_counter()
    for _ in range(messages):
        send_to_all(subscribers, message)
    return start


class Connection(abc.ABC):
    """One client connection of an event-loop peer."""

    @abc.abstractmethod
    async def round_trips(self, message: bytes, deadline: float) -> int:
        """Send ``message`` and wait for its echo, again and again until ``deadline``.

        Args:
            message: Binary payload, echoed by the ``/echo`` server.
            deadline: :func:`time.perf_counter` value after which no round trip starts.

        Returns:
            The number of round trips completed (at least one).
        """

    @abc.abstractmethod
    async def stream(self, message: bytes, deadline: float) -> int:
        """Send ``message`` back to back until ``deadline``, then ask the server's count.

        Returns:
            The number of messages sent (at least one); the server counted all
            their bytes, else :exc:`BenchmarkError` is raised.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Close the connection (closing handshake included) and wait until it is closed."""


def listen_options(backlog: int | None) -> dict[str, Any]:
    """The keyword argument that sets a server's listen backlog, if one is asked for."""
    return {} if backlog is None else {"backlog": backlog}


class Peer(abc.ABC):
    """One library on an event loop: its server and its client."""

    #: Whether the peer speaks WebSocket (the raw TCP baseline doesn't).
    websocket: bool = True
    #: Whether the server can negotiate permessage-deflate.
    compression: bool = True

    @abc.abstractmethod
    async def serve(self, compression: bool, backlog: int | None = None) -> int:
        """Start a server on 127.0.0.1 with a free port and return the port.

        Args:
            compression: Accept permessage-deflate when a client offers it.
            backlog: The listening socket's backlog; :obj:`None` keeps the
                library's default.
        """

    @abc.abstractmethod
    async def connect(self, port: int, path: str) -> Connection:
        """Open a client connection to the server on ``port``, without compression."""

    async def aclose(self) -> None:  # noqa: B027 (most peers hold nothing)
        """Release what the client side holds across connections."""


class SyncConnection(abc.ABC):
    """One client connection of a threaded peer: :class:`Connection`, blocking."""

    @abc.abstractmethod
    def round_trips(self, message: bytes, deadline: float) -> int:
        """See :meth:`Connection.round_trips`."""

    @abc.abstractmethod
    def stream(self, message: bytes, deadline: float) -> int:
        """See :meth:`Connection.stream`."""

    @abc.abstractmethod
    def close(self) -> None:
        """See :meth:`Connection.close`."""


class SyncPeer(abc.ABC):
    """One library on threads: its server and its client."""

    websocket: bool = True
    compression: bool = True

    @abc.abstractmethod
    def serve(self, compression: bool, backlog: int | None = None) -> int:
        """Start a server in background threads and return its port (see :meth:`Peer.serve`)."""

    @abc.abstractmethod
    def connect(self, port: int, path: str) -> SyncConnection:
        """Open a client connection (see :meth:`Peer.connect`)."""


class _ThreadedConnection(Connection):
    def __init__(self, connection: SyncConnection) -> None:
        self.connection = connection

    async def round_trips(self, message: bytes, deadline: float) -> int:
        return self.connection.round_trips(message, deadline)

    async def stream(self, message: bytes, deadline: float) -> int:
        return self.connection.stream(message, deadline)

    async def close(self) -> None:
        self.connection.close()


class ThreadedPeer(Peer):
    """A :class:`SyncPeer` seen as a :class:`Peer`, so that one set of workloads drives both.

    Each call blocks the event loop for its whole duration, which is what the
    client process wants: the loop only sequences the workloads, the threaded
    library does the work.
    """

    def __init__(self, peer: SyncPeer) -> None:
        self.peer = peer
        self.websocket = peer.websocket
        self.compression = peer.compression

    async def serve(self, compression: bool, backlog: int | None = None) -> int:
        return self.peer.serve(compression, backlog)

    async def connect(self, port: int, path: str) -> Connection:
        return _ThreadedConnection(self.peer.connect(port, path))
