"""The security guide's tables say what each bad input gets: the Sans-I/O core agrees.

Each row of the two tables in docs/topics/security.rst (handshake requests
and their HTTP status, frames and their close code) has a scenario here,
played on a :class:`~wskit.server.ServerProtocol` (or a client's, for what
only a server may send); rows about time or the application's code happen
in the I/O layers and are named in :data:`IO_ROWS`, where their own tests
are. A row added to the page without a scenario fails the test, and so does
a scenario whose answer differs from the page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from wskit.client import ClientProtocol
from wskit.extensions.permessage_deflate import enable_server_permessage_deflate
from wskit.http11 import Request
from wskit.protocol import OPEN, Protocol
from wskit.server import ServerProtocol
from wskit.uri import parse_uri

PAGE = Path(__file__).resolve().parents[2] / "docs" / "topics" / "security.rst"

REQUEST = (
    "GET / HTTP/1.1\r\n"
    "Host: example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
)


def request(*, replace: tuple[str, str] = ("", ""), extra: str = "") -> bytes:
    old, new = replace
    assert old in REQUEST
    return (REQUEST.replace(old, new, 1) + extra + "\r\n").encode()


def status(data: bytes, **options: object) -> int:
    """The status of the server's answer to ``data``."""
    server = ServerProtocol(**options)  # type: ignore[arg-type]
    server.receive_data(data)
    if server.status is None:  # a whole request: the server decides
        [parsed] = server.events_received()
        assert isinstance(parsed, Request)
        server.send_response(server.accept(parsed))
    assert server.status is not None
    return server.status


HANDSHAKES: dict[str, Callable[[], int]] = {
    "isn't HTTP, or has a malformed line or header": lambda: status(b"HELLO THERE\r\n\r\n"),
    "request line longer than the limit": lambda: status(
        request(replace=("GET / ", "GET /" + "a" * 9000 + " "))
    ),
    "header line too long, or too many headers": lambda: min(
        status(request(extra=f"X-Long: {'a' * 9000}\r\n")),
        status(request(extra="".join(f"X-{n}: {n}\r\n" for n in range(200)))),
    ),
    "method other than ``GET``": lambda: status(request(replace=("GET", "POST"))),
    "HTTP version other than 1.1": lambda: status(request(replace=("HTTP/1.1", "HTTP/1.0"))),
    "no ``Upgrade: websocket`` or ``Connection: Upgrade``": lambda: status(
        request(replace=("Upgrade: websocket\r\n", ""))
    ),
    "``Sec-WebSocket-Version`` other than 13": lambda: status(
        request(replace=("Version: 13", "Version: 8"))
    ),
    "missing or invalid ``Sec-WebSocket-Key``": lambda: status(
        request(replace=("dGhlIHNhbXBsZSBub25jZQ==", "short"))
    ),
    "``Origin`` not in ``origins``": lambda: status(
        request(extra="Origin: https://evil.example\r\n"), origins=["https://app.example"]
    ),
}


def frame(first: int, payload: bytes = b"", *, masked: bool = True) -> bytes:
    """A frame with a zero mask key (masked, and the payload unchanged)."""
    length = len(payload)
    if length < 126:
        header = bytes([first, length | (0x80 if masked else 0)])
    else:
        header = bytes([first, 126 | (0x80 if masked else 0)]) + length.to_bytes(2, "big")
    return header + (b"\0\0\0\0" if masked else b"") + payload


def close_code(data: bytes, protocol: Protocol | None = None) -> int:
    """The close code that ``protocol`` (an open server's by default) fails with on ``data``."""
    if protocol is None:
        protocol = ServerProtocol(state=OPEN)
    protocol.receive_data(data)
    assert protocol.close_sent is not None, "the connection didn't fail"
    return protocol.close_sent.code


