"""What the live hub stores besides the beats: phase events, cues, the end, in-flight erasure.

Each function is a blocking call on the :class:`server.storage.Store` that the hub runs in a
worker thread (``asyncio.to_thread``); a failure to store a phase event or a cue is logged and
the session goes on (a cue that could not be stored is not shown: its message would name no
stored cue).
"""

from __future__ import annotations

import logging
from typing import Any

from server.live.state import Person, StoreCue, StorePhase
from server.storage import OnRevoke, Session, StorageError, Store

__all__ = ["erase_in_flight", "load_session", "store_cue", "store_end", "store_phase"]

_log = logging.getLogger(__name__)

#: A participant as the hub loads them, with their device assignment (kind, address).
Loaded = tuple[Person, tuple[Any, str | None]]


def load_session(store: Store, session_id: int) -> tuple[Session, list[Loaded]]:
    """The session's record and its participants (active consents, device assignments)."""
    record = store.get_session(session_id)
    people = []
    for sp in store.session_participants(session_id):
        participant = store.get_participant(sp.participant_id)
        purposes = store.active_purposes(sp.participant_id, session_id=session_id)
        people.append(
            (
                Person(participant.id, participant.code, participant.role, purposes),
                (sp.source_kind, sp.address),
            )
        )
    return record, people


def store_phase(store: Store, session_id: int, item: StorePhase) -> None:
    """Store a phase event (entering a phase, or an extension); a failure is logged."""
    ev = item.event
    try:
        store.record_phase_event(
            session_id,
            item.index,
            ev.phase_id,
            "extend" if ev.reason == "extend" else "enter",
            extend_s=ev.extended_by_s if ev.reason == "extend" else None,
            actor=item.actor,
            at_s=ev.time_s,
        )
    except StorageError:
        _log.exception("could not store a phase event of session %d", session_id)


def store_cue(store: Store, session_id: int, item: StoreCue) -> int | None:
    """Store a cue; its id, or None when it could not be stored (logged)."""
    cue = item.cue
    try:
        stored = store.add_cue(
            session_id,
            cue.rule_id,
            cue.text,
            {
                "cue_id": cue.cue_id,
                "reason": cue.reason,
                "phase_id": cue.phase_id,
                "values": item.values,
                "pacer_breaths_per_min": cue.pacer_breaths_per_min,
            },
            participant_id=item.participant_id,
            at_s=cue.time_s,
        )
    except StorageError:
        _log.exception("could not store a cue of session %d", session_id)
        return None
    return stored.id


def store_end(
    store: Store, session_id: int, index: int, phase_id: str, actor: str | None, t_end: float
) -> None:
    """Store the end of the session's last phase; a failure is logged."""
    try:
        store.record_phase_event(session_id, index, phase_id, "end", actor=actor, at_s=t_end)
    except StorageError:
        _log.exception("could not store the end of session %d", session_id)


def erase_in_flight(store: Store, participant_id: int, session_id: int) -> None:
    """After a ``storage`` revocation, erase the participant's data of the session again.

    Beats received before the revocation may have been in the writer's queue; the store accepts
    them when their write started before the revocation. Called once the writer has written
    everything submitted so far, with the revoked consent's action (``delete`` wins over
    ``deidentify``).
    """
    revoked = [
        c
        for c in store.list_consents(participant_id)
        if c.purpose == "storage" and c.revoked_at_s is not None
    ]
    if not revoked:
        return
    action: OnRevoke = "delete" if any(c.on_revoke == "delete" for c in revoked) else "deidentify"
    report = store.erase_participant_data(participant_id, action, session_id=session_id)
    if report.total:
        _log.info(
            "erased %d rows of participant %d in flight at the storage revocation",
            report.total,
            participant_id,
        )
