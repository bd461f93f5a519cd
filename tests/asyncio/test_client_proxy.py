"""Tests for proxies in wskit.asyncio.client: HTTP CONNECT and SOCKS5, over real sockets.

The proxies are those of tests/proxies.py, in threads on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
import socket
import ssl
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import pytest
import uvloop

from tests.proxies import ConnectProxy, Socks5Proxy
from wskit.asyncio.client import connect, unix_connect
from wskit.asyncio.server import ServerConnection, serve, unix_serve
from wskit.exceptions import InvalidProxy, InvalidProxyMessage, InvalidProxyStatus, ProxyError

LOCALHOST = "127.0.0.1"

CERTIFICATE = str(pathlib.Path(__file__).parents[2] / "examples" / "localhost.pem")

# Proxy environment variables that could change the outcome of a test.
PROXY_VARIABLES = ["ws_proxy", "wss_proxy", "socks_proxy", "https_proxy", "http_proxy"]
PROXY_VARIABLES += ["all_proxy", "no_proxy"]


def server_tls() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERTIFICATE)
    return context


def client_tls() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=CERTIFICATE)


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


@contextlib.asynccontextmanager
async def serving(*, host: str = LOCALHOST, tls: bool = False) -> AsyncIterator[tuple[str, int]]:
    """Run an echo server; yield its URI and port."""
    async with serve(echo, LOCALHOST, 0, ssl=server_tls() if tls else None) as server:
        port = cast(int, server.sockets[0].getsockname()[1])
        yield f"{'wss' if tls else 'ws'}://{host}:{port}/", port


async def round_trip(uri: str, **kwargs: Any) -> None:
    if uri.startswith("wss:"):
        kwargs.setdefault("ssl", client_tls())
    async with connect(uri, open_timeout=5, close_timeout=1, **kwargs) as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"


@contextlib.contextmanager
def environment(monkeypatch: pytest.MonkeyPatch, **variables: str) -> Iterator[None]:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    yield


# HTTP CONNECT.


@pytest.mark.parametrize("tls", [False, True])
async def test_connect_proxy(tls: bool) -> None:
    async with serving(tls=tls) as (uri, port):
        with ConnectProxy() as proxy:
            await round_trip(uri, proxy=proxy.url())
    assert proxy.targets == [(LOCALHOST, port)]
    [request] = proxy.requests
    assert request["host"] == f"{LOCALHOST}:{port}"
    assert request["user-agent"].startswith("Python/")
    assert "proxy-authorization" not in request


async def test_connect_proxy_with_a_host_name() -> None:
    # The proxy resolves the name: the client never does.
    async with serving(host="wskit.test") as (uri, port):
        with ConnectProxy(hosts={"wskit.test": LOCALHOST}) as proxy:
            await round_trip(uri, proxy=proxy.url())
    assert proxy.targets == [("wskit.test", port)]


async def test_connect_proxy_without_user_agent() -> None:
    async with serving() as (uri, _):
        with ConnectProxy() as proxy:
            await round_trip(uri, proxy=proxy.url(), user_agent_header=None)
    assert "user-agent" not in proxy.requests[0]


@pytest.mark.parametrize("tls", [False, True])
async def test_connect_proxy_with_authentication(tls: bool) -> None:
    async with serving(tls=tls) as (uri, _):
        with ConnectProxy(auth=("alice", "s3cret:!")) as proxy:
            await round_trip(uri, proxy=proxy.url(user_info="alice:s3cret%3A%21"))
    assert proxy.requests[0]["proxy-authorization"] == "Basic YWxpY2U6czNjcmV0OiE="


@pytest.mark.parametrize("user_info", ["", "alice:wrong"])
async def test_connect_proxy_refuses_credentials(user_info: str) -> None:
    async with serving() as (uri, _):
        with (
            ConnectProxy(auth=("alice", "s3cret")) as proxy,
            pytest.raises(InvalidProxyStatus) as raised,
        ):
            await round_trip(uri, proxy=proxy.url(user_info=user_info))
    assert str(raised.value) == "proxy rejected connection: HTTP 407"
    assert raised.value.response.headers["Proxy-Authenticate"] == "Basic realm=test"
    assert proxy.targets == []


async def test_connect_proxy_refuses_the_server() -> None:
    async with serving() as (uri, _):
        with (
            ConnectProxy(status=403) as proxy,
            pytest.raises(InvalidProxyStatus, match="HTTP 403"),
        ):
            await round_trip(uri, proxy=proxy.url())


async def test_connect_proxy_cannot_reach_the_server() -> None:
    async with serving() as (uri, _):
        pass  # the server is gone
    with ConnectProxy() as proxy, pytest.raises(InvalidProxyStatus, match="HTTP 502"):
        await round_trip(uri, proxy=proxy.url())


async def test_https_proxy() -> None:
    async with serving() as (uri, _):
        with ConnectProxy(tls=server_tls()) as proxy:
            assert proxy.url().startswith("https://")
            await round_trip(uri, proxy=proxy.url(), proxy_ssl=client_tls())
    assert len(proxy.targets) == 1


async def test_wss_through_https_proxy() -> None:
    # TLS with the server inside TLS with the proxy.
    async with serving(tls=True) as (uri, _):
        with ConnectProxy(tls=server_tls()) as proxy:
            await round_trip(
                uri,
                proxy=proxy.url(),
                proxy_ssl=client_tls(),
                proxy_server_hostname="localhost",
                proxy_ssl_handshake_timeout=5,
            )
    assert len(proxy.targets) == 1


async def test_https_proxy_checks_its_certificate() -> None:
    async with serving() as (uri, _):
        with ConnectProxy(tls=server_tls()) as proxy:
            # The default context doesn't trust the test certificate.
            with pytest.raises(ssl.SSLCertVerificationError):
                await round_trip(uri, proxy=proxy.url())
            with pytest.raises(ssl.SSLCertVerificationError):
                await round_trip(
                    uri,
                    proxy=proxy.url(),
                    proxy_ssl=client_tls(),
                    proxy_server_hostname="example.com",
                )


async def test_proxy_ssl_needs_an_https_proxy() -> None:
    with (
        ConnectProxy() as proxy,
        pytest.raises(ValueError, match="proxy_ssl argument is incompatible"),
    ):
        await round_trip("ws://127.0.0.1:1/", proxy=proxy.url(), proxy_ssl=client_tls())
    assert proxy.targets == []


async def test_proxy_answers_garbage() -> None:
    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\n\r\nunexpected")
        await reader.read()

    async with raw_proxy(respond) as port:
        with pytest.raises(InvalidProxyMessage, match="proxy sent data before the tunnel was used"):
            await round_trip("ws://127.0.0.1:1/", proxy=f"http://{LOCALHOST}:{port}")


async def test_proxy_hangs_up() -> None:
    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")

    async with raw_proxy(respond) as port:
        with pytest.raises(InvalidProxyMessage) as raised:
            await round_trip("ws://127.0.0.1:1/", proxy=f"http://{LOCALHOST}:{port}")
    assert str(raised.value) == "proxy closed the connection during the handshake"
    assert isinstance(raised.value.__cause__, EOFError)


async def test_proxy_resets_the_connection() -> None:
    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        writer.transport.abort()

    async with raw_proxy(respond) as port:
        with pytest.raises(ConnectionResetError):
            await round_trip("ws://127.0.0.1:1/", proxy=f"http://{LOCALHOST}:{port}")


async def test_proxy_never_answers() -> None:
    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async with raw_proxy(respond) as port:
        with pytest.raises(TimeoutError, match="timed out during the opening handshake"):
            async with connect(
                "ws://127.0.0.1:1/", proxy=f"http://{LOCALHOST}:{port}", open_timeout=0.2
            ):
                pass


async def test_proxy_not_running() -> None:
    with ConnectProxy() as proxy:
        url = proxy.url()
    with pytest.raises(ConnectionRefusedError):
        await round_trip("ws://127.0.0.1:1/", proxy=url)


async def test_invalid_proxy() -> None:
    with pytest.raises(InvalidProxy, match="scheme isn't http, https, socks5 or socks5h"):
        await round_trip("ws://127.0.0.1:1/", proxy="ftp://127.0.0.1:1")


@contextlib.asynccontextmanager
async def raw_proxy(respond: Any) -> AsyncIterator[int]:
    """A TCP server that runs ``respond`` for each connection; yield its port."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            with contextlib.suppress(ConnectionError):
                await respond(reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, LOCALHOST, 0)
    try:
        yield cast(int, server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


# SOCKS5.


@pytest.mark.parametrize("tls", [False, True])
async def test_socks_proxy(tls: bool) -> None:
    async with serving(tls=tls) as (uri, port):
        with Socks5Proxy() as proxy:
            await round_trip(uri, proxy=proxy.url())
    assert proxy.targets == [(LOCALHOST, port)]


async def test_socks5h_proxy_resolves_names() -> None:
    async with serving(host="wskit.test") as (uri, port):
        with Socks5Proxy(hosts={"wskit.test": LOCALHOST}) as proxy:
            await round_trip(uri, proxy=proxy.url(scheme="socks5h"))
    assert proxy.targets == [("wskit.test", port)]


async def test_socks5_proxy_gets_addresses() -> None:
    # With socks5://, the client resolves the name and sends an address:
    # 127.0.0.1 or ::1, which the proxy maps to the server's 127.0.0.1.
    async with serving(host="localhost") as (uri, port):
        with Socks5Proxy(hosts={"localhost": "192.0.2.1", "::1": LOCALHOST}) as proxy:
            await round_trip(uri, proxy=proxy.url(scheme="socks5"))
    [(host, target_port)] = proxy.targets
    assert host in ("127.0.0.1", "::1")
    assert target_port == port


@pytest.mark.parametrize("tls", [False, True])
async def test_socks_proxy_with_authentication(tls: bool) -> None:
    async with serving(tls=tls) as (uri, _):
        with Socks5Proxy(auth=("bob", "pässword")) as proxy:
            await round_trip(uri, proxy=proxy.url(user_info="bob:p%C3%A4ssword"))
    assert len(proxy.targets) == 1


async def test_socks_proxy_requires_authentication() -> None:
    with (
        Socks5Proxy(auth=("bob", "secret")) as proxy,
        pytest.raises(ProxyError, match="SOCKS proxy requires authentication"),
    ):
        await round_trip("ws://127.0.0.1:1/", proxy=proxy.url(user_info=""))


async def test_socks_proxy_refuses_credentials() -> None:
    with (
        Socks5Proxy(auth=("bob", "secret")) as proxy,
        pytest.raises(ProxyError, match="SOCKS proxy rejected the user name or password"),
    ):
        await round_trip("ws://127.0.0.1:1/", proxy=proxy.url(user_info="bob:wrong"))
    assert proxy.targets == []


async def test_socks_proxy_refuses_the_server() -> None:
    with Socks5Proxy(reply=2) as proxy, pytest.raises(ProxyError) as raised:
        await round_trip("ws://127.0.0.1:1/", proxy=proxy.url())
    assert str(raised.value) == "SOCKS proxy failed to connect: connection not allowed by ruleset"
    assert raised.value.__cause__ is None


async def test_socks_proxy_cannot_reach_the_server() -> None:
    async with serving() as (uri, _):
        pass  # the server is gone
    with Socks5Proxy() as proxy, pytest.raises(ProxyError) as raised:
        await round_trip(uri, proxy=proxy.url())
    assert str(raised.value) == "SOCKS proxy failed to connect: connection refused"
    assert isinstance(raised.value.__cause__, OSError)


# Choosing the proxy.


async def test_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    async with serving() as (uri, _):
        with ConnectProxy() as proxy, Socks5Proxy() as socks:
            with environment(monkeypatch, ws_proxy=proxy.url(), all_proxy=socks.url()):
                await round_trip(uri)
            with environment(monkeypatch, http_proxy=proxy.url(), all_proxy=socks.url()):
                await round_trip(uri)
            with environment(monkeypatch, ALL_PROXY=socks.url()):
                await round_trip(uri)
            with environment(monkeypatch, socks_proxy=f"{LOCALHOST}:{socks.port}"):
                await round_trip(uri)
    assert len(proxy.targets) == 2
    assert len(socks.targets) == 2


async def test_wss_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    async with serving(tls=True) as (uri, _):
        with ConnectProxy() as proxy, ConnectProxy() as other:
            # http_proxy is for ws:// only.
            with environment(monkeypatch, https_proxy=proxy.url(), http_proxy=other.url()):
                await round_trip(uri)
            with environment(monkeypatch, wss_proxy=proxy.url(), ws_proxy=other.url()):
                await round_trip(uri)
    assert len(proxy.targets) == 2
    assert other.targets == []


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "127.0.0.0/8", "*", "example.com, 127.0.0.1"])
async def test_no_proxy(monkeypatch: pytest.MonkeyPatch, no_proxy: str) -> None:
    async with serving() as (uri, _):
        with (
            ConnectProxy() as proxy,
            environment(monkeypatch, all_proxy=proxy.url(), NO_PROXY=no_proxy),
        ):
            await round_trip(uri)
    assert proxy.targets == []


