"""Tests for redirects in wskit.asyncio.client: servers on 127.0.0.1 answering 3xx."""

from __future__ import annotations

import contextlib
import json
import pathlib
import socket
import ssl
import tempfile
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from tests.proxies import ConnectProxy
from wskit.asyncio.client import connect, unix_connect
from wskit.asyncio.server import ServerConnection, serve, unix_serve
from wskit.exceptions import InvalidStatus, InvalidURI, SecurityError
from wskit.http11 import Request, Response

LOCALHOST = "127.0.0.1"

CERTIFICATE = str(pathlib.Path(__file__).parents[2] / "examples" / "localhost.pem")

Redirects = dict[str, tuple[int, str]]


class Site:
    """A server that redirects some paths and, on others, tells what it received.

    Attributes:
        requests: Paths requested, in order.
    """

    def __init__(self, redirects: Redirects | None = None) -> None:
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
    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        headers = ws.request.headers
        seen = {
            "path": ws.request.path,
            "authorization": headers.get("Authorization"),
            "cookie": headers.get("Cookie"),
            "proxy-authorization": headers.get("Proxy-Authorization"),
        }
        await ws.send(json.dumps(seen))


@contextlib.asynccontextmanager
async def running(site: Site, *, tls: bool = False, **kwargs: Any) -> AsyncIterator[Site]:
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(CERTIFICATE)
        kwargs["ssl"] = context
    async with serve(
        site.handler, LOCALHOST, 0, process_request=site.process_request, **kwargs
    ) as server:
        port = cast(int, server.sockets[0].getsockname()[1])
        site.uri = f"{'wss' if tls else 'ws'}://{LOCALHOST}:{port}"
        yield site


async def received(uri: str, **kwargs: Any) -> dict[str, Any]:
    """Connect, following redirects; return what the last server received."""
    async with connect(uri, open_timeout=5, close_timeout=1, **kwargs) as ws:
        data = json.loads(await ws.recv())
        assert ws.request is not None
        assert ws.request.path == data["path"]
        return cast(dict[str, Any], data)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect(status: int) -> None:
    async with running(Site({"/old": (status, "/new")})) as site:
        assert (await received(site.uri + "/old"))["path"] == "/new"
    assert site.requests == ["/old", "/new"]


async def test_relative_locations() -> None:
    redirects = {"/a/b": (302, "c?x=1"), "/a/c?x=1": (302, "../d")}
    async with running(Site(redirects)) as site:
        assert (await received(site.uri + "/a/b"))["path"] == "/d"
    assert site.requests == ["/a/b", "/a/c?x=1", "/d"]


async def test_redirect_to_another_server() -> None:
    async with (
        running(Site()) as target,
        running(Site({"/": (301, target.uri + "/there")})) as origin,
    ):
        assert (await received(origin.uri + "/"))["path"] == "/there"
    assert origin.requests == ["/"]
    assert target.requests == ["/there"]


async def test_chain_of_redirects() -> None:
    async with (
        running(Site()) as last,
        running(Site({"/": (307, last.uri + "/end")})) as middle,
        running(Site({"/": (302, middle.uri + "/")})) as first,
    ):
        assert (await received(first.uri + "/"))["path"] == "/end"


async def test_credentials_within_the_origin() -> None:
    async with running(Site({"/old": (302, "/new")})) as site:
        uri = site.uri.replace("ws://", "ws://alice:s3cret@") + "/old"
        seen = await received(uri, additional_headers={"Cookie": "session=1"})
    assert seen["authorization"] == "Basic YWxpY2U6czNjcmV0"
    assert seen["cookie"] == "session=1"


async def test_credentials_dont_go_to_another_host() -> None:
    async with running(Site()) as target:
        # Same machine, another host name: another origin.
        elsewhere = target.uri.replace(LOCALHOST, "localhost") + "/there"
        async with running(Site({"/": (302, elsewhere)})) as origin:
            uri = origin.uri.replace("ws://", "ws://alice:s3cret@") + "/"
            headers = {
                "Authorization": "Bearer token",
                "Proxy-Authorization": "Basic cDpx",
                "Cookie": "session=1",
                "X-Id": "7",
            }
            async with connect(uri, additional_headers=headers, close_timeout=1) as ws:
                seen = json.loads(await ws.recv())
                assert ws.request is not None
                assert ws.request.headers["X-Id"] == "7"
    assert target.requests == ["/there"]
    assert seen["authorization"] is None
    assert seen["cookie"] is None
    assert seen["proxy-authorization"] is None


