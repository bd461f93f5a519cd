"""Tests for proxies in wskit.sync.client: HTTP CONNECT and SOCKS5, over real sockets.

The proxies are those of tests/proxies.py, in threads on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import pathlib
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.proxies import ConnectProxy, Socks5Proxy
from wskit.exceptions import InvalidProxy, InvalidProxyMessage, InvalidProxyStatus, ProxyError
from wskit.sync.client import connect, unix_connect
from wskit.sync.server import unix_serve

from .support import (
    LOCALHOST,
    WAIT,
    client_tls,
    echo,
    port_of,
    running,
    server_tls,
    serving,
    uri_of,
    wskit_threads,
)

PROXY_VARIABLES = ["ws_proxy", "wss_proxy", "socks_proxy", "https_proxy", "http_proxy"]
PROXY_VARIABLES += ["all_proxy", "no_proxy"]


@contextlib.contextmanager
def server(*, host: str = LOCALHOST, tls: bool = False) -> Iterator[tuple[str, int]]:
    """Run an echo server; yield its URI and port."""
    with serving(ssl=server_tls() if tls else None) as running_server:
        port = port_of(running_server)
        yield f"{'wss' if tls else 'ws'}://{host}:{port}/", port


def round_trip(uri: str, **kwargs: Any) -> None:
    if uri.startswith("wss:"):
        kwargs.setdefault("ssl", client_tls())
    with connect(uri, open_timeout=WAIT, close_timeout=1, **kwargs) as ws:
        ws.send("hello")
        assert ws.recv(WAIT) == "hello"


@contextlib.contextmanager
def environment(monkeypatch: pytest.MonkeyPatch, **variables: str) -> Iterator[None]:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    yield


@contextlib.contextmanager
def raw_proxy(answer: bytes, *, hang_up: bool = True) -> Iterator[int]:
    """A proxy that reads a request, answers ``answer``, then hangs up or waits."""
    listener = socket.create_server((LOCALHOST, 0))
    done = threading.Event()

    def run() -> None:
        sock, _ = listener.accept()
        with sock:
            sock.settimeout(WAIT)
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(4096)
            sock.sendall(answer)
            if not hang_up:
                done.wait(WAIT)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        thread.join(WAIT)
        listener.close()


# HTTP CONNECT.


@pytest.mark.parametrize("tls", [False, True])
def test_connect_proxy(tls: bool) -> None:
    with server(tls=tls) as (uri, port), ConnectProxy() as proxy:
        round_trip(uri, proxy=proxy.url())
    assert proxy.targets == [(LOCALHOST, port)]
    [request] = proxy.requests
    assert request["host"] == f"{LOCALHOST}:{port}"
    assert request["user-agent"].startswith("Python/")


def test_connect_proxy_with_a_host_name() -> None:
    with (
        server(host="wskit.test") as (uri, port),
        ConnectProxy(hosts={"wskit.test": LOCALHOST}) as proxy,
    ):
        round_trip(uri, proxy=proxy.url())
    assert proxy.targets == [("wskit.test", port)]


@pytest.mark.parametrize("tls", [False, True])
def test_connect_proxy_with_authentication(tls: bool) -> None:
    with server(tls=tls) as (uri, _), ConnectProxy(auth=("alice", "s3cret")) as proxy:
        round_trip(uri, proxy=proxy.url())
    assert proxy.requests[0]["proxy-authorization"] == "Basic YWxpY2U6czNjcmV0"


@pytest.mark.parametrize("user_info", ["", "alice:wrong"])
def test_connect_proxy_refuses_credentials(user_info: str) -> None:
    with (
        server() as (uri, _),
        ConnectProxy(auth=("alice", "s3cret")) as proxy,
        pytest.raises(InvalidProxyStatus, match="proxy rejected connection: HTTP 407"),
    ):
        round_trip(uri, proxy=proxy.url(user_info=user_info))
    assert proxy.targets == []


def test_connect_proxy_cannot_reach_the_server() -> None:
    with server() as (uri, _):
        pass  # the server is gone
    with ConnectProxy() as proxy, pytest.raises(InvalidProxyStatus, match="HTTP 502"):
        round_trip(uri, proxy=proxy.url())


def test_https_proxy() -> None:
    with server() as (uri, _), ConnectProxy(tls=server_tls()) as proxy:
        round_trip(uri, proxy=proxy.url(), proxy_ssl=client_tls())
    assert len(proxy.targets) == 1


def test_wss_through_https_proxy() -> None:
    # TLS with the server inside TLS with the proxy: a thread relays bytes.
    before = wskit_threads()
    with (
        server(tls=True) as (uri, _),
        ConnectProxy(tls=server_tls()) as proxy,
        connect(
            uri,
            ssl=client_tls(),
            proxy=proxy.url(),
            proxy_ssl=client_tls(),
            proxy_server_hostname="localhost",
            close_timeout=1,
        ) as ws,
    ):
        assert any(thread.name == "wskit proxy relay" for thread in wskit_threads() - before)
        for size in (1, 100_000, 1_000_000):
            message = bytes(size)
            ws.send(message)
            assert ws.recv(WAIT) == message
    assert len(proxy.targets) == 1
    for thread in wskit_threads() - before:
        thread.join(WAIT)
        assert not thread.is_alive()


def test_wss_through_https_proxy_with_an_invalid_certificate() -> None:
    before = wskit_threads()
    with (
        server(tls=True) as (uri, _),
        ConnectProxy(tls=server_tls()) as proxy,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        # The server's certificate isn't trusted by a default context.
        connect(uri, proxy=proxy.url(), proxy_ssl=client_tls(), open_timeout=WAIT)
    for thread in wskit_threads() - before:
        thread.join(WAIT)
        assert not thread.is_alive()


def test_https_proxy_checks_its_certificate() -> None:
    with server() as (uri, _), ConnectProxy(tls=server_tls()) as proxy:
        with pytest.raises(ssl.SSLCertVerificationError):
            round_trip(uri, proxy=proxy.url())
        with pytest.raises(ssl.SSLCertVerificationError):
            round_trip(
                uri,
                proxy=proxy.url(),
                proxy_ssl=client_tls(),
                proxy_server_hostname="example.com",
            )


def test_proxy_ssl_needs_an_https_proxy() -> None:
    with (
        ConnectProxy() as proxy,
        pytest.raises(ValueError, match="proxy_ssl argument is incompatible"),
    ):
        round_trip("ws://127.0.0.1:1/", proxy=proxy.url(), proxy_ssl=client_tls())


def test_proxy_answers_garbage() -> None:
    with (
        raw_proxy(b"HTTP/1.1 200 OK\r\n\r\nunexpected") as port,
        pytest.raises(InvalidProxyMessage, match="proxy sent data before the tunnel was used"),
    ):
        round_trip("ws://127.0.0.1:1/", proxy=f"http://{LOCALHOST}:{port}")


def test_proxy_hangs_up() -> None:
    with raw_proxy(b"HTTP/1.1 200 Conn") as port, pytest.raises(InvalidProxyMessage) as raised:
        round_trip("ws://127.0.0.1:1/", proxy=f"http://{LOCALHOST}:{port}")
    assert str(raised.value) == "proxy closed the connection during the handshake"
    assert isinstance(raised.value.__cause__, EOFError)


def test_proxy_never_answers() -> None:
    with raw_proxy(b"", hang_up=False) as port, pytest.raises(TimeoutError):
        connect("ws://127.0.0.1:1/", proxy=f"http://{LOCALHOST}:{port}", open_timeout=0.2)


def test_proxy_not_running() -> None:
    with ConnectProxy() as proxy:
        url = proxy.url()
    with pytest.raises(ConnectionRefusedError):
        round_trip("ws://127.0.0.1:1/", proxy=url)


def test_invalid_proxy() -> None:
    with pytest.raises(InvalidProxy):
        round_trip("ws://127.0.0.1:1/", proxy="socks4://127.0.0.1:1")


# SOCKS5.


@pytest.mark.parametrize("tls", [False, True])
def test_socks_proxy(tls: bool) -> None:
    with server(tls=tls) as (uri, port), Socks5Proxy() as proxy:
        round_trip(uri, proxy=proxy.url())
    assert proxy.targets == [(LOCALHOST, port)]


def test_socks5h_proxy_resolves_names() -> None:
    with (
        server(host="wskit.test") as (uri, port),
        Socks5Proxy(hosts={"wskit.test": LOCALHOST}) as proxy,
    ):
        round_trip(uri, proxy=proxy.url(scheme="socks5h"))
    assert proxy.targets == [("wskit.test", port)]


def test_socks5_proxy_gets_addresses() -> None:
    # The client resolves localhost to 127.0.0.1 or ::1, which the proxy maps
    # to the server's 127.0.0.1; it would send "localhost" to a socks5h proxy.
    with (
        server(host="localhost") as (uri, port),
        Socks5Proxy(hosts={"localhost": "192.0.2.1", "::1": LOCALHOST}) as proxy,
    ):
        round_trip(uri, proxy=proxy.url(scheme="socks5"))
    [(host, target_port)] = proxy.targets
    assert host in ("127.0.0.1", "::1")
    assert target_port == port


@pytest.mark.parametrize("tls", [False, True])
def test_socks_proxy_with_authentication(tls: bool) -> None:
    with server(tls=tls) as (uri, _), Socks5Proxy(auth=("bob", "secret")) as proxy:
        round_trip(uri, proxy=proxy.url())
    assert len(proxy.targets) == 1


@pytest.mark.parametrize(
    ("user_info", "message"),
    [
        ("", "SOCKS proxy requires authentication"),
        ("bob:wrong", "SOCKS proxy rejected the user name or password"),
    ],
)
def test_socks_proxy_refuses_credentials(user_info: str, message: str) -> None:
    with (
        Socks5Proxy(auth=("bob", "secret")) as proxy,
        pytest.raises(ProxyError, match=message),
    ):
        round_trip("ws://127.0.0.1:1/", proxy=proxy.url(user_info=user_info))
    assert proxy.targets == []


def test_socks_proxy_refuses_the_server() -> None:
    with Socks5Proxy(reply=2) as proxy, pytest.raises(ProxyError, match="not allowed by ruleset"):
        round_trip("ws://127.0.0.1:1/", proxy=proxy.url())


def test_socks_proxy_cannot_reach_the_server() -> None:
    with server() as (uri, _):
        pass  # the server is gone
    with Socks5Proxy() as proxy, pytest.raises(ProxyError) as raised:
        round_trip(uri, proxy=proxy.url())
    assert str(raised.value) == "SOCKS proxy failed to connect: connection refused"
    assert isinstance(raised.value.__cause__, OSError)


# Choosing the proxy.


def test_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with server() as (uri, _), ConnectProxy() as proxy, Socks5Proxy() as socks:
        with environment(monkeypatch, ws_proxy=proxy.url(), all_proxy=socks.url()):
            round_trip(uri)
        with environment(monkeypatch, HTTP_PROXY=proxy.url()):
            round_trip(uri)
        with environment(monkeypatch, all_proxy=socks.url()):
            round_trip(uri)
    assert len(proxy.targets) == 2
    assert len(socks.targets) == 1


def test_wss_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with (
        server(tls=True) as (uri, _),
        ConnectProxy() as proxy,
        ConnectProxy() as other,
        environment(monkeypatch, https_proxy=proxy.url(), http_proxy=other.url()),
    ):
        round_trip(uri)
    assert len(proxy.targets) == 1
    assert other.targets == []


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "*", "localhost,127.0.0.0/8"])
def test_no_proxy(monkeypatch: pytest.MonkeyPatch, no_proxy: str) -> None:
    with (
        server() as (uri, _),
        ConnectProxy() as proxy,
        environment(monkeypatch, all_proxy=proxy.url(), no_proxy=no_proxy),
    ):
        round_trip(uri)
    assert proxy.targets == []


def test_proxy_none_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with (
        server() as (uri, _),
        ConnectProxy() as proxy,
        environment(monkeypatch, all_proxy=proxy.url()),
    ):
        round_trip(uri, proxy=None)
    assert proxy.targets == []


def test_address_through_a_proxy() -> None:
    # address says where the tunnel goes; the URI, what Host says.
    with server() as (_, port), ConnectProxy(hosts={"elsewhere.test": LOCALHOST}) as proxy:
        round_trip("ws://wskit.test/", proxy=proxy.url(), address=("elsewhere.test", port))
    assert proxy.targets == [("elsewhere.test", port)]


def test_address_without_a_proxy() -> None:
    with serving() as running_server:
        uri = uri_of(running_server).replace(LOCALHOST, "wskit.test")
        round_trip(uri, address=(LOCALHOST, port_of(running_server)))


def test_sock_and_unix_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with ConnectProxy() as proxy, environment(monkeypatch, all_proxy=proxy.url()):
        with server() as (uri, port):
            round_trip(uri, sock=socket.create_connection((LOCALHOST, port)))
        with tempfile.TemporaryDirectory() as directory:
            path = str(pathlib.Path(directory) / "ws.sock")
            with (
                unix_serve(echo, path) as unix_server,
                running(unix_server),
                unix_connect(path, close_timeout=1) as ws,
            ):
                ws.send("hello")
                assert ws.recv(WAIT) == "hello"
    assert proxy.targets == []


def test_sock_and_explicit_proxy() -> None:
    with (
        socket.socket() as sock,
        pytest.raises(ValueError, match="proxy argument is incompatible with sock"),
    ):
        connect("ws://127.0.0.1:1/", sock=sock, proxy="http://127.0.0.1:1")
