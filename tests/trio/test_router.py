"""Tests for wskit.trio.router: route() over real sockets on 127.0.0.1."""

from __future__ import annotations

import http
from typing import Any

import pytest
import trio
import werkzeug.routing

from wskit.exceptions import InvalidStatus
from wskit.http11 import Request, Response
from wskit.routing import Map, Rule
from wskit.trio.client import connect
from wskit.trio.router import Router, route
from wskit.trio.server import Server, ServerConnection

from .helpers import LOCALHOST, QUIET


async def lobby(websocket: ServerConnection) -> None:
    await websocket.send("lobby")


async def room(websocket: ServerConnection, name: str) -> None:
    await websocket.send(f"room {name}")


async def start(nursery: trio.Nursery, url_map: Any, **kwargs: Any) -> Server:
    server: Server = await nursery.start(
        lambda task_status: route(
            url_map, 0, host=LOCALHOST, task_status=task_status, **{**QUIET, **kwargs}
        )
    )
    return server


def uri(server: Server, path: str) -> str:
    return f"ws://{LOCALHOST}:{server.listeners[0].socket.getsockname()[1]}{path}"


async def first_message(server: Server, path: str) -> Any:
    async with connect(uri(server, path)) as websocket:
        return await websocket.recv()


@pytest.mark.parametrize(
    ("map_class", "rule_class"), [(Map, Rule), (werkzeug.routing.Map, werkzeug.routing.Rule)]
)
async def test_paths_go_to_their_handlers(map_class: Any, rule_class: Any) -> None:
    url_map = map_class(
        [rule_class("/", endpoint=lobby), rule_class("/rooms/<name>", endpoint=room)]
    )
    async with trio.open_nursery() as nursery:
        server = await start(nursery, url_map)
        async with server:
            assert await first_message(server, "/") == "lobby"
            assert await first_message(server, "/rooms/blue") == "room blue"
            with pytest.raises(InvalidStatus) as raised:
                await first_message(server, "/nowhere")
            assert raised.value.response.status_code == 404


async def test_process_request_runs_before_routing() -> None:
    seen: list[str] = []

    async def process_request(websocket: ServerConnection, request: Request) -> Response | None:
        seen.append(request.path)
        if request.path == "/health":
            return websocket.respond(http.HTTPStatus.OK, "OK\n")
        return None

    class CountingRouter(Router):
        routed = 0

        async def handler(self, connection: ServerConnection) -> None:
            CountingRouter.routed += 1
            await super().handler(connection)

    url_map = Map([Rule("/", endpoint=lobby)])
    async with trio.open_nursery() as nursery:
        server = await start(
            nursery, url_map, process_request=process_request, create_router=CountingRouter
        )
        async with server:
            with pytest.raises(InvalidStatus) as raised:
                await first_message(server, "/health")
            assert raised.value.response.status_code == 200
            assert await first_message(server, "/") == "lobby"
    assert seen == ["/health", "/"]
    assert CountingRouter.routed == 1
