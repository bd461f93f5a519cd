"""One side of wskit's opening and closing handshakes, measured alone.

The harness's ``handshakes`` kind runs wskit against wskit, so its figures mix
both sides. This tool measures one side: wskit's asyncio server (``--side
server``) or client (``--side client``) in this process, against a lean peer
in a child process (plain :class:`asyncio.Protocol`, pre-built bytes, no
WebSocket library), so that what this process spends is wskit's share::

    .venv/bin/python -m benchmarks.handshakes --side server --loop uvloop --count 2000
    .venv/bin/python -m benchmarks.handshakes --side client --profile /tmp/client.prof

Each handshake is a whole connection: TCP connect, upgrade request, 101
response, a close frame each way, TCP close (the server closes first), as in
the harness. ``--clients`` connections run at once. The figure is this
process's CPU time per handshake over ``--count`` handshakes, after
``--warmup`` more.

``--picows`` measures picows instead, with its callback API as the harness
runs it: its server against the same lean client (``--side server``), or its
client against the same lean server (``--side client``). That is the bar
each side is held to.

``--driver wskit`` or ``--driver picows`` drives the server (``--side
server``) with that library's client, as the harness does, rather than the
lean one: what the server spends then depends on the client's timing too.

For instruction counts, which a busy machine doesn't blur, run it twice under
callgrind with two counts and divide the difference of the totals by the
difference of the counts (start-up and warm-up cancel out). With many
``--clients``, raise ``--open-timeout`` (300), as valgrind slows the server
that much; ``--backlog`` (2048) is either server's listen queue, the same
for both::

    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p \\
        .venv/bin/python -m benchmarks.handshakes --side server --count 200
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

__all__ = ["main"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
# What the harness's clients send, in the order wskit's client sends it.
REQUEST = (
    b"GET /echo HTTP/1.1\r\n"
    b"Host: 127.0.0.1\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: " + KEY + b"\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"User-Agent: Python/3.11 lean\r\n"
    b"\r\n"
)
# Close frames with code 1000: masked (a zero key) from the client, plain from the server.
CLIENT_CLOSE = b"\x88\x82\x00\x00\x00\x00\x03\xe8"
SERVER_CLOSE = b"\x88\x02\x03\xe8"
# The key may be the last header line, whose CRLF the head then ends with.
_key_re = re.compile(rb"\r\nSec-WebSocket-Key: *([^\r]*)", re.IGNORECASE)


class LeanClient(asyncio.Protocol):
    """Open a WebSocket connection with pre-built bytes and close it at once."""

    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done
        self.buffer = b""
        self.open = False
        self.transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(REQUEST)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.open and b"\r\n\r\n" in self.buffer:
            if not self.buffer.startswith(b"HTTP/1.1 101 "):
                raise RuntimeError(f"handshake refused: {self.buffer[:200]!r}")
            self.open = True
            self.buffer = self.buffer.partition(b"\r\n\r\n")[2]
            self.transport.write(CLIENT_CLOSE)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.buffer != SERVER_CLOSE:
            self.done.set_exception(RuntimeError(f"unexpected close: {self.buffer!r}"))
        else:
            self.done.set_result(None)


class LeanServer(asyncio.Protocol):
    """Accept a WebSocket connection and end it when the client closes it."""

    def __init__(self) -> None:
        self.buffer = b""
        self.open = False
        self.transport: asyncio.Transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.open:
            head, end, rest = self.buffer.partition(b"\r\n\r\n")
            if not end:
                return
            match = _key_re.search(head)
            key = match[1] if match else b""
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            self.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            self.open, self.buffer = True, rest
        # The client's close frame: 2 header bytes, a 4-byte mask, a 2-byte code.
        if len(self.buffer) >= 8:
            self.transport.write(SERVER_CLOSE)
            self.transport.close()


def _new_loop(loop: str) -> asyncio.AbstractEventLoop:
    if loop == "uvloop":
        import uvloop  # noqa: PLC0415 (optional dependency)

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


async def _in_parallel(count: int, clients: int, one: object) -> None:
    """Run ``one()`` ``count`` times, ``clients`` at a time."""
    remaining = count

    async def client() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one()  # type: ignore[operator]

    await asyncio.gather(*(client() for _ in range(clients)))


async def _lean_clients(port: int, count: int, clients: int, driver: str = "lean") -> None:
    loop = asyncio.get_running_loop()

    async def one() -> None:
        done = loop.create_future()
        await loop.create_connection(lambda: LeanClient(done), "127.0.0.1", port)
        await done

    if driver != "lean":  # a library's own client, as the harness's
        handshake = _DRIVERS[driver]()
        uri = f"ws://127.0.0.1:{port}/echo"

        async def one() -> None:
            await handshake(uri)

    await _in_parallel(count, clients, one)


async def _lean_server() -> None:
    server = await asyncio.get_running_loop().create_server(LeanServer, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def _peer(args: argparse.Namespace, *extra: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "benchmarks.handshakes", "--loop", args.loop]
    argv += ["--timeout", str(args.timeout), *extra]
    return subprocess.Popen(
        argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


async def _handler(websocket: object) -> None:
    async for message in websocket:  # type: ignore[attr-defined]
        await websocket.send(message)  # type: ignore[attr-defined]


async def _measure_server(args: argparse.Namespace, profile: cProfile.Profile | None) -> float:
    from wskit.asyncio.server import serve  # noqa: PLC0415 (not imported by the lean peers)

    async with serve(
        _handler,
        "127.0.0.1",
        0,
        compression=None,
        backlog=args.backlog,
        open_timeout=args.open_timeout,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        total = args.warmup + args.count
        peer = _peer(args, *_driver_args(args, port, total))
        loop = asyncio.get_running_loop()
        while server.stats.opened < args.warmup:
            await asyncio.sleep(0.01)
        start = time.process_time()
        if profile:
            profile.enable()
        # Polled rarely: the loop's own work stays the server's.
        while server.stats.opened < total or server.handlers:
            await asyncio.sleep(0.05)
        if profile:
            profile.disable()
        cpu = time.process_time() - start
        await loop.run_in_executor(None, peer.wait)
        if peer.returncode:
            raise RuntimeError(f"lean client failed: {peer.returncode}")
    return cpu


async def _measure_picows_server(
    args: argparse.Namespace, profile: cProfile.Profile | None
) -> float:
    """As _measure_server, with picows' callback API as the server: the bar to compare with."""
    from picows import WSTransport, ws_create_server  # noqa: PLC0415

    from .peers.picows import _ServerListener  # noqa: PLC0415 (imports picows)

    ended = 0

    class Listener(_ServerListener):
        """The harness's picows server, counting the connections that ended."""

        def on_ws_disconnected(self, transport: WSTransport) -> None:
            nonlocal ended
            ended += 1

    server = await ws_create_server(
        lambda _: Listener(),
        "127.0.0.1",
        0,
        backlog=args.backlog,
        websocket_handshake_timeout=args.open_timeout,
    )
    try:
        port = server.sockets[0].getsockname()[1]
        total = args.warmup + args.count
        peer = _peer(args, *_driver_args(args, port, total))
        while ended < args.warmup:
            await asyncio.sleep(0.01)
        start = time.process_time()
        if profile:
            profile.enable()
        while ended < total:
            await asyncio.sleep(0.05)
        if profile:
            profile.disable()
        cpu = time.process_time() - start
        await asyncio.get_running_loop().run_in_executor(None, peer.wait)
        if peer.returncode:
            raise RuntimeError(f"lean client failed: {peer.returncode}")
    finally:
        server.close()
    return cpu


