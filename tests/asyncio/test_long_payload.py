"""The rest of a long payload read once it has all arrived (``SO_RCVLOWAT``).

While a long binary payload arrives, the connection asks to be woken only
once its missing bytes can all be read, not for each TCP segment; text,
whose UTF-8 fails the connection as soon as it is invalid, is read as it
comes; the mark goes back to 1 byte for what follows.
"""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from tests.asyncio.test_connection import WAIT, eventually, raw_pair
from wskit.asyncio.connection import Connection
from wskit.asyncio.long_payloads import (
    READ_LOW_WATER_MARKS,
    WHOLE_PAYLOAD_MISSING,
    whole_payload_socket,
)
from wskit.frames import BINARY, CLOSE, TEXT, Close, CloseCode, Frame

pytestmark = pytest.mark.skipif(
    not READ_LOW_WATER_MARKS, reason="read low-water marks: Linux 5.10 or later"
)

SIDES = ["server", "client"]


def low_water(ws: Connection) -> int:
    sock = ws.transport.get_extra_info("socket")
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT))


def wire(ws: Connection, frame: Frame) -> bytes:
    """``frame`` as the peer of ``ws`` sends it (masked to a server)."""
    return frame.serialize(mask=ws.protocol.side.name == "SERVER")


@pytest.mark.parametrize("side", SIDES)
async def test_long_binary_payload_is_read_once_it_has_all_arrived(side: str) -> None:
    async with raw_pair(side, max_size=None) as (ws, peer):
        payload = os.urandom(2**20)
        frame = wire(ws, Frame(BINARY, payload))
        peer.writer.write(frame[: 2**16])
        await eventually(lambda: ws.protocol.incoming_payload is not None)
        missing = ws.protocol.payload_missing_unchecked()
        assert missing == len(frame) - 2**16
        assert low_water(ws) == missing
        # Half of the frame, in segments: they wait in the socket, unread.
        for start in range(2**16, 2**19, 2**15):
            peer.writer.write(frame[start : start + 2**15])
            await peer.writer.drain()
        await asyncio.sleep(0.05)
        assert ws.protocol.payload_missing_unchecked() == missing
        # The rest wakes the connection (the kernel may wake it a little
        # early, as its receive window closes).
        peer.writer.write(frame[2**19 :] + wire(ws, Frame(BINARY, b"next")))
        async with asyncio.timeout(WAIT):
            assert await ws.recv() == payload
            assert await ws.recv() == b"next"
        assert low_water(ws) == 1


async def test_socket_is_looked_for_at_the_first_long_payload() -> None:
    # Not when the connection is made: looking took ~4% of a server's
    # handshake on uvloop, and most connections never get a long payload.
    async with raw_pair("server", max_size=None) as (ws, peer):
        peer.writer.write(wire(ws, Frame(BINARY, b"short")))
        async with asyncio.timeout(WAIT):
            assert await ws.recv() == b"short"
        assert not ws.payload_socket_sought
        assert ws.whole_payload_socket is None
        peer.writer.write(wire(ws, Frame(BINARY, bytes(2**20)))[: 2**16])
        await eventually(lambda: ws.payload_socket_sought)
        sock = ws.transport.get_extra_info("socket")
        assert ws.whole_payload_socket is not None
        assert ws.whole_payload_socket.fileno() == sock.fileno()
        assert low_water(ws) > 1


async def test_shorter_payloads_are_read_as_they_come() -> None:
    # Below WHOLE_PAYLOAD_MISSING, two system calls cost more than the wake-ups saved.
    async with raw_pair("server", max_size=None) as (ws, peer):
        frame = wire(ws, Frame(BINARY, bytes(2**18)))
        peer.writer.write(frame[: 2**16])
        await eventually(lambda: ws.protocol.incoming_payload is not None)
        assert 0 < ws.protocol.payload_missing_unchecked() < WHOLE_PAYLOAD_MISSING
        assert low_water(ws) == 1
        peer.writer.write(frame[2**16 : 2**17])
        await eventually(lambda: ws.protocol.bytes_received >= 2**17)


@pytest.mark.parametrize("side", SIDES)
async def test_long_text_payload_is_read_as_it_comes(side: str) -> None:
    # Its UTF-8 is checked as it arrives: invalid bytes fail the connection
    # at once (test_invalid_utf8_read_into_a_long_payload_fails_at_once).
    async with raw_pair(side, max_size=None) as (ws, peer):
        frame = wire(ws, Frame(TEXT, b"a" * 2**20))
        peer.writer.write(frame[: 2**16])
        await eventually(lambda: ws.protocol.incoming_payload is not None)
        assert ws.protocol.payload_missing_unchecked() == 0
        assert low_water(ws) == 1
        peer.writer.write(frame[2**16 : 2**17])
        await eventually(lambda: ws.protocol.bytes_received >= 2**17)


async def test_peer_gone_in_the_middle_of_a_long_payload() -> None:
    # EOF wakes the connection whatever the mark.
    async with raw_pair("server", max_size=None) as (ws, peer):
        peer.writer.write(wire(ws, Frame(BINARY, bytes(2**20)))[: 2**17])
        await eventually(lambda: ws.protocol.incoming_payload is not None)
        assert low_water(ws) > 1
        peer.writer.write_eof()
        async with asyncio.timeout(WAIT):
            await ws.wait_closed()
        assert ws.close_code == CloseCode.ABNORMAL_CLOSURE


async def test_failure_in_the_middle_of_a_long_payload_resets_the_mark() -> None:
    # A frame after a failed one is never read: the connection closes as it
    # should, whatever the mark was.
    async with raw_pair("server", max_size=2**20) as (ws, peer):
        peer.writer.write(wire(ws, Frame(BINARY, bytes(2**20 + 1)))[: 2**17])
        [close] = await peer.receive_frames(until=lambda frame: frame.opcode is CLOSE)
        assert Close.parse(close.data).code == CloseCode.MESSAGE_TOO_BIG


class Transport(asyncio.BaseTransport):
    def __init__(self, **extra: object) -> None:
        super().__init__(extra)


def test_only_plain_tcp_sockets_get_a_mark() -> None:
    with socket.socket() as tcp, socket.socket(socket.AF_UNIX) as unix:
        assert whole_payload_socket(Transport(socket=tcp)) is tcp
        # TLS: the bytes on the socket aren't the payload's.
        assert whole_payload_socket(Transport(socket=tcp, sslcontext=object())) is None
        # Only TCP, where the mark is known to wake epoll as it should.
        assert whole_payload_socket(Transport(socket=unix)) is None
        assert whole_payload_socket(Transport()) is None
