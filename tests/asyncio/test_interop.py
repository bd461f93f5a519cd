"""Interoperability of wskit.asyncio with the ``websockets`` package.

Every test runs twice: a wskit server with a ``websockets`` client, and a
``websockets`` server with a wskit client. The two libraries share their API,
so a handler or a client body is written once and runs on either side; what
the server sees goes back to the test through futures.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest
import websockets.asyncio.client as ws_client
import websockets.asyncio.server as ws_server
import websockets.exceptions as ws_exceptions
from websockets.http11 import Request as WsRequest

import wskit.asyncio.client as wk_client
import wskit.asyncio.server as wk_server
import wskit.exceptions as wk_exceptions
from wskit.http11 import Request as WkRequest

Handler = Callable[[Any], Awaitable[None]]
T = TypeVar("T")

# Which side wskit plays; the other side is websockets.
WSKIT_SIDES = pytest.mark.parametrize("wskit_side", ["wskit-server", "wskit-client"])

ConnectionClosed = (wk_exceptions.ConnectionClosed, ws_exceptions.ConnectionClosed)
ConnectionClosedOK = (wk_exceptions.ConnectionClosedOK, ws_exceptions.ConnectionClosedOK)
ConnectionClosedError = (wk_exceptions.ConnectionClosedError, ws_exceptions.ConnectionClosedError)

# Every test finishes in well under a second; a wait this long means a hang.
WAIT = 5

# Keep the libraries' own timers out of the way unless a test asks for them.
QUIET = {"ping_interval": None, "close_timeout": 2, "open_timeout": WAIT}


def library(obj: object) -> str:
    """Which library an object comes from: ``"wskit"`` or ``"websockets"``."""
    return type(obj).__module__.split(".")[0]


@contextlib.asynccontextmanager
async def serving(impl: str, handler: Handler, **kwargs: Any) -> AsyncIterator[str]:
    """Run a server of ``impl`` on 127.0.0.1; yield its URI; close it on exit."""
    serve: Any = wk_server.serve if impl == "wskit" else ws_server.serve
    async with serve(handler, "127.0.0.1", 0, **{**QUIET, **kwargs}) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/"


def connecting(impl: str, uri: str, **kwargs: Any) -> Any:
    """Return the connect() context manager of ``impl``."""
    if impl == "wskit":
        return wk_client.connect(uri, **{**QUIET, **kwargs})
    # No proxy from the environment: the server is on 127.0.0.1.
    return ws_client.connect(uri, proxy=None, **{**QUIET, **kwargs})


def invalid_status_of(impl: str) -> type[Exception]:
    """Return what the client of ``impl`` raises when the server refuses it."""
    return wk_exceptions.InvalidStatus if impl == "wskit" else ws_exceptions.InvalidStatus


def implementations(wskit_side: str) -> tuple[str, str]:
    """Return the server and client implementations for a test case."""
    if wskit_side == "wskit-server":
        return "wskit", "websockets"
    return "websockets", "wskit"


@contextlib.asynccontextmanager
async def pair(
    wskit_side: str,
    handler: Handler,
    server_kwargs: dict[str, Any] | None = None,
    client_kwargs: dict[str, Any] | None = None,
) -> AsyncIterator[Any]:
    """Serve ``handler`` and connect to it; yield the client connection."""
    server_impl, client_impl = implementations(wskit_side)
    async with (
        serving(server_impl, handler, **(server_kwargs or {})) as uri,
        connecting(client_impl, uri, **(client_kwargs or {})) as client,
    ):
        assert library(client) == client_impl
        yield client


def future() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()


async def within(awaitable: Awaitable[T]) -> T:
    """Await with a bound, so that a missing event fails fast instead of hanging."""
    return await asyncio.wait_for(awaitable, WAIT)


def exception(raised: pytest.ExceptionInfo[Exception]) -> Any:
    """Return the exception caught by pytest.raises(), whichever library raised it."""
    return raised.value


async def echo(websocket: Any) -> None:
    async for message in websocket:
        await websocket.send(message)


# Messages.


@WSKIT_SIDES
async def test_text_and_binary_echo(wskit_side: str) -> None:
    async with pair(wskit_side, echo) as client:
        await client.send("héllo ☃ 😀")
        assert await within(client.recv()) == "héllo ☃ 😀"
        await client.send(b"\x00\x01\xfe\xff")
        reply = await within(client.recv())
        assert reply == b"\x00\x01\xfe\xff"
        assert type(reply) is bytes
        await client.send(bytearray(b"array"))
        assert await within(client.recv()) == b"array"
        await client.send(memoryview(b"view"))
        assert await within(client.recv()) == b"view"
        await client.send("")
        assert await within(client.recv()) == ""
        await client.send(b"")
        assert await within(client.recv()) == b""


@WSKIT_SIDES
async def test_many_messages_keep_their_order(wskit_side: str) -> None:
    async with pair(wskit_side, echo) as client:
        for i in range(200):
            await client.send(f"message {i}" if i % 2 else i.to_bytes(2, "big"))
        for i in range(200):
            assert await within(client.recv()) == (
                f"message {i}" if i % 2 else i.to_bytes(2, "big")
            )


@WSKIT_SIDES
@pytest.mark.parametrize("compression", ["deflate", None])
async def test_large_messages(wskit_side: str, compression: str | None) -> None:
    binary = os.urandom(2**20)
    text = "é" * 2**19
    assert len(text.encode()) == 2**20
    # Deflate makes random data a little larger, and both libraries check
    # the size of the frame on the wire against max_size: leave some room.
    options = {"compression": compression, "max_size": 2**20 + 2**16}
    async with pair(wskit_side, echo, options, options) as client:
        await client.send(binary)
        await client.send(text)
        assert await within(client.recv()) == binary
        assert await within(client.recv()) == text


@WSKIT_SIDES
async def test_fragmented_messages_both_ways(wskit_side: str) -> None:
    received_by_server: asyncio.Future[list[Any]] = future()

    async def handler(websocket: Any) -> None:
        fragments = [fragment async for fragment in websocket.recv_streaming()]
        received_by_server.set_result(fragments)
        # Fragmented messages from the server: text, then binary.
        await websocket.send(["server ", "frag", "ments"])
        await websocket.send([b"\x00", bytearray(b"\x01"), memoryview(b"\x02")])
        await websocket.wait_closed()

    async with pair(wskit_side, handler) as client:
        await client.send(["cli", "ent ☃", " frag"])
        fragments = await within(received_by_server)
        # Frame boundaries are preserved; the last frame may be empty.
        assert [fragment for fragment in fragments if fragment] == ["cli", "ent ☃", " frag"]

        fragments = [fragment async for fragment in client.recv_streaming()]
        assert [fragment for fragment in fragments if fragment] == ["server ", "frag", "ments"]
        assert await within(client.recv()) == b"\x00\x01\x02"


@WSKIT_SIDES
async def test_fragmented_messages_are_joined_by_recv(wskit_side: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(10):
            yield bytes([i]) * 1000
            await asyncio.sleep(0)

    async with pair(wskit_side, echo) as client:
        await client.send(chunks())
        assert await within(client.recv()) == b"".join(bytes([i]) * 1000 for i in range(10))
        # Text split in the middle of a character can't be sent as str, but
        # the peer's decoder reassembles characters split across frames.
        encoded = "日本語".encode()
        await client.send([encoded[:2], encoded[2:5], encoded[5:]], text=True)
        assert await within(client.recv()) == "日本語"


# Compression.


def count_traffic(connection: Any) -> Callable[[], dict[str, int]]:
    """Count the bytes a wskit connection writes to and reads from the network.

    Returns a function that tells how many since this call, as the core
    counts them (whole messages reach the network without its
    ``receive_data()`` and ``data_to_send()``: see receive_messages).
    """
    assert library(connection) == "wskit"
    protocol = connection.protocol
    sent, received = protocol.bytes_sent, protocol.bytes_received

    def counts() -> dict[str, int]:
        return {
            "sent": protocol.bytes_sent - sent,
            "received": protocol.bytes_received - received,
        }

    return counts


def check_permessage_deflate(local: Any, remote: Any) -> None:
    """Check that both ends of a connection agree on permessage-deflate."""
    (local_extension,) = local.protocol.extensions
    (remote_extension,) = remote.protocol.extensions
    assert local_extension.name == remote_extension.name == "permessage-deflate"
    assert library(local_extension) == library(local)
    assert library(remote_extension) == library(remote)
    # What one end uses to compress, the other uses to decompress.
    assert local_extension.local_max_window_bits == remote_extension.remote_max_window_bits
    assert local_extension.remote_max_window_bits == remote_extension.local_max_window_bits
    assert local_extension.local_no_context_takeover == remote_extension.remote_no_context_takeover
    assert local_extension.remote_no_context_takeover == remote_extension.local_no_context_takeover


@WSKIT_SIDES
async def test_compression_negotiated_and_used(wskit_side: str) -> None:
    server_connection: asyncio.Future[Any] = future()
    text = "wskit and websockets speak permessage-deflate. " * 10_000
    binary = bytes(range(256)) * 1000

    async def handler(websocket: Any) -> None:
        server_connection.set_result(websocket)
        await echo(websocket)

    async with pair(wskit_side, handler) as client:
        server = await within(server_connection)
        check_permessage_deflate(client, server)
        wskit_connection = server if wskit_side == "wskit-server" else client
        traffic = count_traffic(wskit_connection)

        await client.send(text)
        assert await within(client.recv()) == text
        await client.send(binary)
        assert await within(client.recv()) == binary
        # Both messages crossed the network both ways, compressed: wskit
        # deflated what it sent, and inflated what websockets deflated.
        size = len(text) + len(binary)
        assert 0 < traffic()["sent"] < size // 10
        assert 0 < traffic()["received"] < size // 10


@WSKIT_SIDES
async def test_compression_context_carries_over_between_messages(wskit_side: str) -> None:
    # Without no_context_takeover, later messages refer to earlier ones.
    async with pair(wskit_side, echo) as client:
        for i in range(50):
            message = f"repeated message number {i % 5}: " + "lorem ipsum " * 20
            await client.send(message)
            assert await within(client.recv()) == message


@WSKIT_SIDES
@pytest.mark.parametrize("disabled_on", ["server", "client"])
async def test_compression_disabled_on_one_side(wskit_side: str, disabled_on: str) -> None:
    server_connection: asyncio.Future[Any] = future()
    text = "not compressed " * 1000

    async def handler(websocket: Any) -> None:
        server_connection.set_result(websocket)
        await echo(websocket)

    server_kwargs = {"compression": None} if disabled_on == "server" else {}
    client_kwargs = {"compression": None} if disabled_on == "client" else {}
    async with pair(wskit_side, handler, server_kwargs, client_kwargs) as client:
        server = await within(server_connection)
        assert client.protocol.extensions == []
        assert server.protocol.extensions == []
        assert "Sec-WebSocket-Extensions" not in client.response.headers
        wskit_connection = server if wskit_side == "wskit-server" else client
        traffic = count_traffic(wskit_connection)
        await client.send(text)
        assert await within(client.recv()) == text
        assert traffic()["sent"] > len(text)
        assert traffic()["received"] > len(text)


# Subprotocols.


@WSKIT_SIDES
async def test_subprotocol_negotiated_in_server_preference_order(wskit_side: str) -> None:
    server_subprotocol: asyncio.Future[Any] = future()

    async def handler(websocket: Any) -> None:
        server_subprotocol.set_result(websocket.subprotocol)
        await websocket.wait_closed()

    async with pair(
        wskit_side,
        handler,
        {"subprotocols": ["chat.v2", "chat.v1"]},
        {"subprotocols": ["chat.v0", "chat.v1", "chat.v2"]},
    ) as client:
        assert client.subprotocol == "chat.v2"
        assert await within(server_subprotocol) == "chat.v2"
        assert client.response.headers["Sec-WebSocket-Protocol"] == "chat.v2"


@WSKIT_SIDES
async def test_subprotocol_chosen_by_select_subprotocol(wskit_side: str) -> None:
    offers: asyncio.Future[Any] = future()

    def select_subprotocol(connection: Any, subprotocols: Any) -> Any:
        offers.set_result((library(connection), list(subprotocols)))
        return subprotocols[-1]

    server_impl, _ = implementations(wskit_side)
    async with pair(
        wskit_side,
        lambda websocket: websocket.wait_closed(),
        {"select_subprotocol": select_subprotocol},
        {"subprotocols": ["first", "last"]},
    ) as client:
        assert client.subprotocol == "last"
        assert await within(offers) == (server_impl, ["first", "last"])


@WSKIT_SIDES
async def test_no_subprotocol_when_server_supports_none(wskit_side: str) -> None:
    async with pair(
        wskit_side, lambda websocket: websocket.wait_closed(), {}, {"subprotocols": ["chat"]}
    ) as client:
        assert client.subprotocol is None
        assert "Sec-WebSocket-Protocol" not in client.response.headers


@WSKIT_SIDES
async def test_subprotocol_mismatch_is_rejected(wskit_side: str) -> None:
    server_impl, client_impl = implementations(wskit_side)
    invalid_status = invalid_status_of(client_impl)
    async with serving(
        server_impl, lambda websocket: websocket.wait_closed(), subprotocols=["chat.v2"]
    ) as uri:
        with pytest.raises(invalid_status) as raised:
            async with connecting(client_impl, uri, subprotocols=["chat.v1"]):
                pytest.fail("the handshake should fail")
    assert exception(raised).response.status_code == http.HTTPStatus.BAD_REQUEST


# Ping and pong.


@WSKIT_SIDES
async def test_ping_latency_both_ways(wskit_side: str) -> None:
    server_results: asyncio.Future[Any] = future()

    async def handler(websocket: Any) -> None:
        pong_waiter = await websocket.ping(b"from the server")
        latency = await pong_waiter
        server_results.set_result((latency, websocket.latency))
        await websocket.wait_closed()

    async with pair(wskit_side, handler) as client:
        assert client.latency == 0
        pong_waiter = await client.ping("from the client")
        latency = await within(pong_waiter)
        assert 0 < latency < WAIT
        assert client.latency == latency

        server_latency, server_connection_latency = await within(server_results)
        assert 0 < server_latency < WAIT
        assert server_connection_latency == server_latency


@WSKIT_SIDES
async def test_pings_with_random_and_binary_payloads(wskit_side: str) -> None:
    async with pair(wskit_side, lambda websocket: websocket.wait_closed()) as client:
        waiters = [await client.ping(), await client.ping(b"\x00\xff"), await client.ping()]
        latencies = await within(asyncio.gather(*waiters))
        assert all(latency > 0 for latency in latencies)


@WSKIT_SIDES
async def test_keepalive_both_ways(wskit_side: str) -> None:
    server_connection: asyncio.Future[Any] = future()

    async def handler(websocket: Any) -> None:
        server_connection.set_result(websocket)
        await websocket.wait_closed()

    keepalive = {"ping_interval": 0.05, "ping_timeout": 1}
    async with pair(wskit_side, handler, keepalive, keepalive) as client:
        server = await within(server_connection)
        # Each side's keepalive pings get answered by the other library.
        async with asyncio.timeout(WAIT):
            while client.latency == 0 or server.latency == 0:
                await asyncio.sleep(0.01)
        # A few rounds later, the connection is still healthy.
        await asyncio.sleep(0.2)
        await client.send("still there?")
        await client.ping()
        assert client.close_code is None
        assert server.close_code is None


# Closing.


@WSKIT_SIDES
async def test_client_closes_with_code_and_reason(wskit_side: str) -> None:
    server_saw: asyncio.Future[Any] = future()

    async def handler(websocket: Any) -> None:
        try:
            await websocket.recv()
        except ConnectionClosed as exc:
            server_saw.set_result((exc, websocket.close_code, websocket.close_reason))

    async with pair(wskit_side, handler) as client:
        await client.close(4000, "bye ☃")
        # The server answered with the same code. (websockets echoes the
        # reason too, wskit doesn't: RFC 6455 only asks for the code.)
        assert client.close_code == 4000
        exc, close_code, close_reason = await within(server_saw)
        assert isinstance(exc, ConnectionClosedError)  # 4000 isn't a normal closure
        assert exc.rcvd is not None
        assert (exc.rcvd.code, exc.rcvd.reason) == (4000, "bye ☃")
        assert (close_code, close_reason) == (4000, "bye ☃")


@WSKIT_SIDES
async def test_server_closes_with_code_and_reason(wskit_side: str) -> None:
    server_saw: asyncio.Future[Any] = future()

    async def handler(websocket: Any) -> None:
        await websocket.close(4001, "server says bye")
        # The client answered with the same code (and the reason with websockets).
        server_saw.set_result(websocket.close_code)

    async with pair(wskit_side, handler) as client:
        with pytest.raises(ConnectionClosedError) as raised:
            await within(client.recv())
        assert exception(raised).rcvd is not None
        assert exception(raised).rcvd.code == 4001
        assert exception(raised).rcvd.reason == "server says bye"
        await within(client.wait_closed())
        assert client.close_code == 4001
        assert client.close_reason == "server says bye"
        assert await within(server_saw) == 4001


@WSKIT_SIDES
async def test_normal_closure_ends_iteration_quietly(wskit_side: str) -> None:
    async def handler(websocket: Any) -> None:
        for i in range(3):
            await websocket.send(f"message {i}")
        # Returning closes the connection normally, with 1000.

    async with pair(wskit_side, handler) as client:
        messages = [message async for message in client]
        assert messages == ["message 0", "message 1", "message 2"]
        assert client.close_code == 1000
        with pytest.raises(ConnectionClosedOK):
            await within(client.recv())


@WSKIT_SIDES
async def test_server_handler_error_closes_with_1011(wskit_side: str) -> None:
    async def handler(websocket: Any) -> None:
        await websocket.recv()
        raise RuntimeError("handler bug (expected by the test)")

    async with pair(wskit_side, handler) as client:
        await client.send("boom")
        with pytest.raises(ConnectionClosedError) as raised:
            await within(client.recv())
        assert exception(raised).rcvd is not None
        assert exception(raised).rcvd.code == 1011


@WSKIT_SIDES
async def test_server_shutdown_closes_with_1001(wskit_side: str) -> None:
    server_impl, client_impl = implementations(wskit_side)
    async with serving(server_impl, lambda websocket: websocket.wait_closed()) as uri:
        client = await connecting(client_impl, uri)
    # Leaving serving() closed the server, and with it the connection.
    await within(client.wait_closed())
    assert client.close_code == 1001


# Rejecting the opening handshake.


@WSKIT_SIDES
async def test_process_request_rejects_connection(wskit_side: str) -> None:
    server_impl, client_impl = implementations(wskit_side)
    invalid_status = invalid_status_of(client_impl)
    handler_called = False

    async def handler(websocket: Any) -> None:
        nonlocal handler_called
        handler_called = True

    def process_request(connection: Any, request: WkRequest | WsRequest) -> Any:
        if request.path == "/forbidden":
            return connection.respond(http.HTTPStatus.FORBIDDEN, "Go away.\n")
        return None

    async with serving(server_impl, handler, process_request=process_request) as uri:
        with pytest.raises(invalid_status) as raised:
            async with connecting(client_impl, uri + "forbidden"):
                pytest.fail("the handshake should fail")
        response = exception(raised).response
        assert response.status_code == 403
        assert response.body == b"Go away.\n"
        assert not handler_called

        # Other paths are accepted.
        async with connecting(client_impl, uri + "allowed") as client:
            assert client.request.path == "/allowed"


@WSKIT_SIDES
async def test_async_process_request(wskit_side: str) -> None:
    server_impl, client_impl = implementations(wskit_side)
    invalid_status = invalid_status_of(client_impl)

    async def process_request(connection: Any, request: Any) -> Any:
        await asyncio.sleep(0)
        if request.headers.get("X-Token") != "sesame":
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "Bad token.\n")
        return None

    async with serving(
        server_impl, lambda websocket: websocket.wait_closed(), process_request=process_request
    ) as uri:
        with pytest.raises(invalid_status) as raised:
            async with connecting(client_impl, uri, additional_headers={"X-Token": "nope"}):
                pytest.fail("the handshake should fail")
        assert exception(raised).response.status_code == 401
        async with connecting(client_impl, uri, additional_headers={"X-Token": "sesame"}):
            pass


@WSKIT_SIDES
async def test_basic_auth(wskit_side: str) -> None:
    server_impl, client_impl = implementations(wskit_side)
    invalid_status = invalid_status_of(client_impl)
    basic_auth: Any = wk_server.basic_auth if server_impl == "wskit" else ws_server.basic_auth
    usernames: asyncio.Future[Any] = future()

    async def handler(websocket: Any) -> None:
        usernames.set_result(websocket.username)
        await websocket.wait_closed()

    process_request = basic_auth(realm="interop", credentials=("alice", "s3cret"))
    async with serving(server_impl, handler, process_request=process_request) as uri:
        port = uri.rsplit(":", 1)[1].rstrip("/")
        async with connecting(client_impl, f"ws://alice:s3cret@127.0.0.1:{port}/"):
            assert await within(usernames) == "alice"

        for bad_uri, headers in [
            (f"ws://alice:guess@127.0.0.1:{port}/", None),
            (uri, None),
            # Credentials that aren't UTF-8 are refused, not a server error.
            (uri, {"Authorization": "Basic " + base64.b64encode(b"\xff:s3cret").decode()}),
        ]:
            with pytest.raises(invalid_status) as raised:
                async with connecting(client_impl, bad_uri, additional_headers=headers):
                    pytest.fail("the handshake should fail")
            response = exception(raised).response
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"] == 'Basic realm="interop", charset="UTF-8"'


# Size limits.


@WSKIT_SIDES
@pytest.mark.parametrize("limited", ["server", "client"])
@pytest.mark.parametrize(
    "too_big",
    [
        pytest.param(os.urandom(1001), id="binary"),
        # Compresses to a few bytes: the limit applies to the inflated size.
        pytest.param("a" * 1001, id="compressible-text"),
        pytest.param([b"x" * 600, b"x" * 401], id="fragmented"),
    ],
)
async def test_max_size(wskit_side: str, limited: str, too_big: Any) -> None:
    just_right = b"y" * 1000
    server_saw: asyncio.Future[Any] = future()

    async def handler(websocket: Any) -> None:
        try:
            if limited == "server":
                assert await websocket.recv() == just_right
                await websocket.recv()
            else:
                await websocket.send(just_right)
                await websocket.send(too_big)
                await websocket.recv()
        except ConnectionClosed as exc:
            server_saw.set_result(exc)

    limit = {"max_size": 1000}
    server_kwargs = limit if limited == "server" else {}
    client_kwargs = limit if limited == "client" else {}
    async with pair(wskit_side, handler, server_kwargs, client_kwargs) as client:
        if limited == "server":
            await client.send(just_right)
            await client.send(too_big)
        else:
            assert await within(client.recv()) == just_right
        with pytest.raises(ConnectionClosedError) as raised:
            await within(client.recv())
        client_exc = exception(raised)
        server_exc: Any = await within(server_saw)

    assert isinstance(server_exc, ConnectionClosedError)
    receiver_exc, sender_exc = (
        (server_exc, client_exc) if limited == "server" else (client_exc, server_exc)
    )
    # The receiver refused the message with 1009; the sender was told so.
    assert receiver_exc.sent is not None
    assert receiver_exc.sent.code == 1009
    assert sender_exc.rcvd is not None
    assert sender_exc.rcvd.code == 1009
