"""Real uvicorn servers with the wskit engine, in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

from wskit.asyncio.client import connect
from wskit.exceptions import InvalidStatus
from wskit.http11 import Response
from wskit.uvicorn import WebSocketProtocol

ENGINE = "wskit.uvicorn:WebSocketProtocol"


@dataclasses.dataclass(frozen=True)
class Stack:
    """Which of uvicorn's HTTP parsers and which event loop serve a test."""

    http: str
    loop: str

    def __str__(self) -> str:
        return f"{self.http}-{self.loop}"


@dataclasses.dataclass
class Running:
    """A uvicorn server started by :func:`serving`."""

    server: uvicorn.Server
    port: int

    def url(self, path: str = "/") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    async def refusal(self, path: str = "/", **options: Any) -> Response:
        """Open a connection that the server must refuse; return its response."""
        try:
            async with connect(self.url(path), **options):
                pass
        except InvalidStatus as exc:
            return exc.response
        raise AssertionError("the server accepted the connection")

    def connections(self) -> list[WebSocketProtocol]:
        """The engine's connections that uvicorn tracks."""
        return [c for c in self.server.server_state.connections if isinstance(c, WebSocketProtocol)]


@contextlib.asynccontextmanager
async def serving(app: Any, stack: Stack, **settings: Any) -> AsyncIterator[Running]:
    """Run ``app`` under uvicorn on 127.0.0.1 with the wskit engine; stop it on exit."""
    settings.setdefault("lifespan", "off")
    settings.setdefault("ws_ping_interval", None)
    # A test that fails with the app still running must not hang on exit.
    settings.setdefault("timeout_graceful_shutdown", 5)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, ws=ENGINE, http=stack.http, log_config=None, **settings
    )
    server = uvicorn.Server(config)
    started = asyncio.Event()
    # uvicorn says it started by a flag; watch it from its startup step.
    original_startup = server.startup

    async def startup(sockets: Any = None) -> None:
        await original_startup(sockets)
        started.set()

    server.startup = startup  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    waiting = asyncio.create_task(started.wait())
    await asyncio.wait([task, waiting], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiting.cancel()
        task.result()
        raise RuntimeError("uvicorn stopped before it started")
    port = server.servers[0].sockets[0].getsockname()[1]
    # An app task that ends with an exception nobody retrieved is a bug of
    # the engine: the loop reports it when the task is collected.
    errors: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda loop, context: errors.append(context))
    try:
        yield Running(server, port)
    finally:
        server.should_exit = True
        await task
        gc.collect()
        loop.set_exception_handler(None)
    assert errors == []


class Recorder:
    """What a raw ASGI app saw, for the test to await."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[Any] = asyncio.Queue()

    def put(self, item: Any) -> None:
        self.events.put_nowait(item)

    async def get(self) -> Any:
        async with asyncio.timeout(5):
            return await self.events.get()
