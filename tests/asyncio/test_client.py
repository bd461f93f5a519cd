"""Tests for wskit.asyncio.client: connect(), unix_connect(), ClientConnection.

The peer is a wskit server on 127.0.0.1, or a raw TCP server that answers
whatever a test needs, including nothing at all or a broken response.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import os
import pathlib
import socket
import ssl
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import pytest

from wskit.asyncio.client import ClientConnection, connect, unix_connect
from wskit.asyncio.server import Server, ServerConnection, serve, unix_serve
from wskit.datastructures import Headers
from wskit.exceptions import (
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidHeader,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
)
from wskit.frames import CLOSE as OP_CLOSE
from wskit.frames import TEXT as OP_TEXT
from wskit.frames import Close, CloseCode, Frame
from wskit.http11 import USER_AGENT, Request, Response
from wskit.protocol import State
from wskit.typing import Origin, Subprotocol
from wskit.utils import accept_key

LOCALHOST = "127.0.0.1"

CERTIFICATE = str(pathlib.Path(__file__).parents[2] / "examples" / "localhost.pem")

# Bounds every wait on the network: a broken client fails the test, not the suite.
WAIT = 5

Handler = Callable[[ServerConnection], Awaitable[None]]
RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


# Helpers.


def server_tls() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERTIFICATE)
    return context


def client_tls() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=CERTIFICATE)


def port_of(server: Server) -> int:
    return cast(int, server.sockets[0].getsockname()[1])


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


class Recorder:
    """A handler that keeps the server's end of each connection, then echoes."""

    def __init__(self) -> None:
        self.connections: list[ServerConnection] = []

    async def __call__(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        await echo(ws)

    @property
    def request(self) -> Request:
        request = self.connections[-1].request
        assert request is not None
        return request


@contextlib.asynccontextmanager
async def serving(
    handler: Handler = echo, *, scheme: str = "ws", **kwargs: Any
) -> AsyncIterator[str]:
    """Run a wskit server; yield its URI."""
    async with serve(handler, LOCALHOST, 0, **kwargs) as server:
        yield f"{scheme}://{LOCALHOST}:{port_of(server)}/"


@contextlib.asynccontextmanager
async def raw_server(respond: RawHandler) -> AsyncIterator[int]:
    """Run a TCP server that runs ``respond`` for each connection; yield its port."""
    tasks: list[asyncio.Task[Any]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.append(cast(asyncio.Task[Any], asyncio.current_task()))
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
        async with asyncio.timeout(WAIT):
            await asyncio.gather(*tasks)


async def read_request(reader: asyncio.StreamReader) -> Headers:
    """Read a handshake request; return its headers."""
    data = await reader.readuntil(b"\r\n\r\n")
    headers = Headers()
    for line in data.decode("latin-1").split("\r\n")[1:]:
        if line:
            name, value = line.split(":", 1)
            headers[name] = value.strip()
    return headers


def answering(response: bytes, *, then_close: bool = True) -> RawHandler:
    """A raw handler that reads the request and writes ``response``."""

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response)
        if not then_close:
            # Stay open: the client must not wait for the end of the connection.
            assert await reader.read() == b""

    return respond


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept the connection and never answer, until the client leaves."""
    await reader.read()


def records(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == logger]


# Connecting.


async def test_connect_as_context_manager() -> None:
    recorder = Recorder()
    async with serving(recorder) as uri:
        async with connect(uri) as ws:
            assert isinstance(ws, ClientConnection)
            assert ws.state is State.OPEN
            await ws.send("Hello")
            assert await ws.recv() == "Hello"
        assert ws.protocol.state is State.CLOSED
        # Leaving the block closed the connection normally.
        (server_side,) = recorder.connections
        await server_side.wait_closed()
        assert server_side.close_code == CloseCode.NORMAL_CLOSURE


async def test_connect_awaited() -> None:
    async with serving() as uri:
        ws = await connect(uri)
        try:
            await ws.send(b"\x01\x02")
            assert await ws.recv() == b"\x01\x02"
        finally:
            await ws.close()
        assert ws.close_code == CloseCode.NORMAL_CLOSURE


async def test_request_path_and_host() -> None:
    recorder = Recorder()
    async with serving(recorder) as uri, connect(uri + "chat/room?id=42") as ws:
        assert ws.request is not None
        assert ws.request.path == "/chat/room?id=42"
        assert recorder.request.path == "/chat/room?id=42"
        assert recorder.request.headers["Host"] == uri.removeprefix("ws://").rstrip("/")


async def test_origin_subprotocols_and_headers_reach_the_server() -> None:
    recorder = Recorder()
    subprotocols = [Subprotocol("chat"), Subprotocol("superchat")]
    async with (
        serving(recorder, subprotocols=[Subprotocol("superchat")]) as uri,
        connect(
            uri,
            origin=Origin("https://app.example"),
            subprotocols=subprotocols,
            additional_headers={"X-Token": "abc", "Cookie": "session=1"},
        ) as ws,
    ):
        headers = recorder.request.headers
        assert headers["Origin"] == "https://app.example"
        assert headers["Sec-WebSocket-Protocol"] == "chat, superchat"
        assert headers["X-Token"] == "abc"
        assert headers["Cookie"] == "session=1"
        assert ws.subprotocol == "superchat"


async def test_additional_headers_as_pairs() -> None:
    recorder = Recorder()
    pairs = [("X-Multi", "one"), ("X-Multi", "two"), ("X-Other", "three")]
    async with serving(recorder) as uri, connect(uri, additional_headers=pairs):
        assert recorder.request.headers.get_all("X-Multi") == ["one", "two"]
        assert recorder.request.headers["X-Other"] == "three"


async def test_additional_headers_as_headers() -> None:
    recorder = Recorder()
    async with serving(recorder) as uri, connect(uri, additional_headers=Headers(X_Key="value")):
        assert recorder.request.headers["X_Key"] == "value"


async def test_user_agent_default() -> None:
    recorder = Recorder()
    async with serving(recorder) as uri, connect(uri):
        assert recorder.request.headers.get_all("User-Agent") == [USER_AGENT]


async def test_user_agent_custom() -> None:
    recorder = Recorder()
    async with serving(recorder) as uri, connect(uri, user_agent_header="Test/1.0"):
        assert recorder.request.headers.get_all("User-Agent") == ["Test/1.0"]


async def test_user_agent_none() -> None:
    recorder = Recorder()
    async with serving(recorder) as uri, connect(uri, user_agent_header=None):
        assert "User-Agent" not in recorder.request.headers


async def test_user_agent_in_additional_headers_replaces_default() -> None:
    recorder = Recorder()
    async with serving(recorder) as uri, connect(uri, additional_headers={"User-Agent": "Mine"}):
        assert recorder.request.headers.get_all("User-Agent") == ["Mine"]


async def test_compression_default() -> None:
    recorder = Recorder()
    async with serving(recorder) as uri, connect(uri) as ws:
        assert "permessage-deflate" in recorder.request.headers["Sec-WebSocket-Extensions"]
        assert [extension.name for extension in ws.protocol.extensions] == ["permessage-deflate"]
        await ws.send("compressible " * 100)
        assert await ws.recv() == "compressible " * 100


async def test_compression_none() -> None:
    recorder = Recorder()
    async with serving(recorder) as uri, connect(uri, compression=None) as ws:
        assert "Sec-WebSocket-Extensions" not in recorder.request.headers
        assert ws.protocol.extensions == []
        assert recorder.connections[0].protocol.extensions == []
        await ws.send("plain " * 100)
        assert await ws.recv() == "plain " * 100


def test_invalid_compression() -> None:
    with pytest.raises(ValueError, match="unsupported compression"):
        connect("ws://localhost/", compression="br")


def test_invalid_subprotocols() -> None:
    with pytest.raises(ValueError, match="invalid subprotocol"):
        connect("ws://localhost/", subprotocols=[Subprotocol("a,b")])
    with pytest.raises(TypeError):
        connect("ws://localhost/", subprotocols=cast(Any, "chat"))


async def test_create_connection_subclass() -> None:
    class MyConnection(ClientConnection):
        async def shout(self, text: str) -> None:
            await self.send(text.upper())

    async with serving() as uri, connect(uri, create_connection=MyConnection) as ws:
        assert isinstance(ws, MyConnection)
        await ws.shout("hello")
        assert await ws.recv() == "HELLO"


async def test_connect_over_connected_socket() -> None:
    async with serving() as uri:
        port = int(uri.rsplit(":", 1)[1].rstrip("/"))
        sock = socket.create_connection((LOCALHOST, port))
        async with connect(uri, sock=sock) as ws:
            assert ws.local_address == sock.getsockname()
            await ws.send("over a given socket")
            assert await ws.recv() == "over a given socket"
        assert sock.fileno() == -1  # the connection closed it


async def test_unix_connect_default_uri() -> None:
    recorder = Recorder()
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "ws.sock")
        async with unix_serve(recorder, path), unix_connect(path) as ws:
            await ws.send("local")
            assert await ws.recv() == "local"
            assert recorder.request.path == "/"
            assert recorder.request.headers["Host"] == "localhost"


async def test_unix_connect_with_uri() -> None:
    recorder = Recorder()
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "ws.sock")
        async with unix_serve(recorder, path), unix_connect(path, "ws://app.internal/feed"):
            assert recorder.request.path == "/feed"
            assert recorder.request.headers["Host"] == "app.internal"


# Failures.


@pytest.mark.parametrize(
    "uri",
    [
        "http://localhost/",
        "ws://",
        "ws://localhost:99999/",
        "ws://localhost/#fragment",
        "localhost",
    ],
)
async def test_invalid_uri(uri: str) -> None:
    with pytest.raises(InvalidURI):
        await connect(uri)


async def test_connection_refused() -> None:
    # A bound socket that doesn't listen refuses connections.
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        port = sock.getsockname()[1]
        with pytest.raises(ConnectionRefusedError):
            await connect(f"ws://{LOCALHOST}:{port}/")


async def test_open_timeout() -> None:
    async with raw_server(silent) as port:
        start = time.monotonic()
        with pytest.raises(TimeoutError, match="opening handshake"):
            await connect(f"ws://{LOCALHOST}:{port}/", open_timeout=0.1)
        elapsed = time.monotonic() - start
    assert 0.05 < elapsed < 2


async def test_open_timeout_covers_tls_handshake() -> None:
    async with raw_server(silent) as port:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            await connect(f"wss://localhost:{port}/", ssl=client_tls(), open_timeout=0.1)
        elapsed = time.monotonic() - start
    assert 0.05 < elapsed < 2


@pytest.mark.parametrize("status", [http.HTTPStatus.FORBIDDEN, http.HTTPStatus.NOT_FOUND])
async def test_server_refuses(status: http.HTTPStatus) -> None:
    def refuse(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(status, f"{status.phrase}\n")

    async with serving(process_request=refuse) as uri:
        with pytest.raises(InvalidStatus) as exc_info:
            await connect(uri)
    response = exc_info.value.response
    assert response.status_code == status
    assert response.body == f"{status.phrase}\n".encode()
    assert str(status.value) in str(exc_info.value)


async def test_refusal_without_closing_the_connection() -> None:
    response = b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\n\r\nnope\n"
    async with raw_server(answering(response, then_close=False)) as port:
        start = time.monotonic()
        with pytest.raises(InvalidStatus) as exc_info:
            await connect(f"ws://{LOCALHOST}:{port}/", open_timeout=WAIT)
        # The response was complete: no waiting for the server to close.
        assert time.monotonic() - start < 1
    assert exc_info.value.response.body == b"nope\n"


async def test_refusal_whose_body_ends_with_the_connection() -> None:
    # Without Content-Length, the body runs until the server closes: the
    # response is only complete at EOF.
    response = b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\nnot you\n"
    async with raw_server(answering(response)) as port:
        with pytest.raises(InvalidStatus) as exc_info:
            await connect(f"ws://{LOCALHOST}:{port}/", open_timeout=WAIT)
    assert exc_info.value.response.status_code == 403
    assert exc_info.value.response.body == b"not you\n"


@pytest.mark.parametrize(
    ("response", "exception"),
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", InvalidMessage),
        (b"HTTP/1.1 101 Switching Protocols\r\nBad Header\r\n\r\n", InvalidMessage),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n", InvalidMessage),
        (b"", InvalidMessage),
        (
            b"HTTP/1.1 101 Switching Protocols\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: d3Jvbmcgd3Jvbmcgd3Jvbmc=\r\n\r\n",
            InvalidHeader,
        ),
    ],
    ids=["not-http", "bad-header", "truncated", "no-response", "wrong-accept"],
)
async def test_invalid_response(response: bytes, exception: type[InvalidHandshake]) -> None:
    async with raw_server(answering(response)) as port:
        with pytest.raises(exception):
            await connect(f"ws://{LOCALHOST}:{port}/", open_timeout=WAIT)


def accepting_then(frames: bytes) -> RawHandler:
    """A raw handler that accepts the handshake and sends ``frames`` in the same write."""

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers = await read_request(reader)
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: "
            + accept_key(headers["Sec-WebSocket-Key"]).encode()
            + b"\r\n\r\n"
            + frames
        )
        # The client answers the close frame; then the server closes TCP.
        header = await reader.readexactly(2)
        assert header[0] == 0x88  # FIN + CLOSE
        writer.write_eof()
        await reader.read()

    return respond


async def test_server_closing_right_after_accepting() -> None:
    close = Frame(OP_CLOSE, Close(CloseCode.NORMAL_CLOSURE, "done").serialize())
    frames = Frame(OP_TEXT, b"last words").serialize(mask=False) + close.serialize(mask=False)
    async with raw_server(accepting_then(frames)) as port:
        # The handshake succeeded, even though the connection is closing by
        # the time connect() returns.
        ws = await connect(f"ws://{LOCALHOST}:{port}/", open_timeout=WAIT)
        try:
            assert await ws.recv() == "last words"
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()
        finally:
            await ws.close()
        assert ws.close_code == CloseCode.NORMAL_CLOSURE
        assert ws.close_reason == "done"


async def test_frame_in_the_same_write_as_the_101_is_received_at_once() -> None:
    """A frame that comes with the response needs no further bytes to be delivered."""
    frame = Frame(OP_TEXT, b"hello").serialize(mask=False)
    async with (
        raw_server(accepting_then(frame)) as port,
        connect(f"ws://{LOCALHOST}:{port}/", open_timeout=WAIT, ping_interval=None) as ws,
    ):
        async with asyncio.timeout(WAIT):
            assert await ws.recv() == "hello"


# TLS.


async def test_wss_round_trip() -> None:
    recorder = Recorder()
    async with serving(recorder, ssl=server_tls()) as uri:
        port = uri.rsplit(":", 1)[1].rstrip("/")
        async with connect(f"wss://localhost:{port}/", ssl=client_tls()) as ws:
            assert ws.transport.get_extra_info("ssl_object") is not None
            assert recorder.connections[0].transport.get_extra_info("ssl_object") is not None
            await ws.send("secret")
            assert await ws.recv() == "secret"
            await ws.send(b"\x00" * 100_000)
            assert await ws.recv() == b"\x00" * 100_000
        assert ws.close_code == CloseCode.NORMAL_CLOSURE
        await recorder.connections[0].wait_closed()
        assert recorder.connections[0].close_code == CloseCode.NORMAL_CLOSURE


async def test_wss_default_context_rejects_self_signed_certificate() -> None:
    async with serving(ssl=server_tls()) as uri:
        port = uri.rsplit(":", 1)[1].rstrip("/")
        with pytest.raises(ssl.SSLCertVerificationError):
            await connect(f"wss://localhost:{port}/", ssl=True)
        with pytest.raises(ssl.SSLCertVerificationError):
            await connect(f"wss://localhost:{port}/")  # wss implies a default context


async def test_ws_with_ssl_is_an_error() -> None:
    with pytest.raises(ValueError, match="ws://"):
        await connect("ws://localhost/", ssl=client_tls())


async def test_server_hostname_override() -> None:
    async with serving(ssl=server_tls()) as uri:
        port = uri.rsplit(":", 1)[1].rstrip("/")
        # The certificate is checked against server_hostname, not the URI's host.
        with pytest.raises(ssl.SSLCertVerificationError, match="match"):
            await connect(
                f"wss://localhost:{port}/", ssl=client_tls(), server_hostname="other.example"
            )
        async with connect(
            f"wss://{LOCALHOST}:{port}/", ssl=client_tls(), server_hostname="localhost"
        ) as ws:
            assert ws.transport.get_extra_info("ssl_object").server_hostname == "localhost"
            await ws.send("verified")
            assert await ws.recv() == "verified"


async def test_unix_connect_with_tls() -> None:
    recorder = Recorder()
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "wss.sock")
        async with (
            unix_serve(recorder, path, ssl=server_tls()),
            unix_connect(path, ssl=client_tls()) as ws,
        ):
            # The default URI is wss://localhost/, which the certificate names.
            assert ws.transport.get_extra_info("ssl_object").server_hostname == "localhost"
            await ws.send("local and secret")
            assert await ws.recv() == "local and secret"
            assert recorder.request.headers["Host"] == "localhost"


async def test_server_open_timeout_covers_tls_handshake() -> None:
    async with serving(ssl=server_tls(), open_timeout=0.1) as uri:
        port = int(uri.rsplit(":", 1)[1].rstrip("/"))
        reader, writer = await asyncio.open_connection(LOCALHOST, port)
        try:
            start = time.monotonic()
            async with asyncio.timeout(WAIT):
                # The TLS handshake never starts; the server drops the connection.
                assert await reader.read() == b""
            assert time.monotonic() - start < 2
        finally:
            writer.close()
            await writer.wait_closed()


# Logging.


async def test_logger_default(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="wskit.client")
    async with serving() as uri, connect(uri) as ws:
        await ws.send("logged")
        assert await ws.recv() == "logged"
    client_records = records(caplog, "wskit.client")
    messages = [record.getMessage() for record in client_records]
    assert "> GET / HTTP/1.1" in messages
    assert any(message.startswith("< HTTP/1.1 101") for message in messages)
    assert all(getattr(record, "websocket", None) is ws for record in client_records)


async def test_custom_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="test.client")
    async with serving() as uri, connect(uri, logger=logging.getLogger("test.client")) as ws:
        await ws.send("logged")
        assert await ws.recv() == "logged"
    assert records(caplog, "test.client")
    assert records(caplog, "wskit.client") == []
