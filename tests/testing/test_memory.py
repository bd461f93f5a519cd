"""wskit.testing.memory: two transports that behave like a socket's two ends."""

from __future__ import annotations

import asyncio

from wskit.testing.memory import CHUNK_SIZE, connect_pair


class Recorder(asyncio.BufferedProtocol):
    """Record what a transport does to its protocol."""

    def __init__(self, keep_open: bool = False) -> None:
        self.events: list[object] = []
        self.buffer = bytearray(100)
        self.keep_open = keep_open
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.events.append("made")

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self.buffer)

    def buffer_updated(self, nbytes: int) -> None:
        self.events.append(bytes(self.buffer[:nbytes]))

    def eof_received(self) -> bool:
        self.events.append("eof")
        return self.keep_open

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append(exc if exc is None else type(exc))
        self.lost.set_result(None)

    def data(self) -> bytes:
        return b"".join(event for event in self.events if isinstance(event, bytes))


async def test_bytes_arrive_on_a_later_turn_in_buffer_sized_pieces() -> None:
    one, two = Recorder(), Recorder()
    first, _ = connect_pair(one, two)
    first.write(b"x" * 250)
    assert two.events == ["made"]  # not within write(), as with a socket
    await asyncio.sleep(0)
    assert two.events == ["made", b"x" * 100, b"x" * 100, b"x" * 50]
    assert first.get_write_buffer_size() == 0


async def test_a_paused_reader_leaves_bytes_with_the_writer_until_it_resumes() -> None:
    one, two = Recorder(), Recorder()
    first, second = connect_pair(one, two)
    first.set_write_buffer_limits(high=CHUNK_SIZE, low=0)
    second.pause_reading()
    assert not second.is_reading()
    first.write(b"y" * CHUNK_SIZE)
    assert "pause" not in one.events
    first.write(b"y")  # past the high-water mark
    assert one.events == ["made", "pause"]
    await asyncio.sleep(0)
    assert two.data() == b""
    assert first.get_write_buffer_size() == CHUNK_SIZE + 1
    second.resume_reading()
    await asyncio.sleep(0)
    assert two.data() == b"y" * (CHUNK_SIZE + 1)
    assert one.events == ["made", "pause", "resume"]


async def test_close_delivers_what_was_written_then_eof() -> None:
    one, two = Recorder(), Recorder()
    first, second = connect_pair(one, two)
    first.write(b"bye")
    first.close()
    first.write(b"dropped")
    assert first.is_closing()
    await asyncio.wait_for(asyncio.gather(one.lost, two.lost), 5)
    assert two.events == ["made", b"bye", "eof", None]  # eof_received() -> False: closes
    assert one.events == ["made", None]
    assert second.is_closing()


async def test_half_close_keeps_the_other_direction_open() -> None:
    one, two = Recorder(), Recorder(keep_open=True)
    first, second = connect_pair(one, two)
    assert first.can_write_eof()
    first.write_eof()
    await asyncio.sleep(0)
    assert two.events == ["made", "eof"]
    second.write(b"still here")
    await asyncio.sleep(0)
    assert one.data() == b"still here"


async def test_abort_drops_pending_bytes_and_resets_the_peer() -> None:
    one, two = Recorder(), Recorder()
    first, _ = connect_pair(one, two)
    first.write(b"never delivered")
    first.abort()
    await asyncio.wait_for(asyncio.gather(one.lost, two.lost), 5)
    assert one.events == ["made", None]
    assert two.events == ["made", ConnectionResetError]
