"""``wskit connect`` options after websocat's: client certificates, Unix sockets,
keepalive and pings shown, /pong, no compression."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest

from wskit.asyncio.server import ServerConnection, unix_serve
from wskit.cli.client import connect_options, describe_payload
from wskit.cli.errors import UsageError
from wskit.cli.parser import build_parser, with_command
from wskit.cli.tls import client_context
from wskit.frames import PONG, Frame

from .support import echo, running_client, wskit_server

CERTIFICATE = str(Path(__file__).parents[2] / "examples" / "localhost.pem")
GREETING = "/help lists the commands; Ctrl-D closes"


def options(*argv: str) -> dict[str, Any]:
    return connect_options(build_parser().parse_args(with_command(list(argv))))


async def test_no_compression() -> None:
    async def report(websocket: ServerConnection) -> None:
        await websocket.send(f"{len(websocket.protocol.extensions)} extensions")

    async with wskit_server(report) as uri:
        async with running_client(uri, "--send", "x", "--count", "1") as client:
            assert await client.finish() == (0, "1 extensions\n")
        argv = [uri, "--no-compression", "--send", "x", "--count", "1"]
        async with running_client(*argv) as client:
            assert await client.finish() == (0, "0 extensions\n")


async def test_unix_socket(tmp_path: Path) -> None:
    async def where(websocket: ServerConnection) -> None:
        assert websocket.request is not None
        await websocket.send(f"{websocket.request.headers['Host']} {websocket.request.path}")

    path = str(tmp_path / "ws.sock")
    async with unix_serve(where, path):
        argv = ["ws://example.test/feed", "--unix", path, "--send", "x", "--count", "1"]
        async with running_client(*argv) as client:
            assert await client.finish() == (0, "example.test /feed\n")


async def test_client_certificate() -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERTIFICATE)
    context.verify_mode = ssl.CERT_REQUIRED  # the client must show a certificate...
    context.load_verify_locations(CERTIFICATE)  # ... this one

    async def who(websocket: ServerConnection) -> None:
        peercert = websocket.transport.get_extra_info("peercert")
        await websocket.send(dict(item[0] for item in peercert["subject"])["commonName"])

    async with wskit_server(who, ssl=context) as address:
        uri = address.replace("127.0.0.1", "localhost")
        argv = [uri, "--cacert", CERTIFICATE, "--cert", CERTIFICATE, "--send", "x", "--count", "1"]
        async with running_client(*argv) as client:
            assert await client.finish() == (0, "localhost\n")
        async with running_client(*argv[:3], "--send", "x", "--count", "1") as client:
            status, output = await client.finish()
        assert (status, output) != (0, "localhost\n")


def test_client_certificate_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot load --cert "):
        client_context(certfile=str(tmp_path / "missing.pem"))
    with pytest.raises(UsageError, match="--key needs --cert"):
        client_context(keyfile=CERTIFICATE)
    assert client_context(certfile=CERTIFICATE, keyfile=CERTIFICATE) is not None


def test_keepalive_options() -> None:
    default = options("ws://h/")
    assert (default["ping_interval"], default["ping_timeout"]) == (20, 20)
    assert "compression" not in default  # connect()'s default: deflate
    off = options("ws://h/", "--ping-interval", "0", "--ping-timeout", "0")
    assert (off["ping_interval"], off["ping_timeout"]) == (None, None)
    fast = options("ws://h/", "--ping-interval", "0.5", "--ping-timeout", "2")
    assert (fast["ping_interval"], fast["ping_timeout"]) == (0.5, 2)


def test_describe_payload() -> None:
    assert describe_payload(b"hello") == "'hello'"
    assert describe_payload(b"\x00\xff") == "2 bytes 00ff"
    assert describe_payload(b"\x1b[2J") == "4 bytes 1b5b324a"  # not printable
    assert describe_payload(b"") == "empty"


async def test_show_pings_with_keepalive_on_a_terminal() -> None:
    async def pinger(websocket: ServerConnection) -> None:
        await websocket.ping(b"from the server")
        await websocket.wait_closed()

    async with wskit_server(pinger, ping_interval=None) as uri:
        argv = [uri, "--show-pings", "--ping-interval", "0.05"]
        async with running_client(*argv, tty=True) as client:
            await client.driver.expect("ping received: 'from the server'")
            await client.driver.expect("pong received: 4 bytes ")  # a keepalive pong
            client.driver.type("/quit\r")
            assert await client.status() == 0


async def test_pings_are_not_shown_unless_asked() -> None:
    async def pinger(websocket: ServerConnection) -> None:
        await websocket.ping(b"unseen")
        await websocket.send("after the ping")
        await websocket.wait_closed()

    async with wskit_server(pinger) as uri, running_client(uri, "--count", "1") as client:
        assert await client.finish() == (0, "after the ping\n")
    assert client.stderr.getvalue() == ""
    async with (
        wskit_server(pinger) as uri,
        running_client(uri, "--count", "1", "--show-pings") as client,
    ):
        assert await client.finish() == (0, "after the ping\n")
    assert client.stderr.getvalue() == "wskit: ping received: 'unseen'\n"


async def test_pong_command() -> None:
    pongs: list[bytes] = []

    class Recording(ServerConnection):
        def process_event(self, event: Any) -> None:
            if isinstance(event, Frame) and event.opcode is PONG:
                pongs.append(bytes(event.data))
            super().process_event(event)

    async with (
        wskit_server(echo, create_connection=Recording) as uri,
        running_client(uri, tty=True) as client,
    ):
        await client.driver.expect(GREETING)
        client.driver.type("/pong beat\r/pong\r")
        await client.driver.expect("pong sent: 'beat'")
        await client.driver.expect("pong sent: empty")
        client.driver.type("/quit\r")
        assert await client.status() == 0
    assert pongs == [b"beat", b""]
