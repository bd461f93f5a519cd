"""A toy WebSocket extension, ``x-xor``: data frames travel XORed with a one-byte key.

It hides nothing, since one byte of XOR is no cipher; it exists to show
every part of an extension (docs/howto/extension.rst): negotiating a
parameter in the handshake, transforming frames both ways, and marking the
transformed frames with a reserved bit.

The client offers ``Sec-WebSocket-Extensions: x-xor; key=90``; the server
accepts it with the same key. tests/docs/test_extension.py negotiates it
between wskit's client and server.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from wskit.exceptions import NegotiationError, ProtocolError
from wskit.extensions.base import ClientExtensionFactory, Extension, ServerExtensionFactory
from wskit.frames import Frame, Opcode
from wskit.typing import ExtensionName, ExtensionParameter

NAME = ExtensionName("x-xor")
DATA_OPCODES = {Opcode.TEXT, Opcode.BINARY, Opcode.CONT}


class Xor(Extension):
    """The negotiated extension: XOR each data frame's payload with ``key``."""

    name = NAME

    def __init__(self, key: int) -> None:
        self.key = key
        self.table = bytes(byte ^ key for byte in range(256))

    def __repr__(self) -> str:
        return f"Xor(key={self.key})"

    def encode(self, frame: Frame) -> Frame:
        if frame.opcode not in DATA_OPCODES:
            return frame  # control frames stay as they are
        # RSV2 tells the receiver that the payload is transformed: without a
        # reserved bit set, it would check that XORed text is valid UTF-8.
        data = bytes(frame.data).translate(self.table)
        return dataclasses.replace(frame, data=data, rsv2=True)

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        if frame.opcode not in DATA_OPCODES:
            return frame
        if not frame.rsv2:
            raise ProtocolError("x-xor: data frame without RSV2")
        # The payload keeps its size, which the protocol checked against
        # max_size already; an extension that expands data must check it.
        data = bytes(frame.data).translate(self.table)
        return dataclasses.replace(frame, data=data, rsv2=False)


def parse_key(params: Sequence[ExtensionParameter]) -> int:
    """Read the one parameter, ``key``, a number from 1 to 255."""
    if len(params) != 1 or params[0][0] != "key" or params[0][1] is None:
        raise NegotiationError(f"x-xor takes one parameter, key=N: got {params}")
    value = params[0][1]
    if not value.isdigit() or not 1 <= int(value) <= 255:
        raise NegotiationError(f"x-xor: key must be from 1 to 255: got {value}")
    return int(value)


def check_not_accepted(accepted_extensions: Sequence[Extension]) -> None:
    if any(extension.name == NAME for extension in accepted_extensions):
        raise NegotiationError("x-xor accepted twice")


class ClientXorFactory(ClientExtensionFactory):
    """Offers ``x-xor`` with ``key``; pass it in ``connect(..., extensions=[...])``."""

    name = NAME

    def __init__(self, key: int = 90) -> None:
        if not 1 <= key <= 255:
            raise ValueError("key must be from 1 to 255")
        self.key = key

    def get_request_params(self) -> Sequence[ExtensionParameter]:
        return [("key", str(self.key))]

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> Extension:
        check_not_accepted(accepted_extensions)
        if parse_key(params) != self.key:
            raise NegotiationError("x-xor: the server answered with another key")
        return Xor(self.key)


class ServerXorFactory(ServerExtensionFactory):
    """Accepts ``x-xor`` offers; pass it in ``serve(..., extensions=[...])``."""

    name = NAME

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], Extension]:
        check_not_accepted(accepted_extensions)
        key = parse_key(params)
        return [("key", str(key))], Xor(key)
