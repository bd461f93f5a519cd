"""The extension guide's ``x-xor`` ("extension/xor.py") negotiates and works between wskit peers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from examples.extension.xor import ClientXorFactory, ServerXorFactory, Xor
from tests.test_examples import TIMEOUT
from wskit.asyncio.client import connect
from wskit.asyncio.server import ServerConnection, serve
from wskit.client import ClientProtocol
from wskit.exceptions import NegotiationError, ProtocolError
from wskit.frames import Frame, Opcode
from wskit.http11 import Request
from wskit.server import ServerProtocol
from wskit.uri import parse_uri


async def echo(websocket: ServerConnection) -> None:
    async for message in websocket:
        await websocket.send(message)


@asynccontextmanager
async def echo_server(**options: Any) -> AsyncIterator[str]:
    async with serve(echo, "127.0.0.1", 0, **options) as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"


def run(coroutine: Any) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(TIMEOUT):
            await coroutine

    asyncio.run(bounded())


@pytest.mark.parametrize("compression", [None, "deflate"])
def test_negotiated_and_messages_go_through(compression: str | None) -> None:
    async def test() -> None:
        server_options = {"extensions": [ServerXorFactory()], "compression": compression}
        async with (
            echo_server(**server_options) as uri,
            connect(uri, extensions=[ClientXorFactory(7)], compression=compression) as websocket,
        ):
            assert websocket.response is not None
            header = websocket.response.headers["Sec-WebSocket-Extensions"]
            assert "x-xor; key=7" in header
            names = [extension.name for extension in websocket.protocol.extensions]
            expected = ["x-xor"] if compression is None else ["x-xor", "permessage-deflate"]
            assert sorted(names) == sorted(expected)
            messages: list[str | bytes] = ["Héllo, extension!", b"\x00\x07\xff", "long " * 1000]
            for message in messages:
                await websocket.send(message)
                assert await websocket.recv() == message
            await websocket.send(["frag", "ment"])
            assert await websocket.recv() == "fragment"

    run(test())


def test_peers_without_it_connect_plainly() -> None:
    async def test() -> None:
        async with echo_server(extensions=[ServerXorFactory()]) as uri, connect(uri) as websocket:
            assert [e.name for e in websocket.protocol.extensions] == ["permessage-deflate"]
        async with echo_server() as uri, connect(uri, extensions=[ClientXorFactory()]) as ws:
            assert "x-xor" not in [e.name for e in ws.protocol.extensions]
            await ws.send("plain")
            assert await ws.recv() == "plain"

    run(test())


def test_server_declines_an_invalid_offer() -> None:
    async def test() -> None:
        async with echo_server(extensions=[ServerXorFactory()], compression=None) as uri:
            for offer in ["x-xor; key=300", "x-xor", "x-xor; key=1; extra=2", "x-xor; key=abc"]:
                headers = {"Sec-WebSocket-Extensions": offer}
                async with connect(uri, additional_headers=headers, compression=None) as ws:
                    assert ws.response is not None
                    assert "Sec-WebSocket-Extensions" not in ws.response.headers, offer

    run(test())


def test_frames_on_the_wire_are_transformed() -> None:
    xor = Xor(0x5A)
    text = Frame(Opcode.TEXT, b"hi")
    encoded = xor.encode(text)
    assert (encoded.data, encoded.rsv2) == (bytes([ord("h") ^ 0x5A, ord("i") ^ 0x5A]), True)
    assert xor.decode(encoded) == text
    ping = Frame(Opcode.PING, b"ping")
    assert xor.encode(ping) == ping
    assert xor.decode(ping) == ping
    with pytest.raises(ProtocolError, match="without RSV2"):
        xor.decode(text)


def test_client_refuses_an_answer_with_another_key() -> None:
    factory = ClientXorFactory(7)
    assert factory.process_response_params([("key", "7")], []).name == "x-xor"
    with pytest.raises(NegotiationError, match="another key"):
        factory.process_response_params([("key", "8")], [])
    with pytest.raises(NegotiationError, match="accepted twice"):
        factory.process_response_params([("key", "7")], [Xor(7)])
    with pytest.raises(ValueError, match="from 1 to 255"):
        ClientXorFactory(0)


def test_an_unmarked_frame_fails_the_connection() -> None:
    """A peer that sends a data frame without RSV2 gets 1002 (protocol error)."""
    client = ClientProtocol(parse_uri("ws://example.com/"), extensions=[ClientXorFactory()])
    server = ServerProtocol(extensions=[ServerXorFactory()])
    client.send_request(client.connect())
    for data in client.data_to_send():
        server.receive_data(data)
    [request] = server.events_received()
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    for data in server.data_to_send():
        client.receive_data(data)
    assert [e.name for e in client.extensions] == ["x-xor"]
    # A text frame, FIN and no reserved bit: b"\x81", length 5, unmasked.
    client.receive_data(b"\x81\x05plain")
    assert isinstance(client.parser_exc, ProtocolError)
    assert client.close_sent is not None
    assert client.close_sent.code == 1002
