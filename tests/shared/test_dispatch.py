"""Tests for wskit.shared.dispatch: the routing that the asyncio and threading routers share."""

from __future__ import annotations

import gc
from typing import Any

import pytest
import werkzeug.routing

from wskit.datastructures import Headers
from wskit.http11 import Request, Response
from wskit.routing import BaseConverter, Map, Rule
from wskit.server import ServerProtocol
from wskit.shared.dispatch import BaseRouter, url_scheme
from wskit.typing import StatusLike


class Connection:
    """What the routers need from a server connection: respond()."""

    def __init__(self) -> None:
        self.protocol = ServerProtocol()

    def respond(self, status: StatusLike, text: str) -> Response:
        return self.protocol.reject(status, text)


def lobby(websocket: Connection) -> None:
    pass


def room(websocket: Connection, name: str) -> None:
    pass


def request(path: str, *hosts: str) -> Request:
    return Request(path, Headers([("Host", host) for host in hosts]))


def url_map() -> Map:
    return Map(
        [
            Rule("/", endpoint=lobby),
            Rule("/rooms/<name>", endpoint=room),
            Rule("/rooms/", endpoint=lobby),
        ]
    )


def test_match_remembers_handler_and_arguments() -> None:
    router = BaseRouter[Connection](url_map())
    connection = Connection()
    assert router.route_request(connection, request("/rooms/kitchen", "example.com")) is None
    assert router.route_of(connection) == (room, {"name": "kitchen"})
    # Once: the handler takes it.
    with pytest.raises(KeyError):
        router.route_of(connection)


def test_route_of_unrouted_connection() -> None:
    with pytest.raises(KeyError):
        BaseRouter[Connection](url_map()).route_of(Connection())


def test_path_is_decoded_and_query_ignored() -> None:
    router = BaseRouter[Connection](url_map())
    connection = Connection()
    path = "/rooms/caf%C3%A9%20cr%C3%A8me?user=alice&x=%2F"
    assert router.route_request(connection, request(path, "example.com")) is None
    assert router.route_of(connection) == (room, {"name": "caf\u00e9 cr\u00e8me"})


def test_not_found() -> None:
    router = BaseRouter[Connection](url_map())
    connection = Connection()
    response = router.route_request(connection, request("/kitchen/sink", "example.com"))
    assert response is not None
    assert (response.status_code, response.reason_phrase) == (404, "Not Found")
    assert response.body == b"Not Found: no WebSocket endpoint at this path.\n"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert connection not in router.routes


def test_redirect_to_the_host_of_the_request() -> None:
    router = BaseRouter[Connection](url_map())
    response = router.route_request(Connection(), request("/rooms?x=1", "Example.com:8765"))
    assert response is not None
    assert response.status_code == 302
    assert response.headers["Location"] == "ws://example.com:8765/rooms/?x=1"
    assert response.body == b"Redirecting to ws://example.com:8765/rooms/?x=1\n"


def test_redirect_to_server_name_and_scheme() -> None:
    router = BaseRouter[Connection](url_map(), "ws.example.com", "wss")
    response = router.route_request(Connection(), request("/rooms", "127.0.0.1:8765"))
    assert response is not None
    assert response.headers["Location"] == "wss://ws.example.com/rooms/"


def test_server_name_for_host_matching() -> None:
    hosts = Map(
        [
            Rule("/", endpoint=lobby, host="example.com"),
            Rule("/", endpoint=room, host="<name>.example.com"),
        ],
        host_matching=True,
    )
    connection = Connection()
    router = BaseRouter[Connection](hosts)
    assert router.route_request(connection, request("/", "kitchen.example.com")) is None
    assert router.route_of(connection) == (room, {"name": "kitchen"})
    # A fixed server name wins over the Host header.
    router = BaseRouter[Connection](hosts, server_name="example.com")
    assert router.route_request(connection, request("/", "kitchen.example.com")) is None
    assert router.route_of(connection) == (lobby, {})
    assert router.get_server_name(connection, request("/")) == "example.com"


@pytest.mark.parametrize("hosts", [(), ("a.example.com", "b.example.com")])
def test_no_single_host_is_left_to_the_handshake(hosts: tuple[str, ...]) -> None:
    # The handshake answers 400 to such a request: nothing to route.
    router = BaseRouter[Connection](url_map())
    connection = Connection()
    assert router.route_request(connection, request("/", *hosts)) is None
    assert connection not in router.routes


def test_routes_are_forgotten_with_their_connection() -> None:
    # A handshake can fail after routing (process_response, a client that
    # leaves): its connection must not stay in the router.
    router = BaseRouter[Connection](url_map())
    connection = Connection()
    router.route_request(connection, request("/", "example.com"))
    assert len(router.routes) == 1
    del connection
    gc.collect()
    assert len(router.routes) == 0


def test_other_errors_propagate() -> None:
    class Broken(BaseConverter):
        def to_python(self, value: str) -> Any:
            raise RuntimeError("bug in a converter")

    router = BaseRouter[Connection](Map([Rule("/<broken:x>")], converters={"broken": Broken}))
    with pytest.raises(RuntimeError, match="bug in a converter"):
        router.route_request(Connection(), request("/x", "example.com"))


def test_werkzeug_map() -> None:
    rules = werkzeug.routing.Map(
        [
            werkzeug.routing.Rule("/", endpoint=lobby),
            werkzeug.routing.Rule("/rooms/<name>", endpoint=room),
            werkzeug.routing.Rule("/rooms/", endpoint=lobby),
            werkzeug.routing.Rule("/post", endpoint=lobby, methods=["POST"]),
        ]
    )
    router = BaseRouter[Connection](rules)
    # Marked as WebSocket rules, which a ws:// binding requires.
    assert all(rule.websocket for rule in rules.iter_rules())
    connection = Connection()
    assert router.route_request(connection, request("/rooms/caf%C3%A9", "example.com")) is None
    assert router.route_of(connection) == (room, {"name": "caf\u00e9"})
    response = router.route_request(connection, request("/rooms?x=1", "example.com"))
    assert response is not None
    assert response.status_code == 302
    assert response.headers["Location"] == "ws://example.com/rooms/?x=1"
    for path in ["/nowhere", "/post"]:  # NotFound, MethodNotAllowed
        response = router.route_request(connection, request(path, "example.com"))
        assert response is not None
        assert response.status_code == 404, path


def test_url_scheme() -> None:
    assert url_scheme(None) == "ws"
    assert url_scheme(True) == "wss"
    assert url_scheme(object()) == "wss"
