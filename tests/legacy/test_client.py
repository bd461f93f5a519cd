"""wskit.legacy.client over real sockets: connect(), WebSocketClientProtocol, InvalidStatusCode."""

from __future__ import annotations

import asyncio
import http
import warnings
from typing import Any, cast

import pytest

from wskit.asyncio.client import ClientConnection
from wskit.asyncio.server import ServerConnection
from wskit.asyncio.server import serve as current_serve
from wskit.datastructures import Headers
from wskit.exceptions import ConnectionClosedOK, InvalidStatus
from wskit.legacy.client import WebSocketClientProtocol, connect
from wskit.legacy.exceptions import InvalidStatusCode
from wskit.legacy.server import HTTPResponse, serve

from .support import LOCALHOST, TIMEOUT, port_of

# The reference's legacy API, an interoperability peer; importing it warns.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from websockets.legacy.client import connect as reference_connect
    from websockets.legacy.exceptions import InvalidStatusCode as ReferenceInvalidStatusCode
    from websockets.legacy.server import serve as reference_serve


async def echo_headers(websocket: ServerConnection) -> None:
    assert websocket.request is not None
    await websocket.send(f"{websocket.request.path} {websocket.request.headers.get('X-Token')}")
    await websocket.wait_closed()


async def legacy_echo_headers(websocket: Any) -> None:
    """A legacy handler, for either legacy server: the reference's or wskit's."""
    await websocket.send(f"{websocket.path} {websocket.request_headers['X-Token']}")
    await websocket.wait_closed()


def uri(server: Any, path: str = "/") -> str:
    return f"ws://{LOCALHOST}:{port_of(server)}{path}"


async def test_await_connect_and_async_with() -> None:
    async with current_serve(echo_headers, LOCALHOST, 0) as server:
        websocket = await connect(uri(server, "/a"), extra_headers={"X-Token": "1"})
        try:
            assert isinstance(websocket, WebSocketClientProtocol)
            assert isinstance(websocket, ClientConnection)  # one implementation
            assert await websocket.recv() == "/a 1"
        finally:
            await websocket.close()
        async with connect(uri(server, "/b"), extra_headers=[("X-Token", "2")]) as websocket:
            assert await websocket.recv() == "/b 2"


def test_run_until_complete_connect() -> None:
    # Older tutorials drive connect() with run_until_complete(), too.
    loop = asyncio.new_event_loop()
    try:
        server = loop.run_until_complete(serve(legacy_echo_headers, LOCALHOST, 0))
        websocket = loop.run_until_complete(
            connect(uri(server, "/l"), extra_headers={"X-Token": "l"})
        )
        assert isinstance(websocket, WebSocketClientProtocol)
        assert loop.run_until_complete(websocket.recv()) == "/l l"
        loop.run_until_complete(websocket.close())
        server.close()
        loop.run_until_complete(server.wait_closed())
    finally:
        loop.close()


async def test_send_after_the_server_closed_raises_connection_closed() -> None:
    async def close(websocket: ServerConnection) -> None:
        await websocket.close(1001, "going away")

    async with current_serve(close, LOCALHOST, 0) as server, connect(uri(server)) as websocket:
        await websocket.wait_closed()
        with pytest.raises(ConnectionClosedOK) as raised:
            await websocket.send("too late")
    assert raised.value.rcvd is not None
    assert (raised.value.rcvd.code, raised.value.rcvd.reason) == (1001, "going away")
    assert (websocket.close_code, websocket.close_reason) == (1001, "going away")


async def test_client_attributes() -> None:
    async with (
        serve(lambda websocket: websocket.wait_closed(), LOCALHOST, 0, extra_headers={"X-E": "e"})
        as server,
        connect(uri(server, "/p?q"), extra_headers={"X-Token": "t"}) as websocket,
    ):  # fmt: skip
        assert websocket.path == "/p?q"
        assert websocket.request_headers["X-Token"] == "t"
        assert "wskit" in websocket.request_headers["User-Agent"]
        assert websocket.response_headers["X-E"] == "e"
        assert (websocket.open, websocket.closed) == (True, False)
        assert (websocket.is_client, websocket.side) == (True, "client")
        with pytest.warns(DeprecationWarning, match="instead of|secure") as record:
            values = (websocket.host, websocket.port, websocket.secure)
        assert values == (LOCALHOST, port_of(server), False)
        assert [str(warning.message) for warning in record] == [
            "use remote_address[0] instead of host",
            "use remote_address[1] instead of port",
            "don't use secure",
        ]
    assert (websocket.open, websocket.closed, websocket.close_code) == (False, True, 1000)


