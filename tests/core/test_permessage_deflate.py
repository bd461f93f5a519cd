"""Tests for wskit.extensions.permessage_deflate (RFC 7692)."""

from __future__ import annotations

import dataclasses
import os
import random
import tracemalloc
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wskit.exceptions import (
    DuplicateParameter,
    InvalidParameterName,
    InvalidParameterValue,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
)
from wskit.extensions.base import ClientExtensionFactory, Extension, ServerExtensionFactory
from wskit.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from wskit.frames import BINARY, CLOSE, CONT, PING, PONG, TEXT, Frame, Opcode
from wskit.typing import ExtensionName, ExtensionParameter

MiB = 1024 * 1024
TAIL = b"\x00\x00\xff\xff"


# Helpers.


def make(
    *,
    remote_no_context_takeover: bool = False,
    local_no_context_takeover: bool = False,
    remote_max_window_bits: int = 15,
    local_max_window_bits: int = 15,
    compress_settings: dict[Any, Any] | None = None,
) -> PerMessageDeflate:
    return PerMessageDeflate(
        remote_no_context_takeover,
        local_no_context_takeover,
        remote_max_window_bits,
        local_max_window_bits,
        compress_settings,
    )


def fragments(opcode: Opcode, data: bytes, sizes: Sequence[int] = ()) -> list[Frame]:
    """Split a message into frames: one frame per size, the rest in the last."""
    frames: list[Frame] = []
    position = 0
    for size in sizes:
        frames.append(Frame(CONT if frames else opcode, data[position : position + size], False))
        position += size
    frames.append(Frame(CONT if frames else opcode, data[position:], True))
    return frames


def send(
    extension: Extension, data: bytes, opcode: Opcode = BINARY, sizes: Sequence[int] = ()
) -> list[Frame]:
    return [extension.encode(frame) for frame in fragments(opcode, data, sizes)]


def receive(extension: Extension, frames: Sequence[Frame], max_size: int | None = None) -> bytes:
    """Decode a message the way the protocol does: the budget shrinks per frame."""
    received = b""
    for frame in frames:
        remaining = None if max_size is None else max_size - len(received)
        received += bytes(extension.decode(frame, max_size=remaining).data)
    return received


def negotiate(
    client: ClientPerMessageDeflateFactory, server: ServerPerMessageDeflateFactory
) -> tuple[PerMessageDeflate, PerMessageDeflate, list[ExtensionParameter]]:
    answer, server_extension = server.process_request_params(client.get_request_params(), [])
    client_extension = client.process_response_params(answer, [])
    return client_extension, server_extension, answer


def raw_inflate(payloads: Sequence[bytes], wbits: int = 15) -> list[bytes]:
    """Decompress consecutive messages with plain zlib, one call per message."""
    decoder = zlib.decompressobj(wbits=-wbits)
    return [decoder.decompress(payload + TAIL) for payload in payloads]


def state(extension: PerMessageDeflate) -> tuple[bool, bool, int, int]:
    return (
        extension.remote_no_context_takeover,
        extension.local_no_context_takeover,
        extension.remote_max_window_bits,
        extension.local_max_window_bits,
    )


# PerMessageDeflate: construction.


@pytest.mark.parametrize("bits", [7, 16, 0, -9, True, False, "12", 12.0, None])
@pytest.mark.parametrize("argument", ["remote_max_window_bits", "local_max_window_bits"])
def test_extension_rejects_invalid_window_bits(argument: str, bits: Any) -> None:
    with pytest.raises(ValueError, match=argument):
        make(**{argument: bits})


@pytest.mark.parametrize("key", ["wbits", "zdict"])
def test_extension_rejects_reserved_compress_settings(key: str) -> None:
    with pytest.raises(ValueError, match=key):
        make(compress_settings={key: 9})


def test_extension_repr() -> None:
    extension = make(local_no_context_takeover=True, local_max_window_bits=10)
    assert repr(extension) == (
        "PerMessageDeflate(remote_no_context_takeover=False, local_no_context_takeover=True, "
        "remote_max_window_bits=15, local_max_window_bits=10, compress_settings={})"
    )
    assert PerMessageDeflate.name == "permessage-deflate"


# PerMessageDeflate: encoding.


@pytest.mark.parametrize("opcode", [CLOSE, PING, PONG])
def test_encode_leaves_control_frames_alone(opcode: Opcode) -> None:
    frame = Frame(opcode, b"\x03\xe8bye" if opcode is CLOSE else b"payload")
    assert make().encode(frame) is frame


@pytest.mark.parametrize("opcode", [TEXT, BINARY])
def test_encode_compresses_a_message(opcode: Opcode) -> None:
    data = b"Hello, world! " * 100
    (frame,) = send(make(), data, opcode)
    assert frame.opcode is opcode
    assert frame.rsv1
    assert frame.fin
    assert len(frame.data) < 50
    # "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from the tail end."
    assert not bytes(frame.data).endswith(TAIL)
    assert raw_inflate([bytes(frame.data)]) == [data]


def test_encode_rfc_example_hello() -> None:
    # RFC 7692, section 7.2.3.1.
    (frame,) = send(make(), b"Hello", TEXT)
    assert frame.data == bytes.fromhex("f248cdc9c90700")


def test_encode_empty_message() -> None:
    # RFC 7692, section 7.2.3.6: an empty message compresses to one byte.
    (frame,) = send(make(), b"", TEXT)
    assert frame.data == b"\x00"
    assert frame.rsv1


def test_encode_keeps_other_frame_fields() -> None:
    frame = make().encode(Frame(TEXT, b"abc", fin=False, rsv2=True))
    assert (frame.opcode, frame.fin, frame.rsv1, frame.rsv2, frame.rsv3) == (
        TEXT,
        False,
        True,
        True,
        False,
    )


