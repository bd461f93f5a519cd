"""Proxies for the tests of both clients: HTTP CONNECT and SOCKS5, in threads.

Each proxy listens on 127.0.0.1, runs one thread per client connection and
records what clients asked for. Every blocking call is bounded by
:data:`WAIT`; :meth:`ProxyServer.close` (or leaving the ``with`` block)
closes every socket and joins every thread.
"""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import ssl
import threading
from types import TracebackType
from typing import Self

__all__ = ["ConnectProxy", "ProxyServer", "Socks5Proxy"]

LOCALHOST = "127.0.0.1"

# Bounds every wait on the network.
WAIT = 5

MAX_HEADER = 65536


class ProxyServer:
    """What both proxies share: listening, threads, relaying, recording.

    Args:
        scheme: Scheme of the proxy's address.
        auth: ``(username, password)`` that clients must give.
        tls: Server context for an ``https://`` proxy (HTTP only).
        hosts: Names the proxy resolves itself, to IP addresses; other
            names aren't resolved (the tests must not depend on DNS).

    Attributes:
        targets: ``(host, port)`` of each tunnel asked for, as the client
            sent it, successful or not.
    """

    def __init__(
        self,
        scheme: str,
        *,
        auth: tuple[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
        hosts: dict[str, str] | None = None,
    ) -> None:
        self.scheme = scheme
        self.auth = auth
        self.tls = tls
        self.hosts = {"localhost": LOCALHOST, **(hosts or {})}
        self.targets: list[tuple[str, int]] = []
        self.listener = socket.create_server((LOCALHOST, 0))
        self.listener.settimeout(0.05)
        self.port: int = self.listener.getsockname()[1]
        self.closing = threading.Event()
        self.lock = threading.Lock()
        self.sockets: set[socket.socket] = set()
        self.threads: list[threading.Thread] = []
        self.thread = threading.Thread(target=self._accept, name="test proxy", daemon=True)
        self.thread.start()

    def url(self, *, user_info: str | None = None, scheme: str | None = None) -> str:
        """The proxy's address, with its credentials unless ``user_info`` is given."""
        if user_info is None and self.auth is not None:
            user_info = ":".join(self.auth)
        credentials = f"{user_info}@" if user_info else ""
        return f"{scheme or self.scheme}://{credentials}{LOCALHOST}:{self.port}"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.closing.set()
        self.thread.join(WAIT)
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in self.threads:
            thread.join(WAIT)
        self.listener.close()
        assert not self.thread.is_alive()
        assert not any(thread.is_alive() for thread in self.threads)

    # Connections.

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            self._track(client)
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _track(self, sock: socket.socket) -> None:
        with self.lock:
            self.sockets.add(sock)
            if self.closing.is_set():  # close() may have missed it
                sock.shutdown(socket.SHUT_RDWR)

    def _serve(self, client: socket.socket) -> None:
        upstream = None
        try:
            client.settimeout(WAIT)
            if self.tls is not None:
                client = self.tls.wrap_socket(client, server_side=True)
                self._track(client)
            upstream = self.handshake(client)
            if upstream is not None:
                self._relay(client, upstream)
        except OSError:
            pass  # the client left, or close() cut the connection
        finally:
            client.close()
            if upstream is not None:
                upstream.close()

    def open_upstream(self, host: str, port: int) -> socket.socket | None:
        """Connect to the server; :obj:`None` if that fails."""
        self.targets.append((host, port))
        address = self.hosts.get(host, host)
        try:
            upstream = socket.create_connection((address, port), WAIT)
        except OSError:
            return None
        self._track(upstream)
        return upstream

    def handshake(self, client: socket.socket) -> socket.socket | None:
        """Answer the client; return the connection to the server, if any."""
        raise NotImplementedError

    @staticmethod
    def _relay(client: socket.socket, upstream: socket.socket) -> None:
        """Copy bytes both ways until one side closes."""
        peers = {client: upstream, upstream: client}
        while True:
            pending = isinstance(client, ssl.SSLSocket) and client.pending()
            readable = [client] if pending else select.select(list(peers), [], [], WAIT)[0]
            if not readable:
                continue
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                peers[sock].sendall(data)


def read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client left")
        data += chunk
    return data


class ConnectProxy(ProxyServer):
    """An HTTP proxy that opens tunnels with ``CONNECT``.

    Args:
        status: Answer every request with this status instead of opening
            a tunnel.

    Attributes:
        requests: Header lines of each ``CONNECT`` request, by lower-case
            name.
    """

    def __init__(
        self,
        *,
        status: int | None = None,
        auth: tuple[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
        hosts: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.requests: list[dict[str, str]] = []
        scheme = "http" if tls is None else "https"
        super().__init__(scheme, auth=auth, tls=tls, hosts=hosts)

    def handshake(self, client: socket.socket) -> socket.socket | None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk or len(head) > MAX_HEADER:
                return None
            head += chunk
        request_line, *lines = head.split(b"\r\n\r\n")[0].decode().split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self.requests.append(headers)
        method, target, _ = request_line.split(" ")
        host, _, port = target.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if method != "CONNECT":
            return self._answer(client, 405)
        if self.auth is not None:
            expected = "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()
            if headers.get("proxy-authorization") != expected:
                return self._answer(client, 407, "Proxy-Authenticate: Basic realm=test\r\n")
        if self.status is not None:
            return self._answer(client, self.status)
        upstream = self.open_upstream(host, int(port))
        if upstream is None:
            return self._answer(client, 502)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        return upstream

    @staticmethod
    def _answer(client: socket.socket, status: int, headers: str = "") -> None:
        body = f"status {status}"
        response = f"HTTP/1.1 {status} Test\r\n{headers}Content-Length: {len(body)}\r\n\r\n{body}"
        client.sendall(response.encode())


class Socks5Proxy(ProxyServer):
    """A SOCKS5 proxy (RFC 1928) with optional user/password authentication (RFC 1929).

    Args:
        reply: Answer every ``CONNECT`` with this reply code instead of
            opening a tunnel.
    """

    def __init__(
        self,
        *,
        reply: int | None = None,
        auth: tuple[str, str] | None = None,
        hosts: dict[str, str] | None = None,
    ) -> None:
        self.reply = reply
        super().__init__("socks5h", auth=auth, hosts=hosts)

    def handshake(self, client: socket.socket) -> socket.socket | None:
        version, count = read_exactly(client, 2)
        methods = read_exactly(client, count)
        if version != 5:
            return None
        method = 2 if self.auth is not None else 0
        if method not in methods:
            client.sendall(b"\x05\xff")
            return None
        client.sendall(bytes([5, method]))
        if self.auth is not None:
            _, size = read_exactly(client, 2)
            username = read_exactly(client, size).decode()
            password = read_exactly(client, read_exactly(client, 1)[0]).decode()
            if (username, password) != self.auth:
                client.sendall(b"\x01\x01")
                return None
            client.sendall(b"\x01\x00")
        _, command, _, address_type = read_exactly(client, 4)
        if address_type == 1:
            host = socket.inet_ntop(socket.AF_INET, read_exactly(client, 4))
        elif address_type == 4:
            host = socket.inet_ntop(socket.AF_INET6, read_exactly(client, 16))
        else:
            host = read_exactly(client, read_exactly(client, 1)[0]).decode()
        port = int.from_bytes(read_exactly(client, 2), "big")
        upstream = None
        if command != 1:
            reply = 7
        elif self.reply is not None:
            self.targets.append((host, port))
            reply = self.reply
        else:
            upstream = self.open_upstream(host, port)
            reply = 0 if upstream is not None else 5
        client.sendall(bytes([5, reply, 0, 1, 127, 0, 0, 1, 0, 0]))
        return upstream
