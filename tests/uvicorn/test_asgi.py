"""wskit.uvicorn under real uvicorn servers: every ASGI WebSocket event, over 127.0.0.1.

Each test runs a raw ASGI app under ``uvicorn.Server`` with the wskit engine,
on both of uvicorn's HTTP parsers and on asyncio's loop and uvloop (see
conftest.py), and drives it with wskit's client or websockets'.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import websockets.asyncio.client as ws_client
from uvicorn.protocols.utils import ClientDisconnected

from wskit.asyncio.client import connect
from wskit.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus
from wskit.typing import Subprotocol

from .harness import Recorder, Stack, serving

# A handshake request by hand, for clients that must misbehave.
HANDSHAKE = (
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def echo_app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Accept and echo every message until the client leaves."""
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        event = await receive()
        if event["type"] == "websocket.disconnect":
            return
        event["type"] = "websocket.send"
        await send(event)


# Echo, with both clients.


@pytest.mark.all_stacks
async def test_echo_text_and_bytes(stack: Stack) -> None:
    async with serving(echo_app, stack) as server, connect(server.url()) as ws:
        messages: list[str | bytes] = ["", "café", "x" * 2**16, b"", b"\x00\xff", b"y" * 2**20]
        for message in messages:
            await ws.send(message)
            assert await ws.recv() == message


async def test_echo_fragmented_messages(stack: Stack) -> None:
    # Fragmented messages don't take receive()'s shortcut for single frames.
    async with serving(echo_app, stack) as server, connect(server.url()) as ws:
        await ws.send(["fra", "gmé", "nts"])
        assert await ws.recv() == "fragménts"
        await ws.send([b"\x00", b"\xff", b"ab"])
        assert await ws.recv() == b"\x00\xffab"
        await ws.send("after")
        assert await ws.recv() == "after"


async def test_second_concurrent_receive_is_refused(stack: Stack) -> None:
    recorder = Recorder()

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        first = asyncio.ensure_future(receive())
        await asyncio.sleep(0)  # the first receive() starts waiting
        try:
            recorder.put(await asyncio.wait_for(receive(), 1))
        except Exception as exc:
            recorder.put(type(exc).__name__)
        recorder.put(await first)

    async with serving(app, stack) as server, connect(server.url()) as ws:
        assert await recorder.get() == "ConcurrencyError"
        await ws.send("hello")
        assert await recorder.get() == {"type": "websocket.receive", "text": "hello"}


async def test_echo_with_websockets_client(stack: Stack) -> None:
    async with (
        serving(echo_app, stack) as server,
        ws_client.connect(server.url(), max_size=2**21) as ws,
    ):
        messages: list[str | bytes] = ["hello", b"\x01" * 2**20]
        for message in messages:
            await ws.send(message)
            assert await ws.recv() == message


async def test_compression_follows_ws_per_message_deflate(stack: Stack) -> None:
    for enabled in (True, False):
        async with (
            serving(echo_app, stack, ws_per_message_deflate=enabled) as server,
            connect(server.url()) as ws,
        ):
            assert ws.response is not None
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            assert ("permessage-deflate" in extensions) is enabled
            await ws.send("a" * 10_000)
            assert await ws.recv() == "a" * 10_000


# The scope.


def scope_app(recorder: Recorder) -> Callable[..., Awaitable[None]]:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        recorder.put(scope)
        await receive()
        await send({"type": "websocket.close"})

    return app


async def first_scope(stack: Stack, path: str, headers: Any = None, **settings: Any) -> Any:
    recorder = Recorder()
    async with serving(scope_app(recorder), stack, **settings) as server:
        await server.refusal(path, additional_headers=headers)
        scope = await recorder.get()
        return scope, server.port


