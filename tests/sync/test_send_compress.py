"""send(compress=...) and broadcast(compress=...) with threads: the bytes on the wire."""

from __future__ import annotations

import socket
import threading

from tests.raw_peers import RawPeer, inflate
from wskit.sync.client import connect
from wskit.sync.server import ServerConnection, broadcast, serve

MESSAGE = "compressible " * 40


def test_send_compress_false_and_true() -> None:
    ours, theirs = socket.socketpair()
    peer = RawPeer(theirs)
    with theirs:
        accepting = threading.Thread(target=peer.accept)
        accepting.start()
        with connect("ws://peer/", sock=ours) as websocket:
            accepting.join()
            websocket.send(MESSAGE, compress=False)
            websocket.send(MESSAGE, compress=True)
            websocket.send([MESSAGE, MESSAGE], compress=False)
            plain, forced, first, second = [peer.read_frame() for _ in range(4)]
            theirs.close()  # the peer leaves: close() needn't wait close_timeout for it
    assert plain == (False, MESSAGE.encode())
    assert forced[0]
    assert inflate(forced[1]) == MESSAGE.encode()
    assert first == second == (False, MESSAGE.encode())


def test_broadcast_compress_false() -> None:
    connected = threading.Event()
    connections: list[ServerConnection] = []

    def handler(websocket: ServerConnection) -> None:
        connections.append(websocket)
        connected.set()
        websocket.wait_for_close()

    with serve(handler, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            port = server.socket.getsockname()[1]
            with socket.create_connection(("127.0.0.1", port)) as sock:
                peer = RawPeer(sock)
                peer.connect(f"ws://127.0.0.1:{port}/")
                assert connected.wait(10)
                broadcast(connections, MESSAGE, compress=False)
                broadcast(connections, MESSAGE)
                plain, compressed = [peer.read_frame() for _ in range(2)]
        finally:
            server.shutdown()
            thread.join(10)
    assert plain == (False, MESSAGE.encode())
    assert compressed[0]
    assert inflate(compressed[1]) == MESSAGE.encode()
