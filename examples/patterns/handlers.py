"""Handlers that consume, produce, or both (docs/howto/patterns.rst).

The application here is a news feed: clients send news, which the server
keeps in ``received`` (consuming), and ``publish()`` sends news to every
client (producing). tests/docs/test_patterns.py serves each handler.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from wskit.asyncio.server import ServerConnection
from wskit.typing import Data

# News that clients sent; a real application would store or forward it.
received: list[Data] = []

# One queue per connected client, bounded: a client that falls this far
# behind misses news rather than making the server's memory grow.
QUEUE_SIZE = 100
subscribers: set[asyncio.Queue[str]] = set()


async def consume(message: Data) -> None:
    received.append(message)


def publish(news: str) -> None:
    for queue in subscribers:
        if not queue.full():
            queue.put_nowait(news)


@contextlib.contextmanager
def subscription() -> Iterator[asyncio.Queue[str]]:
    queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
    subscribers.add(queue)
    try:
        yield queue
    finally:
        subscribers.discard(queue)


async def consumer_handler(websocket: ServerConnection) -> None:
    # The loop ends when the client closes the connection.
    async for message in websocket:
        await consume(message)


async def producer_handler(websocket: ServerConnection) -> None:
    with subscription() as queue:
        while True:
            news = await queue.get()
            # Once the client is gone, send() raises ConnectionClosed, which
            # ends the handler; the server logs it at the INFO level.
            await websocket.send(news)


async def handler(websocket: ServerConnection) -> None:
    # Both at once, in two tasks: when one ends, the other is cancelled.
    consumer = asyncio.create_task(consumer_handler(websocket))
    producer = asyncio.create_task(producer_handler(websocket))
    try:
        done, _ = await asyncio.wait([consumer, producer], return_when=asyncio.FIRST_COMPLETED)
    finally:
        # Also when the server shuts down and cancels this handler.
        consumer.cancel()
        producer.cancel()
    for task in done:
        task.result()  # raise what ended it, if anything
