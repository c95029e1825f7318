"""The live WebSocket connection's explicit state (:class:`server.live.ws.LiveConnection`).

A fake ASGI WebSocket records what the route does to it; the real route is exercised end to end
in ``tests/server/test_ws_live.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import WebSocketDisconnect

from hrv.errors import SintoniaError
from server.live.ws import TRANSITIONS, ConnectionState, ConnectionStateError, LiveConnection

S = ConnectionState


class FakeSocket:
    def __init__(self, incoming: list[dict[str, Any]] | None = None, *, gone: bool = False):
        self.calls: list[tuple[Any, ...]] = []
        self.incoming = list(incoming or [])
        self.gone = gone

    async def accept(self) -> None:
        self.calls.append(("accept",))

    async def send_text(self, text: str) -> None:
        if self.gone:
            raise WebSocketDisconnect(1001)
        self.calls.append(("send", text))

    async def receive(self) -> dict[str, Any]:
        return self.incoming.pop(0)

    async def close(self, code: int, reason: str) -> None:
        self.calls.append(("close", code, reason))


def conn(ws: FakeSocket) -> LiveConnection:
    return LiveConnection(ws)  # type: ignore[arg-type]


def test_the_transitions_are_those_of_a_websocket() -> None:
    assert TRANSITIONS[S.CONNECTING] == {S.OPEN, S.CLOSED}
    assert TRANSITIONS[S.OPEN] == {S.CLOSING, S.CLOSED}
    assert TRANSITIONS[S.CLOSING] == {S.CLOSED}
    assert TRANSITIONS[S.CLOSED] == set()
    assert issubclass(ConnectionStateError, SintoniaError)


def test_open_send_close() -> None:
    async def main() -> None:
        ws = FakeSocket()
        c = conn(ws)
        with pytest.raises(ConnectionStateError, match="send while open, not connecting"):
            await c.send_text("early")
        await c.accept()
        assert c.state is S.OPEN
        await c.send_text("hello")
        await c.close(1000, "session stopped")
        assert c.state is S.CLOSED
        await c.close(1011, "again")  # closing a closed connection does nothing
        assert ws.calls == [("accept",), ("send", "hello"), ("close", 1000, "session stopped")]
        with pytest.raises(ConnectionStateError):
            await c.send_text("late")
        with pytest.raises(ConnectionStateError):
            await c.accept()

    asyncio.run(main())


def test_a_client_that_went_away_is_closed_and_not_closed_again() -> None:
    async def main() -> None:
        ws = FakeSocket(
            [{"type": "websocket.receive", "text": "hi"}, {"type": "websocket.disconnect"}]
        )
        c = conn(ws)
        await c.accept()
        await c.wait_disconnect()  # what the client sends is read and ignored
        assert c.state is S.CLOSED
        await c.close(1000, "session stopped")
        assert ws.calls == [("accept",)]

        gone = FakeSocket(gone=True)
        c2 = conn(gone)
        await c2.accept()
        with pytest.raises(WebSocketDisconnect):
            await c2.send_text("x")
        assert c2.state is S.CLOSED

    asyncio.run(main())
