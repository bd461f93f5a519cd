"""``wskit serve --metrics``: Prometheus scrapes the server while clients come and go."""

from __future__ import annotations

import asyncio
import io
import re
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from prometheus_client.parser import text_string_to_metric_families

from wskit.asyncio.client import connect
from wskit.cli.parser import build_parser
from wskit.cli.serve import metrics, start
from wskit.exceptions import InvalidStatus

from .support import TIMEOUT


@asynccontextmanager
async def serving_metrics(*argv: str) -> AsyncIterator[tuple[str, str]]:
    """Run ``wskit serve --metrics 0 ARGV...``; yield its URI and its metrics' URL."""
    args = build_parser().parse_args(["serve", "--port", "0", "--metrics", "0", *argv])
    stdout = io.StringIO()
    async with start(args) as server:
        with metrics(server, args, stdout):
            match = re.fullmatch(
                r"metrics on (http://127\.0\.0\.1:\d+/metrics)\n", stdout.getvalue()
            )
            assert match is not None, stdout.getvalue()
            port = server.sockets[0].getsockname()[1]
            yield f"ws://127.0.0.1:{port}/", match[1]


async def scrape(url: str) -> dict[str, float]:
    """GET the metrics over HTTP, parse them as Prometheus does; samples by name and labels."""

    def get() -> str:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            assert response.status == 200
            return str(response.read().decode())

    text = await asyncio.to_thread(get)
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{key}={value}" for key, value in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


async def scrape_until(url: str, name: str, value: float) -> dict[str, float]:
    """Scrape until ``name`` reads ``value``: a handler ends after its client closes."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            samples = await scrape(url)
            if samples.get(name) == value:
                return samples
            await asyncio.sleep(0.01)


async def test_prometheus_scrapes_clients_coming_and_going() -> None:
    async with serving_metrics() as (uri, url):
        samples = await scrape(url)
        assert samples["wskit_connections_open"] == 0
        assert samples["wskit_connections_opened_total"] == 0
        assert samples["wskit_messages_received_total"] == 0

        first = await connect(uri)
        second = await connect(uri)
        for client in (first, second):
            await client.send("hello")
            assert await client.recv() == "hello"
        await first.send(b"\x00" * 100)
        await first.recv()
        samples = await scrape(url)
        assert samples["wskit_connections_open"] == 2
        assert samples["wskit_connections_opened_total"] == 2
        assert samples["wskit_messages_received_total"] == 3
        assert samples["wskit_messages_sent_total"] == 3
        assert samples["wskit_bytes_received_total"] > 100
        assert samples["wskit_buffered_incoming_bytes"] == 0
        received = samples["wskit_bytes_received_total"]

        await first.close()
        samples = await scrape_until(url, "wskit_connections_open", 1)
        assert samples["wskit_connections_opened_total"] == 2
        assert samples["wskit_connections_closed_total{code=1000}"] == 1
        # The closed connection's counts stay in the totals.
        assert samples["wskit_messages_received_total"] == 3
        assert samples["wskit_bytes_received_total"] > received

        await second.close(4002)
        with pytest.raises(InvalidStatus):
            # No Upgrade header: refused with 426.
            await connect(uri, additional_headers={"Upgrade": "nothing"})
        samples = await scrape_until(url, "wskit_connections_open", 0)
        assert samples["wskit_connections_closed_total{code=4002}"] == 1
        assert samples["wskit_handshakes_refused_total{status=426}"] == 1
        assert samples["wskit_frames_received_total"] == 3 + 2  # and two close frames


async def test_metrics_are_off_by_default() -> None:
    args = build_parser().parse_args(["serve", "--port", "0"])
    stdout = io.StringIO()
    async with start(args) as server:
        with metrics(server, args, stdout):
            assert stdout.getvalue() == ""
