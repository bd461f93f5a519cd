"""Tests for wskit.asyncio.legacy: wskit.serve() and unix_serve() as older tutorials call them.

The tutorial scripts themselves run in tests/legacy/; here the same calls
run in the test's process, over 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import functools
import os
import tempfile
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest

import wskit
from wskit.asyncio.server import Server, ServerConnection, serve
from wskit.exceptions import ConnectionClosedError

LOCALHOST = "127.0.0.1"
WAIT = 5  # seconds, for every wait on the network
DEPRECATED = r"handler\(websocket, path\) is deprecated"


def port_of(server: Server) -> int:
    return cast(int, server.sockets[0].getsockname()[1])


async def send_path(websocket: ServerConnection, path: str) -> None:
    await websocket.send(path)


async def send_request_path(websocket: ServerConnection) -> None:
    assert websocket.request is not None
    await websocket.send(f"current style: {websocket.request.path}")


async def first_message(server: Server, path: str = "/") -> Any:
    uri = f"ws://{LOCALHOST}:{port_of(server)}{path}"
    async with wskit.connect(uri, open_timeout=WAIT) as websocket:
        async with asyncio.timeout(WAIT):
            return await websocket.recv()


async def test_handler_with_path_gets_request_path_and_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match=r"read websocket\.request\.path") as record:
        start_server = wskit.serve(send_path, LOCALHOST, 0)
    # Reported where the application calls wskit.serve().
    (warning,) = record
    assert warning.filename == __file__
    async with start_server as server:
        assert await first_message(server, "/chat?room=1") == "/chat?room=1"
        assert await first_message(server) == "/"


async def test_current_style_handler_without_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        start_server = wskit.serve(send_request_path, LOCALHOST, 0)
    async with start_server as server:
        assert await first_message(server, "/x?y") == "current style: /x?y"


async def test_path_with_default_is_the_current_style() -> None:
    async def handler(websocket: ServerConnection, path: str = "(none)") -> None:
        await websocket.send(path)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        start_server = wskit.serve(handler, LOCALHOST, 0)
    async with start_server as server:
        assert await first_message(server, "/x") == "(none)"


async def test_callable_objects_and_partials() -> None:
    class Handler:
        async def __call__(self, websocket: ServerConnection, path: str) -> None:
            await websocket.send(f"object: {path}")

    async def tagged(tag: str, websocket: ServerConnection, path: str) -> None:
        await websocket.send(f"{tag}: {path}")

    handlers: list[tuple[Callable[[ServerConnection, str], Awaitable[None]], str]] = [
        (Handler(), "object: /a"),
        (functools.partial(tagged, "partial"), "partial: /a"),
    ]
    for handler, expected in handlers:
        with pytest.warns(DeprecationWarning, match=DEPRECATED):
            start_server = wskit.serve(handler, LOCALHOST, 0)
        async with start_server as server:
            assert await first_message(server, "/a") == expected


def test_callable_without_signature_is_the_current_style() -> None:
    # inspect.signature() can't read some builtins; they're passed as they are.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        start_server = wskit.serve(str, LOCALHOST, 0)  # type: ignore[arg-type]
    assert isinstance(start_server, serve)
    assert start_server.handler is cast(Any, str)


def test_handler_with_more_arguments_is_passed_as_it_is() -> None:
    # Neither style: the server reports the TypeError when it calls it.
    async def handler(websocket: ServerConnection, path: str, extra: str) -> None:
        pass

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        start_server = wskit.serve(handler, LOCALHOST, 0)  # type: ignore[arg-type]
    assert isinstance(start_server, serve)
    assert start_server.handler is cast(Any, handler)


def test_server_created_outside_the_loop_then_run_until_complete() -> None:
    # What the tutorials do, minus get_event_loop(), deprecated since Python 3.12.
    with pytest.warns(DeprecationWarning, match=DEPRECATED):
        start_server = wskit.serve(send_path, LOCALHOST, 0)
    loop = asyncio.new_event_loop()
    try:
        server = loop.run_until_complete(start_server)
        assert server.is_serving()
        assert loop.run_until_complete(first_message(server, "/loop")) == "/loop"
        server.close()
        loop.run_until_complete(server.wait_closed())
    finally:
        loop.close()


async def test_unix_serve_with_path() -> None:
    with tempfile.TemporaryDirectory() as directory:
        socket_path = os.path.join(directory, "socket")
        with pytest.warns(DeprecationWarning, match=DEPRECATED):
            start_server = wskit.unix_serve(send_path, socket_path)
        async with (
            start_server,
            wskit.unix_connect(socket_path, "ws://localhost/unix?x=1") as websocket,
        ):
            assert await websocket.recv() == "/unix?x=1"


async def test_older_client_style() -> None:
    # Older tutorials await connect() and ping(), then await the pong, and
    # read exc.code from ConnectionClosedError.
    async def fail(websocket: ServerConnection) -> None:
        await websocket.recv()
        raise RuntimeError("the handler failed")

    async with wskit.serve(fail, LOCALHOST, 0) as server:
        websocket = await wskit.connect(f"ws://{LOCALHOST}:{port_of(server)}/", open_timeout=WAIT)
        try:
            pong_waiter = await websocket.ping()
            async with asyncio.timeout(WAIT):
                await pong_waiter
            await websocket.send("boom")
            with pytest.raises(wskit.exceptions.ConnectionClosedError) as raised:
                async with asyncio.timeout(WAIT):
                    await websocket.recv()
            assert wskit.exceptions.ConnectionClosedError is ConnectionClosedError
            # Deprecated in websockets 13.1, and still there with a warning.
            with pytest.warns(DeprecationWarning, match="ConnectionClosed.code"):
                assert raised.value.code == 1011
            with pytest.warns(DeprecationWarning, match="ConnectionClosed.reason"):
                assert raised.value.reason == ""
        finally:
            await websocket.close()
