"""Tests for wskit.sync.router: route() and unix_route() over real sockets.

Servers run ``serve_forever()`` in a thread (see ``support.running``);
clients are wskit's :func:`~wskit.sync.client.connect`, or raw sockets that
write the handshake by hand, to choose the ``Host`` header and to read
redirects as they are sent.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import socket
import ssl
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import werkzeug.routing

from wskit.exceptions import InvalidStatus
from wskit.http11 import Request, Response
from wskit.routing import Map, Rule
from wskit.sync.client import connect, unix_connect
from wskit.sync.router import Router, route, unix_route
from wskit.sync.server import Server, ServerConnection

from .support import LOCALHOST, WAIT, client_tls, port_of, running, server_tls, uri_of


def describe(arguments: dict[str, Any]) -> str:
    """What a handler got, by type and value, as JSON."""
    return json.dumps({name: [type(v).__name__, str(v)] for name, v in sorted(arguments.items())})


def show(websocket: ServerConnection, **arguments: Any) -> None:
    websocket.send(describe(arguments))


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


@contextlib.contextmanager
def routing(url_map: Any, **kwargs: Any) -> Iterator[Server]:
    with route(url_map, LOCALHOST, 0, **kwargs) as server, running(server):
        yield server


def received(uri: str, **kwargs: Any) -> Any:
    """Connect, return the first message, decoded from JSON."""
    with connect(uri, open_timeout=WAIT, **kwargs) as websocket:
        return json.loads(websocket.recv(timeout=WAIT))


def refused(uri: str, **kwargs: Any) -> Response:
    with pytest.raises(InvalidStatus) as raised, connect(uri, open_timeout=WAIT, **kwargs):
        pytest.fail("the server accepted the connection")
    return raised.value.response


def raw_open(
    port: int, path: str, host: str, tls: ssl.SSLContext | None = None
) -> tuple[int, dict[str, str], str]:
    """Open a connection by hand with this ``Host``.

    Returns the status, the response headers, and after a 101 the first
    message (short and uncompressed: the raw client offers no extension).
    """
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection((LOCALHOST, port), timeout=WAIT) as raw:
        sock = raw if tls is None else tls.wrap_socket(raw, server_hostname="localhost")
        with sock:
            sock.sendall(request.encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(1)  # one byte at a time: not past the response
                assert chunk, "connection closed during the handshake"
                data += chunk
            status_line, *lines = data.decode().strip().split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines)
            status = int(status_line.split()[1])
            if status != 101:
                return status, headers, ""
            header = b""
            while len(header) < 2:
                header += sock.recv(2 - len(header))
            length = header[1]
            assert length < 126
            payload = b""
            while len(payload) < length:
                payload += sock.recv(length - len(payload))
            return status, headers, payload.decode()


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


def test_each_converter_gives_its_type() -> None:
    with routing(url_map()) as server:
        for path, expected in CONVERTER_CASES.items():
            assert received(uri_of(server, path)) == expected, path


def test_unknown_path_gets_404_and_no_handler_runs() -> None:
    handled: list[str] = []

    def handler(websocket: ServerConnection, **arguments: Any) -> None:
        handled.append(websocket.request.path if websocket.request else "")

    url_map = Map([Rule("/rooms/<room>", endpoint=handler), Rule("/n/<int:n>", endpoint=handler)])
    with routing(url_map) as server:
        for path in ["/", "/kitchen", "/rooms/a/b", "/n/abc", "/n/-1"]:
            response = refused(uri_of(server, path))
            assert (response.status_code, response.reason_phrase) == (404, "Not Found"), path
            assert response.body == b"Not Found: no WebSocket endpoint at this path.\n"
        with connect(uri_of(server, "/n/1"), open_timeout=WAIT) as websocket:
            websocket.wait_closed(WAIT)
    assert handled == ["/n/1"]


def test_trailing_slash_redirects() -> None:
    with routing(url_map()) as server:
        port = port_of(server)
        host = f"localhost:{port}"
        status, headers, _ = raw_open(port, "/rooms?user=alice", host)
        assert status == 302
        assert headers["Location"] == f"ws://localhost:{port}/rooms/?user=alice"
        status, headers, _ = raw_open(port, "/rooms//kitchen", host)
        assert (status, headers["Location"]) == (302, f"ws://localhost:{port}/rooms/kitchen")
        assert received(uri_of(server, "/rooms/?user=alice")) == {}


def test_host_matching_with_host_header() -> None:
    hosts = Map(
        [
            Rule("/", endpoint=show, host="example.com"),
            Rule("/", endpoint=show, host="<user>.example.com"),
            Rule("/inbox/", endpoint=show, host="<user>.example.com"),
        ],
        host_matching=True,
    )
    with routing(hosts) as server:
        port = port_of(server)
        status, _, message = raw_open(port, "/", "alice.example.com")
        assert (status, json.loads(message)) == (101, {"user": ["str", "alice"]})
        status, headers, _ = raw_open(port, "/inbox", "Bob.Example.com")
        assert (status, headers["Location"]) == (302, "ws://bob.example.com/inbox/")
        assert raw_open(port, "/", "example.org")[0] == 404
        assert refused(uri_of(server)).status_code == 404  # Host: 127.0.0.1:<port>


def test_server_name_replaces_host_header() -> None:
    hosts = Map([Rule("/rooms/", endpoint=show, host="chat.example.com")], host_matching=True)
    with routing(hosts, server_name="chat.example.com") as server:
        assert received(uri_of(server, "/rooms/")) == {}
        status, headers, _ = raw_open(port_of(server), "/rooms", "127.0.0.1")
        assert (status, headers["Location"]) == (302, "ws://chat.example.com/rooms/")


def test_tls_terminated_upstream_redirects_to_wss() -> None:
    with routing(url_map(), ssl=True) as server:
        assert received(uri_of(server, "/n/1")) == {"n": ["int", "1"]}
        status, headers, _ = raw_open(port_of(server), "/rooms", "chat.example.com")
        assert (status, headers["Location"]) == (302, "wss://chat.example.com/rooms/")


def test_tls() -> None:
    with routing(url_map(), ssl=server_tls()) as server:
        port = port_of(server)
        uri = f"wss://localhost:{port}/rooms/kitchen"
        assert received(uri, ssl=client_tls()) == {"room": ["str", "kitchen"]}
        status, headers, _ = raw_open(port, "/rooms", "localhost", tls=client_tls())
        assert (status, headers["Location"]) == (302, "wss://localhost/rooms/")


def test_process_request_runs_before_routing() -> None:
    def hook(connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/rooms/private":
            return connection.respond(403, "Private room.\n")
        return None

    with routing(url_map(), process_request=hook) as server:
        response = refused(uri_of(server, "/rooms/private"))
        assert (response.status_code, response.body) == (403, b"Private room.\n")
        assert received(uri_of(server, "/rooms/public")) == {"room": ["str", "public"]}
        assert refused(uri_of(server, "/nowhere")).status_code == 404


def test_create_router_and_no_route_left_behind() -> None:
    routers: list[Router] = []

    class Custom(Router):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            routers.append(self)

        def not_found(self, connection: ServerConnection) -> Response:
            return connection.respond(404, "Nothing here. Try /rooms/<name>.\n")

    def refuse_n(connection: ServerConnection, request: Request, response: Response) -> Response:
        # Routing succeeded; refuse anyway: the handler never runs.
        if request.path.startswith("/n/"):
            return connection.respond(503, "Come back later.\n")
        return response

    with routing(url_map(), create_router=Custom, process_response=refuse_n) as server:
        assert refused(uri_of(server, "/nowhere")).body == b"Nothing here. Try /rooms/<name>.\n"
        assert refused(uri_of(server, "/n/1")).status_code == 503
        assert received(uri_of(server, "/rooms/den")) == {"room": ["str", "den"]}
    gc.collect()
    (router,) = routers
    assert len(router.routes) == 0


def test_unix_route() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "socket")
        with unix_route(url_map(), path) as server, running(server):
            with unix_connect(path, "ws://localhost/rooms/den") as websocket:
                assert json.loads(websocket.recv(timeout=WAIT)) == {"room": ["str", "den"]}
            with pytest.raises(InvalidStatus) as raised, unix_connect(path, "ws://localhost/x"):
                pytest.fail("the server accepted the connection")
            assert raised.value.response.status_code == 404


def test_werkzeug_map() -> None:
    rules = werkzeug.routing.Map(
        [
            werkzeug.routing.Rule("/rooms/", endpoint=show),
            werkzeug.routing.Rule("/rooms/<room>", endpoint=show),
            werkzeug.routing.Rule("/n/<int:n>", endpoint=show),
        ]
    )
    with routing(rules) as server:
        assert received(uri_of(server, "/n/3")) == {"n": ["int", "3"]}
        assert refused(uri_of(server, "/nowhere")).status_code == 404
        status, headers, _ = raw_open(port_of(server), "/rooms", "example.com")
        assert (status, headers["Location"]) == (302, "ws://example.com/rooms/")