def test_encode_fragmented_message() -> None:
    data = os.urandom(500) * 20
    frames = send(make(), data, TEXT, sizes=[1000, 0, 3000])
    # RSV1 on the first frame only: "An endpoint MUST NOT set the 'Per-Message
    # Compressed' bit of ... non-first fragments of a data message."
    assert [(frame.opcode, frame.rsv1, frame.fin) for frame in frames] == [
        (TEXT, True, False),
        (CONT, False, False),
        (CONT, False, False),
        (CONT, False, True),
    ]
    # Non-final fragments are flushed: each ends with an empty stored block.
    assert all(bytes(frame.data).endswith(TAIL) for frame in frames[:-1])
    payload = b"".join(bytes(frame.data) for frame in frames)
    assert raw_inflate([payload]) == [data]


def test_encode_control_frame_between_fragments() -> None:
    extension = make()
    first = extension.encode(Frame(TEXT, b"Hello, ", fin=False))
    ping = Frame(PING, b"still there?")
    assert extension.encode(ping) is ping
    last = extension.encode(Frame(CONT, b"world!"))
    assert raw_inflate([bytes(first.data) + bytes(last.data)]) == [b"Hello, world!"]


def test_encode_with_context_takeover_shrinks_repeated_messages() -> None:
    data = os.urandom(1000)
    extension = make()
    first, second = (send(extension, data)[0] for _ in range(2))
    assert len(second.data) < len(first.data) // 10
    assert raw_inflate([bytes(first.data), bytes(second.data)]) == [data, data]


def test_encode_without_context_takeover_restarts_each_message() -> None:
    data = os.urandom(1000)
    extension = make(local_no_context_takeover=True)
    first, second = (send(extension, data)[0] for _ in range(2))
    assert first.data == second.data
    assert len(second.data) > len(data)
    # Each message decompresses on its own.
    assert raw_inflate([bytes(second.data)]) == [data]


def test_encode_without_context_takeover_restarts_after_a_fragmented_message() -> None:
    data = os.urandom(1000)
    extension = make(local_no_context_takeover=True)
    frames = send(extension, data, sizes=[500])
    assert not frames[1].rsv1
    (again,) = send(extension, data)
    assert raw_inflate([bytes(again.data)]) == [data]


@pytest.mark.parametrize("bits", range(8, 16))
def test_encode_honours_local_window_bits(bits: int) -> None:
    # Random blocks repeated at distances up to twice the window: a compressor
    # with a bigger window would reach back further than the peer can follow.
    rng = random.Random(bits)
    extension = make(local_max_window_bits=bits)
    messages = []
    for _ in range(20):
        block = rng.randbytes(rng.randrange(1, 2 << bits))
        messages += [block, block[: rng.randrange(len(block) + 1)]]
    payloads = [bytes(send(extension, message)[0].data) for message in messages]
    assert raw_inflate(payloads, wbits=bits) == messages


def test_window_test_detects_a_compressor_with_a_bigger_window() -> None:
    # The check above can fail: a 10-bit decoder cannot follow an 11-bit
    # compressor reaching back 1500 bytes into the previous message.
    extension = make(local_max_window_bits=11)
    block = os.urandom(1500)
    payloads = [bytes(send(extension, block)[0].data) for _ in range(2)]
    with pytest.raises(zlib.error, match="too far back"):
        raw_inflate(payloads, wbits=10)
    assert raw_inflate(payloads, wbits=11) == [block, block]


def test_encode_with_8_bit_window_uses_run_length_matches_only() -> None:
    # zlib cannot compress raw DEFLATE with an 8-bit window (since 1.2.9 it
    # refuses; before, it used 9 bits): wskit compresses with run-length
    # matches only, which any window size can follow.
    extension = make(local_max_window_bits=8)
    # A repeat 100 bytes back is not matched: only runs are.
    block = os.urandom(100)
    (frame,) = send(extension, block * 2)
    assert len(frame.data) > 200
    (frame,) = send(extension, b"a" * 1000)
    assert len(frame.data) < 20
    # An 8-bit decoder follows everything, across messages too.
    rng = random.Random(8)
    messages = [rng.randbytes(rng.randrange(300)) * 3 for _ in range(50)]
    payloads = [bytes(send(extension, message)[0].data) for message in messages]
    assert raw_inflate(payloads, wbits=8) == messages


def test_encode_with_8_bit_window_keeps_huffman_only_strategy() -> None:
    settings = {"strategy": zlib.Z_HUFFMAN_ONLY}
    extension = make(local_max_window_bits=8, compress_settings=settings)
    (frame,) = send(extension, b"a" * 1000)
    # Huffman coding only: about one bit per byte, no run-length matches.
    assert 100 < len(frame.data) < 200
    assert raw_inflate([bytes(frame.data)], wbits=8) == [b"a" * 1000]
    assert settings == {"strategy": zlib.Z_HUFFMAN_ONLY}


def test_encode_with_8_bit_window_overrides_other_strategies() -> None:
    extension = make(local_max_window_bits=8, compress_settings={"strategy": zlib.Z_FILTERED})
    block = os.urandom(100)
    (frame,) = send(extension, block * 2)
    assert len(frame.data) > 200


def test_encode_applies_compress_settings() -> None:
    data = b"compressible " * 100
    (stored,) = send(make(compress_settings={"level": 0}), data)
    (deflated,) = send(make(compress_settings={"level": 9, "memLevel": 1}), data)
    assert len(stored.data) > len(data) > 10 * len(deflated.data)
    assert raw_inflate([bytes(stored.data)]) == [data]


# PerMessageDeflate: decoding.


