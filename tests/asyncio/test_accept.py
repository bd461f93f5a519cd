"""Tests for wskit.asyncio.accept: a server on asyncio's own loop accepts without a task each.

The device relies on asyncio's private ``_make_socket_transport()`` and
``Server._sockets``: these tests hold it to them on every Python the suite
runs on, and check that it stays correct where asyncio's own accepting is:
out of file descriptors, a connection reset before it is accepted, a server
closed while accepting waits, a failing protocol factory, TLS.
"""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import struct
from typing import Any

import pytest

from wskit.asyncio import accept
from wskit.asyncio.client import connect
from wskit.asyncio.server import ServerConnection, serve

from .test_client import client_tls, server_tls
from .test_server import LOCALHOST, WAIT, echo, port_of, uri_of

pytestmark = pytest.mark.skipif(
    os.environ.get("WSKIT_TEST_LOOP", "asyncio") != "asyncio",
    reason="asyncio's own loop only: other loops keep their own accepting",
)


def reader_of(sock: socket.socket) -> Any:
    """The callback the loop runs when ``sock`` is readable, or None."""
    loop: Any = asyncio.get_running_loop()
    try:
        key = loop._selector.get_key(sock.fileno())
    except (KeyError, ValueError):
        return None
    return key.data[0]._callback


def listening(server: Any) -> socket.socket:
    sock: socket.socket = server.server._sockets[0]
    return sock


def caught_exceptions() -> list[dict[str, Any]]:
    """What reaches the running loop's exception handler from now on."""
    contexts: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: contexts.append(context))
    return contexts


async def handshake_works(server: Any) -> None:
    async with asyncio.timeout(WAIT), connect(uri_of(server)) as client:
        await client.send("hello")
        assert await client.recv() == "hello"


async def test_asyncio_loop_accepts_without_a_task_per_connection() -> None:
    loop = asyncio.get_running_loop()
    assert accept._accepts_as_asyncio(loop)
    async with serve(echo, LOCALHOST, 0) as server:
        # asyncio's own reader, _accept_connection, was replaced.
        assert reader_of(listening(server)).__module__ == accept.__name__
        created: list[Any] = []
        create_task = loop.create_task

        def counting(coro: Any, **kwargs: Any) -> Any:
            created.append(getattr(coro, "__qualname__", coro))
            return create_task(coro, **kwargs)

        loop.create_task = counting  # type: ignore[method-assign]
        try:
            await handshake_works(server)
        finally:
            del loop.create_task
        # The server's task for its handler, and the client's; none for accepting.
        assert not [name for name in created if "accept_connection" in str(name)]
        assert any("_handle" in str(name) for name in created)


async def test_unix_server_accepts_without_a_task_per_connection(tmp_path: Any) -> None:
    path = str(tmp_path / "socket")
    async with serve(echo, unix=True, path=path) as server:
        assert reader_of(listening(server)).__module__ == accept.__name__
        async with (
            asyncio.timeout(WAIT),
            connect("ws://localhost/", unix=True, path=path) as client,
        ):
            await client.send("hello")
            assert await client.recv() == "hello"


async def test_transport_knows_its_peer_and_server() -> None:
    connections: list[ServerConnection] = []

    async def handler(ws: ServerConnection) -> None:
        connections.append(ws)
        await echo(ws)

    async with (
        serve(handler, LOCALHOST, 0) as server,
        asyncio.timeout(WAIT),
        connect(uri_of(server)) as client,
    ):
        await client.send("hello")
        await client.recv()
        assert connections[0].remote_address == client.local_address
        # Attached to asyncio's server, which waits for it when closing.
        assert connections[0].transport._server is server.server  # type: ignore[attr-defined]


async def test_other_loops_keep_their_accepting() -> None:
    aiofastnet = pytest.importorskip("aiofastnet")
    loop = asyncio.new_event_loop()
    try:
        aiofastnet.patch_loop(loop)
        assert not accept._accepts_as_asyncio(loop)
    finally:
        loop.close()

    class OwnAccepting(asyncio.SelectorEventLoop):
        def _accept_connection(self, *args: Any, **kwargs: Any) -> None:
            raise NotImplementedError

    class NoSuchMethod(asyncio.SelectorEventLoop):
        _start_serving = None  # as on a Python whose loop lacks it

    for kind in (OwnAccepting, NoSuchMethod):
        other = kind()
        try:
            assert not accept._accepts_as_asyncio(other)
        finally:
            other.close()