async def test_scope(stack: Stack) -> None:
    scope, port = await first_scope(
        stack,
        "/a%20b/c?x=1&y=%2F",
        headers={"X-Custom": "Value", "Sec-WebSocket-Protocol": "p1, p2"},
    )
    assert scope["type"] == "websocket"
    assert scope["asgi"]["spec_version"] == "2.4"
    assert scope["http_version"] == "1.1"
    assert scope["scheme"] == "ws"
    assert scope["path"] == "/a b/c"
    assert scope["raw_path"] == b"/a%20b/c"
    assert scope["query_string"] == b"x=1&y=%2F"
    assert scope["root_path"] == ""
    assert scope["server"] == ("127.0.0.1", port)
    assert scope["client"][0] == "127.0.0.1"
    assert isinstance(scope["client"][1], int)
    assert scope["subprotocols"] == ["p1", "p2"]
    assert scope["extensions"] == {"websocket.http.response": {}}
    headers = dict(scope["headers"])
    assert headers[b"x-custom"] == b"Value"
    assert headers[b"upgrade"] == b"websocket"
    # ASGI: header names lowercased.
    assert all(name == name.lower() for name, _ in scope["headers"])


async def test_scope_root_path(stack: Stack) -> None:
    scope, _ = await first_scope(stack, "/ws", root_path="/api")
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/ws"
    assert scope["raw_path"] == b"/api/ws"


async def test_scope_proxy_headers(stack: Stack) -> None:
    scope, _ = await first_scope(
        stack,
        "/",
        headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
        proxy_headers=True,
        forwarded_allow_ips="*",
    )
    assert scope["client"][0] == "203.0.113.7"
    assert scope["scheme"] == "wss"


async def test_scope_state_from_lifespan(stack: Stack) -> None:
    recorder = Recorder()

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"]["db"] = "ready"
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await scope_app(recorder)(scope, receive, send)

    async with serving(app, stack, lifespan="on") as server:
        await server.refusal()
        assert (await recorder.get())["state"] == {"db": "ready"}


# Accepting.


async def test_accept_with_subprotocol_and_headers(stack: Stack, caplog: Any) -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        await send(
            {
                "type": "websocket.accept",
                "subprotocol": "chat.v2",
                "headers": [(b"x-session", b"abc"), (b"set-cookie", b"a=1")],
            }
        )
        await send({"type": "websocket.send", "text": "hi"})
        await receive()

    caplog.set_level(logging.INFO, "uvicorn.error")
    async with (
        serving(app, stack) as server,
        connect(
            server.url("/chat?q=1"), subprotocols=[Subprotocol("chat.v1"), Subprotocol("chat.v2")]
        ) as ws,
    ):
        assert ws.subprotocol == "chat.v2"
        assert ws.response is not None
        assert ws.response.headers["X-Session"] == "abc"
        assert ws.response.headers["Set-Cookie"] == "a=1"
        assert ws.response.headers["Server"] == "uvicorn"
        assert await ws.recv() == "hi"
    assert '"WebSocket /chat?q=1" [accepted]' in caplog.text


async def test_accept_subprotocol_not_offered_fails_with_500(stack: Stack, caplog: Any) -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept", "subprotocol": "other"})

    async with serving(app, stack) as server:
        response = await server.refusal(subprotocols=[Subprotocol("chat")])
    assert response.status_code == 500
    assert "didn't offer subprotocol 'other'" in caplog.text


async def test_invalid_handshake_never_reaches_the_app(stack: Stack) -> None:
    called = []

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        called.append(scope)  # pragma: no cover

    async with serving(app, stack) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        status = await reader.readline()
        assert status.startswith(b"HTTP/1.1 400 ")
        assert b"Sec-WebSocket-Key" in await reader.read()
        writer.close()
    assert called == []


# Closing, from either side.


async def test_app_closes_with_code_and_reason(stack: Stack) -> None:
    recorder = Recorder()

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 4001, "reason": "bye now"})
        recorder.put(await receive())
        with pytest.raises(RuntimeError, match=r"nothing after 'websocket\.close'"):
            await send({"type": "websocket.send", "text": "late"})
        recorder.put("done")

    async with serving(app, stack) as server, connect(server.url()) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (4001, "bye now")  # type: ignore[union-attr]
        assert await recorder.get() == {
            "type": "websocket.disconnect",
            "code": 4001,
            "reason": "bye now",
        }
        assert await recorder.get() == "done"