@pytest.mark.parametrize("opcode", [CLOSE, PING, PONG])
def test_decode_leaves_control_frames_alone(opcode: Opcode) -> None:
    frame = Frame(opcode, b"")
    assert make().decode(frame) is frame


@pytest.mark.parametrize("opcode", [CLOSE, PING, PONG])
def test_decode_rejects_rsv1_on_control_frame(opcode: Opcode) -> None:
    with pytest.raises(ProtocolError, match="control frame"):
        make().decode(Frame(opcode, b"", rsv1=True))


def test_decode_leaves_uncompressed_messages_alone() -> None:
    extension = make()
    frames = fragments(TEXT, b"not compressed", sizes=[3, 4])
    assert [extension.decode(frame) for frame in frames] == frames
    frame = Frame(BINARY, b"\xff")
    assert extension.decode(frame, max_size=0) is frame


def test_decode_rejects_rsv1_on_continuation_frame() -> None:
    extension = make()
    first = extension.decode(Frame(TEXT, b"", fin=False))
    assert not first.rsv1
    with pytest.raises(ProtocolError, match="continuation"):
        extension.decode(Frame(CONT, b"", rsv1=True))


def test_decode_rejects_rsv1_on_continuation_of_compressed_message() -> None:
    extension = make()
    extension.decode(Frame(TEXT, bytes.fromhex("f248cd"), fin=False, rsv1=True))
    with pytest.raises(ProtocolError, match="continuation"):
        extension.decode(Frame(CONT, bytes.fromhex("c9c90700"), rsv1=True))


@pytest.mark.parametrize(
    ("payloads", "expected"),
    [
        # RFC 7692, section 7.2.3.1: a message in one frame.
        ([["f248cdc9c90700"]], [b"Hello"]),
        # Section 7.2.3.1: the same message in two fragments.
        ([["f248cd", "c9c90700"]], [b"Hello"]),
        # Section 7.2.3.2: two messages sharing the LZ77 window.
        ([["f248cdc9c90700"], ["f200110000"]], [b"Hello", b"Hello"]),
        # Section 7.2.3.3: a DEFLATE block with no compression.
        ([["0005 00faff 48656c6c6f 00"]], [b"Hello"]),
        # Section 7.2.3.4: a DEFLATE block with BFINAL set to 1.
        ([["f348cdc9c9070000"]], [b"Hello"]),
        # Section 7.2.3.5: two DEFLATE blocks in one message.
        ([["f24805000000ffffcac9c90700"]], [b"Hello"]),
    ],
)
def test_decode_rfc_examples(payloads: list[list[str]], expected: list[bytes]) -> None:
    extension = make()
    received = []
    for message in payloads:
        frames = fragments(TEXT, b"", [0] * (len(message) - 1))
        frames = [
            dataclasses.replace(frame, data=bytes.fromhex(payload), rsv1=frame.opcode is TEXT)
            for frame, payload in zip(frames, message, strict=True)
        ]
        received.append(receive(extension, frames))
    assert received == expected


def test_decode_clears_rsv1_and_keeps_other_fields() -> None:
    frame = make().decode(Frame(BINARY, bytes.fromhex("f248cdc9c90700"), rsv1=True, rsv3=True))
    assert frame == Frame(BINARY, b"Hello", fin=True, rsv1=False, rsv3=True)


def test_decode_control_frame_between_compressed_fragments() -> None:
    extension = make()
    first = extension.decode(Frame(TEXT, bytes.fromhex("f248cd"), fin=False, rsv1=True))
    ping = Frame(PING, b"ping")
    assert extension.decode(ping) is ping
    last = extension.decode(Frame(CONT, bytes.fromhex("c9c90700")))
    assert bytes(first.data) + bytes(last.data) == b"Hello"


def test_decode_accepts_memoryview_and_bytearray() -> None:
    extension = make()
    payload = bytes.fromhex("f248cdc9c90700")
    assert extension.decode(Frame(TEXT, memoryview(payload), rsv1=True)).data == b"Hello"
    assert extension.decode(Frame(TEXT, bytearray(payload), rsv1=True)).data == b"Hello"


def test_decode_corrupt_stream() -> None:
    # BTYPE 11 is reserved in DEFLATE.
    with pytest.raises(ProtocolError, match="invalid compressed data") as raised:
        make().decode(Frame(TEXT, b"\xff\xff", rsv1=True))
    assert isinstance(raised.value.__cause__, zlib.error)


def test_decode_garbage_after_final_block() -> None:
    # "Hello" in a BFINAL block, then bytes that don't start a valid block.
    with pytest.raises(ProtocolError, match="invalid compressed data"):
        make().decode(Frame(TEXT, bytes.fromhex("f348cdc9c90700ffff"), rsv1=True))


def test_decode_several_final_blocks_in_one_message() -> None:
    hello = "f348cdc9c90700"
    frame = Frame(TEXT, bytes.fromhex(hello + hello + "00"), rsv1=True)
    assert make().decode(frame).data == b"HelloHello"


def test_decode_after_final_block_starts_without_context() -> None:
    # After a BFINAL block, the next message may not refer to the old window.
    extension = make()
    assert extension.decode(Frame(TEXT, bytes.fromhex("f348cdc9c9070000"), rsv1=True)).data == (
        b"Hello"
    )
    with pytest.raises(ProtocolError, match="too far back"):
        extension.decode(Frame(TEXT, bytes.fromhex("f200110000"), rsv1=True))


def test_decode_final_block_at_end_of_message_then_fresh_message() -> None:
    extension = make()
    extension.decode(Frame(TEXT, bytes.fromhex("f348cdc9c90700"), rsv1=True))
    assert extension.decode(Frame(TEXT, bytes.fromhex("f248cdc9c90700"), rsv1=True)).data == (
        b"Hello"
    )


