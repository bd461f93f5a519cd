"""The legacy style at wskit's top level: serve(), connect(), and the deprecated names."""

from __future__ import annotations

import http
import os
import tempfile
import warnings
from typing import Any, cast

import pytest
import websockets

import wskit
from wskit.asyncio import client, server
from wskit.datastructures import Headers
from wskit.http11 import Request, Response
from wskit.legacy import client as legacy_client
from wskit.legacy import server as legacy_server

from .support import LOCALHOST, http_get, port_of

LEGACY_API = r"runs the legacy API, which is deprecated; see wskit\.legacy to upgrade"

# The names that websockets 17.4 still exports, with a warning, at its top level.
DEPRECATED = [
    ("BasicAuthWebSocketServerProtocol", "wskit.legacy.auth"),
    ("basic_auth_protocol_factory", "wskit.legacy.auth"),
    ("WebSocketClientProtocol", "wskit.legacy.client"),
    ("AbortHandshake", "wskit.legacy.exceptions"),
    ("InvalidStatusCode", "wskit.legacy.exceptions"),
    ("RedirectHandshake", "wskit.legacy.exceptions"),
    ("WebSocketProtocolError", "wskit.legacy.exceptions"),
    ("WebSocketCommonProtocol", "wskit.legacy.protocol"),
    ("WebSocketServer", "wskit.legacy.server"),
    ("WebSocketServerProtocol", "wskit.legacy.server"),
]


async def describe(websocket: Any) -> None:
    """Send the type of connection and what a legacy handler reads on it."""
    await websocket.send(
        f"{type(websocket).__name__} {websocket.path} {websocket.request_headers.get('X-T')}"
    )
    await websocket.wait_closed()


async def first_message(port: int, path: str = "/", **kwargs: Any) -> Any:
    async with wskit.connect(f"ws://{LOCALHOST}:{port}{path}", **kwargs) as websocket:
        return await websocket.recv()


async def test_serve_with_extra_headers_is_the_legacy_serve() -> None:
    with pytest.warns(DeprecationWarning, match=f"serve\\(\\) with extra_headers {LEGACY_API}"):
        start_server = wskit.serve(describe, LOCALHOST, 0, extra_headers={"X-E": "1"})
    assert isinstance(start_server, legacy_server.Serve)
    async with start_server as server_:
        port = port_of(server_)
        async with wskit.connect(f"ws://{LOCALHOST}:{port}/x") as websocket:
            assert websocket.response is not None
            assert websocket.response.headers["X-E"] == "1"
            assert await websocket.recv() == "WebSocketServerProtocol /x None"


async def test_serve_with_create_protocol() -> None:
    class Protocol(legacy_server.WebSocketServerProtocol):
        pass

    with pytest.warns(DeprecationWarning, match=f"with create_protocol {LEGACY_API}") as record:
        start_server = wskit.serve(describe, LOCALHOST, 0, create_protocol=Protocol)
    (warning,) = record
    assert warning.filename == __file__  # where the application called serve()
    async with start_server as server_:
        assert await first_message(port_of(server_), "/p") == "Protocol /p None"


async def test_serve_with_legacy_process_request() -> None:
    async def health_check(path: str, request_headers: Headers) -> Any:
        if path == "/healthz":
            return http.HTTPStatus.OK, [], b"OK\n"
        return None

    match = r"with process_request\(path, request_headers\) runs the legacy API"
    with pytest.warns(DeprecationWarning, match=match):
        start_server = wskit.serve(describe, LOCALHOST, 0, process_request=health_check)
    async with start_server as server_:
        status, _, body = await http_get(port_of(server_), "/healthz")
        assert (status, body) == (200, b"OK\n")
        assert await first_message(port_of(server_), "/ws") == "WebSocketServerProtocol /ws None"


async def test_serve_with_current_process_request_is_the_current_serve() -> None:
    def process_request(connection: server.ServerConnection, request: Request) -> Response | None:
        return connection.respond(http.HTTPStatus.OK, "OK\n") if request.path == "/ok" else None

    async def handler(websocket: server.ServerConnection) -> None:
        await websocket.send(type(websocket).__name__)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        start_server = wskit.serve(handler, LOCALHOST, 0, process_request=process_request)
    assert isinstance(start_server, server.serve)
    async with start_server as server_:
        status, _, body = await http_get(port_of(server_), "/ok")
        assert (status, body) == (200, b"OK\n")
        assert await first_message(port_of(server_)) == "ServerConnection"


