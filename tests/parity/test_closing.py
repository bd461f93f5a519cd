"""The closing handshake: close frames sent, codes, reasons and exceptions."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from .runner import Lib, name_of, same


def open_protocol(lib: Lib, side: str) -> Any:
    """A Sans-I/O connection in the OPEN state."""
    state = lib.mod("protocol").State.OPEN
    if side == "server":
        return lib.mod("server").ServerProtocol(state=state)
    return lib.mod("client").ClientProtocol(lib.mod("uri").parse_uri("ws://x/"), state=state)


def close_frame(lib: Lib, code: int | None, reason: str, *, mask: bool) -> bytes:
    frames = lib.mod("frames")
    data = b"" if code is None else frames.Close(code, reason).serialize()
    serialized: bytes = frames.Frame(frames.Opcode.CLOSE, data).serialize(mask=mask)
    return serialized


@pytest.mark.parametrize("side", ["server", "client"])
@pytest.mark.parametrize(
    ("code", "reason"),
    [(1000, ""), (1001, "bye"), (1012, "restarting"), (4000, "custom"), (None, "")],
)
def test_close_reply_echoes_code_and_reason(side: str, code: int | None, reason: str) -> None:
    def scenario(lib: Lib) -> Any:
        protocol = open_protocol(lib, side)
        protocol.receive_data(close_frame(lib, code, reason, mask=side == "server"))
        sent = protocol.data_to_send()
        frame_class = lib.mod("frames").Frame
        protocol.receive_eof()
        exc = protocol.close_exc
        return (
            [bytes(data) if side == "server" else len(data) for data in sent],
            str(frame_class(lib.mod("frames").Opcode.CLOSE, b"")),
            protocol.close_code,
            protocol.close_reason,
            name_of(exc),
            str(exc.sent),
        )

    same(scenario)


@pytest.mark.parametrize(
    ("code", "reason"), [(1000, ""), (1001, "going"), (1011, "oops"), (4000, "private")]
)
def test_asyncio_close_as_the_peer_sees_it(code: int, reason: str) -> None:
    async def scenario(lib: Lib) -> Any:
        closed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        async def handler(websocket: Any) -> None:
            await websocket.close(code, reason)
            closed.set_result((websocket.close_code, websocket.close_reason))

        async with lib.mod("asyncio.server").serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with lib.mod("asyncio.client").connect(f"ws://127.0.0.1:{port}/") as client:
                try:
                    await client.recv()
                except lib.mod("exceptions").ConnectionClosed as exc:
                    seen = (
                        name_of(exc),
                        exc.rcvd.code,
                        exc.rcvd.reason,
                        exc.sent.code,
                        exc.sent.reason,
                        exc.rcvd_then_sent,
                        str(exc),
                    )
            server_side = await closed
        return seen, (client.close_code, client.close_reason), server_side

    same(scenario)
