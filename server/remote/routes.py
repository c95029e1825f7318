"""Remote-session routes: join links (therapist), the patient's page and API, the ingest socket.

Therapist side (the usual credentials of :mod:`server.auth`):

* ``POST /api/sessions/{id}/join-links`` ``{"participant_id", "expires_in_s"}`` ->
  ``{"url", "token", "expires_at_s", ...}``; the participant is assigned to the session as a
  ``remote`` device if the session is still planned;
* ``GET /api/sessions/{id}/join-links``: the links (never their tokens) with their state and
  link quality; ``POST /api/sessions/{id}/join-links/{link_id}/revoke``: revoke now (open ingest
  connections close at once with 4411).

Patient side (the join token only, in the path or the ``join`` query parameter; it opens
nothing else):

* ``GET /join/{token}``: the patient's page (:mod:`server.web.join`, which checks the link
  with :func:`usable_link`);
* ``GET /api/join/{token}``: what the page shows; ``POST /api/join/{token}/consents``: the
  participant gives or refuses one purpose (recorded as given by the participant);
* WebSocket ``/ws/ingest?join=TOKEN[&stream=ID]``: the ingest protocol
  (:mod:`server.remote.protocol`).

Every use of a link (page, API, ingest connection, refused attempt) goes to the audit log, with
the actor ``participant:<link id>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Annotated, Any, Final

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Request, WebSocket, status
from starlette.websockets import WebSocketDisconnect, WebSocketState

from dashboard.vocab import CONSENT_WORDS
from sensor.types import BeatBatch
from server.api._common import StorageErrorRoute, context, visible_participant, visible_session
from server.auth import Principal, require_auth
from server.cluster.broker import BrokerError
from server.context import AppContext
from server.readmodel import privacy_pauses
from server.remote.clock import save_clock
from server.remote.links import (
    JoinLink,
    create_join_link,
    get_join_link,
    list_join_links,
    resolve_token,
    revoke_join_link,
)
from server.remote.models import (
    JoinConsentIn,
    JoinInfoOut,
    JoinLinkCreatedOut,
    JoinLinkIn,
    JoinLinkOut,
    JoinPurposeOut,
    LinkQualityOut,
)
from server.remote.protocol import (
    CLOSE_EXPIRED,
    CLOSE_MALFORMED,
    CLOSE_NO_CONSENT,
    CLOSE_NOT_FOUND,
    CLOSE_REVOKED,
    CLOSE_TOO_BIG,
    CLOSE_UNKNOWN_TOKEN,
    MAX_BEATS_PER_MESSAGE,
    MAX_MESSAGE_BYTES,
    BeatsIn,
    PingIn,
    ProtocolError,
    beat_seq,
    parse_client_message,
    valid_stream_id,
)
from server.remote.registry import IngestConnection, RemoteRegistry
from server.storage import DeviceAssignment, RecordNotFoundError

__all__ = [
    "PURPOSE_TEXT",
    "create_link",
    "ingest_socket",
    "join_consent",
    "join_info",
    "list_links",
    "registry",
    "revoke_link",
    "router",
    "usable_link",
]

_log = logging.getLogger(__name__)

router = APIRouter(route_class=StorageErrorRoute)
Auth = Annotated[Principal, Depends(require_auth)]

#: Version of the consent text of the patient's page.
_CONSENT_VERSION: Final[str] = "remote-1"
#: Longest wait for the beat writer before a connection is closed (1011), s.
_DURABLE_TIMEOUT_S: Final[float] = 60.0
#: What each consent purpose allows, as the patient's page says it (:mod:`dashboard.vocab`).
PURPOSE_TEXT: Final[dict[str, str]] = {p: w.to_participant for p, w in CONSENT_WORDS.items()}
_RETENTION: Final[str] = (
    "Stored beats stay on your therapist's computer until you or your therapist revoke the "
    "storage consent, which deletes them. This link stops working when it expires or is revoked."
)
_SHOWN: Final[str] = (
    "This page shows you only the connection status: strap connected, contact, last beat, "
    "upload state. It does not show you or anyone else a judgement of your state."
)


def registry(app: Any) -> RemoteRegistry:
    """The app's :class:`RemoteRegistry` (created on first use)."""
    reg: RemoteRegistry | None = getattr(app.state, "remote", None)
    if reg is None:
        reg = RemoteRegistry()
        app.state.remote = reg
    return reg


