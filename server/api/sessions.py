"""Sessions: plan from a phase template, assign devices, start, stop, list, get."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from dashboard.phases import DEFAULT_FIRST_SESSION
from server.api._common import (
    StorageErrorRoute,
    context,
    errors,
    require_status,
    visible_participant,
    visible_session,
)
from server.auth import Principal, require_auth
from server.context import AppContext
from server.models import (
    DeviceAssignmentOut,
    SessionDetailOut,
    SessionIn,
    SessionListOut,
    SessionOut,
    SessionParticipantIn,
    device_address,
)
from server.storage import DeviceAssignment, SessionStatus

__all__ = [
    "assign_device",
    "create_session",
    "get_session",
    "list_sessions",
    "router",
    "session_detail",
    "start_session",
    "stop_session",
]

router = APIRouter(route_class=StorageErrorRoute, tags=["sessions"])
Auth = Annotated[Principal, Depends(require_auth)]

#: States in which a session's participants and devices may still change.
_EDITABLE: tuple[str, ...] = ("planned", "interrupted")


def _check_file_sources(
    ctx: AppContext, principal: Principal, people: list[SessionParticipantIn]
) -> None:
    """403 unless the caller may assign files to replay (the admin, or clinicians if allowed)."""
    if principal.is_admin or ctx.settings.clinician_file_sources:
        return
    if any(p.device.kind == "file" for p in people):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="only the admin token may assign a file to replay on this server",
        )


def _assignment(p: SessionParticipantIn) -> DeviceAssignment:
    return DeviceAssignment(p.participant_id, p.device.kind, device_address(p.device))


def session_detail(ctx: AppContext, session_id: int) -> SessionDetailOut:
    """The session with its participants (codes, roles, devices) and whether it is live."""
    session = ctx.store.get_session(session_id)
    people = {p.id: p for p in ctx.store.list_participants(session_id=session_id)}
    assigned = [
        DeviceAssignmentOut(
            participant_id=a.participant_id,
            code=people[a.participant_id].code,
            role=people[a.participant_id].role,
            source_kind=a.source_kind,
            address=a.address,
            assigned_at_s=a.assigned_at_s,
        )
        for a in ctx.store.session_participants(session_id)
        if a.participant_id in people
    ]
    base = SessionOut.model_validate(session).model_dump()
    return SessionDetailOut(**base, participants=assigned, live=ctx.hub.is_live(session_id))


@router.post(
    "/api/sessions",
    summary="Plan a session from a phase template",
    status_code=status.HTTP_201_CREATED,
    response_model=SessionDetailOut,
    responses=errors(403, 404),
)
def create_session(body: SessionIn, request: Request, principal: Auth) -> SessionDetailOut:
    """The template defaults to the 60-minute first session. Participants (with their devices)
    may be given now or later; nothing is created if one of them is unknown (404)."""
    ctx = context(request)
    if principal.is_admin:
        owner = body.clinician_id
    elif body.clinician_id not in (None, principal.clinician_id):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail="a clinician can create only their own sessions"
        )
    else:
        owner = principal.clinician_id
    for p in body.participants:
        visible_participant(ctx, principal, p.participant_id)
    _check_file_sources(ctx, principal, body.participants)
    template = (
        DEFAULT_FIRST_SESSION if body.template is None else body.template.to_template()
    ).to_dict()
    session = ctx.store.create_session(
        template,
        clinician_id=owner,
        label=body.label,
        planned_start_s=body.planned_start_s,
        participants=[_assignment(p) for p in body.participants],
        actor=principal.actor,
    )
    return session_detail(ctx, session.id)


@router.get(
    "/api/sessions",
    summary="List sessions, newest first",
    response_model=SessionListOut,
    responses=errors(),
)
def list_sessions(
    request: Request,
    principal: Auth,
    status_: Annotated[SessionStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> SessionListOut:
    """The admin sees all sessions, a clinician their own. Audited (``session.list``)."""
    ctx = context(request)
    found = ctx.store.list_sessions(
        clinician_id=principal.clinician_id, status=status_, limit=limit, offset=offset
    )
    ctx.store.audit(principal.actor, "session.list", "session", None, {"n": len(found)})
    return SessionListOut(
        sessions=[SessionOut.model_validate(s) for s in found], limit=limit, offset=offset
    )


@router.get(
    "/api/sessions/{session_id}",
    summary="One session with its participants and devices",
    response_model=SessionDetailOut,
    responses=errors(404),
)
def get_session(session_id: int, request: Request, principal: Auth) -> SessionDetailOut:
    """Audited (``session.view``)."""
    ctx = context(request)
    visible_session(ctx, principal, session_id)
    ctx.store.audit(principal.actor, "session.view", "session", session_id)
    return session_detail(ctx, session_id)


@router.post(
    "/api/sessions/{session_id}/participants",
    summary="Add a participant to a session, or change their device",
    response_model=DeviceAssignmentOut,
    responses=errors(403, 404, 409),
)
def assign_device(
    session_id: int, body: SessionParticipantIn, request: Request, principal: Auth
) -> DeviceAssignmentOut:
    """A BLE strap (address or name), the simulator, a file to replay or an LSL stream. Only
    before the session starts (or while it is interrupted): 409 otherwise."""
    ctx = context(request)
    require_status(visible_session(ctx, principal, session_id), _EDITABLE, "change devices of")
    participant = visible_participant(ctx, principal, body.participant_id)
    _check_file_sources(ctx, principal, [body])
    a = ctx.store.assign_device(session_id, _assignment(body))
    return DeviceAssignmentOut(
        participant_id=a.participant_id,
        code=participant.code,
        role=participant.role,
        source_kind=a.source_kind,
        address=a.address,
        assigned_at_s=a.assigned_at_s,
    )


@router.post(
    "/api/sessions/{session_id}/start",
    summary="Start a planned (or resume an interrupted) session live",
    response_model=SessionDetailOut,
    responses=errors(403, 404, 409),
)
async def start_session(session_id: int, request: Request, principal: Auth) -> SessionDetailOut:
    """The live hub opens the session's sources and starts storing and streaming. 409 if the
    session is already live or stopped."""
    ctx = context(request)
    session = await asyncio.to_thread(visible_session, ctx, principal, session_id)
    require_status(session, _EDITABLE, "start")
    if not (principal.is_admin or ctx.settings.clinician_file_sources):
        kinds = await asyncio.to_thread(ctx.store.session_participants, session_id)
        if any(a.source_kind == "file" for a in kinds):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail="only the admin token may start a session that replays a file",
            )
    await ctx.hub.start_session(session_id, actor=principal.actor)
    return await asyncio.to_thread(session_detail, ctx, session_id)


@router.post(
    "/api/sessions/{session_id}/stop",
    summary="Stop a live session",
    response_model=SessionDetailOut,
    responses=errors(404, 409),
)
async def stop_session(session_id: int, request: Request, principal: Auth) -> SessionDetailOut:
    """The hub closes the sources, flushes every beat to storage and ends the phase clock. 409
    if the session is not live."""
    ctx = context(request)
    session = await asyncio.to_thread(visible_session, ctx, principal, session_id)
    require_status(session, ("live",), "stop")
    await ctx.cluster.command(session_id, "stop_session", actor=principal.actor)
    return await asyncio.to_thread(session_detail, ctx, session_id)
