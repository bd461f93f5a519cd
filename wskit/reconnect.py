"""Reconnecting: which failures are worth another attempt, and how long to wait.

``async for websocket in connect(...)`` (asyncio) and ``for websocket in
reconnect(...)`` (threads) share this policy. Delays follow
:func:`backoff`, whose defaults come from environment variables:

=================================  =======
``WSKIT_BACKOFF_INITIAL_DELAY``    5.0 s
``WSKIT_BACKOFF_MIN_DELAY``        3.1 s
``WSKIT_BACKOFF_MAX_DELAY``        90.0 s
``WSKIT_BACKOFF_FACTOR``           1.618
=================================  =======
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Generator, Mapping

from .exceptions import (
    InvalidMessage,
    InvalidProxyMessage,
    InvalidProxyStatus,
    InvalidStatus,
    ProxyError,
)
from .settings import setting
from .typing import LoggerLike

__all__ = ["Retry", "backoff", "process_exception"]

# Server and gateway errors that usually go away: internal error, bad
# gateway, service unavailable, gateway timeout.
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})


def backoff(
    initial_delay: float | None = None,
    min_delay: float | None = None,
    max_delay: float | None = None,
    factor: float | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Generator[float, None, None]:
    """Generate the delays between connection attempts.

    The first delay is random, between 0 and ``initial_delay``: when a
    server restarts, its clients don't all come back at the same instant.
    Then delays grow from ``min_delay`` by ``factor`` up to ``max_delay``,
    which repeats forever.

    Arguments left to :obj:`None` come from the environment variables listed
    in the module's documentation, or their defaults, read when this
    function is called.

    Args:
        initial_delay: Upper bound of the first, random delay, in seconds.
        min_delay: Second delay, in seconds.
        max_delay: Longest delay, in seconds.
        factor: Growth of the delay from one attempt to the next.
        environ: Environment variables; :data:`os.environ` by default.

    Raises:
        ValueError: An environment variable isn't a valid number.
    """
    if initial_delay is None:
        initial_delay = setting("BACKOFF_INITIAL_DELAY", 5.0, environ)
    if min_delay is None:
        min_delay = setting("BACKOFF_MIN_DELAY", 3.1, environ)
    if max_delay is None:
        max_delay = setting("BACKOFF_MAX_DELAY", 90.0, environ)
    if factor is None:
        factor = setting("BACKOFF_FACTOR", 1.618, environ, minimum=1)
    return _delays(initial_delay, min_delay, max_delay, factor)


def _delays(
    initial_delay: float, min_delay: float, max_delay: float, factor: float
) -> Generator[float, None, None]:
    yield random.random() * initial_delay
    delay = min_delay
    while delay < max_delay:
        yield delay
        delay *= factor
    while True:
        yield max_delay


def process_exception(exc: Exception) -> Exception | None:
    """Tell whether a failed connection attempt is worth retrying.

    This is the default of the ``process_exception`` argument of
    :func:`wskit.asyncio.client.connect` and
    :func:`wskit.sync.client.reconnect`. Retried, because the next attempt
    may succeed:

    * :exc:`OSError`, which includes :exc:`TimeoutError`: the network, a
      refused or reset connection;
    * :exc:`~wskit.exceptions.InvalidMessage` caused by :exc:`EOFError`: the
      server hung up during the handshake;
    * :exc:`~wskit.exceptions.InvalidStatus` with 500, 502, 503 or 504: the
      server or a gateway in front of it is having trouble;
    * the same two from a proxy (:exc:`~wskit.exceptions.InvalidProxyMessage`,
      :exc:`~wskit.exceptions.InvalidProxyStatus`), and a
      :exc:`~wskit.exceptions.ProxyError` caused by an :exc:`OSError`: the
      proxy couldn't reach the server.

    Anything else, such as a 4xx status or an invalid URI, would fail again.

    Args:
        exc: Why the attempt failed.

    Returns:
        :obj:`None` to retry; otherwise the exception to raise, ``exc`` or
        another one.
    """
    if isinstance(exc, OSError):
        return None
    if isinstance(exc, InvalidMessage | InvalidProxyMessage) and isinstance(
        exc.__cause__, EOFError
    ):
        return None
    if (
        isinstance(exc, InvalidStatus | InvalidProxyStatus)
        and exc.response.status_code in TRANSIENT_STATUSES
    ):
        return None
    if isinstance(exc, ProxyError) and isinstance(exc.__cause__, OSError):
        return None
    return exc


class Retry:
    """The state of a reconnection loop, between connection attempts.

    Args:
        process_exception: Tells transient failures from fatal ones, like
            :func:`process_exception`.
        reconnect_delays: Starts a sequence of delays, like :func:`backoff`.
        logger: Where retries are logged, at ``INFO`` level.
    """

    def __init__(
        self,
        process_exception: Callable[[Exception], Exception | None],
        reconnect_delays: Callable[[], Generator[float, None, None]],
        logger: LoggerLike | None = None,
    ) -> None:
        self.process_exception = process_exception
        self.reconnect_delays = reconnect_delays
        self.logger = logging.getLogger("wskit.client") if logger is None else logger
        self.delays: Generator[float, None, None] | None = None

    def failed(self, exc: Exception) -> float:
        """Decide what follows a failed attempt.

        Returns:
            Seconds to wait before the next attempt.

        Raises:
            Exception: ``exc``, or what :attr:`process_exception` returned,
                when the failure is fatal.
        """
        fatal = self.process_exception(exc)
        if fatal is exc:
            raise exc
        if fatal is not None:
            raise fatal from exc
        if self.delays is None:
            self.delays = self.reconnect_delays()
        delay = next(self.delays)
        self.logger.info(
            "connection attempt failed (%s: %s); retrying in %.3g seconds",
            type(exc).__name__,
            exc,
            delay,
        )
        return delay

    def succeeded(self) -> None:
        """Start over with the first delay at the next failure."""
        self.delays = None
