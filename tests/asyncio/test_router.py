"""Tests for wskit.asyncio.router: route() and unix_route() over real sockets.

Clients are wskit's :func:`~wskit.asyncio.client.connect`, or raw TCP
streams that write the handshake by hand, to choose the ``Host`` header and
to read redirects as they are sent.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import ssl
import tempfile
import uuid
from pathlib import Path
from typing import Any, cast

import pytest
import werkzeug.routing

from wskit.asyncio.client import connect, unix_connect
from wskit.asyncio.router import Router, route, unix_route
from wskit.asyncio.server import Server, ServerConnection
from wskit.exceptions import InvalidStatus
from wskit.http11 import Request, Response
from wskit.routing import Map, Rule

LOCALHOST = "127.0.0.1"
WAIT = 5  # seconds, for every wait on the network

# Self-signed for localhost and 127.0.0.1; key and certificate in one file.
CERTIFICATE = str(Path(__file__).resolve().parents[2] / "examples" / "localhost.pem")


def describe(arguments: dict[str, Any]) -> str:
    """What a handler got, by type and value, as JSON."""
    return json.dumps({name: [type(v).__name__, str(v)] for name, v in sorted(arguments.items())})


async def show(websocket: ServerConnection, **arguments: Any) -> None:
    await websocket.send(describe(arguments))


def url_map() -> Map:
    return Map(
        [
            Rule("/", endpoint=show),
            Rule("/rooms/", endpoint=show),
            Rule("/rooms/<room>", endpoint=show),
            Rule("/n/<int:n>", endpoint=show),
            Rule("/x/<float:x>", endpoint=show),
            Rule("/files/<path:name>", endpoint=show),
            Rule("/u/<uuid:id>", endpoint=show),
            Rule("/color/<any(red, green):color>", endpoint=show),
        ]
    )


def port_of(server: Server) -> int:
    return cast(int, server.sockets[0].getsockname()[1])


def uri_of(server: Server, path: str = "/") -> str:
    return f"ws://{LOCALHOST}:{port_of(server)}{path}"


async def received(uri: str, **kwargs: Any) -> Any:
    """Connect, return the first message, decoded from JSON."""
    async with connect(uri, open_timeout=WAIT, **kwargs) as websocket:
        async with asyncio.timeout(WAIT):
            return json.loads(await websocket.recv())


async def refused(uri: str, **kwargs: Any) -> Response:
    with pytest.raises(InvalidStatus) as raised:
        async with connect(uri, open_timeout=WAIT, **kwargs):
            pytest.fail("the server accepted the connection")
    return raised.value.response


def handshake_request(path: str, host: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def raw_open(
    port: int, path: str, host: str, tls: ssl.SSLContext | None = None
) -> tuple[int, dict[str, str], str]:
    """Open a connection by hand with this ``Host``.

    Returns the status, the response headers, and after a 101 the first
    message (short and uncompressed: the raw client offers no extension).
    """
    reader, writer = await asyncio.open_connection(
        LOCALHOST, port, ssl=tls, server_hostname=None if tls is None else "localhost"
    )
    try:
        writer.write(handshake_request(path, host))
        async with asyncio.timeout(WAIT):
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            status_line, *lines = head.strip().split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines)
            status = int(status_line.split()[1])
            if status != 101:
                return status, headers, ""
            _, length = await reader.readexactly(2)
            assert length < 126
            return status, headers, (await reader.readexactly(length)).decode()
    finally:
        writer.close()
        await writer.wait_closed()


def server_tls() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERTIFICATE)
    return context


def client_tls() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=CERTIFICATE)


# Dispatching.

UUID = uuid.UUID("12345678-1234-5678-1234-567812345678")

CONVERTER_CASES = {
    "/": {},
    "/rooms/": {},
    "/rooms/kitchen": {"room": ["str", "kitchen"]},
    "/rooms/caf%C3%A9%20cr%C3%A8me": {"room": ["str", "caf\u00e9 cr\u00e8me"]},
    "/n/42": {"n": ["int", "42"]},
    "/x/2.5": {"x": ["float", "2.5"]},
    "/files/a/b/c.txt": {"name": ["str", "a/b/c.txt"]},
    f"/u/{UUID}": {"id": ["UUID", str(UUID)]},
    "/color/green": {"color": ["str", "green"]},
    "/rooms/kitchen?user=alice": {"room": ["str", "kitchen"]},
}


async def test_each_converter_gives_its_type() -> None:
    async with route(url_map(), LOCALHOST, 0) as server:
        for path, expected in CONVERTER_CASES.items():
            assert await received(uri_of(server, path)) == expected, path


async def test_unknown_path_gets_404_and_no_handler_runs() -> None:
    handled: list[str] = []

    async def handler(websocket: ServerConnection, **arguments: Any) -> None:
        handled.append(websocket.request.path if websocket.request else "")

    url_map = Map([Rule("/rooms/<room>", endpoint=handler), Rule("/n/<int:n>", endpoint=handler)])
    async with route(url_map, LOCALHOST, 0) as server:
        for path in ["/", "/kitchen", "/rooms/a/b", "/n/abc", "/n/-1"]:
            response = await refused(uri_of(server, path))
            assert (response.status_code, response.reason_phrase) == (404, "Not Found"), path
            assert response.body == b"Not Found: no WebSocket endpoint at this path.\n"
        async with connect(uri_of(server, "/n/1"), open_timeout=WAIT) as websocket:
            await websocket.wait_closed()
    assert handled == ["/n/1"]


async def test_trailing_slash_redirects() -> None:
    async with route(url_map(), LOCALHOST, 0) as server:
        port = port_of(server)
        host = f"localhost:{port}"
        status, headers, _ = await raw_open(port, "/rooms?user=alice", host)
        assert status == 302
        assert headers["Location"] == f"ws://localhost:{port}/rooms/?user=alice"
        # Runs of slashes too.
        status, headers, _ = await raw_open(port, "/rooms//kitchen", host)
        assert (status, headers["Location"]) == (302, f"ws://localhost:{port}/rooms/kitchen")
        # Where the redirect points, the handler runs; connect() follows it.
        assert await received(uri_of(server, "/rooms/?user=alice")) == {}
        async with connect(uri_of(server, "/rooms?user=alice"), open_timeout=WAIT) as websocket:
            assert websocket.request is not None
            assert websocket.request.path == "/rooms/?user=alice"
            assert json.loads(await websocket.recv()) == {}


async def test_host_matching_with_host_header() -> None:
    hosts = Map(
        [
            Rule("/", endpoint=show, host="example.com"),
            Rule("/", endpoint=show, host="<user>.example.com"),
            Rule("/inbox/", endpoint=show, host="<user>.example.com"),
        ],
        host_matching=True,
    )
    async with route(hosts, LOCALHOST, 0) as server:
        port = port_of(server)
        status, _, message = await raw_open(port, "/", "alice.example.com")
        assert (status, json.loads(message)) == (101, {"user": ["str", "alice"]})
        status, _, message = await raw_open(port, "/", "example.com")
        assert (status, json.loads(message)) == (101, {})
        status, headers, _ = await raw_open(port, "/inbox", "Bob.Example.com")
        assert (status, headers["Location"]) == (302, "ws://bob.example.com/inbox/")
        status, _, _ = await raw_open(port, "/", "example.org")
        assert status == 404
        # The Host header carries the port, when there is one: no match.
        response = await refused(uri_of(server))
        assert response.status_code == 404


async def test_server_name_replaces_host_header() -> None:
    hosts = Map([Rule("/rooms/", endpoint=show, host="chat.example.com")], host_matching=True)
    async with route(hosts, LOCALHOST, 0, server_name="chat.example.com") as server:
        assert await received(uri_of(server, "/rooms/")) == {}
        status, headers, _ = await raw_open(port_of(server), "/rooms", "127.0.0.1")
        assert (status, headers["Location"]) == (302, "ws://chat.example.com/rooms/")


async def test_tls_terminated_upstream_redirects_to_wss() -> None:
    async with route(url_map(), LOCALHOST, 0, ssl=True) as server:
        # The server itself speaks plain TCP: TLS ends in a proxy before it.
        assert await received(uri_of(server, "/n/1")) == {"n": ["int", "1"]}
        status, headers, _ = await raw_open(port_of(server), "/rooms", "chat.example.com")
        assert (status, headers["Location"]) == (302, "wss://chat.example.com/rooms/")


async def test_tls() -> None:
    async with route(url_map(), LOCALHOST, 0, ssl=server_tls()) as server:
        port = port_of(server)
        uri = f"wss://localhost:{port}/rooms/kitchen"
        assert await received(uri, ssl=client_tls()) == {"room": ["str", "kitchen"]}
        status, headers, _ = await raw_open(port, "/rooms", "localhost", tls=client_tls())
        assert (status, headers["Location"]) == (302, "wss://localhost/rooms/")


async def test_process_request_runs_before_routing() -> None:
    def sync_hook(connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/rooms/private":
            return connection.respond(403, "Private room.\n")
        return None

    async def async_hook(connection: ServerConnection, request: Request) -> Response | None:
        await asyncio.sleep(0)
        return sync_hook(connection, request)

    for hook in [sync_hook, async_hook]:
        async with route(url_map(), LOCALHOST, 0, process_request=hook) as server:
            response = await refused(uri_of(server, "/rooms/private"))
            assert (response.status_code, response.body) == (403, b"Private room.\n")
            assert await received(uri_of(server, "/rooms/public")) == {"room": ["str", "public"]}
            # A path that routing refuses is still refused.
            assert (await refused(uri_of(server, "/nowhere"))).status_code == 404


async def test_create_router() -> None:
    routers: list[Router] = []

    class Custom(Router):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            routers.append(self)

        def not_found(self, connection: ServerConnection) -> Response:
            return connection.respond(404, "Nothing here. Try /rooms/<name>.\n")

    async with route(url_map(), LOCALHOST, 0, create_router=Custom) as server:
        response = await refused(uri_of(server, "/nowhere"))
        assert response.body == b"Nothing here. Try /rooms/<name>.\n"
        assert await received(uri_of(server, "/n/7")) == {"n": ["int", "7"]}
    (router,) = routers
    assert router.url_scheme == "ws"


async def test_refused_after_routing_leaves_no_route_behind() -> None:
    # Routing succeeds, then process_response refuses: the handler never runs
    # and the router doesn't keep the connection.
    routers: list[Router] = []

    class Recording(Router):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            routers.append(self)

    def refuse(connection: ServerConnection, request: Request, response: Response) -> Response:
        return connection.respond(503, "Come back later.\n")

    async with route(
        url_map(), LOCALHOST, 0, create_router=Recording, process_response=refuse
    ) as server:
        assert (await refused(uri_of(server, "/n/1"))).status_code == 503
    gc.collect()
    assert len(routers[0].routes) == 0


async def test_unix_route() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "socket")
        async with unix_route(url_map(), path):
            async with unix_connect(path, "ws://localhost/rooms/den") as websocket:
                assert json.loads(await websocket.recv()) == {"room": ["str", "den"]}
            with pytest.raises(InvalidStatus) as raised:
                async with unix_connect(path, "ws://localhost/nowhere"):
                    pytest.fail("the server accepted the connection")
            assert raised.value.response.status_code == 404


async def test_werkzeug_map() -> None:
    rules = werkzeug.routing.Map(
        [
            werkzeug.routing.Rule("/rooms/", endpoint=show),
            werkzeug.routing.Rule("/rooms/<room>", endpoint=show),
            werkzeug.routing.Rule("/n/<int:n>", endpoint=show),
        ]
    )
    async with route(rules, LOCALHOST, 0) as server:
        assert await received(uri_of(server, "/n/3")) == {"n": ["int", "3"]}
        assert await received(uri_of(server, "/rooms/caf%C3%A9")) == {"room": ["str", "caf\u00e9"]}
        assert (await refused(uri_of(server, "/nowhere"))).status_code == 404
        status, headers, _ = await raw_open(port_of(server), "/rooms", "example.com")
        assert (status, headers["Location"]) == (302, "ws://example.com/rooms/")


async def test_handler_arguments_reach_keyword_only_parameters() -> None:
    async def room(websocket: ServerConnection, *, room: str, n: int) -> None:
        await websocket.send(describe({"room": room, "n": n}))

    async with route(Map([Rule("/<room>/<int:n>", endpoint=room)]), LOCALHOST, 0) as server:
        assert await received(uri_of(server, "/den/2")) == {
            "n": ["int", "2"],
            "room": ["str", "den"],
        }
