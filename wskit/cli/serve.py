"""``wskit serve``: a WebSocket server for any number of clients, until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import TextIO

from ..asyncio.server import Server, ServerConnection, broadcast, serve
from ..shared.serving import describe_address
from ..typing import Origin
from .bridge import bridge
from .errors import OK, UsageError, report
from .signals import on_stop_signals
from .tls import server_context

__all__ = ["Relay", "echo", "listening_urls", "main", "start"]

logger = logging.getLogger("wskit.cli")


def main(args: argparse.Namespace) -> int:
    """Run ``wskit serve``; return the exit status."""
    # Connections coming and going, refused handshakes: what a server's operator watches.
    logging.basicConfig(format="%(asctime)s %(message)s", level=logging.INFO)
    return asyncio.run(run(args))


async def run(args: argparse.Namespace, stdout: TextIO = sys.stdout) -> int:
    """Serve as ``args`` say until SIGINT or SIGTERM; return the exit status."""
    stop = asyncio.Event()
    try:
        async with start(args) as server:
            with metrics(server, args, stdout):
                scheme = "ws" if args.certfile is None else "wss"
                urls = " and ".join(listening_urls(server, scheme))
                mode = "exec" if args.exec is not None else args.mode
                print(f"wskit serve ({mode}) on {urls}; Ctrl-C stops", file=stdout, flush=True)
                with on_stop_signals(stop.set):
                    await stop.wait()
    except Exception as exc:
        return report(exc, f"{args.host}:{args.port}", sys.stderr)
    return OK


@contextlib.contextmanager
def metrics(server: Server, args: argparse.Namespace, stdout: TextIO) -> Iterator[None]:
    """Serve the server's metrics over HTTP meanwhile, if ``--metrics`` says so.

    Raises:
        UsageError: prometheus_client isn't installed.
    """
    if args.metrics is None:
        yield
        return
    try:
        # Only here: prometheus_client is an optional dependency.
        from ..metrics import start_metrics_server  # noqa: PLC0415
    except ImportError as exc:
        raise UsageError(
            "--metrics needs prometheus_client: pip install wskit[prometheus]"
        ) from exc
    http_server, thread = start_metrics_server(server.stats, args.metrics, args.metrics_host)
    host, port = http_server.server_address[:2]
    where = f"[{host!s}]" if ":" in str(host) else str(host)
    print(f"metrics on http://{where}:{port}/metrics", file=stdout, flush=True)
    try:
        yield
    finally:
        http_server.shutdown()
        http_server.server_close()
        thread.join()


def start(args: argparse.Namespace) -> serve:
    """Return the server that ``args`` describe, ready for ``async with``.

    Raises:
        UsageError: The TLS files can't be loaded.
    """
    handler: Callable[[ServerConnection], Awaitable[None]]
    if args.exec is not None:
        handler = functools.partial(bridge, command=args.exec)
    elif args.mode == "broadcast":
        handler = Relay().handler
    else:
        handler = echo
    # Browsers always send Origin; other clients needn't be turned away.
    origins = [*map(Origin, args.origin), None] if args.origin else None
    return serve(
        logged(handler),
        args.host,
        args.port,
        origins=origins,
        max_size=args.max_size,
        ssl=server_context(args.certfile, args.keyfile),
    )


def logged(
    handler: Callable[[ServerConnection], Awaitable[None]],
) -> Callable[[ServerConnection], Awaitable[None]]:
    """Log when each client comes and goes."""

    async def handle(websocket: ServerConnection) -> None:
        client = describe_address(websocket.remote_address)
        logger.info("%s connected", client)
        try:
            await handler(websocket)
        finally:
            logger.info("%s left", client)

    return handle


async def echo(websocket: ServerConnection) -> None:
    """Send every message back."""
    async for message in websocket:
        await websocket.send(message)


class Relay:
    """Relay every message to every other client of the server."""

    def __init__(self) -> None:
        self.clients: set[ServerConnection] = set()

    async def handler(self, websocket: ServerConnection) -> None:
        self.clients.add(websocket)
        try:
            async for message in websocket:
                # Without waiting: a slow client doesn't hold the others back.
                broadcast(self.clients - {websocket}, message)
        finally:
            self.clients.remove(websocket)


def listening_urls(server: Server, scheme: str) -> list[str]:
    """Return the URLs where ``server`` listens, with the ports it got."""
    urls = []
    for sock in server.sockets:
        host, port = sock.getsockname()[:2]
        if ":" in host:
            host = f"[{host}]"
        urls.append(f"{scheme}://{host}:{port}/")
    return urls
