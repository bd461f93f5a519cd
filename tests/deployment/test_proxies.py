"""wskit behind the deployment guides' nginx and HAProxy configurations.

Each test runs a real proxy with ``docs/deployment``'s file (see
:mod:`tests.deployment.proxies`), a wskit server on its backend port, and
wskit clients that connect over TLS to the proxy, from 127.0.0.2 so that the
client's address differs from the proxy's.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.deployment.proxies import CERTIFICATE, LOCALHOST, WAIT, Proxy
from wskit.asyncio.client import ClientConnection, connect
from wskit.asyncio.server import ServerConnection, serve
from wskit.sync.client import connect as sync_connect
from wskit.sync.server import ServerConnection as SyncServerConnection
from wskit.sync.server import serve as sync_serve

CLIENT_ADDRESS = "127.0.0.2"  # a loopback address of its own: not the proxy's
SPOOFED = "203.0.113.7"  # what a client claims in X-Forwarded-For


def client_tls() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=CERTIFICATE)


class Backend:
    """An echo server that records each connection it accepts."""

    def __init__(self) -> None:
        self.connections: list[ServerConnection] = []

    async def handler(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        async for message in ws:
            await ws.send(message)


@asynccontextmanager
async def backend(proxy: Proxy, **kwargs: object) -> AsyncIterator[Backend]:
    recorder = Backend()
    async with serve(recorder.handler, LOCALHOST, proxy.backend_port, **kwargs):  # type: ignore[arg-type]
        yield recorder


def client(proxy: Proxy, **kwargs: object) -> connect:
    return connect(
        f"wss://{LOCALHOST}:{proxy.port}/",
        ssl=client_tls(),
        local_addr=(CLIENT_ADDRESS, 0),
        open_timeout=WAIT,
        **kwargs,  # type: ignore[arg-type]
    )


async def echoes(ws: ClientConnection, message: str | bytes) -> bool:
    await ws.send(message)
    async with asyncio.timeout(WAIT):
        return await ws.recv() == message


async def test_echo(proxy: Proxy) -> None:
    """Text and binary messages go both ways through the proxy."""
    async with backend(proxy), client(proxy) as ws:
        assert await echoes(ws, "Hello, proxy!")
        assert await echoes(ws, b"\x00\xff binary")


async def test_large_message(proxy: Proxy) -> None:
    """A 4 MiB message, hundreds of times the proxies' buffers, goes through whole."""
    message = os.urandom(4 * 2**20)
    async with backend(proxy, max_size=2**23), client(proxy, max_size=2**23) as ws:
        assert await echoes(ws, message)


async def test_forwarded_for(proxy: Proxy) -> None:
    """The server sees the client's address in X-Forwarded-For, not the one it claims."""
    headers = {"X-Forwarded-For": SPOOFED}
    async with backend(proxy) as recorder, client(proxy, additional_headers=headers) as ws:
        assert await echoes(ws, "who am I?")
        [connection] = recorder.connections
        request = connection.request
        assert request is not None
        assert request.headers.get_all("X-Forwarded-For") == [CLIENT_ADDRESS]
        assert request.headers["X-Forwarded-Proto"] == "https"
        # The TCP peer is the proxy, which connects from 127.0.0.1.
        assert connection.remote_address[0] == LOCALHOST


async def test_reload_keeps_connections(proxy: Proxy) -> None:
    """After a reload, an open connection stays on the old worker; new ones go to the new."""
    async with backend(proxy) as recorder, client(proxy) as before:
        assert await echoes(before, "before the reload")
        old_owner = proxy.owner(recorder.connections[0].remote_address[1])
        old_workers = await asyncio.to_thread(proxy.reload)
        assert old_owner in old_workers

        async with client(proxy) as after:
            assert await echoes(after, "after the reload")
            new_owner = proxy.owner(recorder.connections[1].remote_address[1])
            assert new_owner not in old_workers
            # The old worker is still there, still relaying the old connection.
            assert proxy.owner(recorder.connections[0].remote_address[1]) == old_owner
            assert await echoes(before, "still open after the reload")
            assert await echoes(after, "both at once")


def test_sync_server_and_client(proxy: Proxy) -> None:
    """The threading server and client work through the proxy too."""
    requests = []

    def echo(ws: SyncServerConnection) -> None:
        requests.append(ws.request)
        for message in ws:
            ws.send(message)

    with sync_serve(echo, LOCALHOST, proxy.backend_port) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            tcp = socket.create_connection(
                (LOCALHOST, proxy.port), timeout=WAIT, source_address=(CLIENT_ADDRESS, 0)
            )
            with sync_connect(
                f"wss://{LOCALHOST}:{proxy.port}/",
                sock=tcp,
                ssl=client_tls(),
                open_timeout=WAIT,
            ) as ws:
                ws.send("Hello, threads!")
                assert ws.recv(timeout=WAIT) == "Hello, threads!"
        finally:
            server.shutdown()
            thread.join(WAIT)
    [request] = requests
    assert request is not None
    assert request.headers["X-Forwarded-For"] == CLIENT_ADDRESS