@pytest.mark.parametrize(("no_context_takeover", "works"), [(False, True), (True, False)])
def test_decode_remote_context_takeover(no_context_takeover: bool, works: bool) -> None:
    # The second message of RFC 7692, section 7.2.3.2 refers to the first.
    extension = make(remote_no_context_takeover=no_context_takeover)
    extension.decode(Frame(TEXT, bytes.fromhex("f248cdc9c90700"), rsv1=True))
    second = Frame(TEXT, bytes.fromhex("f200110000"), rsv1=True)
    if works:
        assert extension.decode(second).data == b"Hello"
    else:
        with pytest.raises(ProtocolError, match="too far back"):
            extension.decode(second)


def test_decode_remote_window_bits_8_is_accepted() -> None:
    # Negotiating an 8-bit window for the peer is fine: zlib inflates with it.
    sender = make(local_max_window_bits=8)
    receiver = make(remote_max_window_bits=8)
    messages = [os.urandom(200) * 3 for _ in range(10)]
    assert [receive(receiver, send(sender, message)) for message in messages] == messages


def test_decode_remote_window_bits_8_tolerates_9_bit_peers() -> None:
    # A zlib-based peer that agreed to 8 bits but compresses with 9 (zlib
    # before 1.2.9 did that silently) is still understood.
    compressor = zlib.compressobj(wbits=-9)
    receiver = make(remote_max_window_bits=8)
    block = os.urandom(250)
    for _ in range(3):
        payload = (compressor.compress(block) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
        assert receiver.decode(Frame(BINARY, payload, rsv1=True)).data == block


def test_decode_remote_window_bits_limit_the_window() -> None:
    # A peer that breaks its 9-bit limit by reaching back 1000 bytes fails.
    sender = make(local_max_window_bits=15)
    receiver = make(remote_max_window_bits=9)
    block = os.urandom(1000)
    receive(receiver, send(sender, block))
    with pytest.raises(ProtocolError, match="too far back"):
        receive(receiver, send(sender, block))


# PerMessageDeflate: size limits.


def test_decode_max_size_boundaries() -> None:
    sender, receiver = make(), make()
    data = b"x" * 1000
    assert receive(receiver, send(sender, data), max_size=1000) == data
    with pytest.raises(PayloadTooBig) as raised:
        receive(make(), send(make(), data), max_size=999)
    assert raised.value.max_size == 999
    assert receive(make(), send(make(), b""), max_size=0) == b""
    with pytest.raises(PayloadTooBig):
        receive(make(), send(make(), b"x"), max_size=0)


def test_decode_max_size_none_means_no_limit() -> None:
    data = bytes(5 * MiB)
    assert receive(make(), send(make(), data), max_size=None) == data


def deflate_zeros(size: int, compressor: Any = None) -> bytes:
    """Compress ``size`` zero bytes as one message, without allocating them all."""
    if compressor is None:
        compressor = zlib.compressobj(wbits=-15)
    chunk = bytes(MiB)
    parts = [compressor.compress(chunk) for _ in range(size // MiB)]
    parts.append(compressor.compress(bytes(size % MiB)))
    parts.append(compressor.flush(zlib.Z_SYNC_FLUSH))
    return b"".join(parts)[:-4]


def peak_memory(function: Any) -> int:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_decompression_bomb_in_one_frame() -> None:
    bomb = Frame(BINARY, deflate_zeros(100 * MiB), rsv1=True)
    assert len(bomb.data) < 150_000

    def decode() -> None:
        with pytest.raises(PayloadTooBig):
            make().decode(bomb, max_size=MiB)

    # Inflating everything would take 100 MiB; we stop right after 1 MiB.
    assert peak_memory(decode) < 4 * MiB


def test_decompression_bomb_over_many_fragments() -> None:
    # Each fragment inflates to 256 KiB: only the running total is too big.
    sender, receiver = make(), make()
    frames = send(sender, bytes(64 * MiB), sizes=[256 * 1024] * 255)
    assert sum(len(frame.data) for frame in frames) < 100_000
    decoded = 0

    def decode_all() -> None:
        nonlocal decoded
        for frame in frames:
            decoded += len(receiver.decode(frame, max_size=MiB - decoded).data)

    def decode() -> None:
        with pytest.raises(PayloadTooBig):
            decode_all()

    assert peak_memory(decode) < 4 * MiB
    assert decoded == MiB


def test_decompression_bomb_over_several_messages_with_context_takeover() -> None:
    # With context takeover, each message is tiny on the wire; the limit
    # still applies to every message as it inflates.
    compressor = zlib.compressobj(wbits=-15)
    small = [Frame(BINARY, deflate_zeros(MiB, compressor), rsv1=True) for _ in range(10)]
    bomb = Frame(BINARY, deflate_zeros(50 * MiB, compressor), rsv1=True)
    receiver = make()

    def decode() -> None:
        for frame in small:
            assert len(receiver.decode(frame, max_size=MiB).data) == MiB
        with pytest.raises(PayloadTooBig):
            receiver.decode(bomb, max_size=MiB)

    assert peak_memory(decode) < 4 * MiB


# Negotiation: parameters common to offers and answers.

INVALID_WINDOW_BITS = [None, "", "7", "16", "08", "010", "+9", "-9", " 9", "9 ", "1e1", "٩", "x"]


def client_answer(params: list[ExtensionParameter], **kwargs: Any) -> PerMessageDeflate:
    return ClientPerMessageDeflateFactory(**kwargs).process_response_params(params, [])


def server_offer(
    params: list[ExtensionParameter], **kwargs: Any
) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
    return ServerPerMessageDeflateFactory(**kwargs).process_request_params(params, [])


both_sides = pytest.mark.parametrize("negotiate_params", [client_answer, server_offer])


@both_sides
@pytest.mark.parametrize("name", ["server_no_context_takeover", "client_no_context_takeover"])
@pytest.mark.parametrize("value", ["", "1", "true"])
def test_flags_take_no_value(negotiate_params: Any, name: str, value: str) -> None:
    with pytest.raises(InvalidParameterValue) as raised:
        negotiate_params([(name, value)])
    assert (raised.value.name, raised.value.value) == (name, value)


@both_sides
@pytest.mark.parametrize("value", INVALID_WINDOW_BITS)
def test_server_max_window_bits_values(negotiate_params: Any, value: str | None) -> None:
    with pytest.raises(InvalidParameterValue):
        negotiate_params([("server_max_window_bits", value)])


@both_sides
@pytest.mark.parametrize("value", INVALID_WINDOW_BITS[1:])
def test_client_max_window_bits_values(negotiate_params: Any, value: str) -> None:
    with pytest.raises(InvalidParameterValue):
        negotiate_params([("client_max_window_bits", value)])


@both_sides
@pytest.mark.parametrize(
    "param",
    [
        ("server_no_context_takeover", None),
        ("client_no_context_takeover", None),
        ("server_max_window_bits", "10"),
        ("client_max_window_bits", "10"),
    ],
)
def test_duplicate_parameters(negotiate_params: Any, param: ExtensionParameter) -> None:
    with pytest.raises(DuplicateParameter) as raised:
        negotiate_params([param, param])
    assert raised.value.name == param[0]


@both_sides
@pytest.mark.parametrize(
    "name", ["unknown", "Server_No_Context_Takeover", "max_window_bits", "no_context_takeover"]
)
def test_unknown_parameters(negotiate_params: Any, name: str) -> None:
    with pytest.raises(InvalidParameterName) as raised:
        negotiate_params([(name, None)])
    assert raised.value.name == name


@both_sides
def test_only_one_permessage_deflate(negotiate_params: Any) -> None:
    factory_class = (
        ClientPerMessageDeflateFactory
        if negotiate_params is client_answer
        else ServerPerMessageDeflateFactory
    )
    factory: Any = factory_class()
    method = (
        factory.process_response_params
        if negotiate_params is client_answer
        else factory.process_request_params
    )
    with pytest.raises(NegotiationError, match="already"):
        method([], [make()])


@both_sides
def test_other_extensions_may_be_accepted(negotiate_params: Any) -> None:
    class Other(Extension):
        name = ExtensionName("x-other")

    factory_class = (
        ClientPerMessageDeflateFactory
        if negotiate_params is client_answer
        else ServerPerMessageDeflateFactory
    )
    factory: Any = factory_class()
    method = (
        factory.process_response_params
        if negotiate_params is client_answer
        else factory.process_request_params
    )
    assert method([], [Other()])


# Negotiation: client side.


@pytest.mark.parametrize(
    ("kwargs", "params"),
    [
        ({}, [("client_max_window_bits", None)]),
        ({"client_max_window_bits": None}, []),
        ({"client_max_window_bits": 10}, [("client_max_window_bits", "10")]),
        (
            {"server_no_context_takeover": True, "client_max_window_bits": None},
            [("server_no_context_takeover", None)],
        ),
        (
            {"client_no_context_takeover": True, "client_max_window_bits": None},
            [("client_no_context_takeover", None)],
        ),
        (
            {"server_max_window_bits": 8, "client_max_window_bits": None},
            [("server_max_window_bits", "8")],
        ),
        (
            {
                "server_no_context_takeover": True,
                "client_no_context_takeover": True,
                "server_max_window_bits": 15,
                "client_max_window_bits": 9,
            },
            [
                ("server_no_context_takeover", None),
                ("client_no_context_takeover", None),
                ("server_max_window_bits", "15"),
                ("client_max_window_bits", "9"),
            ],
        ),
    ],
)
def test_client_request_params(kwargs: dict[str, Any], params: list[ExtensionParameter]) -> None:
    factory = ClientPerMessageDeflateFactory(**kwargs)
    assert factory.get_request_params() == params
    assert factory.name == "permessage-deflate"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"server_max_window_bits": 7},
        {"server_max_window_bits": 16},
        {"server_max_window_bits": True},
        {"client_max_window_bits": 7},
        {"client_max_window_bits": 16},
        {"client_max_window_bits": False},
        {"client_max_window_bits": "10"},
        {"compress_settings": {"wbits": 10}},
        {"compress_settings": {"zdict": b"hello"}},
    ],
)
def test_client_factory_rejects_invalid_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"max_window_bits|compress_settings"):
        ClientPerMessageDeflateFactory(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "answer", "expected"),
    [
        # (remote_no_context_takeover, local_no_context_takeover,
        #  remote_max_window_bits, local_max_window_bits)
        ({}, [], (False, False, 15, 15)),
        # The server may turn off its own context takeover unasked...
        ({}, [("server_no_context_takeover", None)], (True, False, 15, 15)),
        # ... and must confirm it when asked.
        (
            {"server_no_context_takeover": True},
            [("server_no_context_takeover", None)],
            (True, False, 15, 15),
        ),
        # The server may ask the client to turn off context takeover.
        ({}, [("client_no_context_takeover", None)], (False, True, 15, 15)),
        ({"client_no_context_takeover": True}, [], (False, True, 15, 15)),
        (
            {"client_no_context_takeover": True},
            [("client_no_context_takeover", None)],
            (False, True, 15, 15),
        ),
        # The server may limit its window unasked...
        ({}, [("server_max_window_bits", "12")], (False, False, 12, 15)),
        # ... and must answer a request with the same or a smaller value.
        (
            {"server_max_window_bits": 10},
            [("server_max_window_bits", "10")],
            (False, False, 10, 15),
        ),
        ({"server_max_window_bits": 10}, [("server_max_window_bits", "8")], (False, False, 8, 15)),
        # Client window offered without a value: the server may pick any.
        ({}, [("client_max_window_bits", "8")], (False, False, 15, 8)),
        ({}, [("client_max_window_bits", "15")], (False, False, 15, 15)),
        # Offered with a value: the server may lower it or say nothing.
        ({"client_max_window_bits": 10}, [], (False, False, 15, 10)),
        (
            {"client_max_window_bits": 10},
            [("client_max_window_bits", "10")],
            (False, False, 15, 10),
        ),
        ({"client_max_window_bits": 10}, [("client_max_window_bits", "9")], (False, False, 15, 9)),
        ({"client_max_window_bits": None}, [], (False, False, 15, 15)),
    ],
)
def test_client_accepts_answers(
    kwargs: dict[str, Any],
    answer: list[ExtensionParameter],
    expected: tuple[bool, bool, int, int],
) -> None:
    assert state(client_answer(answer, **kwargs)) == expected


