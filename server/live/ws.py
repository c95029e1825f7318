"""The live WebSocket route: ``GET /ws/sessions/{session_id}?token=...``.

The first message is a ``history``, then live messages of :mod:`server.messages` as JSON text.
Close codes: 4401 missing or wrong credentials, 4404 unknown session (or a session the clinician
may not see), 1000 after the ``session`` message saying the session stopped, 1011 on a server
error. Anything the client sends is ignored (the REST API takes commands).

The connection has one explicit state (:class:`ConnectionState`, as starlette's
``WebSocketState``): ``CONNECTING`` until accepted, ``OPEN``, ``CLOSING`` while the server's
close frame goes out, ``CLOSED`` once either side closed (the client's disconnect, or a send that
failed because the peer is gone). Only the transitions of :data:`TRANSITIONS` are legal; sending
on a connection that is not open raises :class:`ConnectionStateError`, closing one that is
closing or closed does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from typing import Final

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from hrv.errors import SintoniaError
from server.live.finished import finished_history
from server.live.subscription import Subscription
from server.storage import RecordNotFoundError

__all__ = [
    "CLOSE_NOT_FOUND",
    "CLOSE_UNAUTHORIZED",
    "TRANSITIONS",
    "ConnectionState",
    "ConnectionStateError",
    "LiveConnection",
    "router",
    "session_socket",
]

_log = logging.getLogger(__name__)

#: Close code for missing or wrong credentials (4000-4999: application codes, RFC 6455 7.4.2).
CLOSE_UNAUTHORIZED: Final[int] = 4401
#: Close code for an unknown session.
CLOSE_NOT_FOUND: Final[int] = 4404

#: What a send or a close may raise once the peer is gone (starlette and the ASGI server).
_GONE: Final = (WebSocketDisconnect, RuntimeError, OSError)

router = APIRouter()


class ConnectionState(enum.Enum):
    """The state of a live WebSocket connection (RFC 6455 section 4 and 7)."""

    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


#: The legal transitions: from a state to the states it may move to.
TRANSITIONS: Final[dict[ConnectionState, frozenset[ConnectionState]]] = {
    ConnectionState.CONNECTING: frozenset({ConnectionState.OPEN, ConnectionState.CLOSED}),
    ConnectionState.OPEN: frozenset({ConnectionState.CLOSING, ConnectionState.CLOSED}),
    ConnectionState.CLOSING: frozenset({ConnectionState.CLOSED}),
    ConnectionState.CLOSED: frozenset(),
}


class ConnectionStateError(SintoniaError):
    """An operation the connection's state does not allow (e.g. sending before it is open)."""


class LiveConnection:
    """A WebSocket with an explicit :class:`ConnectionState`.

    Parameters
    ----------
    websocket : WebSocket
        Not yet accepted.

    Examples
    --------
    >>> conn = LiveConnection(None)  # type: ignore[arg-type]
    >>> conn.state.value
    'connecting'
    >>> conn.move(ConnectionState.CLOSED); conn.state.value
    'closed'
    >>> conn.move(ConnectionState.OPEN)
    Traceback (most recent call last):
    ...
    server.live.ws.ConnectionStateError: the live connection cannot go from closed to open
    """

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.state = ConnectionState.CONNECTING

    def move(self, to: ConnectionState) -> None:
        """Go to state ``to``; raises :class:`ConnectionStateError` if that is not legal."""
        if to not in TRANSITIONS[self.state]:
            raise ConnectionStateError(
                f"the live connection cannot go from {self.state.value} to {to.value}"
            )
        self.state = to

    async def accept(self) -> None:
        """Accept the handshake: ``CONNECTING`` -> ``OPEN``."""
        if self.state is not ConnectionState.CONNECTING:
            raise ConnectionStateError(
                f"the live connection can be accepted while connecting, not {self.state.value}"
            )
        await self.websocket.accept()
        self.move(ConnectionState.OPEN)

    async def send_text(self, text: str) -> None:
        """Send a text frame; a failure because the peer is gone moves to ``CLOSED``."""
        if self.state is not ConnectionState.OPEN:
            raise ConnectionStateError(
                f"the live connection can send while open, not {self.state.value}"
            )
        try:
            await self.websocket.send_text(text)
        except _GONE:
            self._gone()
            raise

    async def wait_disconnect(self) -> None:
        """Read (and ignore) what the client sends until it disconnects: ``CLOSED``."""
        while self.state in (ConnectionState.OPEN, ConnectionState.CLOSING):
            try:
                message = await self.websocket.receive()
            except _GONE:
                break
            if message["type"] == "websocket.disconnect":
                break
        self._gone()

    async def close(self, code: int, reason: str) -> None:
        """Close from the server's side (nothing to do once closing or closed)."""
        if self.state in (ConnectionState.CLOSING, ConnectionState.CLOSED):
            return
        self.move(ConnectionState.CLOSING)
        try:
            await self.websocket.close(code, reason)
        except _GONE:
            pass
        finally:
            self._gone()

    def _gone(self) -> None:
        if self.state is not ConnectionState.CLOSED:
            self.move(ConnectionState.CLOSED)


async def _send(conn: LiveConnection, sub: Subscription) -> None:
    async for env in sub.envelopes():
        await conn.send_text(env.text)


@router.websocket("/ws/sessions/{session_id}")
async def session_socket(
    websocket: WebSocket, session_id: int, history_s: float | None = None
) -> None:
    """Stream a session's live messages (see :mod:`server.messages`).

    Parameters
    ----------
    session_id : int
    history_s : float, optional
        How much recent history the first message carries, s of session time (default and
        upper bound ``settings.history_s``).
    """
    from server.auth import authenticate_websocket, can_view_session

    conn = LiveConnection(websocket)
    await conn.accept()
    principal = await authenticate_websocket(websocket)
    if principal is None:
        await conn.close(CLOSE_UNAUTHORIZED, "missing or wrong token")
        return
    ctx = websocket.app.state.ctx
    try:
        record = await asyncio.to_thread(ctx.store.get_session, session_id)
    except RecordNotFoundError:
        record = None
    if record is None or not can_view_session(principal, record):
        await conn.close(CLOSE_NOT_FOUND, f"no session {session_id}")
        return
    await asyncio.to_thread(
        ctx.store.audit, principal.actor, "session.watch_live", "session", session_id
    )
    if record.status in ("stopped", "interrupted") and not ctx.hub.is_live(session_id):
        # a finished session: the whole of it, derived from storage, then the end
        history = await asyncio.to_thread(finished_history, ctx.store, session_id)
        with contextlib.suppress(*_GONE):
            await conn.send_text(history.model_dump_json())
        await conn.close(1000, "session stopped")
        return
    if record.status == "live" and not ctx.hub.is_live(session_id) and ctx.cluster.distributed:
        # run by another server process: the session so far from storage, then its messages
        sub = ctx.cluster.relay_subscription(session_id)
    else:
        sub = ctx.hub.subscribe(session_id, history_s=history_s)
    sender = asyncio.create_task(_send(conn, sub))
    receiver = asyncio.create_task(conn.wait_disconnect())
    try:
        done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        if sender in done and sender.exception() is None:
            await conn.close(1000, "session stopped")
        elif sender in done:
            exc = sender.exception()
            if not isinstance(exc, (*_GONE, ConnectionStateError)):
                _log.error("live socket of session %d failed: %r", session_id, exc)
                await conn.close(1011, "server error")
    finally:
        sub.close()
        for task in (sender, receiver):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
