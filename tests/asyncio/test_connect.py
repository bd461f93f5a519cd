"""Tests for wskit.asyncio.connect: a client connects to an IP address on
asyncio's own loop without resolving it, with asyncio's outcomes.

The device relies on asyncio's private ``_make_socket_transport()``: these
tests hold it to it, and to what ``create_connection()`` does otherwise:
the same exceptions when the connection fails, and the socket closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from wskit.asyncio import connect as direct
from wskit.asyncio.client import connect
from wskit.asyncio.server import serve

from .test_server import LOCALHOST, WAIT, echo, port_of

pytestmark = pytest.mark.skipif(
    os.environ.get("WSKIT_TEST_LOOP", "asyncio") != "asyncio",
    reason="asyncio's own loop only: other loops keep create_connection()",
)


@contextlib.contextmanager
def client_sockets() -> Iterator[list[socket.socket]]:
    """Collect the sockets that clients make while in the block."""
    sockets: list[socket.socket] = []
    make_socket = socket.socket

    def spy(*args: Any) -> socket.socket:
        sock = make_socket(*args)
        if len(args) == 3:  # the client's, not a socket the server accepts
            sockets.append(sock)
        return sock

    with mock.patch.object(socket, "socket", spy):
        yield sockets


def resolving() -> Any:
    """Watch asyncio resolving hosts, as create_connection() and sock_connect() do."""
    ensure_resolved = vars(asyncio.base_events.BaseEventLoop)["_ensure_resolved"]
    return mock.patch.object(
        asyncio.base_events.BaseEventLoop,
        "_ensure_resolved",
        autospec=True,
        side_effect=ensure_resolved,
    )


def closed_port() -> int:
    """A port of 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
    return port


async def test_ip_address_connects_without_resolving() -> None:
    # Performance device (ARCHITECTURE.md): ~60K instructions of a client
    # handshake on asyncio's loop.
    async with serve(echo, LOCALHOST, 0) as server:
        with resolving() as resolve:
            async with connect(f"ws://{LOCALHOST}:{port_of(server)}") as ws:
                await ws.send("hello")
                assert await asyncio.wait_for(ws.recv(), WAIT) == "hello"
                sock = ws.transport.get_extra_info("socket")
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                assert ws.remote_address == (LOCALHOST, port_of(server))
        resolve.assert_not_called()


async def test_ipv6_address_connects_without_resolving() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        server = await serve(echo, "::1", 0)
    except OSError:
        pytest.skip("no IPv6 loopback")
    async with server:
        with resolving() as resolve:
            async with connect(f"ws://[::1]:{port_of(server)}") as ws:
                await ws.send("hello")
                assert await asyncio.wait_for(ws.recv(), WAIT) == "hello"
                assert ws.remote_address[:2] == ("::1", port_of(server))
        resolve.assert_not_called()


async def test_host_name_is_resolved_by_asyncio() -> None:
    async with serve(echo, LOCALHOST, 0) as server:
        with resolving() as resolve:
            async with connect(f"ws://localhost:{port_of(server)}", family=socket.AF_INET):
                pass
        resolve.assert_called()
        assert direct.literal_address("localhost", 80) is None
        assert direct.literal_address("::1%lo", 80) is None


async def test_refused_connection_fails_as_with_create_connection() -> None:
    port = closed_port()
    loop = asyncio.get_running_loop()
    with pytest.raises(ConnectionRefusedError) as asyncios:
        await loop.create_connection(asyncio.Protocol, LOCALHOST, port)
    with pytest.raises(ConnectionRefusedError) as direct_one:
        await direct.connect_directly(loop, asyncio.Protocol, LOCALHOST, port)
    assert type(direct_one.value) is type(asyncios.value)
    assert direct_one.value.args == asyncios.value.args
    with pytest.raises(type(asyncios.value), match="Connect call failed"):
        await connect(f"ws://{LOCALHOST}:{port}")


async def test_cancelled_connect_closes_its_socket() -> None:
    loop = asyncio.get_running_loop()

    async def never(*_: Any) -> None:
        await asyncio.Event().wait()

    with client_sockets() as sockets, mock.patch.object(direct, "_writable", never):
        task = asyncio.create_task(
            direct.connect_directly(loop, asyncio.Protocol, "10.255.255.1", 9)
        )
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises((asyncio.CancelledError, OSError)):
            await task
    assert [sock.fileno() for sock in sockets] == [-1]


async def test_failing_protocol_factory_closes_the_socket() -> None:
    loop = asyncio.get_running_loop()

    def factory() -> asyncio.Protocol:
        raise RuntimeError("no protocol")

    async with serve(echo, LOCALHOST, 0) as server:
        with client_sockets() as sockets, pytest.raises(RuntimeError, match="no protocol"):
            await direct.connect_directly(loop, factory, LOCALHOST, port_of(server))
    assert [sock.fileno() for sock in sockets] == [-1]


async def test_other_loops_keep_create_connection() -> None:
    loop: Any = asyncio.get_running_loop()

    async def create_connection(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("not called")

    with mock.patch.object(loop, "create_connection", create_connection):
        assert await direct.connect_directly(loop, asyncio.Protocol, LOCALHOST, 1) is None


async def test_debug_mode_logs_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    # The suite's loops run in debug mode: as create_connection() then.
    assert asyncio.get_running_loop().get_debug()
    async with serve(echo, LOCALHOST, 0) as server:
        port = port_of(server)
        with caplog.at_level(logging.DEBUG, logger="asyncio"):
            async with connect(f"ws://{LOCALHOST}:{port}"):
                pass
    assert any(
        f"connected to {LOCALHOST}:{port}" in record.getMessage() for record in caplog.records
    )
