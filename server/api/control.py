"""Live control of a session: phases, markers, cue responses, the privacy pause."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request, status

from server.api._common import StorageErrorRoute, context, errors, visible_session
from server.auth import Principal, require_auth
from server.consent_guard import ReviewScope
from server.context import AppContext
from server.models import (
    CueOut,
    CueResponseIn,
    MarkerChangeOut,
    MarkerCorrectIn,
    MarkerIn,
    MarkerOut,
    MarkerRetractIn,
    PacerIn,
    PacerOut,
    PhaseChangeOut,
    PhaseExtendIn,
    PrivacyPauseIn,
    PrivacyPauseOut,
)
from server.storage import Cue, Marker, RecordNotFoundError, StateConflictError

__all__ = [
    "UNDO_WINDOW_S",
    "add_marker",
    "advance_phase",
    "correct_marker",
    "extend_phase",
    "list_cues",
    "list_markers",
    "privacy_pause",
    "respond_to_cue",
    "retract_marker",
    "router",
    "set_pacer",
    "undo_marker",
]

#: How long after a marker (real seconds) the live page's one-click undo is accepted; later, a
#: marker is retracted or corrected with a reason (``.../retract``, ``.../correct``).
UNDO_WINDOW_S: Final[float] = 30.0

router = APIRouter(route_class=StorageErrorRoute)
Auth = Annotated[Principal, Depends(require_auth)]


async def _live_session(
    ctx: AppContext, principal: Principal, session_id: int, action: str
) -> None:
    """404 unless visible; 409 unless the live hub runs the session."""
    session = await asyncio.to_thread(visible_session, ctx, principal, session_id)
    # live here, or (several processes) live in the one that holds its lease
    elsewhere = ctx.cluster.distributed and session.status == "live"
    if not ctx.hub.is_live(session_id) and not elsewhere:
        raise StateConflictError(
            f"cannot {action} session {session_id}", expected="live", actual=session.status
        )


async def _phase(
    ctx: AppContext, session_id: int, op: str, actor: str, **kw: Any
) -> dict[str, Any]:
    """A phase command where the session runs; its ``phase`` message."""
    out = await ctx.cluster.command(session_id, op, actor=actor, **kw)
    if out is None:  # the hub always answers a phase command with its message
        raise StateConflictError(
            f"cannot change the phase of session {session_id}", expected="live", actual="gone"
        )
    return out


def _require_member(ctx: AppContext, session_id: int, participant_id: int) -> None:
    members = {a.participant_id for a in ctx.store.session_participants(session_id)}
    if participant_id not in members:
        raise RecordNotFoundError(f"participant of session {session_id}", participant_id)


def _phase_out(session_id: int, change: dict[str, Any]) -> PhaseChangeOut:
    return PhaseChangeOut.model_validate({**change, "session_id": session_id})


@router.post(
    "/api/sessions/{session_id}/phase/advance",
    summary="End the current phase now and enter the next",
    response_model=PhaseChangeOut,
    responses=errors(404, 409),
    tags=["live control"],
)
async def advance_phase(session_id: int, request: Request, principal: Auth) -> PhaseChangeOut:
    """The hub's phase clock moves on and records the change. 409 unless the session is live
    (or if it is already in its last phase and the hub refuses)."""
    ctx = context(request)
    await _live_session(ctx, principal, session_id, "advance the phase of")
    return _phase_out(session_id, await _phase(ctx, session_id, "advance_phase", principal.actor))


@router.post(
    "/api/sessions/{session_id}/phase/extend",
    summary="Give the current phase more time",
    response_model=PhaseChangeOut,
    responses=errors(404, 409),
    tags=["live control"],
)
async def extend_phase(
    session_id: int, body: PhaseExtendIn, request: Request, principal: Auth
) -> PhaseChangeOut:
    """Later phases keep their planned durations; the projected end moves. 409 unless live."""
    ctx = context(request)
    await _live_session(ctx, principal, session_id, "extend the phase of")
    changed = await _phase(ctx, session_id, "extend_phase", principal.actor, by_s=body.by_s)
    return _phase_out(session_id, changed)


def _add_marker(ctx: AppContext, principal: Principal, session_id: int, body: MarkerIn) -> Marker:
    if body.participant_id is not None:
        _require_member(ctx, session_id, body.participant_id)
    return ctx.store.add_marker(
        session_id,
        body.type,
        note=body.note,
        participant_id=body.participant_id,
        actor=principal.actor,
        at_s=ctx.hub.now(session_id),  # the session clock, so the marker sits on its trace
    )


@router.post(
    "/api/sessions/{session_id}/markers",
    summary="Record an observation (rupture, silence, note, ...)",
    status_code=status.HTTP_201_CREATED,
    response_model=MarkerOut,
    responses=errors(404, 409),
    tags=["live control"],
)
async def add_marker(
    session_id: int, body: MarkerIn, request: Request, principal: Auth
) -> MarkerOut:
    """Stored at once with the current time and shown on the live trace; silence, sudden
    sleepiness and looking away offer a grounding cue. 409 unless the session is live; 404 if
    ``participant_id`` is not in the session."""
    ctx = context(request)
    await _live_session(ctx, principal, session_id, "add a marker to")
    marker = await asyncio.to_thread(_add_marker, ctx, principal, session_id, body)
    await ctx.cluster.command(session_id, "marker_added", marker_id=marker.id)
    return MarkerOut.model_validate(marker)


@router.get(
    "/api/sessions/{session_id}/markers",
    summary="A session's markers in time order",
    response_model=list[MarkerOut],
    responses=errors(404),
    tags=["live control"],
)
def list_markers(
    session_id: int, request: Request, principal: Auth, scope: ReviewScope
) -> list[MarkerOut]:
    """Only markers about the session or about participants who consent to ``review`` (or, live,
    to ``live_display``). Audited (``session.markers.view``)."""
    ctx = context(request)
    ctx.store.audit(principal.actor, "session.markers.view", "session", session_id)
    return [
        MarkerOut.model_validate(m)
        for m in ctx.store.list_markers(session_id, include_retracted=True)
        if scope.allows(m.participant_id)
    ]


def _undo(ctx: AppContext, principal: Principal, session_id: int, marker_id: int) -> Marker:
    marker = ctx.store.get_marker(session_id, marker_id)
    # Real seconds since the marker (a simulated session's clock may run faster): the undo is
    # for the therapist's second thought, which takes real time.
    age = (ctx.hub.now(session_id) - marker.time_s) / max(ctx.hub.speed(session_id), 1e-9)
    if age > UNDO_WINDOW_S:
        raise StateConflictError(
            f"cannot undo marker {marker_id}: it is {age:.0f} s old (undo is for the first "
            f"{UNDO_WINDOW_S:.0f} s; retract it with a reason instead)",
            expected=f"a marker at most {UNDO_WINDOW_S:.0f} s old",
            actual=f"{age:.0f} s",
        )
    return ctx.store.retract_marker(
        session_id,
        marker_id,
        actor=principal.actor,
        reason="undone from the live page",
        action="marker.undo",
        at_s=ctx.hub.now(session_id),
    )


@router.post(
    "/api/sessions/{session_id}/markers/{marker_id}/undo",
    summary="Undo a marker just recorded (live page)",
    response_model=MarkerChangeOut,
    responses=errors(404, 409),
    tags=["live control"],
)
async def undo_marker(
    session_id: int, marker_id: int, request: Request, principal: Auth
) -> MarkerChangeOut:
    """Within ``UNDO_WINDOW_S`` (30 real seconds) of the marker, while the session is live.
    The marker stays stored, marked retracted; audited (``marker.undo``). 409 when too old or
    already withdrawn."""
    ctx = context(request)
    await _live_session(ctx, principal, session_id, "undo a marker of")
    marker = await asyncio.to_thread(_undo, ctx, principal, session_id, marker_id)
    await ctx.cluster.command(session_id, "marker_changed", marker_id=marker.id)
    return MarkerChangeOut(retracted=MarkerOut.model_validate(marker))


@router.post(
    "/api/sessions/{session_id}/markers/{marker_id}/retract",
    summary="Retract a marker later, with a reason",
    response_model=MarkerChangeOut,
    responses=errors(404, 409, 422),
    tags=["live control"],
)
async def retract_marker(
    session_id: int, marker_id: int, body: MarkerRetractIn, request: Request, principal: Auth
) -> MarkerChangeOut:
    """At any time, live or after the session. The marker stays stored, marked retracted, and is
    left out of the review and exports; audited (``marker.retract``, with the reason)."""
    ctx = context(request)
    await asyncio.to_thread(visible_session, ctx, principal, session_id)
    marker = await asyncio.to_thread(
        ctx.store.retract_marker,
        session_id,
        marker_id,
        actor=principal.actor,
        reason=body.reason,
        action="marker.retract",
    )
    await ctx.cluster.command(session_id, "marker_changed", marker_id=marker.id)
    return MarkerChangeOut(retracted=MarkerOut.model_validate(marker))


@router.post(
    "/api/sessions/{session_id}/markers/{marker_id}/correct",
    summary="Correct a marker: retract it and record the right one at the same time",
    response_model=MarkerChangeOut,
    responses=errors(404, 409, 422),
    tags=["live control"],
)
async def correct_marker(
    session_id: int, marker_id: int, body: MarkerCorrectIn, request: Request, principal: Auth
) -> MarkerChangeOut:
    """At any time. The original stays stored, marked retracted; the correction names it in
    ``replaces_id``; audited (``marker.correct``, with the reason)."""
    ctx = context(request)
    await asyncio.to_thread(visible_session, ctx, principal, session_id)
    old, new = await asyncio.to_thread(
        ctx.store.correct_marker,
        session_id,
        marker_id,
        body.type,
        actor=principal.actor,
        note=body.note,
        reason=body.reason,
    )
    await ctx.cluster.command(session_id, "marker_changed", marker_id=old.id)
    await ctx.cluster.command(session_id, "marker_added", marker_id=new.id)
    return MarkerChangeOut(
        retracted=MarkerOut.model_validate(old), correction=MarkerOut.model_validate(new)
    )


@router.get(
    "/api/sessions/{session_id}/cues",
    summary="A session's cues, their reasons and responses",
    response_model=list[CueOut],
    responses=errors(404),
    tags=["live control"],
)
def list_cues(
    session_id: int, request: Request, principal: Auth, scope: ReviewScope
) -> list[CueOut]:
    """Only cues about the session or about participants who consent to ``review`` (or, live,
    to ``live_display``). Audited (``session.cues.view``)."""
    ctx = context(request)
    ctx.store.audit(principal.actor, "session.cues.view", "session", session_id)
    return [
        CueOut.model_validate(c)
        for c in ctx.store.list_cues(session_id)
        if scope.allows(c.participant_id)
    ]


def _respond(
    ctx: AppContext, principal: Principal, session_id: int, cue_id: int, body: CueResponseIn
) -> Cue:
    visible_session(ctx, principal, session_id)
    if cue_id not in {c.id for c in ctx.store.list_cues(session_id)}:
        raise RecordNotFoundError(f"cue of session {session_id}", cue_id)
    cue = ctx.store.respond_to_cue(cue_id, body.response, at_s=ctx.hub.now(session_id))
    ctx.store.audit(principal.actor, "cue.respond", "cue", cue_id, {"response": body.response})
    return cue


@router.post(
    "/api/sessions/{session_id}/cues/{cue_id}/response",
    summary="Acknowledge or dismiss a cue",
    response_model=CueOut,
    responses=errors(404, 409),
    tags=["live control"],
)
async def respond_to_cue(
    session_id: int, cue_id: int, body: CueResponseIn, request: Request, principal: Auth
) -> CueOut:
    """Recorded once (409 if the cue was already answered); a live dashboard hides the card."""
    ctx = context(request)
    cue = await asyncio.to_thread(_respond, ctx, principal, session_id, cue_id, body)
    if ctx.hub.is_live(session_id) or ctx.cluster.distributed:
        with contextlib.suppress(StateConflictError):  # stored; a page not live just reloads
            await ctx.cluster.command(
                session_id, "cue_responded", cue_id=cue_id, response=body.response
            )
    return CueOut.model_validate(cue)


@router.post(
    "/api/sessions/{session_id}/privacy-pause",
    summary="Hide and stop a participant's stream (or resume it)",
    response_model=PrivacyPauseOut,
    responses=errors(404, 409),
    tags=["live control"],
)
async def privacy_pause(
    session_id: int, body: PrivacyPauseIn, request: Request, principal: Auth
) -> PrivacyPauseOut:
    """As the patient may ask at any moment; recorded as an event by the hub. 409 unless the
    session is live; 404 if the participant is not in it."""
    ctx = context(request)
    await _live_session(ctx, principal, session_id, "pause a stream of")
    await asyncio.to_thread(_require_member, ctx, session_id, body.participant_id)
    await ctx.cluster.command(
        session_id,
        "set_privacy_pause",
        participant_id=body.participant_id,
        paused=body.paused,
        actor=principal.actor,
    )
    await asyncio.to_thread(
        ctx.store.audit,
        principal.actor,
        "session.privacy_pause",
        "session",
        session_id,
        {"participant_id": body.participant_id, "paused": body.paused},
    )
    return PrivacyPauseOut(
        session_id=session_id, participant_id=body.participant_id, paused=body.paused
    )


@router.post(
    "/api/sessions/{session_id}/pacer",
    summary="Show or hide the paced-breathing pacer",
    response_model=PacerOut,
    responses=errors(404, 409),
    tags=["live control"],
)
async def set_pacer(session_id: int, body: PacerIn, request: Request, principal: Auth) -> PacerOut:
    """While the pacer shows, the hub reports the coherence ratio every 5 s. 409 unless the
    session is live."""
    ctx = context(request)
    await _live_session(ctx, principal, session_id, "set the pacer of")
    await ctx.cluster.command(session_id, "set_pacer", on=body.on)
    return PacerOut(session_id=session_id, on=body.on)
