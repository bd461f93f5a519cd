"""The same legacy server code on websockets 17.4's legacy server and on wskit's: the same results.

Each scenario runs twice, once with ``websockets.legacy.server.serve`` and
once with ``wskit.legacy.server.serve``, and what the handler and the
client observed must be the same.
"""

from __future__ import annotations

import asyncio
import http
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from wskit.legacy import server as wskit_server
from wskit.legacy.client import connect
from wskit.legacy.exceptions import InvalidStatusCode
from wskit.typing import Origin

from .support import LOCALHOST, TIMEOUT, http_get, port_of

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from websockets.legacy import server as reference_server

SERVES: list[Callable[..., Any]] = [reference_server.serve, wskit_server.serve]


async def both(scenario: Callable[[Callable[..., Any]], Any]) -> Any:
    """Run ``scenario`` with each server; check they agree; return what they saw."""
    results = [await asyncio.wait_for(scenario(serve), TIMEOUT) for serve in SERVES]
    assert results[1] == results[0], "wskit (second) differs from websockets (first)"
    return results[0]


def uri(server: Any, path: str = "/") -> str:
    return f"ws://{LOCALHOST}:{port_of(server)}{path}"


async def refuse(path: str, request_headers: Any) -> Any:
    if path == "/private":
        return http.HTTPStatus.FORBIDDEN, [("X-Why", "private")], b"No.\n"
    return None


async def test_process_request_answer() -> None:
    async def scenario(serve: Callable[..., Any]) -> Any:
        async def handler(websocket: Any) -> None:
            await websocket.send(websocket.path)

        async with serve(handler, LOCALHOST, 0, process_request=refuse) as server:
            status, headers, body = await http_get(port_of(server), "/private")
            async with connect(uri(server, "/public?x=1")) as websocket:
                message = await websocket.recv()
        kept = {name: headers.get(name) for name in ("X-Why", "Content-Type", "Content-Length")}
        return status, kept, headers.get("Connection"), body, message

    assert await both(scenario) == (
        403,
        {"X-Why": "private", "Content-Type": "text/plain", "Content-Length": "4"},
        "close",
        b"No.\n",
        "/public?x=1",
    )


async def test_handler_attributes_and_extra_headers() -> None:
    async def scenario(serve: Callable[..., Any]) -> Any:
        seen: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        async def handler(websocket: Any, path: str) -> None:
            seen.set_result(
                (
                    path,
                    websocket.path,
                    websocket.request_headers["X-Token"],
                    websocket.response_headers["X-Path"],
                    websocket.open,
                    websocket.closed,
                    websocket.close_code,
                    websocket.subprotocol,
                )
            )

        def extra_headers(path: str, request_headers: Any) -> list[tuple[str, str]]:
            return [("X-Path", path)]

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the handler takes a path
            start_server = serve(handler, LOCALHOST, 0, extra_headers=extra_headers)
        async with (
            start_server as server,
            connect(uri(server, "/p"), extra_headers={"X-Token": "t"}) as websocket,
        ):
            return await seen, websocket.response_headers["X-Path"]

    assert await both(scenario) == (("/p", "/p", "t", "/p", True, False, None, None), "/p")


@pytest.mark.parametrize(
    ("server_subprotocols", "client_subprotocols", "expected"),
    [
        (["xml", "chat"], ["chat", "json", "xml"], "chat"),
        (["chat", "xml"], ["xml", "json", "chat"], "xml"),
        (["xml"], ["chat"], None),
        (["xml"], None, None),
    ],
)
async def test_subprotocol_choice(
    server_subprotocols: list[Any], client_subprotocols: list[Any] | None, expected: str | None
) -> None:
    async def scenario(serve: Callable[..., Any]) -> Any:
        async def handler(websocket: Any) -> None:
            await websocket.send(repr(websocket.subprotocol))

        async with (
            serve(handler, LOCALHOST, 0, subprotocols=server_subprotocols) as server,
            connect(uri(server), subprotocols=client_subprotocols) as websocket,
        ):
            return await websocket.recv(), websocket.subprotocol

    assert await both(scenario) == (repr(expected), expected)


async def test_closing_as_seen_by_the_handler() -> None:
    async def scenario(serve: Callable[..., Any]) -> Any:
        seen: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        async def handler(websocket: Any) -> None:
            try:
                await websocket.recv()
            except Exception as exc:  # each library raises its own ConnectionClosed
                seen.set_result(exc)
            await websocket.wait_closed()

        results = []
        async with serve(handler, LOCALHOST, 0) as server:
            for code in (1000, 1001, 4000):
                seen = asyncio.get_running_loop().create_future()
                websocket = await connect(uri(server))
                await websocket.close(code, "bye")
                exc = await seen
                assert exc.rcvd is not None
                results.append((type(exc).__name__, exc.rcvd.code, exc.rcvd.reason))
        return results

    assert await both(scenario) == [
        ("ConnectionClosedOK", 1000, "bye"),
        ("ConnectionClosedOK", 1001, "bye"),
        # Any other code is an error, for the handler's "async for" too.
        ("ConnectionClosedError", 4000, "bye"),
    ]


async def test_handler_failure_and_server_close() -> None:
    async def scenario(serve: Callable[..., Any]) -> Any:
        async def handler(websocket: Any) -> None:
            if websocket.path == "/fail":
                raise RuntimeError("the handler failed")
            await websocket.wait_closed()

        server = await serve(handler, LOCALHOST, 0)
        failing = await connect(uri(server, "/fail"))
        await failing.wait_closed()
        waiting = await connect(uri(server, "/wait"))
        server.close()
        await server.wait_closed()
        await waiting.wait_closed()
        return failing.close_code, waiting.close_code, server.is_serving()

    assert await both(scenario) == (1011, 1001, False)


async def test_origins() -> None:
    async def scenario(serve: Callable[..., Any]) -> Any:
        async with serve(
            lambda websocket: websocket.wait_closed(),
            LOCALHOST,
            0,
            origins=["https://good.example"],
        ) as server:
            with pytest.raises(InvalidStatusCode) as raised:
                await connect(uri(server), origin=Origin("https://evil.example"))
            async with connect(uri(server), origin=Origin("https://good.example")) as websocket:
                opened = websocket.open
            return raised.value.status_code, opened

    assert await both(scenario) == (403, True)
