"""Tests for redirects in wskit.sync.client: servers on 127.0.0.1 answering 3xx."""

from __future__ import annotations

import contextlib
import json
import pathlib
import socket
import ssl
import tempfile
from collections.abc import Iterator
from typing import Any, cast

import pytest

from tests.proxies import ConnectProxy
from wskit.exceptions import InvalidStatus, SecurityError
from wskit.http11 import Request, Response
from wskit.sync.client import connect, unix_connect
from wskit.sync.server import ServerConnection, unix_serve

from .support import LOCALHOST, WAIT, client_tls, port_of, running, server_tls, serving


class Site:
    """A server that redirects some paths and, on others, tells what it received."""

    def __init__(self, redirects: dict[str, tuple[int, str]] | None = None) -> None:
        self.redirects = redirects or {}
        self.requests: list[str] = []
        self.uri = ""

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.requests.append(request.path)
        if request.path not in self.redirects:
            return None
        status, location = self.redirects[request.path]
        response = connection.respond(status, "moved\n")
        if location:
            response.headers["Location"] = location
        return response

    @staticmethod
    def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        headers = ws.request.headers
        seen = {"path": ws.request.path, "authorization": headers.get("Authorization")}
        if "Proxy-Authorization" in headers:
            seen["proxy-authorization"] = headers["Proxy-Authorization"]
        ws.send(json.dumps(seen))
        ws.wait_closed(WAIT)


@contextlib.contextmanager
def running_site(site: Site, *, tls: bool = False) -> Iterator[Site]:
    kwargs: dict[str, Any] = {"ssl": server_tls()} if tls else {}
    with serving(site.handler, process_request=site.process_request, **kwargs) as server:
        site.uri = f"{'wss' if tls else 'ws'}://{LOCALHOST}:{port_of(server)}"
        yield site


def received(uri: str, **kwargs: Any) -> dict[str, Any]:
    with connect(uri, open_timeout=WAIT, close_timeout=1, **kwargs) as ws:
        return cast(dict[str, Any], json.loads(ws.recv(WAIT)))


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect(status: int) -> None:
    with running_site(Site({"/old": (status, "new?x=1")})) as site:
        assert received(site.uri + "/old")["path"] == "/new?x=1"
    assert site.requests == ["/old", "/new?x=1"]


def test_redirect_to_another_server_without_credentials() -> None:
    with (
        running_site(Site()) as target,
        running_site(Site({"/": (302, target.uri.replace(LOCALHOST, "localhost"))})) as origin,
    ):
        uri = origin.uri.replace("ws://", "ws://alice:s3cret@") + "/"
        headers = {"Authorization": "Bearer token", "Proxy-Authorization": "Basic cDpx"}
        seen = received(uri, additional_headers=headers)
    assert target.requests == ["/"]
    assert seen == {"path": "/", "authorization": None}


def test_credentials_within_the_origin() -> None:
    with running_site(Site({"/old": (302, "/new")})) as site:
        seen = received(site.uri.replace("ws://", "ws://alice:s3cret@") + "/old")
    assert seen == {"path": "/new", "authorization": "Basic YWxpY2U6czNjcmV0"}


def test_redirect_loop() -> None:
    with (
        running_site(Site({"/a": (302, "/b"), "/b": (302, "/a")})) as site,
        pytest.raises(SecurityError, match=r"more than 10 redirects \(redirect loop\)"),
    ):
        received(site.uri + "/a")
    assert len(site.requests) == 11


def test_no_downgrade_from_wss_to_ws() -> None:
    with (
        running_site(Site()) as plain,
        running_site(Site({"/": (302, plain.uri + "/")}), tls=True) as secure,
        pytest.raises(SecurityError, match="cannot follow redirect to non-secure URI"),
    ):
        received(secure.uri + "/", ssl=client_tls())
    assert plain.requests == []


def test_upgrade_from_ws_to_wss() -> None:
    with (
        running_site(Site(), tls=True) as secure,
        running_site(Site({"/": (302, secure.uri + "/")})) as plain,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        # The default context doesn't trust the test certificate: TLS was tried.
        received(plain.uri + "/")


def test_redirect_without_location() -> None:
    with (
        running_site(Site({"/": (307, "")})) as site,
        pytest.raises(InvalidStatus, match="HTTP 307"),
    ):
        received(site.uri + "/")


def test_redirect_with_a_socket() -> None:
    with running_site(Site({"/": (302, "/new")})) as site:
        sock = socket.create_connection((LOCALHOST, int(site.uri.rsplit(":", 1)[1])))
        with pytest.raises(ValueError, match="with a preexisting socket"):
            received(site.uri + "/", sock=sock)


def test_redirect_with_an_address() -> None:
    with running_site(Site({"/": (302, "/same"), "/same": (302, "ws://other.test/")})) as site:
        address = (LOCALHOST, int(site.uri.rsplit(":", 1)[1]))
        with pytest.raises(ValueError, match="the address to connect to is fixed"):
            received("ws://wskit.test/", address=address)
    assert site.requests == ["/", "/same"]


def test_redirect_on_a_unix_socket() -> None:
    site = Site({"/": (302, "/new")})
    with tempfile.TemporaryDirectory() as directory:
        path = str(pathlib.Path(directory) / "ws.sock")
        with (
            unix_serve(site.handler, path, process_request=site.process_request) as server,
            running(server),
            unix_connect(path, close_timeout=1) as ws,
        ):
            assert json.loads(ws.recv(WAIT))["path"] == "/new"


def test_redirect_through_a_proxy() -> None:
    with (
        running_site(Site()) as target,
        running_site(Site({"/": (302, target.uri + "/")})) as origin,
        ConnectProxy() as proxy,
    ):
        received(origin.uri + "/", proxy=proxy.url())
    assert [port for _, port in proxy.targets] == [
        int(origin.uri.rsplit(":", 1)[1]),
        int(target.uri.rsplit(":", 1)[1]),
    ]
