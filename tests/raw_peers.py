"""Peers that show the bytes wskit puts on the wire, frame by frame.

They run the opening handshake with the Sans-I/O core (offering or
accepting permessage-deflate), then read raw frames from a blocking socket,
so that a test sees RSV1 and the payload as sent, before any decoding.
"""

from __future__ import annotations

import socket
import zlib

from wskit.client import ClientProtocol
from wskit.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from wskit.frames import parse_header
from wskit.http11 import Request, Response
from wskit.server import ServerProtocol
from wskit.speedups import apply_mask
from wskit.uri import parse_uri

TIMEOUT = 10
RSV1 = 0x40


class RawPeer:
    """The other end of ``sock``: handshake first, then raw frames."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.settimeout(TIMEOUT)
        self.buffer = b""

    def _exchange(self, protocol: ClientProtocol | ServerProtocol, wanted: type) -> object:
        while True:
            for event in protocol.events_received():
                if isinstance(event, wanted):
                    return event
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("closed during the handshake")
            protocol.receive_data(chunk)

    def accept(self) -> None:
        """Answer the client's handshake, accepting permessage-deflate."""
        protocol = ServerProtocol(extensions=[ServerPerMessageDeflateFactory()])
        request = self._exchange(protocol, Request)
        assert isinstance(request, Request)
        protocol.send_response(protocol.accept(request))
        self.sock.sendall(b"".join(protocol.data_to_send()))
        assert protocol.extensions, "permessage-deflate wasn't negotiated"

    def connect(self, uri: str, *, deflate: bool = True) -> None:
        """Open the handshake as a client offering permessage-deflate, or no extension.

        The server must send no frame before the handshake is over here.
        """
        offers = [ClientPerMessageDeflateFactory()] if deflate else []
        protocol = ClientProtocol(parse_uri(uri), extensions=offers)
        protocol.send_request(protocol.connect())
        self.sock.sendall(b"".join(protocol.data_to_send()))
        response = self._exchange(protocol, Response)
        assert isinstance(response, Response)
        assert bool(protocol.extensions) == deflate, "permessage-deflate wasn't negotiated"

    def read_frame(self) -> tuple[bool, bytes]:
        """Return the next frame's RSV1 bit and its payload, unmasked."""
        while True:
            header = parse_header(self.buffer)
            if header is not None:
                first, length, start, mask = header
                if len(self.buffer) >= start + length:
                    payload = self.buffer[start : start + length]
                    self.buffer = self.buffer[start + length :]
                    if mask is not None:
                        payload = apply_mask(payload, mask)
                    return bool(first & RSV1), payload
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("closed before a whole frame")
            self.buffer += chunk


# A client's close frame with code 1000, masked with a zero key.
CLIENT_CLOSE = b"\x88\x82\x00\x00\x00\x00\x03\xe8"


def closing_client(port: int, after: bytes = b"") -> RawPeer:
    """Open a connection to the server on ``port``, then send a close frame and ``after``.

    The client sends no EOF: the socket stays open both ways.
    """
    peer = RawPeer(socket.create_connection(("127.0.0.1", port)))
    peer.connect(f"ws://127.0.0.1:{port}/", deflate=False)
    peer.sock.sendall(CLIENT_CLOSE + after)
    return peer


def inflate(payload: bytes) -> bytes:
    """Decompress the payload of a whole compressed message (RFC 7692 7.2.2)."""
    return zlib.decompressobj(wbits=-15).decompress(payload + b"\x00\x00\xff\xff")