@pytest.mark.parametrize(
    ("kwargs", "answer", "message"),
    [
        ({"server_no_context_takeover": True}, [], "expected server_no_context_takeover"),
        ({"server_max_window_bits": 10}, [], "expected server_max_window_bits"),
        (
            {"server_max_window_bits": 10},
            [("server_max_window_bits", "11")],
            "unsupported server_max_window_bits",
        ),
        (
            {"client_max_window_bits": None},
            [("client_max_window_bits", "10")],
            "unexpected client_max_window_bits",
        ),
        (
            {"client_max_window_bits": 10},
            [("client_max_window_bits", "11")],
            "unsupported client_max_window_bits",
        ),
    ],
)
def test_client_rejects_answers(
    kwargs: dict[str, Any], answer: list[ExtensionParameter], message: str
) -> None:
    with pytest.raises(NegotiationError, match=message):
        client_answer(answer, **kwargs)


def test_client_answer_needs_a_value_for_client_max_window_bits() -> None:
    # "the server MUST include the value" in its answer.
    with pytest.raises(InvalidParameterValue):
        client_answer([("client_max_window_bits", None)])


def test_client_passes_compress_settings() -> None:
    extension = client_answer([], compress_settings={"level": 1})
    assert extension.compress_settings == {"level": 1}


