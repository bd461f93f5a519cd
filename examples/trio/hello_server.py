"""Greet whoever connects, on trio: a client sends a name, the server says hello.

The trio twin of ``examples/hello_server.py``. ``serve()`` runs in a nursery
until the server is closed; Ctrl-C or SIGTERM closes it.

Run it with ``python examples/trio/hello_server.py [PORT]`` (or ``PORT=...``),
then ``python examples/trio/hello_client.py Alice`` in another terminal.
"""

from __future__ import annotations

import os
import signal
import sys

import trio

from wskit.trio.server import Server, ServerConnection, serve


async def hello(websocket: ServerConnection) -> None:
    name = await websocket.recv(decode=True)
    assert isinstance(name, str)  # decode=True always gives text
    await websocket.send(f"Hello {name}!")


async def main(port: int) -> None:
    # Stop cleanly on Ctrl-C (SIGINT) or SIGTERM.
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            server: Server = await nursery.start(
                lambda task_status: serve(hello, port, host="127.0.0.1", task_status=task_status)
            )
            print(f"Serving on ws://127.0.0.1:{port}", flush=True)
            async with server:  # closes the server on the way out
                async for _ in signals:
                    break


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PORT", "8765")))