async def test_no_proxy_with_a_port(monkeypatch: pytest.MonkeyPatch) -> None:
    async with serving() as (uri, port):
        with ConnectProxy() as proxy:
            with environment(monkeypatch, all_proxy=proxy.url(), no_proxy=f"127.0.0.1:{port}"):
                await round_trip(uri)
            with environment(monkeypatch, all_proxy=proxy.url(), no_proxy=f"127.0.0.1:{port + 1}"):
                await round_trip(uri)
    assert proxy.targets == [(LOCALHOST, port)]


async def test_proxy_none_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    async with serving() as (uri, _):
        with ConnectProxy() as proxy, environment(monkeypatch, all_proxy=proxy.url()):
            await round_trip(uri, proxy=None)
    assert proxy.targets == []


async def test_explicit_proxy_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    async with serving() as (uri, _):
        with (
            ConnectProxy() as proxy,
            Socks5Proxy() as socks,
            environment(monkeypatch, all_proxy=proxy.url()),
        ):
            await round_trip(uri, proxy=socks.url())
    assert proxy.targets == []
    assert len(socks.targets) == 1


async def test_invalid_proxy_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with environment(monkeypatch, all_proxy="ftp://proxy"), pytest.raises(InvalidProxy):
        await round_trip("ws://127.0.0.1:1/")


