"""Arguments that websockets refuses: wskit refuses them the same way."""

from __future__ import annotations

import socket
import ssl
from typing import Any

import pytest

from .runner import Lib, async_outcome, outcome, raw_server, same

REFUSED = ("raised", "ValueError")


def test_nothing_listening_is_refused_the_same(unused_port: int) -> None:
    # The baseline for the checks below: a connection attempt that fails.
    async def scenario(lib: Lib) -> Any:
        connect = lib.mod("asyncio.client").connect
        return await async_outcome(lambda: connect(f"ws://127.0.0.1:{unused_port}/"))

    assert same(scenario) == ("raised", "ConnectionRefusedError")


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize(
    ("uri", "kwargs"),
    [
        ("wss://127.0.0.1:{port}/", {"ssl": None}),
        ("ws://127.0.0.1:{port}/", {"ssl": True}),
        ("ws://127.0.0.1:{port}/", {"proxy": "https://127.0.0.1:{port}", "proxy_ssl": None}),
        ("ws://127.0.0.1:{port}/", {"proxy": "http://127.0.0.1:{port}", "proxy_ssl": True}),
        ("ws://127.0.0.1:{port}/", {"compression": "gzip"}),
        ("ws://127.0.0.1:{port}/", {"subprotocols": "chat"}),
        ("ws://127.0.0.1:{port}/", {"subprotocols": {"chat": 1}}),
    ],
    ids=[
        "ssl=None with wss",
        "ssl with ws",
        "proxy_ssl=None with https proxy",
        "proxy_ssl with http proxy",
        "compression",
        "subprotocols str",
        "subprotocols dict",
    ],
)
def test_asyncio_connect_arguments(uri: str, kwargs: dict[str, Any], unused_port: int) -> None:
    # Refused before any connection attempt: nothing listens on the port,
    # so an attempt would raise ConnectionRefusedError instead.
    arguments = {
        name: value.format(port=unused_port) if isinstance(value, str) else value
        for name, value in kwargs.items()
    }

    async def scenario(lib: Lib) -> Any:
        connect = lib.mod("asyncio.client").connect
        return await async_outcome(lambda: connect(uri.format(port=unused_port), **arguments))

    assert same(scenario)[:2] in (REFUSED, ("raised", "TypeError"))


def test_nested_async_with_on_one_connect_is_refused() -> None:
    async def scenario(lib: Lib) -> Any:
        server_module = lib.mod("asyncio.server")

        async def handler(websocket: Any) -> None:
            await websocket.wait_closed()

        async with server_module.serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            connecting = lib.mod("asyncio.client").connect(f"ws://127.0.0.1:{port}/")
            async with connecting:

                async def nested() -> None:
                    async with connecting:
                        pass

                inner = await async_outcome(nested)
            # Once the outer block is over, the object may be used again.
            async with connecting as websocket:
                again = websocket.protocol.state.name
        return inner, again

    assert same(scenario) == (("raised", "RuntimeError"), "OPEN")


@pytest.mark.parametrize(
    "kwargs",
    [{"path": "/tmp/wskit-parity.sock", "sock": "socket"}, {}],
    ids=["path and sock", "neither"],
)
def test_sync_unix_connect_address(kwargs: dict[str, Any]) -> None:
    def scenario(lib: Lib) -> Any:
        unix_connect = lib.mod("sync.client").unix_connect
        with socket.socket(socket.AF_UNIX) as sock:
            arguments = {
                name: sock if value == "socket" else value for name, value in kwargs.items()
            }
            return outcome(lambda: unix_connect(**arguments))

    assert same(scenario) == REFUSED


@pytest.mark.parametrize(
    "address", [{"host": "127.0.0.1"}, {"port": 0}, {"host": "127.0.0.1", "port": 0}]
)
def test_sync_serve_address_beside_sock(address: dict[str, Any]) -> None:
    def scenario(lib: Lib) -> Any:
        serve = lib.mod("sync.server").serve
        with socket.create_server(("127.0.0.1", 0)) as sock:
            return outcome(lambda: serve(lambda ws: None, sock=sock, **address))

    assert same(scenario) == REFUSED


def test_sync_unix_serve_without_path() -> None:
    def scenario(lib: Lib) -> Any:
        return outcome(lambda: lib.mod("sync.server").unix_serve(lambda ws: None))

    assert same(scenario) == REFUSED


@pytest.mark.parametrize("module", ["asyncio.server", "sync.server"])
@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, REFUSED),
        ({"credentials": ("u", "p"), "check_credentials": lambda u, p: True}, REFUSED),
        ({"credentials": ("u", 1)}, ("raised", "TypeError")),
        ({"credentials": [("u", "p"), "x"]}, ("raised", "TypeError")),
        ({"credentials": ("u", "p")}, ("ok",)),
    ],
    ids=["neither", "both", "bad pair", "bad list", "valid"],
)
def test_basic_auth_arguments(
    module: str, kwargs: dict[str, Any], expected: tuple[str, ...]
) -> None:
    def scenario(lib: Lib) -> Any:
        return outcome(lambda: lib.mod(module).basic_auth(**kwargs))

    assert same(scenario) == expected


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (({"a": "1"}, {"b": "2"}), {}),
        (({"a": "1"},), {"b": "2"}),
        ((), {"a": "1"}),
        (([("a", "1"), ("a", "2")],), {}),
        ((["abc"],), {}),
    ],
    ids=["two positional", "one and keywords", "keywords", "pairs", "bad pairs"],
)
def test_headers_constructor(args: tuple[Any, ...], kwargs: dict[str, str]) -> None:
    def scenario(lib: Lib) -> Any:
        headers = lib.mod("datastructures").Headers
        return outcome(lambda: headers(*args, **kwargs))

    same(scenario)


@pytest.mark.parametrize(
    "subprotocols",
    [["chat"], ("chat", "superchat"), "chat", {"chat": 1}, ["bad token"], [], {"chat"}],
    ids=["list", "tuple", "str", "dict", "bad token", "empty", "set"],
)
def test_validate_subprotocols(subprotocols: Any) -> None:
    def scenario(lib: Lib) -> Any:
        return outcome(lambda: lib.mod("headers").validate_subprotocols(subprotocols))

    same(scenario)


@pytest.mark.parametrize("module", ["asyncio.server", "sync.server"])
def test_serve_compression_argument(module: str) -> None:
    async def scenario(lib: Lib) -> Any:
        serve = lib.mod(module).serve
        if module == "sync.server":
            return outcome(lambda: serve(lambda ws: None, "127.0.0.1", 0, compression="gzip"))

        async def start() -> None:
            async with serve(lambda ws: None, "127.0.0.1", 0, compression="gzip"):
                pass

        return await async_outcome(start)

    assert same(scenario) == REFUSED


def test_sync_connect_ssl_with_ws_uri() -> None:
    def scenario(lib: Lib) -> Any:
        with raw_server(b"") as port:
            connect = lib.mod("sync.client").connect
            context = ssl.create_default_context()
            return outcome(lambda: connect(f"ws://127.0.0.1:{port}/", ssl=context))

    assert same(scenario) == REFUSED


def test_asyncio_unix_connect_with_path_and_sock() -> None:
    async def scenario(lib: Lib) -> Any:
        unix_connect = lib.mod("asyncio.client").unix_connect
        with socket.socket(socket.AF_UNIX) as sock:
            return await async_outcome(lambda: unix_connect("/tmp/wskit-parity.sock", sock=sock))

    assert same(scenario) == REFUSED