def test_hooks_without_a_readable_signature_are_the_current_style() -> None:
    # inspect.signature() can't read some builtins: they're taken as they are.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        start_server = wskit.serve(describe, LOCALHOST, 0, process_request=cast(Any, min))
    assert isinstance(start_server, server.serve)


async def test_handler_with_path_gets_a_legacy_connection() -> None:
    async def handler(websocket: Any, path: str) -> None:
        await websocket.send(
            f"{type(websocket).__name__} {path} {websocket.request_headers['X-T']}"
        )

    with pytest.warns(DeprecationWarning, match=r"handler\(websocket, path\)") as record:
        start_server = wskit.serve(handler, LOCALHOST, 0)
    assert len(record) == 1  # the handler's warning only
    async with start_server as server_:
        message = await first_message(port_of(server_), "/h", additional_headers={"X-T": "t"})
    assert message == "WebSocketServerProtocol /h t"


async def test_handler_with_path_and_current_hooks_keeps_the_current_serve() -> None:
    async def handler(websocket: Any, path: str) -> None:
        await websocket.send(f"{type(websocket).__name__} {path} {websocket.subprotocol}")

    def process_request(connection: server.ServerConnection, request: Request) -> None:
        assert isinstance(request, Request)

    def select_subprotocol(connection: server.ServerConnection, offered: Any) -> Any:
        return offered[-1]

    with pytest.warns(DeprecationWarning, match=r"handler\(websocket, path\)"):
        start_server = wskit.serve(
            handler,
            LOCALHOST,
            0,
            process_request=process_request,
            select_subprotocol=select_subprotocol,
        )
    assert isinstance(start_server, server.serve)
    async with start_server as server_:
        message = await first_message(port_of(server_), "/m", subprotocols=["a", "b"])
    assert message == "ServerConnection /m b"


async def test_connect_with_extra_headers_is_the_legacy_connect() -> None:
    async with server.serve(describe_current, LOCALHOST, 0) as server_:
        uri = f"ws://{LOCALHOST}:{port_of(server_)}/c"
        with pytest.warns(
            DeprecationWarning, match=f"connect\\(\\) with extra_headers {LEGACY_API}"
        ):
            connection = wskit.connect(uri, extra_headers={"X-T": "legacy"})
        assert isinstance(connection, legacy_client.Connect)
        async with connection as websocket:
            assert isinstance(websocket, legacy_client.WebSocketClientProtocol)
            assert await websocket.recv() == "/c legacy"

        with warnings.catch_warnings():
            warnings.simplefilter("error")
            connection = wskit.connect(uri, additional_headers={"X-T": "current"})
        assert type(connection) is client.connect
        async with connection as websocket:
            assert await websocket.recv() == "/c current"


async def describe_current(websocket: server.ServerConnection) -> None:
    assert websocket.request is not None
    await websocket.send(f"{websocket.request.path} {websocket.request.headers['X-T']}")
    await websocket.wait_closed()


async def test_unix_serve_and_unix_connect_in_the_legacy_style() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "socket")
        with pytest.warns(DeprecationWarning, match="unix_serve\\(\\) with extra_headers"):
            start_server = wskit.unix_serve(describe, path, extra_headers={"X-E": "u"})
        with pytest.warns(DeprecationWarning, match="unix_connect\\(\\) with extra_headers"):
            connection = wskit.unix_connect(path, "ws://localhost/u", extra_headers={"X-T": "t"})
        async with start_server, connection as websocket:
            assert websocket.response is not None
            assert websocket.response.headers["X-E"] == "u"
            assert await websocket.recv() == "WebSocketServerProtocol /u t"
            # The current client, on the same server.
            current = wskit.unix_connect(path, additional_headers={"X-T": "c"})
            assert type(current) is client.connect
            async with current as current_websocket:
                assert await current_websocket.recv() == "WebSocketServerProtocol / c"


@pytest.mark.parametrize(("name", "module"), DEPRECATED)
def test_deprecated_names_at_the_top_level(name: str, module: str) -> None:
    with pytest.warns(DeprecationWarning, match=f"^wskit\\.{name} is deprecated$") as record:
        value = getattr(wskit, name)
    assert record[0].filename == __file__
    assert value is getattr(__import__(module, fromlist=[name]), name)
    # websockets 17.4 deprecates the same names, with the same words.
    with pytest.warns(DeprecationWarning, match=f"^websockets\\.{name} is deprecated$"):
        getattr(websockets, name)