async def test_create_protocol_subclass() -> None:
    class Tracing(WebSocketClientProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.sent: list[str] = []

        async def send_traced(self, message: str) -> None:
            self.sent.append(message)
            await self.send(message)

    async def echo(websocket: ServerConnection) -> None:
        async for message in websocket:
            await websocket.send(message)

    async with (
        current_serve(echo, LOCALHOST, 0) as server,
        connect(uri(server), create_protocol=Tracing) as websocket,
    ):
        assert isinstance(websocket, Tracing)
        await websocket.send_traced("hello")
        assert await websocket.recv() == "hello"
        assert websocket.sent == ["hello"]


async def refuse(path: str, request_headers: Headers) -> HTTPResponse | None:
    if path == "/moved":
        return http.HTTPStatus.FOUND, {"Location": "/here"}, b""
    if path == "/private":
        return http.HTTPStatus.FORBIDDEN, {"X-Why": "private"}, b"No.\n"
    return None


async def test_refused_handshake_raises_invalid_status_code() -> None:
    async def handler(websocket: ServerConnection) -> None:
        await websocket.wait_closed()

    async with serve(handler, LOCALHOST, 0, process_request=refuse) as server:
        with pytest.raises(InvalidStatusCode) as raised:
            await connect(uri(server, "/private"))
    exc = raised.value
    assert isinstance(exc, InvalidStatus)  # code written for the current API catches it
    assert exc.status_code == 403
    assert exc.headers["X-Why"] == "private"
    assert exc.response.body == b"No.\n"
    assert str(exc) == "server rejected WebSocket connection: HTTP 403"


async def test_redirects_are_followed() -> None:
    async def handler(websocket: Any) -> None:
        await websocket.send(websocket.path)

    async with (
        serve(handler, LOCALHOST, 0, process_request=refuse) as server,
        connect(uri(server, "/moved")) as websocket,
    ):
        assert await websocket.recv() == "/here"
        assert websocket.path == "/here"


async def test_reconnecting_iteration_yields_legacy_connections() -> None:
    async with current_serve(echo_headers, LOCALHOST, 0) as server:
        async for websocket in connect(uri(server, "/it"), extra_headers={"X-Token": "i"}):
            assert isinstance(websocket, WebSocketClientProtocol)
            assert await websocket.recv() == "/it i"
            break


def test_ssl_for_ws_uri_is_refused() -> None:
    with pytest.raises(ValueError, match="use a wss:// URI to enable TLS"):
        connect("ws://localhost/", ssl=True)


async def test_deprecated_arguments() -> None:
    with pytest.warns(DeprecationWarning, match="rename|remove") as record:
        client = connect(
            "ws://127.0.0.1/",
            timeout=2,
            klass=WebSocketClientProtocol,
            loop=asyncio.get_running_loop(),
        )
    assert [str(warning.message) for warning in record] == [
        "rename timeout to close_timeout",
        "rename klass to create_protocol",
        "remove loop argument",
    ]
    assert client.create_protocol is WebSocketClientProtocol
    assert client.close_timeout == 2


async def test_against_websockets_legacy_server() -> None:
    # The reference's legacy server, with its own extra_headers and process_request.
    async with reference_serve(
        legacy_echo_headers,
        LOCALHOST,
        0,
        extra_headers={"X-Ref": "yes"},
        process_request=cast(Any, refuse),
    ) as server:
        async with connect(uri(server, "/ref"), extra_headers={"X-Token": "w"}) as websocket:
            assert websocket.response_headers["X-Ref"] == "yes"
            assert await asyncio.wait_for(websocket.recv(), TIMEOUT) == "/ref w"
        with pytest.raises(InvalidStatusCode) as raised:
            await connect(uri(server, "/private"))
        assert raised.value.status_code == 403


async def test_websockets_legacy_client_against_legacy_server() -> None:
    async with serve(
        legacy_echo_headers, LOCALHOST, 0, extra_headers={"X-Wskit": "yes"}, process_request=refuse
    ) as server:
        async with reference_connect(uri(server, "/w"), extra_headers={"X-Token": "r"}) as ws:
            assert ws.response_headers["X-Wskit"] == "yes"
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "/w r"
        with pytest.raises(ReferenceInvalidStatusCode) as raised:
            await reference_connect(uri(server, "/private"))
        assert raised.value.status_code == 403
