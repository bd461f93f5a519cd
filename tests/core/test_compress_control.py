"""send_text()/send_binary(compress=...): a message sent plain on a compressed connection."""

from __future__ import annotations

import dataclasses
import logging
import zlib
from typing import cast

import pytest

from wskit.client import ClientProtocol
from wskit.extensions.base import Extension
from wskit.extensions.permessage_deflate import PerMessageDeflate
from wskit.frames import BINARY, CONT, TEXT, Frame
from wskit.protocol import Protocol, Side, State
from wskit.server import ServerProtocol
from wskit.shared.serving import BroadcastFrame
from wskit.typing import BytesLike
from wskit.uri import parse_uri

from .test_protocol import deflate_pair, received, unwire

SERVER, CLIENT = Side.SERVER, Side.CLIENT
MESSAGE = b"compressible " * 50


def inflate(payload: BytesLike) -> bytes:
    return zlib.decompressobj(wbits=-15).decompress(bytes(payload) + b"\x00\x00\xff\xff")


@pytest.mark.parametrize("side", [SERVER, CLIENT])
def test_bytes_on_the_wire(side: Side) -> None:
    protocol = Protocol(side)
    protocol.extensions = [PerMessageDeflate(False, False, 15, 15)]
    protocol.send_text(MESSAGE, compress=False)
    protocol.send_binary(MESSAGE, compress=True)
    protocol.send_binary(MESSAGE)
    plain, forced, default = (unwire(data) for data in protocol.data_to_send())
    assert (plain.opcode, plain.rsv1, plain.data) == (TEXT, False, MESSAGE)
    assert (forced.opcode, forced.rsv1) == (BINARY, True)
    assert inflate(forced.data) == MESSAGE
    assert len(forced.data) < len(MESSAGE) // 5
    # Context takeover: the default message refers back to the forced one,
    # never to the plain one, which the compressor didn't see.
    assert default.rsv1
    assert len(default.data) < len(forced.data)


def test_the_peer_reads_plain_and_compressed_messages_in_any_order() -> None:
    client, server = deflate_pair()
    for compress in (None, False, True, False, None):
        server.send_text(MESSAGE, compress=compress)
    for data in server.data_to_send():
        client.receive_data(data)
    assert received(client) == [Frame(TEXT, MESSAGE)] * 5


def test_continuation_frames_follow_the_first_frame() -> None:
    client, server = deflate_pair()
    client.send_binary(b"plain ", fin=False, compress=False)
    client.send_continuation(b"message", fin=True)
    client.send_binary(MESSAGE, fin=False)
    client.send_continuation(MESSAGE, fin=True)
    writes = client.data_to_send()
    frames = [unwire(data) for data in writes]
    assert [(frame.opcode, frame.rsv1) for frame in frames] == [
        (BINARY, False),
        (CONT, False),
        (BINARY, True),
        (CONT, False),  # RSV1 only on the first frame of a compressed message
    ]
    assert [frame.data for frame in frames[:2]] == [b"plain ", b"message"]
    assert MESSAGE not in frames[3].data  # compressed
    for data in writes:
        server.receive_data(data)
    assert [frame.data for frame in received(server)] == [b"plain ", b"message", MESSAGE, MESSAGE]


class Upper(Extension):
    """An extension that doesn't compress: it stays when compress=False."""

    name = "x-upper"  # type: ignore[assignment]

    def encode(self, frame: Frame) -> Frame:
        return dataclasses.replace(frame, data=bytes(frame.data).upper())


def test_only_compressing_extensions_are_left_out() -> None:
    server = Protocol(SERVER)
    server.extensions = [Upper(), PerMessageDeflate(False, False, 15, 15)]
    server.send_binary(b"abc", compress=False)
    frame = unwire(server.data_to_send()[0])
    assert (frame.rsv1, frame.data) == (False, b"ABC")
    assert not Upper.compresses
    assert PerMessageDeflate.compresses


def test_without_compression_the_argument_changes_nothing() -> None:
    server = Protocol(SERVER)
    for compress in (None, False, True):
        server.send_text(b"same", compress=compress)
    assert len(set(server.data_to_send())) == 1


def test_message_key() -> None:
    takeover = PerMessageDeflate(False, False, 15, 15)
    assert takeover.message_key() is None  # bytes depend on earlier messages
    fresh = PerMessageDeflate(False, True, 15, 15)
    same = PerMessageDeflate(True, True, 15, 15)
    other = PerMessageDeflate(False, True, 15, 12)
    assert fresh.message_key() is not None
    assert fresh.message_key() == same.message_key()
    assert fresh.message_key() != other.message_key()
    # Equal keys, equal bytes; but not in the middle of a message.
    assert fresh.encode(Frame(TEXT, MESSAGE)) == same.encode(Frame(TEXT, MESSAGE))
    fresh.encode(Frame(TEXT, MESSAGE, fin=False))
    assert fresh.message_key() is None


# broadcast(): encoded once per shared compression state.


def open_server(*extensions: Extension) -> ServerProtocol:
    protocol = ServerProtocol(state=State.OPEN)
    protocol.extensions = list(extensions)
    return protocol


def test_broadcast_shares_plain_bytes_with_compress_false(caplog: pytest.LogCaptureFixture) -> None:
    frame = BroadcastFrame(MESSAGE, compress=False)
    with caplog.at_level(logging.DEBUG, logger="wskit.server"):
        takeover = open_server(PerMessageDeflate(False, False, 15, 15))
        fresh = open_server(PerMessageDeflate(False, True, 15, 15))
        plain = open_server()
        [first] = frame.data_for(takeover)
        [second] = frame.data_for(fresh)  # from the shared bytes: logged here
        [third] = frame.data_for(plain)
    assert first is second is third
    assert unwire(first) == Frame(BINARY, MESSAGE)
    assert len(caplog.records) == 3
    # The compressor never saw the message: the next one starts afresh.
    extension = cast(PerMessageDeflate, takeover.extensions[0])
    assert extension._encoder is None
    assert extension._sent_window == b""


def test_broadcast_compresses_once_per_settings_without_context_takeover() -> None:
    frame = BroadcastFrame(MESSAGE)
    first = frame.data_for(open_server(PerMessageDeflate(False, True, 15, 15)))
    second = frame.data_for(open_server(PerMessageDeflate(True, True, 15, 15)))
    other = frame.data_for(open_server(PerMessageDeflate(False, True, 15, 10)))
    [takeover] = frame.data_for(open_server(PerMessageDeflate(False, False, 15, 15)))
    assert first is second
    assert other is not first
    assert unwire(first[0]).rsv1
    assert inflate(unwire(other[0]).data) == inflate(unwire(first[0]).data) == MESSAGE
    assert unwire(takeover).rsv1
    assert len(frame.shared) == 2


def test_broadcast_encodes_for_each_connection_it_cannot_share_with() -> None:
    frame = BroadcastFrame(b"abc", compress=False)
    [upper] = frame.data_for(open_server(Upper(), PerMessageDeflate(False, True, 15, 15)))
    assert unwire(upper) == Frame(BINARY, b"ABC")
    frame = BroadcastFrame(b"abc")
    [upper] = frame.data_for(open_server(Upper()))
    assert unwire(upper).data == b"ABC"
    client = ClientProtocol(parse_uri("ws://example.com/"), state=State.OPEN)
    client.extensions = [PerMessageDeflate(False, True, 15, 15)]
    [masked] = BroadcastFrame(b"abc", compress=False).data_for(client)
    assert masked[1] & 0x80
    assert unwire(masked) == Frame(BINARY, b"abc")
    assert frame.shared == {}
