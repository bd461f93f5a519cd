"""wskit.testing.connect: an asyncio client joined to a handler in memory."""

from __future__ import annotations

import asyncio
from http import HTTPStatus

import pytest

from wskit.asyncio.client import ClientConnection
from wskit.asyncio.server import ServerConnection, serve
from wskit.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus
from wskit.http11 import Request, Response
from wskit.testing import connect
from wskit.typing import Subprotocol


async def echo(websocket: ServerConnection) -> None:
    async for message in websocket:
        await websocket.send(message)


async def test_echo_without_a_socket() -> None:
    async with connect(echo) as websocket:
        assert isinstance(websocket, ClientConnection)
        await websocket.send("hello")
        assert await websocket.recv() == "hello"
        await websocket.send(b"\x00\xff")
        assert await websocket.recv() == b"\x00\xff"
        assert websocket.remote_address is None  # no socket, no address
    assert websocket.close_code == 1000


async def test_the_handler_gets_a_server_connection_with_the_request() -> None:
    seen: list[object] = []

    async def handler(websocket: ServerConnection) -> None:
        assert websocket.request is not None
        seen.extend([type(websocket), websocket.request.path, websocket.request.headers["X-Key"]])
        await websocket.send(websocket.request.headers["Host"])

    async with connect(handler, "/room?id=3", additional_headers={"X-Key": "k"}) as websocket:
        assert await websocket.recv() == "testserver"
    assert seen == [ServerConnection, "/room?id=3", "k"]


async def test_async_for_ends_when_the_handler_returns() -> None:
    async def handler(websocket: ServerConnection) -> None:
        for number in range(3):
            await websocket.send(str(number))

    async with connect(handler) as websocket:
        assert [message async for message in websocket] == ["0", "1", "2"]
        with pytest.raises(ConnectionClosedOK):
            await websocket.recv()


async def test_close_codes_and_reasons_cross() -> None:
    async def handler(websocket: ServerConnection) -> None:
        await websocket.close(4001, "go away")

    async with connect(handler) as websocket:
        with pytest.raises(ConnectionClosedError) as raised:
            await websocket.recv()
    assert raised.value.rcvd is not None
    assert (raised.value.rcvd.code, raised.value.rcvd.reason) == (4001, "go away")


async def test_a_handler_that_raises_closes_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(websocket: ServerConnection) -> None:
        raise RuntimeError("bug in the handler")

    async with connect(handler) as websocket:
        with pytest.raises(ConnectionClosedError):
            await websocket.recv()
    assert websocket.close_code == 1011
    assert "bug in the handler" in caplog.text


async def test_the_application_serve_call_with_its_options() -> None:
    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        if request.path != "/ok":
            return connection.respond(HTTPStatus.FORBIDDEN, "no\n")
        return None

    app = serve(
        echo, "example.com", 443, process_request=process_request, subprotocols=[Subprotocol("v1")]
    )
    async with connect(app, "/ok", subprotocols=[Subprotocol("v1")]) as websocket:
        assert websocket.subprotocol == "v1"
    with pytest.raises(InvalidStatus) as raised:
        async with connect(app, "/no"):
            pass
    assert raised.value.response.status_code == 403


async def test_compression_and_large_messages_with_flow_control() -> None:
    received: list[int] = []

    async def handler(websocket: ServerConnection) -> None:
        # Many more bytes than the write limit: send() must wait for the reader.
        for _ in range(20):
            await websocket.send(b"\x01" * 100_000)
        received.append(len(await websocket.recv()))

    async with connect(handler, max_queue=1, compression=None) as websocket:
        for _ in range(20):
            assert len(await websocket.recv()) == 100_000
        await websocket.send("done")
    async with connect(handler) as websocket:
        assert websocket.response is not None
        assert "permessage-deflate" in websocket.response.headers["Sec-WebSocket-Extensions"]
        for _ in range(20):
            assert await websocket.recv() == b"\x01" * 100_000
        await websocket.send("done")
    assert received == [4, 4]


async def test_the_handler_is_done_on_exit() -> None:
    finished = asyncio.Event()

    async def handler(websocket: ServerConnection) -> None:
        try:
            await websocket.wait_closed()
        finally:
            finished.set()

    async with connect(handler):
        pass
    assert finished.is_set()
