"""A broker on a Redis Cluster, with sharded pub/sub (Redis 7 and later).

With classic pub/sub, every node of a cluster forwards every message to
every other node: fan-out doesn't scale with the cluster. Sharded pub/sub
(``SSUBSCRIBE``, ``SPUBLISH``) keeps a channel on the node that owns its
hash slot. :class:`RedisClusterBroker` runs one sharded
:class:`~wskit.pubsub.RedisBroker` per master node, and routes each topic
to the node that owns it: its link, its lanes, its history (the channel
``prefix{topic}`` and the history keys share the topic's hash slot).

The cluster's layout is read once, at :meth:`~RedisClusterBroker.start`:
a resharding or a failover while it runs isn't followed (a node that fails
shows as a link loss; start a new broker to take a new layout).
"""

from __future__ import annotations

import asyncio
import bisect
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.crc import key_slot
from redis.exceptions import RedisError

from ..typing import Data, LoggerLike
from . import wire
from .broker import Broker, LinkEvent, Message
from .exceptions import BrokerClosed, BrokerUnavailable
from .history import Position, Recovery
from .redis import RedisBroker

__all__ = ["RedisClusterBroker"]


class RedisClusterBroker(Broker):
    """Topics shared by every process connected to one Redis Cluster.

    Its link is up when the links to every master are up. Link events
    carry the topics lost on any of them.

    Args:
        url: Redis URL of any node of the cluster; the others are found
            from it (``CLUSTER SLOTS``) and reached with the same options.
        prefix: Prepended to topics to make channel and key names; it must
            not contain braces (``{`` ``}``), which make hash tags.
        timeout: Seconds allowed to read the cluster's layout at start.
        logger: Logger for link changes and errors; ``wskit.pubsub`` by default.
        options: For each node's :class:`~wskit.pubsub.RedisBroker`:
            ``history``, ``ping_interval``, ``publish_connections``...
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:7000/0",
        *,
        prefix: str = "wskit:",
        timeout: float = 5.0,
        logger: LoggerLike | None = None,
        **options: Any,
    ) -> None:
        if "{" in prefix or "}" in prefix:
            raise ValueError("a cluster broker's prefix can't contain braces")
        super().__init__(logger=logger)
        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        self.options = {**options, "prefix": prefix, "timeout": timeout, "sharded": True}
        self.options.setdefault("logger", self.logger)
        # The first slot of each range, and its node's broker, in slot order.
        self._starts: list[int] = []
        self._owners: list[RedisBroker] = []
        self.nodes: list[RedisBroker] = []
        self._lost: set[str] = set()

    async def start(self) -> None:
        """Read the cluster's layout, then connect to every master in the background.

        Raises:
            BrokerUnavailable: The cluster couldn't be reached.
            BrokerClosed: The broker is closed.
        """
        if self.closed:
            raise BrokerClosed("broker closed")
        if self.nodes:
            return
        client: Redis = Redis.from_url(self.url, socket_connect_timeout=self.timeout)
        # A bare connection: the reply as Redis sends it, not as redis-py reshapes it.
        connection = client.connection_pool.make_connection()  # type: ignore[no-untyped-call]
        try:
            async with asyncio.timeout(self.timeout):
                await connection.connect()
                await connection.send_command("CLUSTER", "SLOTS")
                layout = await connection.read_response()
        except (RedisError, OSError, TimeoutError) as exc:
            raise BrokerUnavailable(f"can't read the cluster's layout: {exc}") from exc
        finally:
            await connection.disconnect(nowait=True)
            await client.aclose()
        nodes: dict[tuple[str, int], RedisBroker] = {}
        ranges = []
        for first, _last, (host, port, *_), *_replicas in layout:
            address = (host.decode() if isinstance(host, bytes) else host, int(port))
            if address not in nodes:
                nodes[address] = RedisBroker(_node_url(self.url, *address), **self.options)
            ranges.append((int(first), nodes[address]))
        ranges.sort(key=lambda item: item[0])
        self._starts = [first for first, _ in ranges]
        self._owners = [node for _, node in ranges]
        self.nodes = list(nodes.values())
        for node in self.nodes:
            node.add_link_callback(self._node_link_changed)
            await node.start()

    def node(self, topic: str) -> RedisBroker:
        """Return the broker of the node that owns ``topic``."""
        slot = key_slot(wire.channel(self.prefix, topic, sharded=True))
        return self._owners[bisect.bisect_right(self._starts, slot) - 1]

    # Broker.

    async def flush(self) -> None:
        for node in self.nodes:
            await node.flush()

    @property
    def keeps_history(self) -> bool:
        return bool(self.options.get("history"))

    async def recover(self, topic: str, since: Position | None = None) -> Recovery:
        self._check_open(topic)
        return await self._node(topic).recover(topic, since)

    async def _publish(self, topic: str, data: Data) -> None:
        await self._node(topic).publish(topic, data)

    async def _start_topic(self, topic: str) -> None:
        await self._node(topic).attach(topic, self._relay)

    async def _stop_topic(self, topic: str) -> None:
        await self._node(topic).detach(topic, self._relay)

    async def _shutdown(self) -> None:
        for node in self.nodes:
            await node.close()

    # Between the nodes and this broker.

    def _node(self, topic: str) -> RedisBroker:
        if not self.nodes:
            raise BrokerUnavailable("the cluster broker isn't started")
        return self.node(topic)

    def _relay(self, message: Message) -> None:
        self._dispatch(message.topic, message.data, message.position)

    def _node_link_changed(self, event: LinkEvent) -> None:
        self._lost |= event.lost
        if not event.connected:
            self._set_connected(False, event.error)
        elif all(node.connected for node in self.nodes):
            lost, self._lost = frozenset(self._lost), set()
            self._set_connected(True, lost=lost)


def _node_url(url: str, host: str, port: int) -> str:
    """Return ``url`` (scheme, credentials, options) pointing at another node."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    netloc = f"{credentials}@{address}" if credentials else address
    return urlunsplit((parts.scheme, netloc, "/0", parts.query, ""))
