"""wskit.legacy.server over real sockets: serve(), WebSocketServerProtocol, WebSocketServer."""

from __future__ import annotations

import asyncio
import http
import os
import tempfile
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, cast

import pytest

from tests.listen_queue import BURST, kernel_allows_burst, queued_connections
from wskit.asyncio.client import connect as current_connect
from wskit.asyncio.server import Server, ServerConnection
from wskit.datastructures import Headers
from wskit.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus
from wskit.legacy.client import connect, unix_connect
from wskit.legacy.exceptions import AbortHandshake, InvalidStatusCode
from wskit.legacy.server import (
    HTTPResponse,
    WebSocketServer,
    WebSocketServerProtocol,
    broadcast,
    serve,
    unix_serve,
)
from wskit.typing import Origin, Subprotocol

from .support import LOCALHOST, TIMEOUT, http_get, port_of


def uri(server: WebSocketServer, path: str = "/") -> str:
    return f"ws://{LOCALHOST}:{port_of(server)}{path}"


async def echo(websocket: WebSocketServerProtocol) -> None:
    async for message in websocket:
        await websocket.send(message)


async def report(websocket: WebSocketServerProtocol) -> None:
    """Send what a legacy handler reads on its connection."""
    await websocket.send(
        f"{websocket.path} {websocket.request_headers.get('X-Token')} "
        f"open={websocket.open} closed={websocket.closed} "
        f"extra={websocket.response_headers.get('X-Extra')} "
        f"subprotocol={websocket.subprotocol}"
    )
    await websocket.wait_closed()


async def first_message(address: str, **kwargs: Any) -> Any:
    async with connect(address, **kwargs) as websocket:
        return await asyncio.wait_for(websocket.recv(), TIMEOUT)


async def test_handler_reads_the_legacy_attributes() -> None:
    async with serve(report, LOCALHOST, 0) as server:
        assert isinstance(server, WebSocketServer)
        assert isinstance(server, Server)  # the asyncio server, with more
        message = await first_message(uri(server, "/room?x=1"), extra_headers={"X-Token": "t"})
    assert message == "/room?x=1 t open=True closed=False extra=None subprotocol=None"


async def test_await_serve_and_run_until_complete_outside_the_loop() -> None:
    # Older tutorials create the server before the loop runs.
    start_server = serve(echo, LOCALHOST, 0)
    assert start_server.ws_server is None
    server = await start_server
    assert start_server.ws_server is server
    try:
        async with connect(uri(server)) as websocket:
            await websocket.send("hi")
            assert await websocket.recv() == "hi"
    finally:
        server.close()
        await server.wait_closed()


def test_run_until_complete_then_close() -> None:
    start_server = serve(echo, LOCALHOST, 0)
    loop = asyncio.new_event_loop()
    try:
        server = loop.run_until_complete(start_server)
        assert server.is_serving()

        async def exchange() -> Any:
            async with connect(uri(server)) as websocket:
                await websocket.send("ping")
                return await websocket.recv()

        assert loop.run_until_complete(exchange()) == "ping"
        server.close()
        loop.run_until_complete(server.wait_closed())
        assert not server.is_serving()
    finally:
        loop.close()


async def test_compression_and_extensions() -> None:
    async def extensions(websocket: WebSocketServerProtocol) -> None:
        await websocket.send(repr([extension.name for extension in websocket.extensions]))

    async with serve(extensions, LOCALHOST, 0) as server:
        assert await first_message(uri(server)) == "['permessage-deflate']"
        assert await first_message(uri(server), compression=None) == "[]"
    with pytest.raises(ValueError, match="unsupported compression: gzip"):
        serve(echo, LOCALHOST, 0, compression="gzip")


