"""Test an application's WebSocket handlers.

- :func:`wskit.testing.connect`: an asyncio client connected to a handler in
  memory (no socket, no port), with the API of a real client.
- :func:`wskit.testing.sync.connect`: the same for threads, over
  :func:`socket.socketpair` (why, in its module).
- A pytest plugin, loaded by installing wskit (entry point ``pytest11``):
  the ``ws_serve`` fixture serves a handler on a free port of 127.0.0.1, and
  ``ws_connect`` connects a client to it, for tests that want a real socket
  (see :mod:`wskit.testing.pytest_plugin`).
"""

from __future__ import annotations

from .client import connect

__all__ = ["connect"]