async def test_redirect_loop() -> None:
    async with running(Site({"/a": (302, "/b"), "/b": (302, "/a")})) as site:
        with pytest.raises(SecurityError, match=r"more than 10 redirects \(redirect loop\)"):
            await received(site.uri + "/a")
    assert len(site.requests) == 11


async def test_redirect_limit_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSKIT_MAX_REDIRECTS", "2")
    redirects = {f"/{n}": (302, f"/{n + 1}") for n in range(5)}
    async with running(Site(redirects)) as site:
        with pytest.raises(SecurityError, match=r"^more than 2 redirects$"):
            await received(site.uri + "/0")
        monkeypatch.setenv("WSKIT_MAX_REDIRECTS", "5")
        assert (await received(site.uri + "/0"))["path"] == "/5"
    assert site.requests == ["/0", "/1", "/2", *(f"/{n}" for n in range(6))]


async def test_no_downgrade_from_wss_to_ws() -> None:
    async with (
        running(Site()) as plain,
        running(Site({"/": (302, plain.uri + "/")}), tls=True) as secure,
    ):
        context = ssl.create_default_context(cafile=CERTIFICATE)
        with pytest.raises(SecurityError, match="cannot follow redirect to non-secure URI"):
            await received(secure.uri + "/", ssl=context)
    assert secure.requests == ["/"]
    assert plain.requests == []


async def test_upgrade_from_ws_to_wss() -> None:
    async with (
        running(Site(), tls=True) as secure,
        running(Site({"/": (302, secure.uri + "/")})) as plain,
    ):
        # The default context doesn't trust the test certificate: TLS was tried.
        with pytest.raises(ssl.SSLCertVerificationError):
            await received(plain.uri + "/")


async def test_location_that_isnt_websocket() -> None:
    async with running(Site({"/": (302, "http://127.0.0.1/")})) as site:
        with pytest.raises(InvalidURI, match="scheme isn't ws or wss"):
            await received(site.uri + "/")


async def test_redirect_without_location() -> None:
    async with running(Site({"/": (302, "")})) as site:
        with pytest.raises(InvalidStatus, match="HTTP 302"):
            await received(site.uri + "/")
    assert site.requests == ["/"]


async def test_not_modified_isnt_a_redirect() -> None:
    async with running(Site({"/": (304, "/other")})) as site:
        with pytest.raises(InvalidStatus, match="HTTP 304"):
            await received(site.uri + "/")


async def test_redirect_with_a_socket() -> None:
    async with running(Site({"/": (302, "/new")})) as site:
        port = int(site.uri.rsplit(":", 1)[1])
        sock = socket.create_connection((LOCALHOST, port))
        with pytest.raises(ValueError, match="with a preexisting socket"):
            await received(site.uri + "/", sock=sock)


async def test_redirect_with_host_and_port() -> None:
    async with running(Site()) as target:
        redirects = {"/": (302, "/same"), "/same": (302, target.uri + "/")}
        async with running(Site(redirects)) as site:
            port = int(site.uri.rsplit(":", 1)[1])
            with pytest.raises(ValueError, match="the address to connect to is fixed"):
                await received("ws://wskit.test/", host=LOCALHOST, port=port)
    assert site.requests == ["/", "/same"]
    assert target.requests == []


async def test_redirect_on_a_unix_socket() -> None:
    site = Site({"/": (302, "/new"), "/away": (302, "ws://elsewhere.test/")})
    with tempfile.TemporaryDirectory() as directory:
        path = str(pathlib.Path(directory) / "ws.sock")
        async with unix_serve(site.handler, path, process_request=site.process_request):
            async with unix_connect(path, close_timeout=1) as ws:
                assert json.loads(await ws.recv())["path"] == "/new"
            with pytest.raises(ValueError, match="the address to connect to is fixed"):
                await unix_connect(path, "ws://localhost/away")


async def test_redirect_through_a_proxy() -> None:
    async with (
        running(Site()) as target,
        running(Site({"/": (302, target.uri + "/")})) as origin,
    ):
        with ConnectProxy() as proxy:
            await received(origin.uri + "/", proxy=proxy.url())
    assert [port for _, port in proxy.targets] == [
        int(origin.uri.rsplit(":", 1)[1]),
        int(target.uri.rsplit(":", 1)[1]),
    ]