async def test_host_and_port_through_a_proxy() -> None:
    # host and port say where the tunnel goes; the URI, what Host says.
    async with serving() as (_, port):
        with ConnectProxy(hosts={"elsewhere.test": LOCALHOST}) as proxy:
            await round_trip(
                "ws://wskit.test/", proxy=proxy.url(), host="elsewhere.test", port=port
            )
    assert proxy.targets == [("elsewhere.test", port)]


async def test_sock_and_unix_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with ConnectProxy() as proxy, environment(monkeypatch, all_proxy=proxy.url()):
        async with serving() as (uri, port):
            sock = socket.create_connection((LOCALHOST, port))
            await round_trip(uri, sock=sock)
        with tempfile.TemporaryDirectory() as directory:
            path = str(pathlib.Path(directory) / "ws.sock")
            async with (
                unix_serve(echo, path),
                unix_connect(path, close_timeout=1) as ws,
            ):
                await ws.send("hello")
                assert await ws.recv() == "hello"
    assert proxy.targets == []


async def test_sock_and_explicit_proxy() -> None:
    with (
        socket.socket() as sock,
        pytest.raises(ValueError, match="proxy argument is incompatible with sock"),
    ):
        await round_trip("ws://127.0.0.1:1/", sock=sock, proxy="http://127.0.0.1:1")


# uvloop.


def test_proxies_on_uvloop() -> None:
    async def main() -> None:
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        async with serving(tls=True) as (wss_uri, _), serving() as (ws_uri, _):
            with Socks5Proxy() as socks, ConnectProxy(tls=server_tls()) as proxy:
                await round_trip(wss_uri, proxy=socks.url())
                await round_trip(ws_uri, proxy=proxy.url(), proxy_ssl=client_tls())
                await round_trip(wss_uri, proxy=proxy.url(), proxy_ssl=client_tls())

    uvloop.run(asyncio.wait_for(main(), 30), debug=True)