async def test_handler_with_path_warns_once_per_serve() -> None:
    async def handler(websocket: WebSocketServerProtocol, path: str) -> None:
        await websocket.send(f"path {path}")

    with pytest.warns(DeprecationWarning, match=r"handler\(websocket, path\) is deprecated"):
        start_server = serve(handler, LOCALHOST, 0)
    async with start_server as server:
        assert await first_message(uri(server, "/a?b")) == "path /a?b"
        assert await first_message(uri(server, "/c")) == "path /c"


class HealthCheck(WebSocketServerProtocol):
    """The legacy documentation's health check: an override of process_request."""

    async def process_request(self, path: str, request_headers: Headers) -> HTTPResponse | None:
        if path == "/healthz":
            return http.HTTPStatus.OK, [("X-Check", "1")], b"OK\n"
        return await super().process_request(path, request_headers)


async def test_subclass_overriding_process_request() -> None:
    async with serve(report, LOCALHOST, 0, create_protocol=HealthCheck) as server:
        status, headers, body = await http_get(port_of(server), "/healthz")
        assert (status, body) == (200, b"OK\n")
        assert headers["X-Check"] == "1"
        assert headers["Content-Length"] == "3"
        assert headers["Content-Type"] == "text/plain"
        assert headers["Connection"] == "close"
        assert "Date" in headers
        assert "Server" in headers
        # Other paths open WebSocket connections, of the subclass.
        assert (await first_message(uri(server, "/ws"))).startswith("/ws ")
        with pytest.raises(InvalidStatusCode) as raised:
            await connect(uri(server, "/healthz"))
        assert raised.value.status_code == 200


async def test_process_request_coroutine_argument() -> None:
    seen: list[tuple[str, str | None]] = []

    async def process_request(path: str, request_headers: Headers) -> HTTPResponse | None:
        seen.append((path, request_headers.get("X-Token")))
        if request_headers.get("X-Token") != "secret":
            return http.HTTPStatus.FORBIDDEN, {"X-Reason": "token"}, b"Forbidden\n"
        return None

    async with serve(report, LOCALHOST, 0, process_request=process_request) as server:
        status, headers, body = await http_get(port_of(server), "/x")
        assert (status, headers["X-Reason"], body) == (403, "token", b"Forbidden\n")
        message = await first_message(uri(server, "/y"), extra_headers={"X-Token": "secret"})
        assert message.startswith("/y secret ")
    assert seen == [("/x", None), ("/y", "secret")]


async def test_process_request_plain_function_warns() -> None:
    def process_request(path: str, request_headers: Headers) -> HTTPResponse | None:
        return (404, [], b"Not here\n") if path == "/missing" else None

    class Plain(WebSocketServerProtocol):
        def process_request(  # type: ignore[override]
            self, path: str, request_headers: Headers
        ) -> HTTPResponse | None:
            return (410, [], b"Gone\n") if path == "/gone" else None

    with pytest.warns(DeprecationWarning, match="declare process_request as a coroutine"):  # noqa: PT031
        async with serve(report, LOCALHOST, 0, process_request=process_request) as server:
            status, _, body = await http_get(port_of(server), "/missing")
            assert (status, body) == (404, b"Not here\n")
            assert (await first_message(uri(server, "/here"))).startswith("/here ")
    with pytest.warns(DeprecationWarning, match="declare process_request as a coroutine"):  # noqa: PT031
        async with serve(report, LOCALHOST, 0, create_protocol=Plain) as server:
            status, _, body = await http_get(port_of(server), "/gone")
            assert (status, body) == (410, b"Gone\n")


async def test_process_request_raising() -> None:
    async def process_request(path: str, request_headers: Headers) -> HTTPResponse | None:
        if path == "/abort":
            raise AbortHandshake(
                http.HTTPStatus.IM_A_TEAPOT, [("X-Pot", "1")], b"short and stout\n"
            )
        raise RuntimeError("the hook failed")

    async with serve(echo, LOCALHOST, 0, process_request=process_request) as server:
        status, headers, body = await http_get(port_of(server), "/abort")
        assert (status, headers["X-Pot"], body) == (418, "1", b"short and stout\n")
        # Any other exception: a 500, details in the log only.
        status, _, body = await http_get(port_of(server), "/other")
        assert status == 500
        assert b"the hook failed" not in body


