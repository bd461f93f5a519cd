"""websockets' legacy API (``websockets.legacy``), as an adapter over :mod:`wskit.asyncio`.

Code written for websockets 13 and earlier imports from
``websockets.legacy.server``, ``.client``, ``.protocol``, ``.auth`` and
``.exceptions``; the same paths under ``wskit.legacy`` give the same names:
``serve()`` with ``extra_headers``, ``create_protocol`` and
``process_request(path, request_headers)``, ``connect()``,
:class:`~wskit.legacy.server.WebSocketServerProtocol` to subclass, the
``path``, ``request_headers``, ``open`` and ``closed`` attributes... There is
one implementation of the protocol: the connections here are
:mod:`wskit.asyncio` connections with the legacy attributes and hooks added.

Like ``websockets.legacy``, importing this package emits a
:exc:`DeprecationWarning`. To migrate, see "The legacy API" in the README:
handlers take the connection alone, ``process_request(connection, request)``
returns a :class:`~wskit.http11.Response`, ``extra_headers`` becomes
``process_response`` or ``additional_headers``.
"""

from __future__ import annotations

import warnings

warnings.warn(
    "wskit.legacy is deprecated; see 'The legacy API' in wskit's README to upgrade "
    "to wskit.asyncio",
    DeprecationWarning,
    stacklevel=1,  # here, as websockets.legacy does: the importer may be anywhere
)