def _actor(link: JoinLink) -> str:
    return f"participant:{link.id}"


# ============================================================================ therapist side


def _link_out(ctx: AppContext, reg: RemoteRegistry, link: JoinLink, code: str) -> JoinLinkOut:
    return JoinLinkOut(
        id=link.id,
        session_id=link.session_id,
        participant_id=link.participant_id,
        participant_code=code,
        created_at_s=link.created_at_s,
        expires_at_s=link.expires_at_s,
        revoked_at_s=link.revoked_at_s,
        created_by=link.created_by,
        state=link.state(ctx.store.now()),
        quality=LinkQualityOut.model_validate(reg.quality(link.id)),
    )


def _create(
    ctx: AppContext, principal: Principal, session_id: int, body: JoinLinkIn
) -> tuple[JoinLink, str]:
    session = visible_session(ctx, principal, session_id)
    visible_participant(ctx, principal, body.participant_id)
    if session.status == "stopped":
        raise HTTPException(status.HTTP_409_CONFLICT, detail="the session is stopped")
    assigned = {a.participant_id: a for a in ctx.store.session_participants(session_id)}
    current = assigned.get(body.participant_id)
    if current is None or current.source_kind != "remote":
        if session.status not in ("planned", "interrupted"):
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail=f"participant {body.participant_id} is not a remote participant of "
                f"session {session_id}, which is {session.status}: assign them before it starts",
            )
        ctx.store.assign_device(session_id, DeviceAssignment(body.participant_id, "remote", None))
    return create_join_link(
        ctx.store, session_id, body.participant_id, body.expires_in_s, actor=principal.actor
    )


@router.post(
    "/api/sessions/{session_id}/join-links",
    summary="Create a join link for a remote participant",
    status_code=status.HTTP_201_CREATED,
    tags=["remote"],
)
async def create_link(
    session_id: int, body: JoinLinkIn, request: Request, principal: Auth
) -> JoinLinkCreatedOut:
    """A single-participant, single-session, expiring, revocable link; the token is returned
    once (only its SHA-256 is stored). Audited (``join_link.create``)."""
    ctx = context(request)
    link, token = await asyncio.to_thread(_create, ctx, principal, session_id, body)
    base = str(request.base_url).rstrip("/")
    return JoinLinkCreatedOut(
        id=link.id,
        session_id=link.session_id,
        participant_id=link.participant_id,
        url=f"{base}/join/{token}",
        token=token,
        expires_at_s=link.expires_at_s,
    )


@router.get(
    "/api/sessions/{session_id}/join-links",
    summary="The join links of a session, with link quality",
    tags=["remote"],
)
def list_links(session_id: int, request: Request, principal: Auth) -> list[JoinLinkOut]:
    """Oldest first; never the tokens. Audited (``join_link.list``)."""
    ctx = context(request)
    visible_session(ctx, principal, session_id)
    codes = {p.id: p.code for p in ctx.store.list_participants(session_id=session_id)}
    reg = registry(request.app)
    links = list_join_links(ctx.store, session_id)
    ctx.store.audit(principal.actor, "join_link.list", "session", session_id)
    return [_link_out(ctx, reg, link, codes.get(link.participant_id, "?")) for link in links]


@router.post(
    "/api/sessions/{session_id}/join-links/{link_id}/revoke",
    summary="Revoke a join link now",
    tags=["remote"],
)
async def revoke_link(
    session_id: int, link_id: int, request: Request, principal: Auth
) -> JoinLinkOut:
    """Open ingest connections of the link close at once (4411); nothing more is stored."""
    ctx = context(request)

    def revoke() -> tuple[JoinLink, str]:
        visible_session(ctx, principal, session_id)
        link = get_join_link(ctx.store, link_id)
        if link is None or link.session_id != session_id:
            raise RecordNotFoundError("join link", link_id)
        revoked = revoke_join_link(ctx.store, link_id, actor=principal.actor)
        assert revoked is not None
        return revoked, ctx.store.get_participant(link.participant_id).code

    reg = registry(request.app)
    link, code = await asyncio.to_thread(revoke)
    reg.revoke(link_id, CLOSE_REVOKED, "join link revoked")
    return _link_out(ctx, reg, link, code)


