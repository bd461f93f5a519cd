"""Logging for a wskit server: levels per logger, and each line tagged with its connection.

wskit logs to the loggers ``wskit.server`` and ``wskit.client`` (and
``wskit.pubsub``, ``wskit.cli``). Each connection logs through an adapter
that attaches the connection to the record as ``record.websocket``;
:class:`ConnectionContext` turns it into a ``%(connection)s`` field that a
format can show.
"""

from __future__ import annotations

import logging
import sys


class ConnectionContext(logging.Filter):
    """Add ``record.connection``: the start of the connection's id, or ``-``."""

    def filter(self, record: logging.LogRecord) -> bool:
        websocket = getattr(record, "websocket", None)
        record.connection = "-" if websocket is None else websocket.id.hex[:8]
        return True


def configure(debug: bool = False) -> logging.Handler:
    """Log wskit's INFO lines and above to standard error; every frame with ``debug``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ConnectionContext())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(connection)s] %(message)s")
    )
    wskit = logging.getLogger("wskit")
    wskit.addHandler(handler)
    # DEBUG logs every frame sent and received: for chasing a bug, not for production.
    wskit.setLevel(logging.DEBUG if debug else logging.INFO)
    return handler
