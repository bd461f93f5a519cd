"""What the I/O layers share and users never import.

The asyncio, threading and trio layers drive the same Sans-I/O core; the logic
they would otherwise each write lies here, once: opening a connection
(:mod:`.connecting`, :mod:`.redirects`), the attributes every connection exposes
(:mod:`.connection_attributes`), the pending pings behind keepalive
(:mod:`.keepalive`), reassembling messages (:mod:`.messages`), answering
handshakes and broadcasting (:mod:`.serving`), and routing requests
(:mod:`.dispatch`).

Nothing here does I/O: each module takes what a layer read and returns what it
must write or raise, so it is tested without sockets, with the core's 100%
branch coverage.
"""