async def test_extra_headers_static_and_callable() -> None:
    extra_headers = [("X-Extra", "static")]
    async with (
        serve(report, LOCALHOST, 0, extra_headers=extra_headers) as server,
        connect(uri(server)) as websocket,
    ):
        assert websocket.response_headers["X-Extra"] == "static"
        assert "extra=static" in await websocket.recv()

    def headers_for(path: str, request_headers: Headers) -> dict[str, str]:
        return {"X-Extra": f"for {path}", "Server": "custom"}

    async with (
        serve(report, LOCALHOST, 0, extra_headers=headers_for) as server,
        connect(uri(server, "/p")) as websocket,
    ):
        assert websocket.response_headers["X-Extra"] == "for /p"
        # As in the legacy server, extra_headers may replace the Server header.
        assert websocket.response_headers.get_all("Server") == ["custom"]


async def test_extra_headers_only_on_successful_handshakes() -> None:
    async with serve(
        echo, LOCALHOST, 0, create_protocol=HealthCheck, extra_headers={"X-Extra": "1"}
    ) as server:
        status, headers, _ = await http_get(port_of(server), "/healthz")
        assert status == 200
        assert "X-Extra" not in headers


class PreferServer(WebSocketServerProtocol):
    def select_subprotocol(
        self, client_subprotocols: Sequence[Subprotocol], server_subprotocols: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        return server_subprotocols[0] if server_subprotocols[0] in client_subprotocols else None


async def test_subprotocol_selection() -> None:
    chat, json, xml = Subprotocol("chat"), Subprotocol("json"), Subprotocol("xml")

    async def subprotocol_of(**kwargs: Any) -> str:
        async with serve(report, LOCALHOST, 0, subprotocols=[xml, chat], **kwargs) as server:
            message: str = await first_message(uri(server), subprotocols=[chat, json, xml])
        return message.rsplit("=", 1)[1]

    # The legacy rule: the lowest sum of positions in both lists (chat: 0 + 1).
    assert await subprotocol_of() == "chat"
    # A subclass that overrides it, and a function passed to serve().
    assert await subprotocol_of(create_protocol=PreferServer) == "xml"
    assert await subprotocol_of(select_subprotocol=lambda client, server: client[1]) == "json"

    # A tie (chat: 0 + 1, xml: 1 + 0) goes to the client's preference, every time.
    async with serve(report, LOCALHOST, 0, subprotocols=[xml, chat]) as server:
        for _ in range(3):
            message = await first_message(uri(server), subprotocols=[chat, xml])
            assert message.endswith("subprotocol=chat")

    # None in common: the legacy server goes on without a subprotocol.
    async with serve(report, LOCALHOST, 0, subprotocols=[xml]) as server:
        message = await first_message(uri(server), subprotocols=[chat])
    assert message.endswith("subprotocol=None")


def test_subprotocol_ties_go_to_the_client() -> None:
    # Many ties, so that a choice left to the order of a set would miss some.
    legacy = cast(Any, SimpleNamespace(_select_subprotocol=None))
    for index in range(20):
        first, second = Subprotocol(f"a{index}"), Subprotocol(f"b{index}")
        chosen = WebSocketServerProtocol.select_subprotocol(
            legacy, [first, second], [second, first]
        )
        assert chosen == first
        chosen = WebSocketServerProtocol.select_subprotocol(
            legacy, [second, first], [first, second]
        )
        assert chosen == second


async def test_close_codes_and_connection_closed() -> None:
    on_server: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

    async def handler(websocket: WebSocketServerProtocol) -> None:
        before = (websocket.close_code, websocket.close_reason, websocket.open)
        try:
            await websocket.recv()
        except ConnectionClosedOK as exc:
            # As in the legacy API, recv() raises once the connection is closed.
            on_server.set_result(
                (
                    *before,
                    exc.rcvd and exc.rcvd.code,
                    websocket.close_code,
                    websocket.close_reason,
                    websocket.closed,
                )
            )

    async with serve(handler, LOCALHOST, 0) as server:
        websocket = await connect(uri(server))
        assert (websocket.close_code, websocket.close_reason) == (None, None)
        await websocket.close(1001, "bye")
        assert (websocket.close_code, websocket.closed, websocket.open) == (1001, True, False)
        assert await asyncio.wait_for(on_server, TIMEOUT) == (
            None, None, True, 1001, 1001, "bye", True
        )  # fmt: skip


async def test_handler_error_closes_with_1011() -> None:
    async def fail(websocket: WebSocketServerProtocol) -> None:
        raise RuntimeError("the handler failed")

    async with serve(fail, LOCALHOST, 0) as server, connect(uri(server)) as websocket:
        with pytest.raises(ConnectionClosedError) as raised:
            await asyncio.wait_for(websocket.recv(), TIMEOUT)
    assert raised.value.rcvd is not None
    assert raised.value.rcvd.code == 1011
    assert websocket.close_code == 1011


async def test_server_tracks_and_closes_connections() -> None:
    handlers_started = asyncio.Event()

    async def wait(websocket: WebSocketServerProtocol) -> None:
        handlers_started.set()
        await websocket.wait_closed()

    server = await serve(wait, LOCALHOST, 0)
    websocket = await connect(uri(server))
    await asyncio.wait_for(handlers_started.wait(), TIMEOUT)
    (connection,) = server.websockets
    assert isinstance(connection, WebSocketServerProtocol)
    server.close()
    await asyncio.wait_for(server.wait_closed(), TIMEOUT)
    assert server.websockets == set()
    with pytest.raises(ConnectionClosedOK):
        await websocket.recv()
    assert websocket.close_code == 1001


async def test_broadcast_with_the_legacy_signature() -> None:
    joined = asyncio.Semaphore(0)

    async def wait(websocket: WebSocketServerProtocol) -> None:
        joined.release()
        await websocket.wait_closed()

    async with (
        serve(wait, LOCALHOST, 0) as server,
        connect(uri(server)) as first,
        connect(uri(server)) as second,
    ):
        for _ in range(2):
            await asyncio.wait_for(joined.acquire(), TIMEOUT)
        broadcast(server.websockets, "news", True)  # raise_exceptions, by position
        assert [await first.recv(), await second.recv()] == ["news", "news"]
        with pytest.raises(TypeError):
            broadcast(server.websockets, cast(Any, 42))


async def test_deprecated_arguments_still_work() -> None:
    class Tagged(WebSocketServerProtocol):
        async def process_request(self, path: str, request_headers: Headers) -> HTTPResponse:
            return 200, [], f"{type(self).__name__} {self.close_timeout}".encode()

    with pytest.warns(DeprecationWarning, match="rename|remove") as record:
        start_server = serve(
            echo, LOCALHOST, 0, klass=Tagged, timeout=3, loop=asyncio.get_running_loop()
        )
    assert [str(warning.message) for warning in record] == [
        "rename timeout to close_timeout",
        "rename klass to create_protocol",
        "remove loop argument",
    ]
    assert all(warning.filename == __file__ for warning in record)
    # Unlike the legacy server, connections don't warn again about the loop.
    async with start_server as server:
        _, _, body = await http_get(port_of(server))
    assert body == b"Tagged 3"


async def test_empty_string_origin_means_none() -> None:
    with pytest.warns(DeprecationWarning, match="use None instead of '' in origins"):  # noqa: PT031
        async with serve(echo, LOCALHOST, 0, origins=[Origin("")]) as server:
            # A client without an Origin header is accepted; with one, refused.
            async with connect(uri(server)) as websocket:
                await websocket.send("x")
                assert await websocket.recv() == "x"
            with pytest.raises(InvalidStatusCode) as raised:
                await connect(uri(server), origin=Origin("https://example.com"))
    assert raised.value.status_code == 403


async def test_origin_of_the_request() -> None:
    async def origin(websocket: WebSocketServerProtocol) -> None:
        await websocket.send(repr(websocket.origin))

    good = Origin("https://good.example")
    async with serve(origin, LOCALHOST, 0, origins=[good, None]) as server:
        assert await first_message(uri(server), origin=good) == "'https://good.example'"
        assert await first_message(uri(server)) == "None"


async def test_legacy_recv_returns_none_once_closed() -> None:
    received: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def handler(websocket: WebSocketServerProtocol) -> None:
        received.set_result((await websocket.recv(), await websocket.recv()))

    with pytest.warns(DeprecationWarning, match="legacy_recv is deprecated"):  # noqa: PT031
        async with serve(handler, LOCALHOST, 0, legacy_recv=True) as server:
            async with connect(uri(server)) as websocket:
                await websocket.send("one")
            assert await asyncio.wait_for(received, TIMEOUT) == ("one", None)


async def test_host_port_secure_warn_as_in_the_legacy_api() -> None:
    attributes: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def handler(websocket: WebSocketServerProtocol) -> None:
        with pytest.warns(DeprecationWarning, match="instead of|secure") as record:
            values = (websocket.host, websocket.port, websocket.secure)
        attributes.set_result((values, [str(warning.message) for warning in record]))

    async with serve(handler, LOCALHOST, 0) as server, connect(uri(server)):
        values, messages = await asyncio.wait_for(attributes, TIMEOUT)
    assert values == (LOCALHOST, 0, False)
    assert messages == [
        "use local_address[0] instead of host",
        "use local_address[1] instead of port",
        "don't use secure",
    ]


async def test_unix_serve_and_unix_connect() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "socket")
        async with (
            unix_serve(report, path),
            unix_connect(path, "ws://localhost/unix?q") as websocket,
        ):
            assert str(await websocket.recv()).startswith("/unix?q ")