# Each returns its client's handshake, imported once: an import statement
# run per handshake cost ~10K instructions of the measured ~375K.


def _wskit_handshake() -> Callable[[str], Awaitable[None]]:
    from wskit.asyncio.client import connect  # noqa: PLC0415

    async def handshake(uri: str) -> None:
        websocket = await connect(uri, compression=None)
        await websocket.close()

    return handshake


def _picows_handshake() -> Callable[[str], Awaitable[None]]:
    from picows import WSCloseCode, ws_connect  # noqa: PLC0415

    from .peers.picows import _ClientListener  # noqa: PLC0415 (imports picows)

    async def handshake(uri: str) -> None:
        transport, _ = await ws_connect(_ClientListener, uri)
        transport.send_close(WSCloseCode.OK)
        await transport.wait_disconnected()

    return handshake


_DRIVERS = {"wskit": _wskit_handshake, "picows": _picows_handshake}


def _driver_args(args: argparse.Namespace, port: int, total: int) -> list[str]:
    """The child's arguments: ``total`` handshakes with ``port``, by ``--driver``'s client."""
    return ["--lean-client", str(port), str(total), str(args.clients), "--driver", args.driver]


async def _measure_client(
    args: argparse.Namespace,
    profile: cProfile.Profile | None,
    client: Callable[[], Callable[[str], Awaitable[None]]] = _wskit_handshake,
) -> float:
    """Open and close connections to a lean server with ``client``'s handshake (wskit's)."""
    handshake = client()
    peer = _peer(args, "--lean-server")
    try:
        port = int(cast("object", peer.stdout).readline())  # type: ignore[attr-defined]
        uri = f"ws://127.0.0.1:{port}/echo"

        async def one() -> None:
            await handshake(uri)

        await _in_parallel(args.warmup, args.clients, one)
        start = time.process_time()
        if profile:
            profile.enable()
        await _in_parallel(args.count, args.clients, one)
        if profile:
            profile.disable()
        return time.process_time() - start
    finally:
        cast("object", peer.stdin).close()  # type: ignore[attr-defined]
        peer.wait()


