"""pytest plugin: real wskit servers on free ports of 127.0.0.1, and clients.

Installing wskit loads this plugin (entry point ``pytest11``). Its fixtures
are plain functions, so they need no async plugin:

- ``ws_serve(handler, **options)`` serves ``handler`` on a free port of
  127.0.0.1 and returns its ``ws://`` URI. An ``async def`` handler runs on
  :func:`wskit.asyncio.server.serve`, in an event loop of its own thread; a
  plain function runs on :func:`wskit.sync.server.serve`. ``options`` go to
  that ``serve()``.
- ``ws_connect(handler_or_uri, path="/", **options)`` connects a
  :mod:`wskit.sync.client` client to a URI, or to ``handler`` served with
  ``ws_serve``, and returns the open connection.

Everything started by a test is closed when it ends::

    def test_echo(ws_connect):
        websocket = ws_connect(echo)
        websocket.send("hello")
        assert websocket.recv() == "hello"

For a test without a socket, see :func:`wskit.testing.connect`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from ..asyncio.server import serve as asyncio_serve
from ..sync.client import ClientConnection
from ..sync.client import connect as sync_connect
from ..sync.server import serve as sync_serve

__all__ = ["WSConnect", "WSServe", "ws_connect", "ws_serve"]

# The fixtures' types, for annotating tests.
WSServe = Callable[..., str]
WSConnect = Callable[..., ClientConnection]

# Seconds to start or stop a server.
TIMEOUT = 10


@contextlib.contextmanager
def _asyncio_server(handler: Any, options: dict[str, Any]) -> Iterator[str]:
    """Run an asyncio server in an event loop of its own thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="wskit test server")
    thread.start()
    try:
        server = asyncio.run_coroutine_threadsafe(_start(handler, options), loop).result(TIMEOUT)
        try:
            yield _uri(server.sockets[0].getsockname())
        finally:

            async def stop() -> None:
                server.close()
                await server.wait_closed()

            asyncio.run_coroutine_threadsafe(stop(), loop).result(TIMEOUT)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(TIMEOUT)
        loop.close()


async def _start(handler: Any, options: dict[str, Any]) -> Any:
    return await asyncio_serve(handler, "127.0.0.1", 0, **options)


@contextlib.contextmanager
def _sync_server(handler: Any, options: dict[str, Any]) -> Iterator[str]:
    """Run a threading server, accepting in a thread of its own."""
    with sync_serve(handler, "127.0.0.1", 0, **options) as server:
        thread = threading.Thread(target=server.serve_forever, name="wskit test server")
        thread.start()
        try:
            yield _uri(server.socket.getsockname())
        finally:
            server.shutdown()
            thread.join(TIMEOUT)


def _uri(sockname: tuple[str, int]) -> str:
    return f"ws://{sockname[0]}:{sockname[1]}"


@pytest.fixture
def ws_serve() -> Iterator[WSServe]:
    """Serve handlers on free ports of 127.0.0.1: ``uri = ws_serve(handler, **options)``."""
    with contextlib.ExitStack() as stack:

        def serve(handler: Callable[..., Any], **options: Any) -> str:
            run = _asyncio_server if inspect.iscoroutinefunction(handler) else _sync_server
            return stack.enter_context(run(handler, options))

        yield serve


@pytest.fixture
def ws_connect(ws_serve: WSServe) -> Iterator[WSConnect]:
    """Connect clients: ``websocket = ws_connect(handler_or_uri, path="/", **options)``."""
    with contextlib.ExitStack() as stack:

        def connect(
            target: Callable[..., Any] | str, path: str = "/", **options: Any
        ) -> ClientConnection:
            uri = target if isinstance(target, str) else ws_serve(target) + path
            return cast(ClientConnection, stack.enter_context(sync_connect(uri, **options)))

        yield connect
