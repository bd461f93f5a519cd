"""wskit.legacy.auth: basic_auth_protocol_factory and BasicAuthWebSocketServerProtocol."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from wskit.legacy.auth import BasicAuthWebSocketServerProtocol, basic_auth_protocol_factory
from wskit.legacy.server import serve

from .support import LOCALHOST, http_get, port_of


def authorization(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return f"Authorization: Basic {token}\r\n"


async def greeting(port: int, username: str, password: str) -> Any:
    """Connect with the reference's client, credentials in the URI; return the greeting."""
    try:
        async with connect(f"ws://{username}:{password}@{LOCALHOST}:{port}/") as websocket:
            return await websocket.recv()
    except InvalidStatus as exc:
        return exc.response.status_code


async def greet(websocket: Any) -> None:
    await websocket.send(f"hello {websocket.username}")


async def test_credentials() -> None:
    create_protocol = basic_auth_protocol_factory(
        realm="dev", credentials=[("alice", "wonder"), ("bob", "builder")]
    )
    async with serve(greet, LOCALHOST, 0, create_protocol=create_protocol) as server:
        port = port_of(server)
        status, headers, body = await http_get(port)
        assert (status, body) == (401, b"Missing credentials\n")
        assert headers["WWW-Authenticate"] == 'Basic realm="dev", charset="UTF-8"'
        status, _, body = await http_get(port, headers=authorization("alice", "nope"))
        assert (status, body) == (401, b"Invalid credentials\n")
        status, _, body = await http_get(port, headers="Authorization: Bearer x\r\n")
        assert (status, body) == (401, b"Unsupported credentials\n")

        assert await greeting(port, "bob", "builder") == "hello bob"


async def test_check_credentials_function_and_subclass() -> None:
    async def check(username: str, password: str) -> bool:
        return password == username[::-1]

    create_protocol = basic_auth_protocol_factory(check_credentials=check)
    async with serve(greet, LOCALHOST, 0, create_protocol=create_protocol) as server:
        assert await greeting(port_of(server), "abc", "cba") == "hello abc"
        assert await greeting(port_of(server), "abc", "abc") == 401

    class OnlyRoot(BasicAuthWebSocketServerProtocol):
        async def check_credentials(self, username: str, password: str) -> bool:
            return username == "root"

    async with serve(greet, LOCALHOST, 0, create_protocol=OnlyRoot) as server:
        assert await greeting(port_of(server), "root", "x") == "hello root"
        assert await greeting(port_of(server), "user", "x") == 401

    class Shouting(BasicAuthWebSocketServerProtocol):
        async def check_credentials(self, username: str, password: str) -> bool:
            return await super().check_credentials(username.lower(), password)

    create_protocol = basic_auth_protocol_factory(
        credentials=("root", "pw"), create_protocol=Shouting
    )
    async with serve(greet, LOCALHOST, 0, create_protocol=create_protocol) as server:
        assert await greeting(port_of(server), "ROOT", "pw") == "hello ROOT"
        assert await greeting(port_of(server), "ROOT", "no") == 401


async def test_without_check_credentials_everyone_is_refused() -> None:
    create_protocol = BasicAuthWebSocketServerProtocol
    async with serve(greet, LOCALHOST, 0, create_protocol=create_protocol) as server:
        assert await greeting(port_of(server), "root", "root") == 401


def test_factory_arguments() -> None:
    with pytest.raises(TypeError, match="provide either credentials or check_credentials"):
        basic_auth_protocol_factory()
    with pytest.raises(TypeError, match="provide either credentials or check_credentials"):
        basic_auth_protocol_factory(credentials=("a", "b"), check_credentials=lambda u, p: True)
    with pytest.raises(TypeError, match="invalid credentials argument"):
        basic_auth_protocol_factory(credentials=[("a", "b", "c")])  # type: ignore[list-item]
