"""The ceiling of an ``await``-based API: the raw TCP echo, with tasks awaiting messages.

:mod:`.raw` answers from ``data_received()``: callbacks only, as picows' peer
does. Here both ends await every message in a task, as code built on
``recv()`` does: the client awaits each echo before sending the next message,
and the server runs a task per connection that awaits each message, then
writes it back. No WebSocket work happens, so what this costs over
:mod:`.raw` is what waking a task per message costs, which any
``recv()``/``send()`` API pays. Only round trips are measured: streaming
doesn't await on the path of each message.
"""

from __future__ import annotations

import asyncio
import collections
import time

from . import raw
from .base import Peer

__all__ = ["make_peer"]


class _ServerProtocol(raw.ServerProtocol):
    """Hands each message to echo to a task, which awaits it and writes it back."""

    def __init__(self) -> None:
        super().__init__()
        self.inbox: collections.deque[bytearray] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.task = asyncio.get_running_loop().create_task(self.echo_all())

    def connection_lost(self, exc: Exception | None) -> None:
        if self.task is not None:
            self.task.cancel()

    def echo_message(self, message: bytearray) -> None:
        self.inbox.append(message)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def echo_all(self) -> None:
        loop = asyncio.get_running_loop()
        inbox = self.inbox
        while True:
            while not inbox:
                self.waiter = loop.create_future()
                await self.waiter
            self.transport.write(inbox.popleft())


class _AsyncioConnection(raw.AsyncioConnection):
    async def round_trips(self, message: bytes, deadline: float) -> int:
        protocol = self.protocol
        frame = raw.length_prefixed(message)
        count = 0
        while True:
            protocol.transport.write(frame)
            await protocol.read(len(frame))
            count += 1
            if time.perf_counter() >= deadline:
                return count


class AsyncioPeer(raw.AsyncioPeer):
    """The raw TCP baseline on an event loop, awaiting each message."""

    server_protocol = _ServerProtocol
    connection_class = _AsyncioConnection


def make_peer(loop: str) -> Peer:
    """The awaiting raw baseline for an event loop."""
    return AsyncioPeer()


if __name__ == "__main__":
    from .process import main

    main(make_peer)
