"""Memory of a server that a client floods with pings and never reads the pongs of.

Run it from the repository root::

    .venv/bin/python -m benchmarks.ping_flood --io asyncio --seconds 30
    .venv/bin/python -m benchmarks.ping_flood --io sync --seconds 30

An echo server runs in a child process. A raw client in this one opens a
WebSocket connection, then writes empty pings as fast as the server takes
them and never reads. Every few seconds it prints the server's resident
memory and the pings written so far; when the server takes nothing for a
second, the client counts as blocked: the server stopped reading. At the end
the client sends a text message, reads every pong and checks that the echo
comes last: the connection still works.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import subprocess
import sys
import threading
import time

from wskit.asyncio import server as asyncio_server
from wskit.sync import server as sync_server

__all__ = ["flood", "main"]

# An empty ping, masked with a zero key (the payload stays as it is), and the
# pong a server answers it with.
PING = b"\x89\x80\x00\x00\x00\x00"
PONG = b"\x8a\x00"
# A text message "done", masked the same way, and its echo.
DONE = b"\x81\x84\x00\x00\x00\x00done"
ECHO = b"\x81\x04done"


def resident_memory(pid: int) -> int:
    """Resident set size of process ``pid`` in bytes (Linux ``/proc/<pid>/statm``)."""
    with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def async_echo(ws: asyncio_server.ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


def sync_echo(ws: sync_server.ServerConnection) -> None:
    for message in ws:
        ws.send(message)


async def serve_asyncio() -> None:
    """Run an echo server; print its port, stop when standard input closes."""
    async with asyncio_server.serve(async_echo, "127.0.0.1", 0) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def serve_sync() -> None:
    """Run an echo server; print its port, stop when standard input closes."""
    with sync_server.serve(sync_echo, "127.0.0.1", 0) as server:
        print(server.socket.getsockname()[1], flush=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sys.stdin.read()
        server.shutdown()


def handshake(port: int) -> socket.socket:
    """Open a WebSocket connection by hand; return its socket."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("the server closed the connection during the handshake")
        response += chunk
    if not response.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(response.decode(errors="replace"))
    # The server sends nothing before it's asked: no frame after the response.
    return sock


def flood(sock: socket.socket, seconds: float, server_pid: int) -> int:
    """Write pings for ``seconds``; print progress; return the bytes written."""
    burst = memoryview(PING * 4096)
    sock.settimeout(1)
    sent = offset = 0
    blocked_since: float | None = None
    start = next_report = time.monotonic()
    while (now := time.monotonic()) < start + seconds:
        if now >= next_report:
            state = "blocked" if blocked_since is not None else "writing"
            rss = resident_memory(server_pid) / 2**20
            print(f"{now - start:5.1f} s  server RSS {rss:6.1f} MiB  pings {sent // 6:>9}  {state}")
            next_report += 5
        try:
            written = sock.send(burst[offset:])
        except TimeoutError:
            blocked_since = blocked_since or now
            continue
        blocked_since = None
        sent += written
        offset = (offset + written) % len(burst)
    return sent


def drain(sock: socket.socket, sent: int) -> None:
    """Finish the last ping, send a message, read the answers up to its echo.

    Pings from the server's keepalive get their pong, as a client should.
    """
    sock.settimeout(60)
    rest = -sent % len(PING)
    # From another thread: a server that stopped reading takes it only once
    # this one reads the pongs.
    writer = threading.Thread(target=sock.sendall, args=(PING[len(PING) - rest :] + DONE,))
    writer.start()
    pings = -(-sent // len(PING))
    buffer = bytearray()
    pongs = 0
    while True:
        chunk = sock.recv(2**20)
        if not chunk:
            raise ConnectionError(f"the server closed the connection after {pongs} pongs")
        buffer += chunk
        offset = 0
        # Server frames are unmasked, with payloads under 126 bytes here.
        while offset + 2 <= len(buffer) and offset + 2 + buffer[offset + 1] <= len(buffer):
            opcode, length = buffer[offset] & 0x0F, buffer[offset + 1]
            payload = bytes(buffer[offset + 2 : offset + 2 + length])
            offset += 2 + length
            if opcode == 0x9:
                sock.sendall(bytes([0x8A, 0x80 | length]) + b"\0\0\0\0" + payload)
            elif opcode == 0xA:
                pongs += 1
            elif opcode == 0x8:
                code = int.from_bytes(payload[:2]) if payload else None
                raise ConnectionError(f"the server closed with {code} after {pongs} pongs")
            elif buffer[offset - 2 - length : offset] == ECHO:
                print(f"then: read {pongs} pongs of {pings} pings and the echo")
                writer.join()
                return
        del buffer[:offset]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--io", choices=["asyncio", "sync"], default="asyncio")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        if args.io == "asyncio":
            asyncio.run(serve_asyncio())
        else:
            serve_sync()
        return
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.ping_flood", "--serve", "--io", args.io],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        with handshake(port) as sock:
            sent = flood(sock, args.seconds, server.pid)
            rss = resident_memory(server.pid) / 2**20
            print(f"end: server RSS {rss:.1f} MiB after {sent // 6} pings in {args.seconds} s")
            drain(sock, sent)
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
