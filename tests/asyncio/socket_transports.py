"""What the socket transport suite shares: the transports under test, recording
protocols and socket pairs.

The suite (``test_socket_transport*.py``) holds a socket transport on asyncio's
selector loop to what asyncio's own ``_SelectorSocketTransport`` does on the
Python running it; each test runs once per maker in MAKERS, through the
``make_transport`` fixture (tests/asyncio/conftest.py).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import socket
import sys
import weakref
from asyncio import selector_events
from collections.abc import Callable
from typing import Any

# Bounds every wait: a broken transport fails its test, not the suite.
WAIT = 10


class Maker:
    """Makes a socket transport as ``_SelectorSocketTransport(loop, sock,
    protocol, waiter, extra, server)`` would be, on the running loop."""

    def __init__(self, kind: str, make: Callable[..., Any]) -> None:
        self.kind = kind
        self._make = make
        self._made: list[weakref.ref[Any]] = []

    def __call__(
        self,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[None] | None = None,
        extra: dict[str, Any] | None = None,
        server: asyncio.Server | None = None,
    ) -> Any:
        loop = asyncio.get_running_loop()
        transport = self._make(loop, sock, protocol, waiter, extra=extra, server=server)
        self._made.append(weakref.ref(transport))
        return transport

    def __repr__(self) -> str:
        return self.kind

    def for_a_test(self) -> Maker:
        """A maker of the same transports, for one test (see keep_unclosed())."""
        return Maker(self.kind, self._make)

    def keep_unclosed(self) -> None:
        """Keep the transports this made and a failed test left open (its
        traceback holds them) from being collected, and failing a later
        test with their ResourceWarning."""
        for ref in self._made:
            transport = ref()
            # Its protocol goes once connection_lost() ran (asyncio's does that).
            if transport is not None and transport.get_protocol() is not None:
                _UNCLOSED.append(transport)


# Transports failed tests left open, until the end of the run.
_UNCLOSED: list[Any] = []


# The loop's own, kept: a test may patch the loop's to make other transports.
# (asyncio's transports are private: typeshed doesn't know them.)
_asyncio_transports: Any = selector_events
_make_socket_transport = _asyncio_transports.BaseSelectorEventLoop._make_socket_transport


def _asyncio_transport(
    loop: Any, sock: Any, protocol: Any, waiter: Any, *, extra: Any, server: Any
) -> Any:
    return _make_socket_transport(loop, sock, protocol, waiter, extra=extra, server=server)


def _wskit_transport(
    loop: Any, sock: Any, protocol: Any, waiter: Any, *, extra: Any, server: Any
) -> Any:
    # Imported here: it may be missing (see unavailable()).
    speedups: Any = importlib.import_module("wskit._speedups")
    return speedups.SocketTransport(loop, sock, protocol, waiter, extra, server)


MAKERS = {
    "asyncio": Maker("asyncio", _asyncio_transport),
    "wskit": Maker("wskit", _wskit_transport),
}


def unavailable(kind: str) -> str | None:
    """Why the transport ``kind`` can't be tested here, or None."""
    if os.environ.get("WSKIT_TEST_LOOP", "asyncio") != "asyncio":
        return "socket transports of asyncio's selector loop, on asyncio's loop only"
    if kind == "asyncio":
        return None
    if os.environ.get("WSKIT_NO_SPEEDUPS"):
        return "WSKIT_NO_SPEEDUPS is set: wskit's transport is compiled"
    try:
        from wskit import _speedups  # noqa: PLC0415 (optional)
    except ImportError:
        return "wskit._speedups isn't built"
    if not hasattr(_speedups, "SocketTransport"):
        return "wskit._speedups has no SocketTransport"
    return None


# Where asyncio's own transport changed within a minor version, what it does
# on the Python running the tests; wskit's does the later, fixed, thing on all.

# pause_reading() in connection_made() holds (gh-103607: in 3.12 and a 3.11
# patch release; Debian 12's 3.11.2 predates it): before, the deferred start
# of reading ignored it. The fix moved the check into _add_reader().
PAUSE_IN_CONNECTION_MADE_HOLDS = "is_reading" in (
    _asyncio_transports._SelectorTransport._add_reader.__code__.co_names
)
# writelines() calls pause_writing() above the high-water mark: on 3.11 it is
# write(b"".join(...)); 3.12 gave it its own code, which forgot (gh-127655,
# fixed in later patch releases).
WRITELINES_PAUSES = sys.version_info < (3, 12) or "_maybe_pause_protocol" in (
    _asyncio_transports._SelectorSocketTransport.writelines.__code__.co_names
)


def fixed_or_asyncio(maker: Maker, asyncio_does: bool) -> bool:
    """What ``maker``'s transport does where asyncio fixed a bug: the fix for
    wskit's, what ``asyncio_does`` here for asyncio's."""
    return maker.kind == "wskit" or asyncio_does