# ============================================================================ patient side


def usable_link(ctx: AppContext, token: str, use: str) -> JoinLink:
    """The active link of a token, audited; 404 for an unknown, expired or revoked one."""
    link = resolve_token(ctx.store, token)
    if link is None:
        ctx.store.audit(
            "participant:unknown",
            "join_link.refused",
            "join_link",
            None,
            {"use": use, "reason": "unknown"},
        )
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="unknown join link")
    state = link.state(ctx.store.now())
    if state != "active":
        ctx.store.audit(
            _actor(link), "join_link.refused", "join_link", link.id, {"use": use, "reason": state}
        )
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"this join link is {state}")
    ctx.store.audit(_actor(link), "join_link.use", "join_link", link.id, {"use": use})
    return link


def _info(ctx: AppContext, link: JoinLink) -> JoinInfoOut:
    participant = ctx.store.get_participant(link.participant_id)
    session = ctx.store.get_session(link.session_id)
    active = ctx.store.active_purposes(link.participant_id, session_id=link.session_id)
    return JoinInfoOut(
        session_id=link.session_id,
        participant_code=participant.code,
        expires_at_s=link.expires_at_s,
        session_status=session.status,
        purposes=[
            JoinPurposeOut(purpose=p, granted=p in active, what=text)
            for p, text in PURPOSE_TEXT.items()
        ],
        retention=_RETENTION,
        shown=_SHOWN,
        ingest_path="/ws/ingest",
    )


@router.get("/api/join/{token}", summary="What the patient's page shows", tags=["remote"])
def join_info(token: str, request: Request) -> JoinInfoOut:
    """Needs only the join token. Audited (``join_link.use``)."""
    ctx = context(request)
    return _info(ctx, usable_link(ctx, token, "info"))


@router.post(
    "/api/join/{token}/consents",
    summary="The participant gives or refuses one consent purpose",
    tags=["remote"],
)
async def join_consent(token: str, body: JoinConsentIn, request: Request) -> JoinInfoOut:
    """Recorded as given by the participant (``recorded_by`` / actor ``participant:<link>``),
    for this session only; refusing revokes with immediate effect (revoking ``storage`` closes
    the link's ingest connections at once and deletes what was stored, as the consent says)."""
    ctx = context(request)

    def change() -> JoinLink:
        link = usable_link(ctx, token, f"consent:{body.purpose}")
        active = ctx.store.active_purposes(link.participant_id, session_id=link.session_id)
        if body.granted and body.purpose not in active:
            ctx.store.grant_consent(
                link.participant_id,
                body.purpose,
                _CONSENT_VERSION,
                session_id=link.session_id,
                recorded_by=_actor(link),
            )
        elif not body.granted and body.purpose in active:
            ctx.store.revoke_consent(
                link.participant_id,
                body.purpose,
                session_id=link.session_id,
                actor=_actor(link),
            )
        return link

    link = await asyncio.to_thread(change)
    if not body.granted and body.purpose == "storage":
        registry(request.app).revoke(link.id, CLOSE_NO_CONSENT, "storage consent revoked")
    await ctx.cluster.consent_changed(link.participant_id)
    return await asyncio.to_thread(_info, ctx, link)


# ============================================================================ ingest


class _Closed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _check_link(ctx: AppContext, token: str | None, stream: str) -> JoinLink:
    """The link of an ingest handshake, or :class:`_Closed` with the code to close with."""
    link = resolve_token(ctx.store, token)
    if link is None:
        ctx.store.audit(
            "participant:unknown",
            "join_link.refused",
            "join_link",
            None,
            {"use": "ingest", "reason": "unknown"},
        )
        raise _Closed(CLOSE_UNKNOWN_TOKEN, "unknown join token")
    state = link.state(ctx.store.now())
    if state != "active":
        ctx.store.audit(
            _actor(link),
            "join_link.refused",
            "join_link",
            link.id,
            {"use": "ingest", "reason": state},
        )
        code = CLOSE_EXPIRED if state == "expired" else CLOSE_REVOKED
        raise _Closed(code, f"join link {state}")
    if not valid_stream_id(stream):
        raise _Closed(CLOSE_MALFORMED, "stream must be 1-32 characters of A-Z a-z 0-9 _ -")
    try:
        assigned = {a.participant_id for a in ctx.store.session_participants(link.session_id)}
    except RecordNotFoundError:
        assigned = set()
    if link.participant_id not in assigned:
        raise _Closed(CLOSE_NOT_FOUND, "the participant is not in the session")
    _require_storage(ctx, link)
    ctx.store.audit(
        _actor(link), "join_link.use", "join_link", link.id, {"use": "ingest", "stream": stream}
    )
    return link