# Negotiation: server side.


@pytest.mark.parametrize(
    "kwargs",
    [
        {"server_max_window_bits": 7},
        {"server_max_window_bits": 16},
        {"server_max_window_bits": True},
        {"client_max_window_bits": 7},
        {"client_max_window_bits": 16},
        {"client_max_window_bits": True},
        {"compress_settings": {"wbits": 10}},
        {"compress_settings": {"zdict": b"hello"}},
        {"require_client_max_window_bits": True},
    ],
)
def test_server_factory_rejects_invalid_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"max_window_bits|compress_settings"):
        ServerPerMessageDeflateFactory(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "offer", "answer", "expected"),
    [
        # (remote_no_context_takeover, local_no_context_takeover,
        #  remote_max_window_bits, local_max_window_bits)
        ({}, [], [], (False, False, 15, 15)),
        # Context takeover: either side may turn it off, the answer says so.
        (
            {},
            [("server_no_context_takeover", None)],
            [("server_no_context_takeover", None)],
            (False, True, 15, 15),
        ),
        (
            {"server_no_context_takeover": True},
            [],
            [("server_no_context_takeover", None)],
            (False, True, 15, 15),
        ),
        (
            {},
            [("client_no_context_takeover", None)],
            [("client_no_context_takeover", None)],
            (True, False, 15, 15),
        ),
        (
            {"client_no_context_takeover": True},
            [],
            [("client_no_context_takeover", None)],
            (True, False, 15, 15),
        ),
        # Server window: the smaller of the request and the configuration.
        (
            {},
            [("server_max_window_bits", "10")],
            [("server_max_window_bits", "10")],
            (
                False,
                False,
                15,
                10,
            ),
        ),
        (
            {"server_max_window_bits": 12},
            [],
            [("server_max_window_bits", "12")],
            (False, False, 15, 12),
        ),
        (
            {"server_max_window_bits": 12},
            [("server_max_window_bits", "10")],
            [("server_max_window_bits", "10")],
            (False, False, 15, 10),
        ),
        (
            {"server_max_window_bits": 10},
            [("server_max_window_bits", "12")],
            [("server_max_window_bits", "10")],
            (False, False, 15, 10),
        ),
        # Client window: only settable when offered.
        ({}, [("client_max_window_bits", None)], [], (False, False, 15, 15)),
        (
            {"client_max_window_bits": 12},
            [],
            [],
            (False, False, 15, 15),
        ),
        (
            {"client_max_window_bits": 12},
            [("client_max_window_bits", None)],
            [("client_max_window_bits", "12")],
            (False, False, 12, 15),
        ),
        (
            {},
            [("client_max_window_bits", "10")],
            [("client_max_window_bits", "10")],
            (False, False, 10, 15),
        ),
        (
            {"client_max_window_bits": 12},
            [("client_max_window_bits", "10")],
            [("client_max_window_bits", "10")],
            (False, False, 10, 15),
        ),
        (
            {"client_max_window_bits": 9},
            [("client_max_window_bits", "10")],
            [("client_max_window_bits", "9")],
            (False, False, 9, 15),
        ),
        (
            {"client_max_window_bits": 9, "require_client_max_window_bits": True},
            [("client_max_window_bits", None)],
            [("client_max_window_bits", "9")],
            (False, False, 9, 15),
        ),
        # Window bits 8 both ways is accepted (see the 8-bit tests above).
        (
            {},
            [("server_max_window_bits", "8"), ("client_max_window_bits", "8")],
            [("server_max_window_bits", "8"), ("client_max_window_bits", "8")],
            (False, False, 8, 8),
        ),
        # Everything at once, in any order.
        (
            {},
            [
                ("client_max_window_bits", None),
                ("server_max_window_bits", "9"),
                ("client_no_context_takeover", None),
                ("server_no_context_takeover", None),
            ],
            [
                ("server_no_context_takeover", None),
                ("client_no_context_takeover", None),
                ("server_max_window_bits", "9"),
            ],
            (True, True, 15, 9),
        ),
    ],
)
def test_server_answers_offers(
    kwargs: dict[str, Any],
    offer: list[ExtensionParameter],
    answer: list[ExtensionParameter],
    expected: tuple[bool, bool, int, int],
) -> None:
    params, extension = server_offer(offer, **kwargs)
    assert params == answer
    assert state(extension) == expected