def compressing_server() -> ServerProtocol:
    """A server that negotiated permessage-deflate in its handshake."""
    server = ServerProtocol(extensions=enable_server_permessage_deflate(None))
    server.receive_data(request(extra="Sec-WebSocket-Extensions: permessage-deflate\r\n"))
    [parsed] = server.events_received()
    assert isinstance(parsed, Request)
    server.send_response(server.accept(parsed))
    assert server.state is OPEN
    assert server.extensions
    return server


def same(*codes: int) -> int:
    """The one close code that every case of a row gets."""
    assert len(set(codes)) == 1, codes
    return codes[0]


CLIENT = parse_uri("ws://example.com/")

FRAMES: dict[str, Callable[[], int]] = {
    "a client's frame not masked, a server's frame masked": lambda: same(
        close_code(frame(0x81, b"hi", masked=False)),
        close_code(frame(0x81, b"hi"), ClientProtocol(CLIENT, state=OPEN)),
    ),
    "unknown opcode, reserved bits set without an extension": lambda: same(
        close_code(frame(0x83)), close_code(frame(0xC1, b"hi"))
    ),
    "control frame over 125 bytes, or fragmented": lambda: same(
        close_code(frame(0x89, b"x" * 126)), close_code(frame(0x09))
    ),
    "continuation without a message, or a new message mid-message": lambda: same(
        close_code(frame(0x80, b"x")), close_code(frame(0x01, b"a") + frame(0x81, b"b"))
    ),
    "compressed data that doesn't inflate": lambda: close_code(
        frame(0xC1, b"\xff\xff\xff\xff"), compressing_server()
    ),
    "close frame of 1 byte, invalid close code, reason too long": lambda: same(
        close_code(frame(0x88, b"\x03")),
        close_code(frame(0x88, (999).to_bytes(2, "big"))),
        close_code(frame(0x88, (1000).to_bytes(2, "big") + b"x" * 124)),
    ),
    "text message or close reason that isn't UTF-8": lambda: same(
        close_code(frame(0x81, b"\xff")), close_code(frame(0x88, b"\x03\xe8\xff"))
    ),
    "more than 1024 empty fragments in one message": lambda: close_code(
        frame(0x01) + frame(0x00) * 1025
    ),
    "message larger than ``max_size``, as soon as that is known": lambda: close_code(
        frame(0x81, b"x" * 11), ServerProtocol(state=OPEN, max_size=10)
    ),
}

# Rows that the I/O layers act out, and the tests that hold them.
IO_ROWS = {
    "refused by ``process_request`` (authentication...)": "tests/test_topics.py",
    "a hook raised an exception": "tests/asyncio/test_server.py, tests/sync/test_server.py",
    "too slow to finish": "open_timeout, in tests/asyncio and tests/sync",
    "no pong within ``ping_timeout``": "keepalive, in tests/asyncio and tests/sync",
    "an exception in the handler": "tests/asyncio/test_server.py, tests/sync/test_server.py",
}


def table_rows(header: str) -> dict[str, str]:
    """The rows of the simple table whose header row starts with ``header``."""
    lines = PAGE.read_text().splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith(header))
    rows = {}
    for line in lines[start + 2 :]:
        if line.startswith("="):
            break
        first, second = re.split(r"\s{2,}", line.strip(), maxsplit=1)
        rows[first] = second
    return rows


@pytest.mark.parametrize(
    ("header", "scenarios"),
    [("the request ", HANDSHAKES), ("the frame or message ", FRAMES)],
    ids=["handshake", "frames"],
)
def test_every_row_is_what_wskit_does(header: str, scenarios: dict[str, Callable[[], int]]) -> None:
    rows = table_rows(header)
    assert len(rows) >= len(scenarios)
    for row, answer in rows.items():
        if row in IO_ROWS:
            continue
        assert row in scenarios, f"no scenario for the row {row!r}"
        stated = re.match(r"\d+", answer)
        assert stated is not None, f"{row!r}: the page states no code"
        assert scenarios[row]() == int(stated.group()), row
    assert set(scenarios) <= set(rows), "scenarios for rows that the page lost"
