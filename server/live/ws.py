"""The live WebSocket route: ``GET /ws/sessions/{session_id}?token=...``.

The first message is a ``history``, then live messages of :mod:`server.messages` as JSON text.
Close codes: 4401 missing or wrong credentials, 4404 unknown session (or a session the clinician
may not see), 1000 after the ``session`` message saying the session stopped, 1011 on a server
error. Anything the client sends is ignored (the REST API takes commands).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from server.live.finished import finished_history
from server.live.subscription import Subscription
from server.storage import RecordNotFoundError

__all__ = ["CLOSE_NOT_FOUND", "CLOSE_UNAUTHORIZED", "router", "session_socket"]

_log = logging.getLogger(__name__)

#: Close code for missing or wrong credentials (4000-4999: application codes, RFC 6455 7.4.2).
CLOSE_UNAUTHORIZED: Final[int] = 4401
#: Close code for an unknown session.
CLOSE_NOT_FOUND: Final[int] = 4404

router = APIRouter()


async def _send(websocket: WebSocket, sub: Subscription) -> None:
    async for env in sub.envelopes():
        await websocket.send_text(env.text)


async def _receive(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


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

    await websocket.accept()
    principal = await authenticate_websocket(websocket)
    if principal is None:
        await websocket.close(CLOSE_UNAUTHORIZED, "missing or wrong token")
        return
    ctx = websocket.app.state.ctx
    try:
        record = await asyncio.to_thread(ctx.store.get_session, session_id)
    except RecordNotFoundError:
        record = None
    if record is None or not can_view_session(principal, record):
        await websocket.close(CLOSE_NOT_FOUND, f"no session {session_id}")
        return
    await asyncio.to_thread(
        ctx.store.audit, principal.actor, "session.watch_live", "session", session_id
    )
    if record.status in ("stopped", "interrupted") and not ctx.hub.is_live(session_id):
        # a finished session: the whole of it, derived from storage, then the end
        history = await asyncio.to_thread(finished_history, ctx.store, session_id)
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await websocket.send_text(history.model_dump_json())
            await websocket.close(1000, "session stopped")
        return
    sub = ctx.hub.subscribe(session_id, history_s=history_s)
    sender = asyncio.create_task(_send(websocket, sub))
    receiver = asyncio.create_task(_receive(websocket))
    try:
        done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        if sender in done and sender.exception() is None:
            await websocket.close(1000, "session stopped")
        elif sender in done:
            exc = sender.exception()
            if not isinstance(exc, WebSocketDisconnect | RuntimeError | OSError):
                _log.error("live socket of session %d failed: %r", session_id, exc)
                with contextlib.suppress(RuntimeError, OSError):
                    await websocket.close(1011, "server error")
    finally:
        sub.close()
        for task in (sender, receiver):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
