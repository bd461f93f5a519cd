"""What permessage-deflate holds between messages: no zlib object, at most a window.

A zlib compressor costs 40 KiB with the frugal defaults (268 KiB with zlib's),
a decompressor 12 KiB. Between two messages a connection keeps neither: with
context takeover, only the last window of data, as bytes, which the next
message's zlib object gets as its dictionary. The few connections of the
process that used theirs last find them again in a bounded cache.
"""

from __future__ import annotations

import gc
import random
import tracemalloc
import zlib
from typing import Any

import pytest

from wskit.extensions._windows import LIVE_COMPRESSORS, LIVE_DECOMPRESSORS, LiveContexts
from wskit.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    enable_server_permessage_deflate,
)
from wskit.frames import BINARY, CONT, TEXT, Frame

TAIL = b"\x00\x00\xff\xff"


def messages(count: int, seed: int = 0) -> list[bytes]:
    """Repetitive but not trivial, as JSON is; some longer than a 4 KiB window."""
    rng = random.Random(seed)
    words = [rng.randbytes(rng.randint(2, 12)).hex().encode() for _ in range(60)]
    return [
        b" ".join(rng.choice(words) for _ in range(rng.choice([3, 30, 300, 3000])))
        for _ in range(count)
    ]


def frugal_server() -> PerMessageDeflate:
    """The server's side of what wskit's default client and server negotiate."""
    [factory] = enable_server_permessage_deflate(None)
    offer = ClientPerMessageDeflateFactory().get_request_params()
    _, extension = factory.process_request_params(offer, [])
    assert isinstance(extension, PerMessageDeflate)
    return extension


def holds_no_zlib_object(extension: PerMessageDeflate) -> bool:
    return extension._encoder is None and extension._decoder is None


def peer_compress(compressor: zlib._Compress, message: bytes) -> bytes:
    """One message from a peer using plain zlib, as RFC 7692 describes."""
    data = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(TAIL)
    return data[: -len(TAIL)]


def test_a_new_connection_holds_no_zlib_object() -> None:
    extension = frugal_server()
    assert holds_no_zlib_object(extension)
    assert extension._sent_window == extension._received_window == b""


@pytest.mark.parametrize("bits", [8, 12, 15])
def test_context_takeover_keeps_a_window_not_a_context(bits: int) -> None:
    extension = PerMessageDeflate(False, False, bits, bits)
    # The peer keeps its contexts, within the window agreed: zlib's inflater
    # with that window rejects any reference further back than it.
    peer_encoder = zlib.compressobj(wbits=-max(bits, 9), strategy=zlib.Z_RLE if bits == 8 else 0)
    peer_decoder = zlib.decompressobj(wbits=-max(bits, 9))
    window = 1 << max(bits, 9)
    history = b""
    for message in messages(40):
        history += message
        sent = extension.encode(Frame(TEXT, message))
        assert peer_decoder.decompress(bytes(sent.data) + TAIL) == message
        received = Frame(TEXT, peer_compress(peer_encoder, message), rsv1=True)
        assert extension.decode(received).data == message
        assert holds_no_zlib_object(extension)
        assert len(extension._sent_window) <= window
        assert len(extension._received_window) <= window
    assert extension._sent_window == extension._received_window == history[-window:]


def test_context_takeover_still_refers_to_earlier_messages() -> None:
    extension = frugal_server()
    message = messages(1, seed=1)[0][:2000]
    first = extension.encode(Frame(BINARY, message)).data
    second = extension.encode(Frame(BINARY, message)).data
    # The second copy is a few back-references to the first (258 bytes each).
    assert len(second) < 40 < len(first)
    assert holds_no_zlib_object(extension)


def test_no_context_takeover_keeps_nothing() -> None:
    extension = PerMessageDeflate(True, True, 12, 12)
    for message in messages(20):
        sent = extension.encode(Frame(BINARY, message))
        assert zlib.decompressobj(wbits=-12).decompress(bytes(sent.data) + TAIL) == message
        received = Frame(BINARY, peer_compress(zlib.compressobj(wbits=-12), message), rsv1=True)
        assert extension.decode(received).data == message
        assert holds_no_zlib_object(extension)
        assert extension._sent_window == extension._received_window == b""


def test_a_fragmented_message_keeps_its_zlib_objects_until_its_end() -> None:
    extension = frugal_server()
    peer = zlib.compressobj(wbits=-12)
    extension.encode(Frame(TEXT, b"Hello, ", fin=False))
    assert extension._encoder is not None
    extension.encode(Frame(CONT, b"world"))
    assert extension._encoder is None
    first = peer.compress(b"Hello, ") + peer.flush(zlib.Z_SYNC_FLUSH)
    assert extension.decode(Frame(TEXT, first, fin=False, rsv1=True)).data == b"Hello, "
    assert extension._decoder is not None
    assert extension.decode(Frame(CONT, peer_compress(peer, b"world"))).data == b"world"
    assert holds_no_zlib_object(extension)
    assert extension._sent_window == extension._received_window == b"Hello, world"


