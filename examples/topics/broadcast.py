"""Send every message to every client: broadcast(), or a queue per client.

:func:`announce` calls :func:`~wskit.asyncio.server.broadcast`: it writes the
message to each connection at once, without waiting, and skips a connection
whose write buffer is full. Clients may miss messages, but a slow one never
slows the others nor grows the server's memory.

:class:`Relay` keeps a bounded queue per client and a task that sends from
it, for when a client must get every message in order or be told it can't:
a client whose queue fills up is disconnected with 1013 (try again later).
"""

from __future__ import annotations

import asyncio

from wskit.asyncio.server import ServerConnection, broadcast
from wskit.exceptions import ConnectionClosed
from wskit.frames import CloseCode

CLIENTS: set[ServerConnection] = set()


async def register(websocket: ServerConnection) -> None:
    """The handler: a connection is a client until it closes."""
    CLIENTS.add(websocket)
    try:
        await websocket.wait_closed()
    finally:
        CLIENTS.discard(websocket)


def announce(message: str) -> None:
    broadcast(CLIENTS, message)


class Relay:
    """A queue per client, at most ``backlog`` messages behind."""

    def __init__(self, backlog: int = 100) -> None:
        self.backlog = backlog
        self.queues: dict[ServerConnection, asyncio.Queue[str]] = {}
        self.closing: set[asyncio.Task[None]] = set()  # referenced until done

    async def handler(self, websocket: ServerConnection) -> None:
        queue: asyncio.Queue[str] = asyncio.Queue(self.backlog)
        self.queues[websocket] = queue
        # The sender waits on the queue, which says nothing when the client
        # leaves: the handler waits for that, then stops the sender.
        sender = asyncio.create_task(self.send(websocket, queue))
        try:
            await websocket.wait_closed()
        finally:
            self.queues.pop(websocket, None)
            sender.cancel()

    @staticmethod
    async def send(websocket: ServerConnection, queue: asyncio.Queue[str]) -> None:
        while True:
            message = await queue.get()
            try:
                await websocket.send(message)
            except ConnectionClosed:
                return

    def publish(self, message: str) -> None:
        for websocket, queue in list(self.queues.items()):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                # Too far behind: better a clean close than missing messages.
                del self.queues[websocket]
                task = asyncio.create_task(websocket.close(CloseCode.TRY_AGAIN_LATER, "too slow"))
                self.closing.add(task)
                task.add_done_callback(self.closing.discard)
