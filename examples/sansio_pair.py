"""Pair a wskit client and server in memory: no sockets, no event loop, just bytes.

Run it with ``python examples/sansio_pair.py``. It shows what the Sans-I/O
core does: the opening handshake with permessage-deflate, text, binary,
fragmented and compressed messages, a ping, and a clean closing handshake.
"""

from __future__ import annotations

from wskit.client import ClientProtocol
from wskit.extensions.permessage_deflate import (
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from wskit.frames import Frame
from wskit.http11 import Request, Response
from wskit.protocol import SEND_EOF, Event, Protocol
from wskit.server import ServerProtocol
from wskit.uri import parse_uri


def pump(source: Protocol, target: Protocol) -> int:
    """Carry what ``source`` wants to send over to ``target``; return the byte count."""
    sent = 0
    for data in source.data_to_send():
        if data == SEND_EOF:
            target.receive_eof()
        else:
            target.receive_data(data)
            sent += len(data)
    return sent


def show(side: str, events: list[Event]) -> None:
    for event in events:
        if isinstance(event, Frame):
            print(f"{side} received {event}")
        elif isinstance(event, Request):
            print(f"{side} received GET {event.path}")
        elif isinstance(event, Response):
            print(f"{side} received HTTP {event.status_code} {event.reason_phrase}")
        # Else a HeldFailure, which only comes with Protocol.hold_failures set.


def main() -> None:
    client = ClientProtocol(
        parse_uri("ws://example.com/chat"),
        extensions=enable_client_permessage_deflate(None),
    )
    server = ServerProtocol(extensions=enable_server_permessage_deflate(None))

    # Opening handshake.
    client.send_request(client.connect())
    pump(client, server)
    [request] = server.events_received()
    assert isinstance(request, Request)
    print(f"server received GET {request.path}")
    server.send_response(server.accept(request))
    pump(server, client)
    show("client", client.events_received())
    print(f"negotiated: {server.extensions[0]!r}")

    # Messages, both ways.
    greeting = "Hello, wskit!"
    client.send_text(greeting.encode())  # the core takes bytes: text is UTF-8
    client.send_binary(bytes(range(8)))
    size = pump(client, server)
    show("server", server.events_received())
    print(f"  ({size} bytes on the wire)")

    text = ("The quick brown fox jumps over the lazy dog. " * 200).encode()
    server.send_text(text)
    size = pump(server, client)
    print(f"server sent {len(text)} bytes of text in {size} bytes on the wire (compressed)")
    show("client", client.events_received())

    server.send_text(b"frag", fin=False)
    server.send_ping(b"between fragments")
    server.send_continuation(b"ment", fin=True)
    pump(server, client)
    show("client", client.events_received())
    pump(client, server)  # the client answered the ping
    show("server", server.events_received())

    # Closing handshake: the client starts it, the server answers and closes TCP.
    client.send_close(1000, "goodbye")
    pump(client, server)
    show("server", server.events_received())
    pump(server, client)
    show("client", client.events_received())
    pump(client, server)
    print(f"client: {client.state.name}, {client.close_exc!r}")
    print(f"server: {server.state.name}, {server.close_exc!r}")


if __name__ == "__main__":
    main()