async def test_tls_server_keeps_asyncios_accepting() -> None:
    async with serve(echo, LOCALHOST, 0, ssl=server_tls()) as server:
        assert reader_of(listening(server)).__name__ == "_accept_connection"
        uri = f"wss://localhost:{port_of(server)}/"
        async with asyncio.timeout(WAIT), connect(uri, ssl=client_tls(), host=LOCALHOST) as client:
            await client.send("hello")
            assert await client.recv() == "hello"


async def test_out_of_file_descriptors_pauses_accepting_then_resumes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exception_contexts = caught_exceptions()
    monkeypatch.setattr(accept, "RETRY_DELAY", 0.05)
    loop = asyncio.get_running_loop()
    async with serve(echo, LOCALHOST, 0) as server:
        sock = listening(server)
        client = socket.socket()
        client.setblocking(False)
        lowest_free = os.dup(0)
        os.close(lowest_free)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        # No new file descriptor from here: accept() fails with EMFILE.
        resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free, hard))
        try:
            with pytest.raises(BlockingIOError):
                client.connect((LOCALHOST, port_of(server)))
            for _ in range(100):
                await asyncio.sleep(0)
                if exception_contexts:
                    break
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        [context] = exception_contexts
        assert context["message"] == "socket.accept() out of system resource"
        assert isinstance(context["exception"], OSError)
        assert reader_of(sock) is None  # paused, not spinning
        # After the delay, the waiting connection is accepted and served.
        async with asyncio.timeout(WAIT):
            while reader_of(sock) is None:
                await asyncio.sleep(0.01)
            await loop.sock_sendall(client, b"GET / HTTP/1.1\r\n\r\n")
            response = await loop.sock_recv(client, 4096)
        client.close()
        assert response.startswith(b"HTTP/1.1 ")
        await handshake_works(server)


async def test_server_closed_while_accepting_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    exception_contexts = caught_exceptions()
    monkeypatch.setattr(accept, "RETRY_DELAY", 0.05)
    async with serve(echo, LOCALHOST, 0) as server:
        sock = listening(server)
        fd = sock.fileno()
        loop: Any = asyncio.get_running_loop()
        loop.remove_reader(fd)  # as out of file descriptors
        loop.call_later(
            accept.RETRY_DELAY,
            accept._start_accepting,
            loop,
            server.server,
            sock,
            lambda: None,
            100,
        )
    await asyncio.sleep(accept.RETRY_DELAY * 3)
    # The socket was closed: the retry adds no reader, and nothing failed.
    assert sock.fileno() == -1
    assert fd not in loop._selector.get_map()
    assert exception_contexts == []


async def test_connection_reset_before_accept() -> None:
    exception_contexts = caught_exceptions()
    async with serve(echo, LOCALHOST, 0) as server:
        # Connected, then reset, before the loop runs the server's reader.
        client = socket.create_connection((LOCALHOST, port_of(server)))
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        await asyncio.sleep(0.05)
        await handshake_works(server)
        async with asyncio.timeout(WAIT):
            while server.handlers:
                await asyncio.sleep(0.01)
    assert exception_contexts == []


async def test_failing_protocol_factory_drops_the_connection() -> None:
    exception_contexts = caught_exceptions()
    failures = [ValueError("no connection for you")]

    class Failing(ServerConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if failures:
                raise failures.pop()
            super().__init__(*args, **kwargs)

    async with serve(echo, LOCALHOST, 0, create_connection=Failing) as server:
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection(LOCALHOST, port_of(server))
        async with asyncio.timeout(WAIT):
            assert await reader.read() == b""  # dropped
        writer.close()
        # In debug mode (the tests' loops), said as asyncio says it.
        assert loop.get_debug()
        [context] = exception_contexts
        assert context["message"] == "Error on transport creation for incoming connection"
        assert isinstance(context["exception"], ValueError)
        await handshake_works(server)
