"""Size limits: PayloadTooBig, the close code and the limit it reports."""

from __future__ import annotations

import zlib
from typing import Any

import pytest

from .runner import Lib, name_of, same

MAX_SIZE = 1000


def frame(lib: Lib, opcode: str, data: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
    """A masked frame, built by hand: neither package builds RSV1 frames alone."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | lib.mod("frames").Opcode[opcode]
    if len(data) < 126:
        header = bytes([first, 0x80 | len(data)])
    else:
        header = bytes([first, 0x80 | 126]) + len(data).to_bytes(2, "big")
    # A zero mask leaves the payload as it is.
    return header + b"\x00\x00\x00\x00" + data


def deflated(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def server(lib: Lib, *, compressed: bool) -> Any:
    state = lib.mod("protocol").State.OPEN
    protocol = lib.mod("server").ServerProtocol(state=state, max_size=MAX_SIZE)
    if compressed:
        deflate = lib.mod("extensions.permessage_deflate")
        protocol.extensions = [deflate.PerMessageDeflate(False, False, 15, 15)]
    return protocol


def outcome_of(protocol: Any) -> Any:
    exc = protocol.parser_exc
    return (
        name_of(exc),
        exc.max_size,
        exc.size,
        exc.current_size,
        protocol.close_code if protocol.close_code else None,
        protocol.state.name,
    )


@pytest.mark.parametrize(
    "fragments",
    [[MAX_SIZE + 1], [600, 600], [400, 400, 400], [0, MAX_SIZE + 1]],
    ids=["one frame", "two fragments", "three fragments", "after an empty fragment"],
)
def test_payload_too_big_reports_the_limit(fragments: list[int]) -> None:
    def scenario(lib: Lib) -> Any:
        protocol = server(lib, compressed=False)
        for index, size in enumerate(fragments):
            opcode = "BINARY" if index == 0 else "CONT"
            protocol.receive_data(frame(lib, opcode, b"x" * size, fin=index == len(fragments) - 1))
        protocol.receive_eof()
        return outcome_of(protocol)

    seen = same(scenario)
    assert seen[:2] == ("PayloadTooBig", MAX_SIZE)


def test_payload_too_big_after_inflating_reports_the_limit() -> None:
    # A compressed fragmented message: the extension is given what's left of
    # the limit; the exception reports max_size, as websockets' does.
    def scenario(lib: Lib) -> Any:
        protocol = server(lib, compressed=True)
        payload = deflated(b"x" * 1500)
        half = len(payload) // 2
        protocol.receive_data(frame(lib, "BINARY", payload[:half], fin=False, rsv1=True))
        protocol.receive_data(frame(lib, "CONT", payload[half:]))
        protocol.receive_eof()
        exc = protocol.parser_exc
        return name_of(exc), exc.max_size, protocol.close_code

    assert same(scenario) == ("PayloadTooBig", MAX_SIZE, 1006)


def test_message_too_big_closes_with_1009() -> None:
    def scenario(lib: Lib) -> Any:
        protocol = server(lib, compressed=False)
        protocol.receive_data(frame(lib, "TEXT", b"x" * (MAX_SIZE + 1)))
        sent = b"".join(protocol.data_to_send())
        close = lib.mod("frames").Close.parse(sent[2:])
        return close.code, protocol.close_expected()

    assert same(scenario) == (1009, True)
