"""picows: its callback API, as picows' documentation presents it.

The server is a :class:`picows.WSListener` that sends each frame back from
``on_ws_frame``; the client sends its next message from ``on_ws_frame`` too,
so a run of round trips needs no coroutine switch at all: picows at its best.
Broadcasts are a loop of ``WSTransport.send()``. picows' callback API has
no permessage-deflate and no threaded implementation. It runs on
aiofastnet's transports when that package is installed (a dependency of
picows 2.x), as it does by default.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from typing import cast

from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    ws_connect,
    ws_create_server,
)

from .base import (
    BROADCAST_PATH,
    CONTROL_PATH,
    COUNT_PATH,
    COUNT_REQUEST,
    MAX_SIZE,
    BenchmarkError,
    Connection,
    Peer,
    check_count,
    listen_options,
    run_broadcasts,
)

__all__ = ["make_peer"]


class _ServerListener(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        else:
            self.on_message(transport, frame)

    def on_message(self, transport: WSTransport, frame: WSFrame) -> None:
        transport.send(frame.msg_type, frame.get_payload_as_memoryview())


class _CountingListener(_ServerListener):
    count = 0

    def on_message(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            transport.send(WSMsgType.TEXT, str(self.count).encode())
            self.count = 0
        else:
            self.count += frame.payload_size


# Transports of the /broadcast connections of the server process.
_subscribers: set[WSTransport] = set()


def _send_to_all(transports: Collection[WSTransport], message: bytes) -> None:
    # picows has no broadcast(): a loop of sends is how its users broadcast.
    for transport in transports:
        transport.send(WSMsgType.BINARY, message)


class _SubscriberListener(_ServerListener):
    def on_ws_connected(self, transport: WSTransport) -> None:
        _subscribers.add(transport)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        _subscribers.discard(transport)


class _ControlListener(_ServerListener):
    def on_message(self, transport: WSTransport, frame: WSFrame) -> None:
        answer = run_broadcasts(frame.get_payload_as_bytes(), _subscribers, _send_to_all)
        transport.send(WSMsgType.TEXT, answer.encode())


def _server_listener(request: WSUpgradeRequest) -> WSListener:
    listener = {
        COUNT_PATH.encode(): _CountingListener,
        BROADCAST_PATH.encode(): _SubscriberListener,
        CONTROL_PATH.encode(): _ControlListener,
    }.get(request.path, _ServerListener)
    return listener()


class _ClientListener(WSListener):
    transport: WSTransport

    def __init__(self) -> None:
        self.resumed: asyncio.Future[None] | None = None
        # Round trips: what to send, until when, how many came back.
        self.message = b""
        self.deadline = 0.0
        self.count = 0
        self.done: asyncio.Future[int] | None = None
        # The counting server's answer.
        self.reply: asyncio.Future[bytes] | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        done = self.done
        if done is not None and frame.msg_type == WSMsgType.BINARY:
            self.count += 1
            if frame.payload_size != len(self.message):
                done.set_exception(BenchmarkError(f"echo of {frame.payload_size} bytes"))
            elif time.perf_counter() < self.deadline:
                transport.send(WSMsgType.BINARY, self.message)
            else:
                done.set_result(self.count)
        elif self.reply is not None and frame.msg_type == WSMsgType.TEXT:
            self.reply.set_result(frame.get_payload_as_bytes())

    def pause_writing(self) -> None:
        self.resumed = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.resumed is not None:
            self.resumed.set_result(None)
            self.resumed = None


class _Connection(Connection):
    def __init__(self, listener: _ClientListener) -> None:
        self.listener = listener

    async def round_trips(self, message: bytes, deadline: float) -> int:
        listener = self.listener
        listener.message, listener.deadline, listener.count = message, deadline, 0
        listener.done = asyncio.get_running_loop().create_future()
        listener.transport.send(WSMsgType.BINARY, message)
        try:
            return await listener.done
        finally:
            listener.done = None

    async def stream(self, message: bytes, deadline: float) -> int:
        listener = self.listener
        transport = listener.transport
        count = 0
        while True:
            transport.send(WSMsgType.BINARY, message)
            count += 1
            if listener.resumed is not None:
                await listener.resumed
            if time.perf_counter() >= deadline:
                break
        listener.reply = asyncio.get_running_loop().create_future()
        transport.send(WSMsgType.TEXT, COUNT_REQUEST.encode())
        try:
            check_count(int(await listener.reply), count * len(message))
        finally:
            listener.reply = None
        return count

    async def close(self) -> None:
        transport = self.listener.transport
        transport.send_close(WSCloseCode.OK)
        await transport.wait_disconnected()


class PicowsPeer(Peer):
    """picows on an event loop."""

    compression = False

    async def serve(self, compression: bool, backlog: int | None = None) -> int:
        self.server = await ws_create_server(
            _server_listener, "127.0.0.1", 0, max_frame_size=MAX_SIZE, **listen_options(backlog)
        )
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def connect(self, port: int, path: str) -> Connection:
        _, listener = await ws_connect(
            _ClientListener, f"ws://127.0.0.1:{port}{path}", max_frame_size=MAX_SIZE
        )
        return _Connection(cast(_ClientListener, listener))


def make_peer(loop: str) -> Peer:
    """picows on ``loop`` (an event loop; picows has no threaded implementation)."""
    return PicowsPeer()


if __name__ == "__main__":
    from .process import main

    main(make_peer)