async def test_client_closes_with_code_and_reason(stack: Stack) -> None:
    recorder = Recorder()

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        recorder.put(await receive())
        recorder.put(await receive())
        with pytest.raises(ClientDisconnected):
            await send({"type": "websocket.send", "text": "late"})
        recorder.put("done")

    async with serving(app, stack) as server:
        async with connect(server.url()) as ws:
            await ws.send("last words")
            await ws.close(4002, "leaving")
        assert await recorder.get() == {"type": "websocket.receive", "text": "last words"}
        assert await recorder.get() == {
            "type": "websocket.disconnect",
            "code": 4002,
            "reason": "leaving",
        }
        assert await recorder.get() == "done"


async def test_abrupt_disconnect(stack: Stack) -> None:
    recorder = Recorder()

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        recorder.put(await receive())
        with pytest.raises(ClientDisconnected):
            await send({"type": "websocket.send", "bytes": b"late"})
        recorder.put("done")

    async with serving(app, stack) as server:
        ws = await connect(server.url())
        ws.transport.abort()
        event = await recorder.get()
        assert event["type"] == "websocket.disconnect"
        assert event["code"] == 1006
        assert await recorder.get() == "done"
        await ws.wait_closed()
        assert server.connections() == []


@pytest.mark.parametrize(
    ("ending", "code"),
    [("return", 1000), ("raise", 1011)],
)
async def test_app_ending_closes_the_connection(stack: Stack, ending: str, code: int) -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        if ending == "raise":
            raise ValueError("boom")

    async with serving(app, stack) as server, connect(server.url()) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await ws.recv()
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == code


# Refusing.


async def test_close_before_accept_is_403(stack: Stack) -> None:
    recorder = Recorder()

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.close"})
        recorder.put(await receive())

    async with serving(app, stack) as server:
        response = await server.refusal()
        assert response.status_code == 403
        assert (await recorder.get())["type"] == "websocket.disconnect"