async def test_current_clients_connect_to_legacy_servers() -> None:
    async with serve(report, LOCALHOST, 0, extra_headers={"X-Extra": "e"}) as server:
        async with current_connect(
            uri(server, "/new"), additional_headers={"X-Token": "n"}
        ) as websocket:
            assert websocket.response is not None
            assert websocket.response.headers["X-Extra"] == "e"
            assert await websocket.recv() == (
                "/new n open=True closed=False extra=e subprotocol=None"
            )
        with pytest.raises(InvalidStatus):
            async with serve(echo, LOCALHOST, 0, create_protocol=HealthCheck) as health:
                await current_connect(uri(health, "/healthz"))


async def test_server_connection_is_the_asyncio_connection() -> None:
    # One implementation: the legacy connection has the current API too.
    async def handler(websocket: WebSocketServerProtocol) -> None:
        assert isinstance(websocket, ServerConnection)
        assert websocket.request is not None
        await websocket.send(websocket.request.path)
        await websocket.send(bytes(websocket.respond(200, "x").body))

    async with serve(handler, LOCALHOST, 0) as server, connect(uri(server, "/both")) as websocket:
        assert await websocket.recv() == "/both"
        assert await websocket.recv() == b"x"


@pytest.mark.skipif(not kernel_allows_burst(), reason="net.core.somaxconn is below the burst")
@pytest.mark.parametrize("backlog", [None, 10])
async def test_listen_backlog_holds_a_burst_of_clients(backlog: int | None) -> None:
    options: dict[str, Any] = {} if backlog is None else {"backlog": backlog}
    async with serve(echo, LOCALHOST, 0, **options) as server:
        # Blocking the loop: nothing accepts meanwhile.
        queued = queued_connections((LOCALHOST, port_of(server)))
    assert queued == BURST if backlog is None else queued <= 2 * backlog