def test_server_requires_client_max_window_bits() -> None:
    with pytest.raises(NegotiationError, match="client_max_window_bits"):
        server_offer([], client_max_window_bits=10, require_client_max_window_bits=True)


def test_server_passes_compress_settings() -> None:
    _, extension = server_offer([], compress_settings={"memLevel": 3})
    assert extension.compress_settings == {"memLevel": 3}
    assert ServerPerMessageDeflateFactory().name == "permessage-deflate"


# Browsers.

CHROME_OFFER: list[ExtensionParameter] = [("client_max_window_bits", None)]
FIREFOX_OFFER: list[ExtensionParameter] = []
SAFARI_OFFER: list[ExtensionParameter] = []


def default_server_factory() -> ServerPerMessageDeflateFactory:
    (factory,) = enable_server_permessage_deflate(None)
    assert isinstance(factory, ServerPerMessageDeflateFactory)
    return factory


@pytest.mark.parametrize(
    ("offer", "browser", "answer", "expected"),
    [
        # Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits
        (
            CHROME_OFFER,
            ClientPerMessageDeflateFactory(),
            [("server_max_window_bits", "12"), ("client_max_window_bits", "12")],
            (False, False, 12, 12),
        ),
        # Sec-WebSocket-Extensions: permessage-deflate
        (
            FIREFOX_OFFER,
            ClientPerMessageDeflateFactory(client_max_window_bits=None),
            [("server_max_window_bits", "12")],
            (False, False, 15, 12),
        ),
        (
            SAFARI_OFFER,
            ClientPerMessageDeflateFactory(client_max_window_bits=None),
            [("server_max_window_bits", "12")],
            (False, False, 15, 12),
        ),
    ],
    ids=["chrome", "firefox", "safari"],
)
def test_browser_offers_with_default_server(
    offer: list[ExtensionParameter],
    browser: ClientPerMessageDeflateFactory,
    answer: list[ExtensionParameter],
    expected: tuple[bool, bool, int, int],
) -> None:
    # The browser's offer, as a wskit client factory configured alike.
    assert browser.get_request_params() == offer
    params, server = default_server_factory().process_request_params(offer, [])
    assert params == answer
    assert state(server) == expected
    # The answer is valid for the browser, and both sides understand each other.
    client = browser.process_response_params(params, [])
    for message in [b"", b"hello" * 1000, os.urandom(10_000)]:
        assert receive(server, send(client, message, sizes=[100])) == message
        assert receive(client, send(server, message, sizes=[100])) == message


# Default factories.


def test_enable_client_permessage_deflate() -> None:
    (factory,) = enable_client_permessage_deflate(None)
    assert isinstance(factory, ClientPerMessageDeflateFactory)
    # client_max_window_bits without a value, as websockets offers it: a
    # server may answer any window size.
    assert factory.get_request_params() == [
        ("server_max_window_bits", "12"),
        ("client_max_window_bits", None),
    ]
    assert factory.compress_settings == {"memLevel": 5}


@pytest.mark.parametrize(("answered", "window_bits"), [(None, 12), ("15", 12), ("10", 10)])
def test_default_client_factory_compresses_within_a_frugal_window(
    answered: str | None, window_bits: int
) -> None:
    # The Autobahn fuzzing server answers client_max_window_bits=15 (cases
    # 13.4.x and 13.6.x); a client may still compress within a smaller window.
    (factory,) = enable_client_permessage_deflate(None)
    params = [(ExtensionName("server_max_window_bits"), "12")]
    if answered is not None:
        params.append((ExtensionName("client_max_window_bits"), answered))
    extension = factory.process_response_params(params, [])
    assert isinstance(extension, PerMessageDeflate)
    assert extension.local_max_window_bits == window_bits
    # A factory built by the application compresses within what it's allowed.
    extension = ClientPerMessageDeflateFactory().process_response_params(params, [])
    assert isinstance(extension, PerMessageDeflate)
    assert extension.local_max_window_bits == int(answered or 15)


def test_enable_server_permessage_deflate() -> None:
    factory = default_server_factory()
    assert (factory.server_max_window_bits, factory.client_max_window_bits) == (12, 12)
    assert factory.compress_settings == {"memLevel": 5}


class OtherClientFactory(ClientExtensionFactory):
    name = ExtensionName("x-other")


class OtherServerFactory(ServerExtensionFactory):
    name = ExtensionName("x-other")


