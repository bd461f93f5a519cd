"""An echo server on wskit's Sans-I/O core, with nothing but the standard library's selectors.

It shows what any framework does to speak WebSocket with wskit: move bytes
between its sockets and a :class:`~wskit.server.ServerProtocol`, act on the
events that come out, and respect the closing rules (docs/howto/sansio.rst).

Run it with ``python examples/sansio/selectors_server.py [PORT]`` (or
``PORT=...``); any WebSocket client can connect to ws://127.0.0.1:8765/.
Stop it with Ctrl-C or SIGTERM. One thread serves every connection.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import sys
import time
from types import FrameType

from wskit.extensions.permessage_deflate import enable_server_permessage_deflate
from wskit.frames import Frame, Opcode
from wskit.http11 import Request
from wskit.protocol import CLOSED, OPEN, SEND_EOF
from wskit.server import ServerProtocol

CLOSE_TIMEOUT = 10.0  # seconds the peer has to close TCP once it should
READ_SIZE = 65536


class Connection:
    """One client: its socket, its protocol and the bytes waiting to be written."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.protocol = ServerProtocol(
            extensions=enable_server_permessage_deflate(None),
            max_size=2**20,
        )
        self.outgoing = bytearray()
        self.eof_pending = False  # half-close once outgoing is written
        self.close_deadline: float | None = None

    def received(self, data: bytes) -> None:
        """Feed bytes read from the socket (``b""`` at the end) to the protocol."""
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        for event in self.protocol.events_received():
            if isinstance(event, Request):
                self.handshake(event)
            elif isinstance(event, Frame):
                self.echo(event)
        self.queue_writes()

    def handshake(self, request: Request) -> None:
        if request.path == "/":
            response = self.protocol.accept(request)  # checks the request
        else:
            response = self.protocol.reject(404, "Not found\n")
        self.protocol.send_response(response)

    def echo(self, frame: Frame) -> None:
        # Send each data frame back as it came, fragments included; the
        # protocol answers pings and the closing handshake by itself.
        if frame.opcode is Opcode.TEXT:
            self.protocol.send_text(frame.data, fin=frame.fin)
        elif frame.opcode is Opcode.BINARY:
            self.protocol.send_binary(frame.data, fin=frame.fin)
        elif frame.opcode is Opcode.CONT:
            self.protocol.send_continuation(frame.data, fin=frame.fin)

    def queue_writes(self) -> None:
        """Take what the protocol has to send; start the close timer when due."""
        for chunk in self.protocol.data_to_send():
            if chunk == SEND_EOF:
                self.eof_pending = True
            else:
                self.outgoing += chunk
        if self.close_deadline is None and self.protocol.close_expected():
            self.close_deadline = time.monotonic() + CLOSE_TIMEOUT

    def write(self) -> None:
        """Write what the socket takes now; half-close after the last byte."""
        if self.outgoing:
            sent = self.sock.send(self.outgoing)
            del self.outgoing[:sent]
        if not self.outgoing and self.eof_pending:
            self.eof_pending = False
            self.sock.shutdown(socket.SHUT_WR)

    def going_away(self) -> None:
        """Tell an open connection that the server stops, if the socket takes it now."""
        if self.protocol.state is OPEN:
            self.protocol.send_close(1001)
            self.queue_writes()
            with contextlib.suppress(OSError):
                self.write()

    @property
    def finished(self) -> bool:
        return self.protocol.state is CLOSED and not self.outgoing


class Server:
    """Accepts clients and serves them all from :meth:`serve_forever`'s loop."""

    def __init__(self, host: str, port: int) -> None:
        self.listener = socket.create_server((host, port))
        self.listener.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ)
        # shutdown() writes to one end; the loop wakes up on the other.
        self.wakeup, self.waker = socket.socketpair()
        self.selector.register(self.wakeup, selectors.EVENT_READ)
        self.connections: dict[socket.socket, Connection] = {}
        self.running = True

    def serve_forever(self) -> None:
        while self.running:
            for key, mask in self.selector.select(self.timeout()):
                if key.fileobj is self.listener:
                    self.accept()
                elif key.fileobj is not self.wakeup:
                    self.serve(self.connections[key.fileobj], mask)  # type: ignore[index]
            self.expire()
        for connection in list(self.connections.values()):
            connection.going_away()
            self.drop(connection)
        self.selector.close()
        for sock in (self.listener, self.wakeup, self.waker):
            sock.close()

    def shutdown(self) -> None:
        """Stop the loop; safe from another thread or a signal handler."""
        self.running = False
        self.waker.send(b"\0")

    def accept(self) -> None:
        sock, _ = self.listener.accept()
        sock.setblocking(False)
        self.connections[sock] = Connection(sock)
        self.selector.register(sock, selectors.EVENT_READ)

    def serve(self, connection: Connection, mask: int) -> None:
        try:
            if mask & selectors.EVENT_READ:
                connection.received(connection.sock.recv(READ_SIZE))
            connection.write()
        except OSError:  # reset by the peer: the end of the connection
            connection.outgoing.clear()
            if connection.protocol.state is not CLOSED:
                connection.received(b"")
        if connection.finished:
            self.drop(connection)
            return
        # Watch for writability only while there are bytes to write.
        events = selectors.EVENT_READ
        if connection.outgoing or connection.eof_pending:
            events |= selectors.EVENT_WRITE
        self.selector.modify(connection.sock, events)

    def timeout(self) -> float | None:
        deadlines = [c.close_deadline for c in self.connections.values() if c.close_deadline]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def expire(self) -> None:
        """Close the TCP connections whose peer didn't close in time."""
        now = time.monotonic()
        for connection in list(self.connections.values()):
            if connection.close_deadline is not None and connection.close_deadline <= now:
                self.drop(connection)

    def drop(self, connection: Connection) -> None:
        self.selector.unregister(connection.sock)
        del self.connections[connection.sock]
        connection.sock.close()
        if connection.protocol.state is not CLOSED:
            connection.protocol.receive_eof()


def main(port: int) -> None:
    server = Server("127.0.0.1", port)

    def stop(signum: int, frame: FrameType | None) -> None:
        server.shutdown()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print(f"Serving on ws://127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8765")))
