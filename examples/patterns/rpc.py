"""Requests and responses over one connection, matched by ids (docs/howto/patterns.rst).

A client sends ``{"id": 1, "method": "add", "params": {"a": 1, "b": 2}}``;
the server answers ``{"id": 1, "result": 3}`` or ``{"id": 1, "error":
"..."}``. Requests run concurrently, so answers may come back in any order:
the id tells the client which request each one answers.

The methods: ``add(a, b)``, and ``put(value)`` and ``take()``, a mailbox
where ``take()`` waits until someone puts a value.
tests/docs/test_patterns.py runs the server and the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from wskit.asyncio.client import ClientConnection, connect
from wskit.asyncio.server import ServerConnection
from wskit.exceptions import ConnectionClosed
from wskit.typing import Data

# -- The server ---------------------------------------------------------------

mailbox: asyncio.Queue[Any] = asyncio.Queue(100)


async def add(a: int, b: int) -> int:
    return a + b


async def put(value: Any) -> None:
    await mailbox.put(value)


async def take() -> Any:
    return await mailbox.get()


METHODS: dict[str, Callable[..., Awaitable[Any]]] = {"add": add, "put": put, "take": take}

# Requests of one connection that may run at once: past that, the server
# stops reading from the client until one is answered.
MAX_PENDING = 16


async def answer(websocket: ServerConnection, request: dict[str, Any]) -> None:
    """Run one request and send its result or its error, with its id."""
    try:
        method = METHODS[request["method"]]
        result = await method(**request.get("params", {}))
    except Exception as exc:  # the client's mistake or the method's failure
        reply = {"id": request.get("id"), "error": f"{type(exc).__name__}: {exc}"}
    else:
        reply = {"id": request.get("id"), "result": result}
    with contextlib.suppress(ConnectionClosed):  # the client left meanwhile
        await websocket.send(json.dumps(reply))


def parse(message: Data) -> dict[str, Any]:
    request = json.loads(message)  # ValueError if it isn't JSON
    if not isinstance(request, dict):
        raise ValueError("a request is a JSON object")
    return request


async def serve_requests(websocket: ServerConnection) -> None:
    pending = asyncio.Semaphore(MAX_PENDING)
    running: set[asyncio.Task[None]] = set()
    try:
        async for message in websocket:
            try:
                request = parse(message)
            except ValueError as exc:
                await websocket.send(json.dumps({"id": None, "error": str(exc)}))
                continue
            await pending.acquire()
            task = asyncio.create_task(answer(websocket, request))
            running.add(task)
            task.add_done_callback(running.discard)
            task.add_done_callback(lambda _: pending.release())
    finally:
        # The client left, or the server shuts down: nobody waits for answers.
        for task in running:
            task.cancel()


# -- The client ---------------------------------------------------------------


class RemoteError(Exception):
    """The server answered a request with an error."""


class Client:
    """Calls methods on the server; any number of calls may be in flight."""

    def __init__(self, websocket: ClientConnection) -> None:
        self.websocket = websocket
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[Any]] = {}

    async def call(self, method: str, **params: Any) -> Any:
        request_id = next(self.ids)
        future = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        try:
            request = {"id": request_id, "method": method, "params": params}
            await self.websocket.send(json.dumps(request))
            return await future
        finally:
            # Also when the caller gives up (a timeout): a late answer is dropped.
            del self.pending[request_id]

    async def read_answers(self) -> None:
        """Hand each answer to the call that waits for it; run it in a task."""
        try:
            async for message in self.websocket:
                self.resolve(message)
        finally:
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("the connection closed"))

    def resolve(self, message: Data) -> None:
        reply = json.loads(message)
        future = self.pending.get(reply.get("id"))
        if future is None or future.done():
            return  # its caller gave up
        if "error" in reply:
            future.set_exception(RemoteError(reply["error"]))
        else:
            future.set_result(reply.get("result"))


@contextlib.asynccontextmanager
async def rpc_client(uri: str) -> AsyncIterator[Client]:
    async with connect(uri) as websocket:
        client = Client(websocket)
        reader = asyncio.create_task(client.read_answers())
        try:
            yield client
        finally:
            reader.cancel()