@pytest.mark.parametrize(
    ("enable", "other", "custom"),
    [
        (enable_client_permessage_deflate, OtherClientFactory, ClientPerMessageDeflateFactory),
        (enable_server_permessage_deflate, OtherServerFactory, ServerPerMessageDeflateFactory),
    ],
)
def test_enable_permessage_deflate_keeps_existing_factories(
    enable: Any, other: Any, custom: Any
) -> None:
    extensions = [other()]
    enabled = enable(extensions)
    assert len(enabled) == 2
    assert enabled[0] is extensions[0]
    assert enabled[1].name == "permessage-deflate"
    assert len(extensions) == 1
    # A permessage-deflate factory already there wins.
    configured = [other(), custom(server_max_window_bits=9)]
    assert enable(configured) is configured
    assert enable([]) != []


def test_client_and_default_server_negotiate() -> None:
    (client_factory,) = enable_client_permessage_deflate(None)
    assert isinstance(client_factory, ClientPerMessageDeflateFactory)
    client, server, answer = negotiate(client_factory, default_server_factory())
    assert answer == [("server_max_window_bits", "12"), ("client_max_window_bits", "12")]
    assert state(client) == (False, False, 12, 12)
    assert state(server) == (False, False, 12, 12)


# Round trips.


def round_trips(
    sender: Extension, receiver: Extension, messages: Sequence[tuple[Opcode, bytes, list[int]]]
) -> Iterator[bytes]:
    for opcode, data, sizes in messages:
        frames = send(sender, data, opcode, sizes)
        # A control frame between the first two fragments.
        frames[1:1] = [sender.encode(Frame(PING, b"ping"))]
        received = []
        for frame in frames:
            decoded = receiver.decode(frame, max_size=len(data))
            if decoded.opcode is PING:
                assert decoded.data == b"ping"
            else:
                received.append(bytes(decoded.data))
        yield b"".join(received)


@pytest.mark.parametrize(
    ("client_kwargs", "server_kwargs"),
    [
        ({}, {}),
        ({"server_no_context_takeover": True, "client_no_context_takeover": True}, {}),
        ({}, {"server_max_window_bits": 8, "client_max_window_bits": 8}),
        ({"server_max_window_bits": 9, "client_max_window_bits": 9}, {}),
        ({"client_max_window_bits": None}, {"client_max_window_bits": 10}),
    ],
)
def test_round_trips_both_ways(
    client_kwargs: dict[str, Any], server_kwargs: dict[str, Any]
) -> None:
    client, server, _ = negotiate(
        ClientPerMessageDeflateFactory(**client_kwargs),
        ServerPerMessageDeflateFactory(**server_kwargs),
    )
    messages = [
        (TEXT, "café ".encode() * 300, []),
        (BINARY, os.urandom(3000), [1000, 1000]),
        (TEXT, b"", []),
        (BINARY, b"", [0, 0]),
        (TEXT, "café ".encode() * 300, [7]),
        (BINARY, bytes(100_000), [1, 50_000]),
    ]
    expected = [data for _, data, _ in messages]
    assert list(round_trips(client, server, messages)) == expected
    assert list(round_trips(server, client, messages)) == expected


message_strategy = st.tuples(
    st.sampled_from([TEXT, BINARY]),
    st.binary(max_size=3000)
    | st.builds(lambda b, n: b * n, st.binary(max_size=50), st.integers(0, 200)),
    st.lists(st.integers(0, 500), max_size=4),
)


@settings(max_examples=150, deadline=None)
@given(
    remote_no_context_takeover=st.booleans(),
    local_no_context_takeover=st.booleans(),
    bits=st.integers(8, 15),
    level=st.integers(0, 9),
    messages=st.lists(message_strategy, min_size=1, max_size=6),
)
def test_round_trip_property(
    remote_no_context_takeover: bool,
    local_no_context_takeover: bool,
    bits: int,
    level: int,
    messages: list[tuple[Opcode, bytes, list[int]]],
) -> None:
    sender = make(
        local_no_context_takeover=local_no_context_takeover,
        local_max_window_bits=bits,
        compress_settings={"level": level},
    )
    # The receiver may reset its decoder only if the sender resets too.
    receiver = make(
        remote_no_context_takeover=remote_no_context_takeover and local_no_context_takeover,
        remote_max_window_bits=bits,
    )
    expected = [data for _, data, _ in messages]
    assert list(round_trips(sender, receiver, messages)) == expected


def test_decode_empty_compressed_payload_is_an_empty_message() -> None:
    # Not what RFC 7692 produces ("0x00"), but harmless: nothing to inflate,
    # and the decoder's state is left as it was.
    extension = make()
    assert extension.decode(Frame(TEXT, bytes.fromhex("f248cdc9c90700"), rsv1=True)).data == (
        b"Hello"
    )
    assert extension.decode(Frame(TEXT, b"", rsv1=True)).data == b""
    assert extension.decode(Frame(TEXT, bytes.fromhex("f200110000"), rsv1=True)).data == b"Hello"


def test_decode_final_block_then_empty_final_fragment() -> None:
    extension = make()
    first = extension.decode(Frame(TEXT, bytes.fromhex("f348cdc9c90700"), fin=False, rsv1=True))
    last = extension.decode(Frame(CONT, b""))
    assert (first.data, last.data) == (b"Hello", b"")
    assert extension.decode(Frame(TEXT, bytes.fromhex("f248cdc9c90700"), rsv1=True)).data == (
        b"Hello"
    )


def test_decode_final_block_split_from_its_padding() -> None:
    # RFC 7692, section 7.2.3.4, with the padding byte in its own fragment.
    extension = make()
    first = extension.decode(Frame(TEXT, bytes.fromhex("f348cdc9c90700"), fin=False, rsv1=True))
    last = extension.decode(Frame(CONT, b"\x00"))
    assert (first.data, last.data) == (b"Hello", b"")