def _require_storage(ctx: AppContext, link: JoinLink) -> None:
    if not ctx.store.has_consent(link.participant_id, "storage", session_id=link.session_id):
        raise _Closed(CLOSE_NO_CONSENT, "no storage consent: give it on the join page first")


@router.websocket("/ws/ingest")
async def ingest_socket(websocket: WebSocket) -> None:
    """The ingest protocol (:mod:`server.remote.protocol`) for one join link."""
    ctx: AppContext = websocket.app.state.ctx
    reg = registry(websocket.app)
    await websocket.accept()
    stream = websocket.query_params.get("stream", "0")
    send_lock = asyncio.Lock()
    conn: IngestConnection | None = None
    code, reason = 1000, "bye"
    acks: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue()
    acker: asyncio.Task[None] | None = None

    async def send(data: dict[str, Any]) -> None:
        async with send_lock:
            await websocket.send_text(json.dumps(data))

    def close_now(c: int, r: str) -> asyncio.Task[None]:
        async def do() -> None:
            async with send_lock:
                if websocket.application_state == WebSocketState.CONNECTED:
                    with contextlib.suppress(Exception):
                        await websocket.close(c, r)

        return asyncio.ensure_future(do())

    async def ack_loop(link: JoinLink) -> None:
        stats = reg.stats(link.id).acked.setdefault(stream, set())
        while (item := await acks.get()) is not None:
            seq, ticket = item
            if ticket >= 0:
                ok = await ctx.writer.wait_durable_async(ticket, timeout=_DURABLE_TIMEOUT_S)
                if not ok:
                    close_now(1011, "storage is not keeping up")
                    return
            if conn is not None and conn.closed_code is not None:
                return
            stats.add(seq)
            await send({"type": "ack", "seq": seq})

    try:
        try:
            link = await asyncio.to_thread(
                _check_link, ctx, websocket.query_params.get("join"), stream
            )
        except _Closed as exc:
            code, reason = exc.code, exc.reason
            raise
        conn = IngestConnection(link.id, stream, close_now)
        reg.add(conn)
        acker = asyncio.create_task(ack_loop(link))
        participant = await asyncio.to_thread(ctx.store.get_participant, link.participant_id)
        await send(
            {
                "type": "hello",
                "session_id": link.session_id,
                "participant_code": participant.code,
                "link_id": link.id,
                "stream": stream,
                "expires_at_s": link.expires_at_s,
                "server_time_s": ctx.store.now(),
                "max_beats_per_message": MAX_BEATS_PER_MESSAGE,
                "max_message_bytes": MAX_MESSAGE_BYTES,
            }
        )
        await _receive_loop(ctx, reg, websocket, link, conn, stream, send, acks)
    except _Closed as exc:
        code, reason = exc.code, exc.reason
    except WebSocketDisconnect as exc:
        code, reason = exc.code, "client closed"
    finally:
        if conn is not None and conn.closed_code is not None:
            code = conn.closed_code
        if acker is not None:
            await acks.put(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(acker, timeout=_DURABLE_TIMEOUT_S)
        if conn is not None:
            reg.remove(conn, code)
        await close_now(code, reason)
        if code not in (1000, 1001, 1005):
            _log.info("ingest connection closed: %d %s", code, reason)


async def _receive_loop(
    ctx: AppContext,
    reg: RemoteRegistry,
    websocket: WebSocket,
    link: JoinLink,
    conn: IngestConnection,
    stream: str,
    send: Any,
    acks: asyncio.Queue[tuple[int, int] | None],
) -> None:
    stats = reg.stats(link.id)
    acked = stats.acked.setdefault(stream, set())
    device = f"remote:{link.id}:{stream}"
    label = str(link.participant_id)
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(int(message.get("code", 1000)))
        now = ctx.store.now()
        if conn.closed_code is not None:  # revoked while this frame was on its way
            raise _Closed(conn.closed_code, "closed")
        text = message.get("text")
        if text is None:
            raise _Closed(CLOSE_MALFORMED, "binary frames are not part of the protocol")
        if len(text) > MAX_MESSAGE_BYTES or len(text.encode()) > MAX_MESSAGE_BYTES:
            raise _Closed(CLOSE_TOO_BIG, f"messages are at most {MAX_MESSAGE_BYTES} bytes")
        if now >= link.expires_at_s:
            raise _Closed(CLOSE_EXPIRED, "join link expired")
        try:
            msg = parse_client_message(text)
        except ProtocolError as exc:
            raise _Closed(CLOSE_MALFORMED, str(exc)[:120]) from None
        if isinstance(msg, PingIn):
            stats.clock.add(msg.t_device_s, now, msg.rtt_s)
            if msg.buffered is not None:
                stats.client_buffered = msg.buffered
            await send(
                {
                    "type": "pong",
                    "t_device_s": msg.t_device_s,
                    "t_server_s": now,
                    "offset_s": stats.clock.offset_s,
                    "drift_ppm": stats.clock.drift_ppm,
                    "uncertainty_s": stats.clock.uncertainty_s,
                }
            )
            # after the pong (the client's round trip does not include this write)
            await asyncio.to_thread(save_clock, ctx.store, link.id, stats.clock, now)
            continue
        await _beats(ctx, link, conn, stats, acked, device, label, msg, now, acks)


async def _beats(
    ctx: AppContext,
    link: JoinLink,
    conn: IngestConnection,
    stats: Any,
    acked: set[int],
    device: str,
    label: str,
    msg: BeatsIn,
    now: float,
    acks: asyncio.Queue[tuple[int, int] | None],
) -> None:
    if msg.seq in acked:  # stored before: acknowledge again, store and show nothing twice
        await acks.put((msg.seq, -1))
        return
    try:
        await asyncio.to_thread(_require_storage, ctx, link)
    except _Closed:
        conn.closed_code = CLOSE_NO_CONSENT
        raise
    if conn.closed_code is not None:
        raise _Closed(conn.closed_code, "closed")
    times = np.array([stats.clock.to_server(t) for t in msg.t_device_s], dtype=np.float64)
    batch = BeatBatch(
        participant=label,
        device=device,
        rr_ms=np.array(msg.rr_ms, dtype=np.float64),
        rr_raw=None,
        host_time_s=now,
        beat_times_s=times,
        contact=msg.contact,
        seq=beat_seq(msg.seq, 0),
        gap_before=msg.gap_before,
    )
    if not ctx.hub.ingest_remote(link.session_id, batch):
        # not run here: stored first all the same (unless the person's stream is paused: a
        # pause stops storage too), then handed to the process that runs it
        if await asyncio.to_thread(_paused, ctx, link.session_id, link.participant_id):
            await acks.put((msg.seq, -1))
            return
        ctx.writer.submit(link.session_id, link.participant_id, batch)
        ticket = ctx.writer.stats.submitted_items - 1
        try:
            await ctx.cluster.forward_ingest(link.session_id, link.participant_id, batch)
        except BrokerError as exc:  # stored; the owner's trace misses them until review
            _log.warning("beats of session %d not forwarded: %s", link.session_id, exc)
    else:
        ticket = ctx.writer.stats.submitted_items - 1
    stats.beats_received += len(batch)
    stats.last_beat_server_s = now
    stats.last_upload_delay_s = max(0.0, now - float(times[-1]))
    await acks.put((msg.seq, ticket))


def _paused(ctx: AppContext, session_id: int, participant_id: int) -> bool:
    """Whether the participant's stream is in a privacy pause, from the stored markers (what a
    process that does not run the session knows of it)."""
    pauses = privacy_pauses(ctx.store.list_markers(session_id), end_s=float("inf"))
    return any(p.participant_id == participant_id and p.end_s == float("inf") for p in pauses)
