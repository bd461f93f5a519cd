"""What the I/O layers share and users never import.

The asyncio, threading and trio layers drive the same Sans-I/O core; the logic
they would otherwise each write lies here, once: opening a connection
(:mod:`.connecting`, :mod:`.redirects`), checking the compression and
subprotocol options of ``connect()`` and ``serve()`` (:mod:`.options`), the
attributes every connection exposes (:mod:`.connection_attributes`), the
pending pings behind keepalive (:mod:`.keepalive`), reassembling messages
(:mod:`.messages`), the ``async`` API that asyncio and trio connections share
(:mod:`.async_api`), answering handshakes and broadcasting (:mod:`.serving`),
and routing requests (:mod:`.dispatch`).

Nothing here does I/O itself: a module takes what a layer read and returns
what it must write or raise, or calls the layer's hooks to wait and write, so
it is tested without sockets, with the core's 100% branch coverage.
"""