async def test_denial_response(stack: Stack) -> None:
    recorder = Recorder()

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [(b"www-authenticate", b'Basic realm="x"'), (b"content-type", b"a/b")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b"no ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"entry"})
        recorder.put(await receive())

    async with serving(app, stack) as server:
        response = await server.refusal()
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Basic realm="x"'
        assert response.headers["Content-Type"] == "a/b"
        assert response.headers["Content-Length"] == "8"
        assert response.body == b"no entry"
        assert (await recorder.get())["type"] == "websocket.disconnect"


@pytest.mark.parametrize(
    "behaviour",
    ["return", "raise", "half-response"],
)
async def test_app_that_does_not_answer_gets_500(stack: Stack, behaviour: str) -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        if behaviour == "raise":
            raise ValueError("boom")
        if behaviour == "half-response":
            await send({"type": "websocket.http.response.start", "status": 404, "headers": []})

    async with serving(app, stack) as server:
        response = await server.refusal()
        assert response.status_code == 500


# Events out of order: the spec requires an error.


@pytest.mark.parametrize(
    ("events", "error"),
    [
        ([{"type": "websocket.send", "text": "early"}], "Expected ASGI message 'websocket.accept'"),
        (
            [{"type": "websocket.http.response.body", "body": b""}],
            "Expected ASGI message 'websocket.accept'",
        ),
        (
            [{"type": "websocket.accept"}, {"type": "websocket.accept"}],
            "Expected ASGI message 'websocket.send' or 'websocket.close'",
        ),
        (
            [{"type": "websocket.accept"}, {"type": "websocket.send"}],
            "exactly one of 'bytes' or 'text'",
        ),
        (
            [{"type": "websocket.accept"}, {"type": "websocket.send", "text": "a", "bytes": b"a"}],
            "exactly one of 'bytes' or 'text'",
        ),
        (
            [
                {"type": "websocket.http.response.start", "status": 400, "headers": []},
                {"type": "websocket.accept"},
            ],
            "Expected ASGI message 'websocket.http.response.body'",
        ),
        (
            [{"type": "websocket.http.response.start", "status": 99, "headers": []}],
            "Invalid HTTP status code",
        ),
    ],
)
async def test_events_out_of_order(stack: Stack, events: list[Any], error: str) -> None:
    recorder = Recorder()

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        *before, last = events
        for event in before:
            await send(event)
        try:
            await send(last)
        except RuntimeError as exc:
            recorder.put(str(exc))
            raise

    async with serving(app, stack) as server:
        with pytest.raises((InvalidStatus, ConnectionClosedError)):
            async with connect(server.url()) as ws:
                await ws.recv()
        assert error in await recorder.get()


# Settings.


async def test_ws_max_size(stack: Stack) -> None:
    recorder = Recorder()

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        recorder.put(await receive())
        recorder.put(await receive())

    async with serving(app, stack, ws_max_size=1000) as server, connect(server.url()) as ws:
        await ws.send(b"x" * 1000)
        await ws.send(b"x" * 1001)
        with pytest.raises(ConnectionClosedError) as info:
            await ws.recv()
        assert info.value.rcvd is not None
        assert info.value.rcvd.code == 1009
        assert await recorder.get() == {"type": "websocket.receive", "bytes": b"x" * 1000}
        assert (await recorder.get())["code"] == 1009


async def test_ws_max_queue_pauses_reading(stack: Stack) -> None:
    release = asyncio.Event()
    recorder = Recorder()

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await release.wait()
        while (event := await receive())["type"] == "websocket.receive":
            recorder.put(event["text"])

    async with serving(app, stack, ws_max_queue=4) as server, connect(server.url()) as ws:
        for n in range(20):
            await ws.send(str(n))
        (connection,) = server.connections()
        # Reading stops once more than 4 frames wait (one read may bring them
        # all): wait for it, bounded by the test timeout.
        while connection.transport.is_reading():
            await asyncio.sleep(0.01)
        assert connection.recv_messages.queue.paused
        release.set()
        assert [await recorder.get() for _ in range(20)] == [str(n) for n in range(20)]
        assert connection.transport.is_reading()


async def test_ping_interval_and_timeout(stack: Stack) -> None:
    async with serving(echo_app, stack, ws_ping_interval=0.05, ws_ping_timeout=0.2) as server:
        # A client that never answers pings: a raw socket after the handshake.
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(HANDSHAKE)
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 ")
        first = await reader.readexactly(2)
        assert first[0] == 0x89  # a ping, unanswered
        await reader.readexactly(first[1])
        close = await reader.readexactly(4)
        assert close[0] == 0x88
        assert int.from_bytes(close[2:4]) == 1011
        writer.close()


async def test_keepalive_with_answering_client(stack: Stack) -> None:
    async with (
        serving(echo_app, stack, ws_ping_interval=0.02, ws_ping_timeout=1) as server,
        connect(server.url(), ping_interval=None) as ws,
    ):
        (connection,) = server.connections()
        while connection.latency == 0:
            await asyncio.sleep(0.01)
        await ws.send("still here")
        assert await ws.recv() == "still here"


# Long frames go through Connection.send(), short ones are written by the
# engine's own shortcut: both wait while the write buffer is over its limit.
@pytest.mark.parametrize(("size", "header"), [(2**16, 10), (2**10, 4)])
async def test_slow_client_backpressure(stack: Stack, size: int, header: int) -> None:
    recorder = Recorder()
    chunk = b"z" * size
    count = 25 * 2**20 // size  # 25 MiB: more than the kernel's buffers hold

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        for _ in range(count):
            await send({"type": "websocket.send", "bytes": chunk})
        recorder.put("sent")
        await receive()

    async with serving(app, stack) as server:
        # A client that doesn't read, with a small receive buffer.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2**14)
        sock.connect(("127.0.0.1", server.port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=2**20)
        writer.write(HANDSHAKE)
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101 ")
        (connection,) = server.connections()
        # The app's send() waits once the write buffer is over the limit.
        while not connection.writing_paused:
            await asyncio.sleep(0.01)
        assert recorder.events.empty()
        # What the server buffers stays near the write limit.
        assert connection.transport.get_write_buffer_size() <= 2**15 + 2**16 + 10
        # Reading it all lets the app finish.
        await reader.readexactly(count * (size + header))
        assert await recorder.get() == "sent"
        writer.close()


# Graceful shutdown.


async def test_shutdown_closes_with_1012(stack: Stack) -> None:
    recorder = Recorder()

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        recorder.put("accepted")
        recorder.put(await receive())

    async with serving(app, stack) as server:
        async with connect(server.url()) as ws:
            assert await recorder.get() == "accepted"
            server.server.should_exit = True
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd is not None
            assert info.value.rcvd.code == 1012
        assert (await recorder.get())["code"] == 1012


async def test_shutdown_before_accept_is_503(stack: Stack) -> None:
    release = asyncio.Event()
    recorder = Recorder()

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        recorder.put("deciding")
        await release.wait()
        try:
            await send({"type": "websocket.accept"})
        except OSError:
            recorder.put("disconnected")

    async with serving(app, stack, timeout_graceful_shutdown=5) as server:
        client = asyncio.create_task(server.refusal())
        assert await recorder.get() == "deciding"
        server.server.should_exit = True
        assert (await client).status_code == 503
        release.set()
        assert await recorder.get() == "disconnected"


# Messages as JSON through a scope-reporting app: the scope is seen by the client.


async def test_many_connections(stack: Stack) -> None:
    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        event = await receive()
        await send({"type": "websocket.send", "text": json.dumps([event["text"], scope["path"]])})
        await receive()

    async with serving(app, stack) as server:

        async def one(n: int) -> None:
            async with connect(server.url(f"/{n}")) as ws:
                await ws.send(str(n))
                assert json.loads(await ws.recv()) == [str(n), f"/{n}"]

        await asyncio.gather(*(one(n) for n in range(50)))
        # Every connection and every app task ends (the test's timeout
        # bounds the wait): the app's task may end a little after its
        # connection is gone.
        while server.connections() or server.server.server_state.tasks:
            await asyncio.sleep(0.01)


async def test_bytes_handed_to_data_received(stack: Stack) -> None:
    """A transport that calls data_received() rather than buffer_updated() works too."""
    recorder = Recorder()

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        recorder.put(await receive())
        await receive()

    async with serving(app, stack) as server, connect(server.url()):
        (connection,) = server.connections()
        mask = b"\x01\x02\x03\x04"
        payload = bytes(byte ^ mask[n % 4] for n, byte in enumerate(b"handed"))
        connection.data_received(b"\x81\x86" + mask + payload)
        assert await recorder.get() == {"type": "websocket.receive", "text": "handed"}


async def test_client_leaves_before_accept(stack: Stack) -> None:
    release = asyncio.Event()
    recorder = Recorder()

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await receive()
        recorder.put("deciding")
        await release.wait()
        try:
            await send({"type": "websocket.accept"})
        except ClientDisconnected:
            recorder.put("disconnected")
        recorder.put(await receive())

    async with serving(app, stack) as server:
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(HANDSHAKE)
        assert await recorder.get() == "deciding"
        writer.transport.abort()
        (connection,) = server.connections()
        await connection.wait_closed()
        release.set()
        assert await recorder.get() == "disconnected"
        assert (await recorder.get())["code"] == 1006


async def test_trace_logging(stack: Stack, caplog: Any) -> None:
    caplog.set_level(5, "uvicorn.error")  # uvicorn's TRACE level
    async with serving(echo_app, stack, log_level="trace") as server:
        async with connect(server.url()) as ws:
            await ws.send("x")
            await ws.recv()
        while server.connections():
            await asyncio.sleep(0.01)
    assert "127.0.0.1:" in caplog.text
    assert "WebSocket connection made" in caplog.text
    assert "WebSocket connection lost" in caplog.text


async def test_tls(stack: Stack) -> None:
    recorder = Recorder()
    certificate = str(Path(__file__).parents[2] / "examples" / "localhost.pem")
    client_tls = ssl.create_default_context(cafile=certificate)

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        recorder.put(scope["scheme"])
        await echo_app(scope, receive, send)

    async with serving(app, stack, ssl_certfile=certificate, ssl_keyfile=certificate) as server:
        url = server.url("/").replace("ws://127.0.0.1", "wss://localhost")
        async with connect(url, ssl=client_tls) as ws:
            await ws.send(b"s" * 2**20)
            assert await ws.recv() == b"s" * 2**20
        assert await recorder.get() == "wss"