def test_the_window_starts_over_after_a_final_block() -> None:
    extension = frugal_server()
    peer = zlib.compressobj(wbits=-12)
    extension.decode(Frame(TEXT, peer_compress(peer, b"before"), rsv1=True))
    assert extension._received_window == b"before"
    # Section 7.2.3.4: the peer ends its DEFLATE stream, then starts another.
    finished = zlib.compress(b"last", wbits=-12)
    assert extension.decode(Frame(TEXT, finished, rsv1=True)).data == b"last"
    assert extension._received_window == b""
    restarted = peer_compress(zlib.compressobj(wbits=-12), b"after")
    assert extension.decode(Frame(TEXT, finished + restarted, rsv1=True)).data == b"lastafter"
    assert extension._received_window == b"after"


def test_memory_held_after_traffic_is_two_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PerMessageDeflate, "live_contexts", 0)
    message = b"".join(messages(10, seed=2))  # longer than the window: it fills up
    assert len(message) > 4096

    def open_and_exchange() -> PerMessageDeflate:
        extension = frugal_server()
        compressed = peer_compress(zlib.compressobj(wbits=-12), message)
        extension.decode(Frame(BINARY, compressed, rsv1=True))
        extension.encode(Frame(BINARY, message))
        return extension

    open_and_exchange()  # one-off allocations
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        extension = open_and_exchange()
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(extension._sent_window) == len(extension._received_window) == 4096
    # Two 4 KiB windows and the object itself; with its zlib objects, 52 KiB.
    assert held < 12 * 1024, held


def exchange(extension: PerMessageDeflate, message: bytes) -> None:
    compressed = peer_compress(zlib.compressobj(wbits=-12), message)
    assert extension.decode(Frame(BINARY, compressed, rsv1=True)).data == message
    extension.encode(Frame(BINARY, message))


def test_the_last_connections_keep_their_contexts_a_bounded_few() -> None:
    connections = [frugal_server() for _ in range(3 * PerMessageDeflate.live_contexts)]
    for extension in connections:
        exchange(extension, b"first")
    assert len(LIVE_COMPRESSORS) == len(LIVE_DECOMPRESSORS) == PerMessageDeflate.live_contexts
    last = connections[-1]
    encoder = LIVE_COMPRESSORS._objects[last]
    decoder = LIVE_DECOMPRESSORS._objects[last]
    # The last connection gets its own objects back; the first makes new ones.
    last.encode(Frame(BINARY, b"first", fin=False))
    assert last._encoder is encoder
    first = connections[0]
    assert first not in LIVE_COMPRESSORS._objects
    first.encode(Frame(BINARY, b"first"))
    assert first._encoder is None
    assert LIVE_COMPRESSORS._objects[first] is not encoder
    compressed = peer_compress(zlib.compressobj(wbits=-12), b"second")
    last.decode(Frame(BINARY, compressed, rsv1=True, fin=False))
    assert last._decoder is decoder


def test_without_context_takeover_nothing_waits_in_the_cache() -> None:
    extension = PerMessageDeflate(True, True, 12, 12)
    exchange(extension, b"message")
    assert extension not in LIVE_COMPRESSORS._objects
    assert extension not in LIVE_DECOMPRESSORS._objects


def test_a_dropped_context_is_made_again_from_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two connections take turns with a cache of one: each always starts anew.
    monkeypatch.setattr(PerMessageDeflate, "live_contexts", 1)
    extensions = [frugal_server(), frugal_server()]
    peers = [zlib.compressobj(wbits=-12) for _ in extensions]
    readers = [zlib.decompressobj(wbits=-12) for _ in extensions]
    for message in messages(30, seed=3):
        for extension, peer, reader in zip(extensions, peers, readers, strict=True):
            received = Frame(TEXT, peer_compress(peer, message), rsv1=True)
            assert extension.decode(received).data == message
            assert (
                reader.decompress(bytes(extension.encode(Frame(TEXT, message)).data) + TAIL)
                == message
            )


def test_the_cache_tolerates_a_concurrent_eviction() -> None:
    class Racing(dict):  # type: ignore[type-arg]
        def popitem(self, last: bool = True) -> Any:
            raise KeyError("emptied by another thread")

    cache: LiveContexts[zlib._Compress] = LiveContexts()
    cache._objects = Racing()  # type: ignore[assignment]
    owner = frugal_server()
    cache.keep(owner, zlib.compressobj(), 0)
    assert cache.take(owner) is not None
