"""Participants (pseudonymous codes), their consents, and deletion of their data."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from server.api._common import (
    StorageErrorRoute,
    context,
    errors,
    visible_participant,
    visible_session,
)
from server.auth import Principal, require_auth, too_many_attempts
from server.context import AppContext
from server.models import (
    ConsentIn,
    ConsentOut,
    ErasureOut,
    ParticipantIn,
    ParticipantOut,
    RevocationOut,
    RevokeIn,
)
from server.storage import (
    Consent,
    DuplicateRecordError,
    ErasureReport,
    OnRevoke,
    Participant,
    Revocation,
)

__all__ = [
    "create_participant",
    "erase_participant_data",
    "get_participant",
    "grant_consent",
    "list_consents",
    "list_participants",
    "revoke_consent",
    "router",
]

#: The one answer to a participant code in use, whoever uses it.
CODE_TAKEN = "this participant code cannot be used: choose another"

router = APIRouter(route_class=StorageErrorRoute, tags=["participants"])
Auth = Annotated[Principal, Depends(require_auth)]


def _erasure_out(report: ErasureReport) -> ErasureOut:
    return ErasureOut(
        participant_id=report.participant_id,
        action=report.action,
        session_id=report.session_id,
        rows=dict(report.rows),
        anonymous_participant_id=report.anonymous_participant_id,
        total=report.total,
    )


@router.post(
    "/api/participants",
    summary="Register a participant under a pseudonymous code",
    status_code=status.HTTP_201_CREATED,
    response_model=ParticipantOut,
    responses=errors(409, 429),
)
def create_participant(body: ParticipantIn, request: Request, principal: Auth) -> ParticipantOut:
    """A clinician's participants belong to that clinician. 409 if the code is taken, with the
    same answer whoever holds it; a clinician's conflicts are throttled like wrong passwords
    (429) and audited (``participant.code_conflict``), so nobody can enumerate the codes of
    other clinicians by trying them."""
    ctx = context(request)
    keys = [f"codes:{principal.actor}"]
    throttled = not principal.is_admin
    if throttled and (wait := ctx.login_throttle.retry_after(keys, time.monotonic())):
        raise too_many_attempts(wait, "participant codes already in use")
    try:
        participant = ctx.store.create_participant(
            body.code, body.role, clinician_id=principal.clinician_id, actor=principal.actor
        )
    except DuplicateRecordError:
        if throttled:
            ctx.login_throttle.failure(keys, time.monotonic())
        ctx.store.audit(principal.actor, "participant.code_conflict", "participant", None)
        raise HTTPException(status.HTTP_409_CONFLICT, detail=CODE_TAKEN) from None
    return ParticipantOut.model_validate(participant)


@router.get(
    "/api/participants",
    summary="List the participants the caller may see",
    response_model=list[ParticipantOut],
    responses=errors(),
)
def list_participants(request: Request, principal: Auth) -> list[ParticipantOut]:
    """The admin sees all; a clinician sees their own. Audited (``participant.list``)."""
    ctx = context(request)
    found = ctx.store.list_participants(clinician_id=principal.clinician_id)
    ctx.store.audit(principal.actor, "participant.list", "participant", None, {"n": len(found)})
    return [ParticipantOut.model_validate(p) for p in found]


@router.get(
    "/api/participants/{participant_id}",
    summary="One participant",
    response_model=ParticipantOut,
    responses=errors(404),
)
def get_participant(participant_id: int, request: Request, principal: Auth) -> ParticipantOut:
    """Audited (``participant.view``)."""
    ctx = context(request)
    participant = visible_participant(ctx, principal, participant_id)
    ctx.store.audit(principal.actor, "participant.view", "participant", participant_id)
    return ParticipantOut.model_validate(participant)


@router.delete(
    "/api/participants/{participant_id}/data",
    summary="Delete or de-identify a participant's stored session data",
    response_model=ErasureOut,
    responses=errors(404),
)
async def erase_participant_data(
    participant_id: int,
    request: Request,
    principal: Auth,
    action: Annotated[
        OnRevoke, Query(description="'delete' removes; 'deidentify' detaches from the person.")
    ] = "delete",
    session_id: Annotated[int | None, Query(description="Only this session's data.")] = None,
) -> ErasureOut:
    """Beats, device events, markers and cues about the person, alliance scores and device
    assignments, of every session or of one, in one transaction. The participant and consent
    records and the audit log are kept. A live session of theirs forgets them at once (its
    buffers are purged and it stores nothing more of theirs). Audited
    (``participant.delete``/``.deidentify``)."""
    ctx = context(request)
    await asyncio.to_thread(visible_participant, ctx, principal, participant_id)
    report = await asyncio.to_thread(
        ctx.store.erase_participant_data,
        participant_id,
        action,
        session_id=session_id,
        actor=principal.actor,
    )
    await ctx.cluster.participant_erased(participant_id, action, session_id=session_id)
    return _erasure_out(report)


# ---------------------------------------------------------------------------- consents


@router.get(
    "/api/participants/{participant_id}/consents",
    summary="A participant's consent records (active and revoked)",
    response_model=list[ConsentOut],
    responses=errors(404),
    tags=["consents"],
)
def list_consents(participant_id: int, request: Request, principal: Auth) -> list[ConsentOut]:
    """Oldest first; a revoked consent has ``revoked_at_s``. Audited (``consent.list``)."""
    ctx = context(request)
    visible_participant(ctx, principal, participant_id)
    consents = ctx.store.list_consents(participant_id)
    ctx.store.audit(principal.actor, "consent.list", "participant", participant_id)
    return [ConsentOut.model_validate(c) for c in consents]


def _grant(ctx: AppContext, principal: Principal, participant_id: int, body: ConsentIn) -> Consent:
    visible_participant(ctx, principal, participant_id)
    if body.session_id is not None:
        visible_session(ctx, principal, body.session_id)
    return ctx.store.grant_consent(
        participant_id,
        body.purpose,
        body.version,
        session_id=body.session_id,
        on_revoke=body.on_revoke,
        recorded_by=principal.actor,
    )


@router.post(
    "/api/participants/{participant_id}/consents",
    summary="Record a consent for one purpose",
    status_code=status.HTTP_201_CREATED,
    response_model=ConsentOut,
    responses=errors(404),
    tags=["consents"],
)
async def grant_consent(
    participant_id: int, body: ConsentIn, request: Request, principal: Auth
) -> ConsentOut:
    """Versioned and timestamped; for one session or all. A live session picks it up at once."""
    ctx = context(request)
    consent = await asyncio.to_thread(_grant, ctx, principal, participant_id, body)
    await ctx.cluster.consent_changed(participant_id)
    return ConsentOut.model_validate(consent)


def _effects(participant: Participant, purpose: str, revocation: Revocation) -> list[str]:
    if not revocation.revoked:
        return [f"no active {purpose!r} consent for {participant.code}: nothing changed"]
    effects = [f"{len(revocation.revoked)} {purpose!r} consent(s) of {participant.code} revoked"]
    if purpose == "live_display":
        effects.append("live display of this participant stopped")
    elif purpose == "storage":
        effects.append("no further beats of this participant are stored")
        if revocation.erasure is not None:
            e = revocation.erasure
            verb = "deleted" if e.action == "delete" else "de-identified"
            scope = "every session" if e.session_id is None else f"session {e.session_id}"
            rows = ", ".join(f"{k}: {v}" for k, v in sorted(e.rows.items()) if v)
            effects.append(f"stored data of {scope} {verb} ({e.total} rows; {rows or 'none'})")
    elif purpose == "synchrony":
        effects.append("excluded from therapist-patient synchrony from now on")
    else:
        effects.append(f"excluded from {purpose.replace('_', ' ')} from now on")
    return effects


def _revoke(
    ctx: AppContext, principal: Principal, participant_id: int, body: RevokeIn
) -> tuple[Participant, Revocation]:
    participant = visible_participant(ctx, principal, participant_id)
    if body.session_id is not None:
        visible_session(ctx, principal, body.session_id)
    revocation = ctx.store.revoke_consent(
        participant_id, body.purpose, session_id=body.session_id, actor=principal.actor
    )
    return participant, revocation


@router.post(
    "/api/participants/{participant_id}/consents/revoke",
    summary="Revoke a purpose; says what was done",
    response_model=RevocationOut,
    responses=errors(404),
    tags=["consents"],
)
async def revoke_consent(
    participant_id: int, body: RevokeIn, request: Request, principal: Auth
) -> RevocationOut:
    """Stops the stream for that purpose at once; revoking ``storage`` deletes (or
    de-identifies, as the consent says) the stored data in the same transaction. Revoking a
    purpose with no active consent changes nothing and says so (200)."""
    ctx = context(request)
    participant, revocation = await asyncio.to_thread(_revoke, ctx, principal, participant_id, body)
    if revocation.revoked:
        await ctx.cluster.consent_changed(participant_id)
    return RevocationOut(
        revoked=[ConsentOut.model_validate(c) for c in revocation.revoked],
        erasure=None if revocation.erasure is None else _erasure_out(revocation.erasure),
        effects=_effects(participant, body.purpose, revocation),
    )