class Recording:
    """What a protocol was called with, in order, with a future per milestone."""

    # What eof_received() returns: whether to keep the connection open.
    keep_open: bool | None = None

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.events: list[str] = []
        self.transport: Any = None
        self.received = bytearray()
        self.made: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[BaseException | None] = loop.create_future()
        self.eof: asyncio.Future[None] = loop.create_future()
        # Buffer sizes seen by pause_writing() and resume_writing().
        self.paused_at: list[int] = []
        self.resumed_at: list[int] = []
        # Set by each call, for wait().
        self._changed: asyncio.Future[None] = loop.create_future()

    def _record(self, event: str) -> None:
        self.events.append(event)
        if not self._changed.done():
            self._changed.set_result(None)

    async def wait(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds, checked after each call."""
        async with asyncio.timeout(WAIT):
            while not predicate():
                self._changed = asyncio.get_running_loop().create_future()
                await self._changed

    async def receive(self, size: int) -> bytes:
        """Wait for ``size`` bytes received in all; return them all."""
        await self.wait(lambda: len(self.received) >= size)
        return bytes(self.received)

    async def wait_lost(self) -> BaseException | None:
        """Wait for connection_lost(); return its exception."""
        async with asyncio.timeout(WAIT):
            return await asyncio.shield(self.lost)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self._record("made")
        self.made.set_result(None)

    def eof_received(self) -> bool | None:
        self._record("eof")
        self.eof.set_result(None)
        return self.keep_open

    def connection_lost(self, exc: BaseException | None) -> None:
        self._record("lost")
        self.lost.set_result(exc)

    def pause_writing(self) -> None:
        self.paused_at.append(self.transport.get_write_buffer_size())
        self._record("pause_writing")

    def resume_writing(self) -> None:
        self.resumed_at.append(self.transport.get_write_buffer_size())
        self._record("resume_writing")


class Recorder(Recording, asyncio.Protocol):
    """A plain protocol that records what it's called with."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[bytes] = []

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.received += data
        self._record("data")


class BufferedRecorder(Recording, asyncio.BufferedProtocol):
    """A buffered protocol that records what it's called with; it lends
    buffers of ``size`` bytes."""

    def __init__(self, size: int = 65536) -> None:
        super().__init__()
        self.size = size
        self.size_hints: list[int] = []
        self.updates: list[int] = []
        self._buffer = bytearray(size)

    def get_buffer(self, sizehint: int) -> memoryview:
        self.size_hints.append(sizehint)
        self._buffer = bytearray(self.size)
        return memoryview(self._buffer)

    def buffer_updated(self, nbytes: int) -> None:
        self.updates.append(nbytes)
        self.received += self._buffer[:nbytes]
        self._record("data")


class Sockets:
    """Connected socket pairs, non-blocking, all closed after the test."""

    def __init__(self) -> None:
        self._opened: list[socket.socket] = []

    def _keep(self, *socks: socket.socket) -> None:
        for sock in socks:
            sock.setblocking(False)
            self._opened.append(sock)

    def unix(self) -> tuple[socket.socket, socket.socket]:
        """A pair of connected AF_UNIX sockets: the transport's, the peer's."""
        ours, peer = socket.socketpair()
        self._keep(ours, peer)
        return ours, peer

    def tcp(self, proto: int = socket.IPPROTO_TCP) -> tuple[socket.socket, socket.socket]:
        """A pair of connected TCP sockets on 127.0.0.1, the transport's made
        with ``proto`` (asyncio's create_connection() gives IPPROTO_TCP)."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            ours = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
            try:
                ours.connect(listener.getsockname())  # on loopback, at once
                peer, _ = listener.accept()
            except BaseException:
                ours.close()
                raise
        self._keep(ours, peer)
        return ours, peer

    def close(self) -> None:
        for sock in self._opened:
            sock.close()


async def started(
    make_transport: Maker, socket_pairs: Sockets
) -> tuple[Any, Recorder, socket.socket]:
    """A transport over an AF_UNIX pair, its protocol connected, and the peer."""
    ours, peer = socket_pairs.unix()
    protocol = Recorder()
    transport = make_transport(ours, protocol)
    await protocol.made
    return transport, protocol, peer


async def read_exactly(peer: socket.socket, size: int) -> bytes:
    """Read ``size`` bytes from ``peer``, failing at EOF."""
    loop = asyncio.get_running_loop()
    data = bytearray()
    async with asyncio.timeout(WAIT):
        while len(data) < size:
            chunk = await loop.sock_recv(peer, size - len(data))
            assert chunk, f"EOF after {len(data)} of {size} bytes"
            data += chunk
    return bytes(data)


async def read_to_eof(peer: socket.socket) -> bytes:
    """Read from ``peer`` until EOF."""
    loop = asyncio.get_running_loop()
    data = bytearray()
    async with asyncio.timeout(WAIT):
        while chunk := await loop.sock_recv(peer, 1 << 20):
            data += chunk
    return bytes(data)


async def loop_passes(count: int = 1) -> None:
    """Let the loop run ``count`` times through its callbacks and I/O."""
    for _ in range(count):
        await asyncio.sleep(0)


def caught_exceptions() -> list[dict[str, Any]]:
    """What reaches the running loop's exception handler from now on."""
    contexts: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: contexts.append(context))
    return contexts


def payload(size: int) -> bytes:
    """``size`` bytes in which any misplaced slice shows."""
    return (bytes(range(251)) * (size // 251 + 1))[:size]
