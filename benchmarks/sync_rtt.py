"""One side's cost per round trip on threads, measured alone, for callgrind.

``--side client``: this process runs ``<lib>.sync.client`` and does ``--count``
round trips of 64 B (``send()``, then ``recv()``); a child process runs the
echo server. ``--side server``: this process runs the echo server
(``<lib>.sync.server``, the handler iterating over the connection and sending
each message back) and a child the client. Compression is off on both sides.

valgrind follows this process only: run it with two counts and divide the
difference of the totals by the difference of the counts, so that start-up,
the handshake and the threads' creation cancel out::

    for n in 500 2500; do
        PYTHONHASHSEED=0 setarch -R valgrind --tool=callgrind \\
            --callgrind-out-file=/tmp/cg.$n \\
            .venv/bin/python -m benchmarks.sync_rtt --side client --count $n
    done
    # (Ir of /tmp/cg.2500 - Ir of /tmp/cg.500) / 2000
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import threading
from typing import Any

MESSAGE = b"x" * 64


def serve(lib: str, count: int, announce: Any) -> None:
    """Echo ``count`` messages of one connection, then stop; ``announce(port)`` first."""
    server_module: Any = importlib.import_module(f"{lib}.sync.server")

    def echo(websocket: Any) -> None:
        for index, message in enumerate(websocket, 1):
            websocket.send(message)
            if index == count:
                break
        threading.Thread(target=server.shutdown).start()

    with server_module.serve(echo, "127.0.0.1", 0, compression=None) as server:
        announce(server.socket.getsockname()[1])
        server.serve_forever()


def connect(lib: str, port: int, count: int) -> None:
    """Do ``count`` round trips."""
    client_module: Any = importlib.import_module(f"{lib}.sync.client")
    with client_module.connect(f"ws://127.0.0.1:{port}", compression=None) as websocket:
        for _ in range(count):
            websocket.send(MESSAGE)
            websocket.recv()


def child(role: str, lib: str, count: int, port: int = 0) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "benchmarks.sync_rtt", "--lib", lib, "--count", str(count)]
    command += ["--child", role, "--port", str(port)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=["client", "server"], default="client")
    parser.add_argument("--lib", default="wskit", help="wskit or websockets")
    parser.add_argument("--count", type=int, default=2000, help="round trips")
    parser.add_argument("--child", choices=["client", "server"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "server":
        serve(args.lib, args.count, lambda port: print(port, flush=True))
    elif args.child == "client":
        connect(args.lib, args.port, args.count)
    elif args.side == "client":
        server = child("server", args.lib, args.count)
        assert server.stdout is not None
        connect(args.lib, int(server.stdout.readline()), args.count)
        server.wait()
    else:
        clients: list[subprocess.Popen[str]] = []
        serve(
            args.lib,
            args.count,
            lambda port: clients.append(child("client", args.lib, args.count, port)),
        )
        clients[0].wait()


if __name__ == "__main__":
    main()
