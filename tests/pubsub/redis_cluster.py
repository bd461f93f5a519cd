"""A throwaway Redis Cluster of three masters on 127.0.0.1, for tests.

Three Debian ``redis-server`` processes (see :mod:`tests.pubsub.redis_server`),
cluster-enabled, each in a temporary directory, share the 16,384 hash slots
in three ranges; they meet, and the cluster is ready when every node says
``cluster_state:ok``. Each node also listens on its port + 10,000 (the
cluster bus), so ports are picked with both free.
"""

from __future__ import annotations

import contextlib
import socket
import time

import redis

from tests.processes import Started

from .redis_server import START_TIMEOUT, STOP_TIMEOUT, RedisServer

__all__ = ["RedisCluster"]

SLOTS = 16384
BUS_OFFSET = 10000


def free_cluster_port(taken: set[int]) -> int:
    """A port of 127.0.0.1 free with its cluster bus port, both under 65,536."""
    for _ in range(1000):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port + BUS_OFFSET >= 65536 or {port, port + BUS_OFFSET} & taken:
            continue
        with socket.socket() as bus, contextlib.suppress(OSError):
            bus.bind(("127.0.0.1", port + BUS_OFFSET))
            return port
    raise RuntimeError("no free port pair for a cluster node")


class RedisCluster(Started):
    """Three cluster-enabled redis-servers that own a third of the slots each."""

    def __init__(self, masters: int = 3) -> None:
        taken: set[int] = set()
        self.nodes = []
        for _ in range(masters):
            port = free_cluster_port(taken)
            taken |= {port, port + BUS_OFFSET}
            options = {
                "cluster-enabled": "yes",
                "cluster-config-file": "nodes.conf",
                "cluster-node-timeout": "5000",
            }
            self.nodes.append(RedisServer(port, options))

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        clients = [
            redis.Redis.from_url(node.url, socket_timeout=STOP_TIMEOUT) for node in self.nodes
        ]
        try:
            share = SLOTS // len(self.nodes)
            for number, client in enumerate(clients):
                last = SLOTS - 1 if number == len(clients) - 1 else (number + 1) * share - 1
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", number * share, last)  # type: ignore[no-untyped-call]
            for node in self.nodes[1:]:
                clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)  # type: ignore[no-untyped-call]
            deadline = time.monotonic() + START_TIMEOUT * 3
            while not all(self._ready(client) for client in clients):
                if time.monotonic() > deadline:
                    raise RuntimeError("the cluster didn't come up")
                time.sleep(0.05)
        finally:
            for client in clients:
                client.close()

    def _ready(self, client: redis.Redis) -> bool:
        info = client.execute_command("CLUSTER", "INFO")  # type: ignore[no-untyped-call]
        text = info.decode() if isinstance(info, bytes) else str(info)
        known = f"cluster_known_nodes:{len(self.nodes)}"
        return "cluster_state:ok" in text and known in text

    def shard_numsub(self, channel: bytes) -> list[int]:
        """Per node, how many connections subscribe to ``channel`` (``PUBSUB SHARDNUMSUB``)."""
        counts = []
        for node in self.nodes:
            with redis.Redis.from_url(node.url, socket_timeout=STOP_TIMEOUT) as client:
                reply = client.execute_command("PUBSUB", "SHARDNUMSUB", channel)
                counts.append(int(reply[1]))
        return counts

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
