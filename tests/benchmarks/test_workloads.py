"""The lean client's framing: what the broadcast and traffic workloads read and send."""

from __future__ import annotations

import zlib

from benchmarks import workloads

TAIL = b"\x00\x00\xff\xff"


def test_broadcast_deliveries_are_counted_pings_aside() -> None:
    binary = b"\x82\x03abc"
    long = b"\x82\x7e\x00\xc8" + b"x" * 200
    ping = b"\x89\x04ping"
    buffer = bytearray(binary + ping + long + binary[:3])
    assert workloads._count_binary_frames(buffer) == 2
    assert buffer == binary[:3]  # an incomplete frame waits for the rest
    buffer += binary[3:]
    assert workloads._count_binary_frames(buffer) == 1
    assert buffer == b""


def test_frames_sent_by_the_lean_client() -> None:
    frame = workloads._frame(0x2, b"x" * 300, rsv1=True)
    assert frame[:4] == b"\xc2\xfe\x01\x2c"  # FIN, RSV1, binary; masked, 16-bit length
    assert frame[4:8] == b"\x00\x00\x00\x00"  # a zero mask key leaves the payload as is
    assert frame[8:] == b"x" * 300
    assert workloads._frame(0x1, b"10 64")[:2] == b"\x81\x85"
    assert workloads._frame(0x2, b"y" * 70000)[1:10] == b"\xff" + (70000).to_bytes(8, "big")


def test_the_compressed_message_fits_any_window() -> None:
    message = b"0123456789abcdef" * 4
    compressed = workloads._compress(message)
    # zlib's smallest inflater decodes it: run-length matches refer one byte back.
    assert zlib.decompressobj(wbits=-9).decompress(compressed + TAIL) == message
