"""A broker inside one process: for tests, and for servers that run alone."""

from __future__ import annotations

from ..typing import Data, LoggerLike
from .broker import Broker

__all__ = ["MemoryBroker"]


class MemoryBroker(Broker):
    """Topics shared by the code of one process; nothing crosses processes.

    Its link is always up. :meth:`~.Broker.publish` hands the message to the topic's
    handlers before it returns, in the order of the calls.

    Args:
        logger: Logger for errors; ``wskit.pubsub`` by default.
    """

    def __init__(self, *, logger: LoggerLike | None = None) -> None:
        super().__init__(logger=logger)
        self._set_connected(True)

    async def _publish(self, topic: str, data: Data) -> None:
        self._dispatch(topic, data)

    async def _start_topic(self, topic: str) -> None:
        pass

    async def _stop_topic(self, topic: str) -> None:
        pass

    async def _shutdown(self) -> None:
        pass
