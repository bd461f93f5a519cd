"""Prometheus exporter of server statistics (``pip install wskit[prometheus]``).

The collector reads :class:`~wskit.stats.ServerStats` when Prometheus
scrapes it, and only then: serving connections pays nothing for it.

Example::

    from wskit.metrics import start_metrics_server

    async with serve(handler, "", 8765) as server:
        start_metrics_server(server.stats, 9100)
        await server.serve_forever()
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .stats import COUNTERS, ServerStats

__all__ = ["ServerCollector", "start_metrics_server"]

# Help text of each counter; wskit_<name>_total in the exposition.
_COUNTER_HELP = {
    "messages_received": "Whole data messages received.",
    "messages_sent": "Whole data messages sent.",
    "bytes_received": "Bytes read from the network: handshakes, frame headers, payloads.",
    "bytes_sent": "Bytes written to the network: handshakes, frame headers, payloads.",
    "frames_received": "Frames received, control frames included.",
    "frames_sent": "Frames sent, control frames included.",
    "pings_received": "Pings received.",
    "pings_sent": "Pings sent, keepalive pings included.",
    "pongs_received": "Pongs received.",
}


class ServerCollector(Collector):
    """A Prometheus collector of a server's :attr:`~wskit.asyncio.server.Server.stats`.

    Args:
        stats: The server's statistics.
        prefix: Prefix of every metric name.
    """

    def __init__(self, stats: ServerStats, prefix: str = "wskit") -> None:
        self.stats = stats
        self.prefix = prefix

    def collect(self) -> Iterator[Metric]:
        """Read the statistics now, for a scrape."""
        stats = self.stats
        prefix = self.prefix
        # One consistent reading: a connection is either open or counted as
        # closed, never both nor neither.
        with stats.lock:
            opened = stats.opened
            closed = dict(stats.closed)
            refused = dict(stats.refused)
            totals = dict(stats.totals)
            connections = list(stats.connections)
        # Read after the lock: what the open ones did since only adds up.
        readings = [connection.stats for connection in connections]

        yield GaugeMetricFamily(
            f"{prefix}_connections_open", "Connections open now.", value=len(connections)
        )
        yield CounterMetricFamily(
            f"{prefix}_connections_opened", "Connections opened since start.", value=opened
        )
        by_code = CounterMetricFamily(
            f"{prefix}_connections_closed",
            "Connections closed, by close code (1006: closed without a close frame).",
            labels=["code"],
        )
        for code, count in sorted(closed.items()):
            by_code.add_metric([str(code)], count)
        yield by_code
        by_status = CounterMetricFamily(
            f"{prefix}_handshakes_refused",
            "Opening handshakes answered with another HTTP status than 101, by status.",
            labels=["status"],
        )
        for status, count in sorted(refused.items()):
            by_status.add_metric([str(status)], count)
        yield by_status
        for name in COUNTERS:
            value = totals.get(name, 0) + sum(getattr(reading, name) for reading in readings)
            yield CounterMetricFamily(f"{prefix}_{name}", _COUNTER_HELP[name], value=value)
        yield GaugeMetricFamily(
            f"{prefix}_buffered_incoming_bytes",
            "Payload bytes received and not read by the application yet, on open connections.",
            value=sum(reading.buffered_incoming for reading in readings),
        )
        yield GaugeMetricFamily(
            f"{prefix}_buffered_outgoing_bytes",
            "Bytes sent and not written to the network yet, on open connections.",
            value=sum(reading.buffered_outgoing for reading in readings),
        )
        yield GaugeMetricFamily(
            f"{prefix}_latency_max_seconds",
            "Longest keepalive ping round trip last measured on an open connection.",
            value=max((reading.latency for reading in readings), default=0.0),
        )


def start_metrics_server(
    stats: ServerStats, port: int, host: str = "127.0.0.1", *, prefix: str = "wskit"
) -> tuple[WSGIServer, threading.Thread]:
    """Serve the statistics at ``http://host:port/metrics``, in a thread.

    Args:
        stats: A server's :attr:`~wskit.asyncio.server.Server.stats`.
        port: TCP port; 0 picks a free one (see ``server.server_port``).
        host: Address to listen on: the local host only, by default.
        prefix: Prefix of every metric name.

    Returns:
        The HTTP server and its thread: ``server.shutdown()`` stops it.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServerCollector(stats, prefix))
    return start_http_server(port, host, registry)