async def _measure_picows_client(
    args: argparse.Namespace, profile: cProfile.Profile | None
) -> float:
    """As _measure_client, with picows' client (the harness's) instead of wskit's."""
    return await _measure_client(args, profile, _picows_handshake)


def main(argv: Sequence[str] | None = None) -> None:
    """Measure one side of wskit's handshakes; see the module's docstring."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.handshakes", description=__doc__)
    parser.add_argument("--side", choices=("server", "client"), default="server")
    parser.add_argument(
        "--picows", action="store_true", help="measure picows' server or client instead"
    )
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--count", type=int, default=1000, help="handshakes measured")
    parser.add_argument("--warmup", type=int, default=100, help="handshakes before")
    parser.add_argument("--clients", type=int, default=10, help="connections at once")
    parser.add_argument("--profile", help="write a cProfile of the measured part here")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before SIGALRM")
    parser.add_argument(
        "--backlog", type=int, default=2048, help="either server's listen backlog (equal queues)"
    )
    parser.add_argument(
        "--open-timeout",
        type=float,
        default=10.0,
        help="either server's opening handshake timeout (raise it under valgrind)",
    )
    parser.add_argument(
        "--driver",
        choices=("lean", *_DRIVERS),
        default="lean",
        help="the client that drives the server (--side server): the lean one, or a library's",
    )
    parser.add_argument("--lean-client", nargs=3, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--lean-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # Default action of SIGALRM: the process ends, whatever it waits for.
    signal.setitimer(signal.ITIMER_REAL, args.timeout)

    with asyncio.Runner(loop_factory=lambda: _new_loop(args.loop)) as runner:
        if args.lean_client:
            port, total, clients = args.lean_client
            runner.run(_lean_clients(port, total, clients, args.driver))
            return
        if args.lean_server:
            runner.run(_lean_server())
            return
        # CPU time, not wall time: the machine may be busy.
        profile = cProfile.Profile(time.process_time) if args.profile else None
        measure = _measure_server if args.side == "server" else _measure_client
        if args.picows:
            measure = _measure_picows_server if args.side == "server" else _measure_picows_client
        cpu = runner.run(measure(args, profile))
    if profile:
        profile.dump_stats(args.profile)
    print(
        f"{args.side} on {args.loop}: {args.count} handshakes, "
        f"{cpu / args.count * 1e6:.1f} us CPU each"
    )


if __name__ == "__main__":
    main()
