"""Load one stored session into the inputs of :func:`dashboard.review.review_session`.

The only place where the review touches the store: beats, phase events, markers, cues and device
events are read once and turned into plain arrays and dataclasses with times relative to the
session start. A participant without an active ``review`` consent for the session is left out
(with a note saying so): reviewing is a purpose of its own (DESIGN.md, security and consent);
synchrony is computed only when every participant has an active ``synchrony`` consent.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from dashboard.phases import DEFAULT_FIRST_SESSION, PhaseError, PhaseTemplate
from dashboard.review import (
    CuePoint,
    DeviceEventPoint,
    MarkerPoint,
    ParticipantBeats,
    PhaseEventPoint,
    SessionInputs,
)
from server.storage import Store

__all__ = ["load_session_inputs"]

_log = logging.getLogger(__name__)


def _template(value: Any) -> PhaseTemplate:
    if isinstance(value, dict):
        try:
            return PhaseTemplate.from_dict(value)
        except PhaseError as exc:
            _log.warning("phase template not understood (%s); using the default", exc)
    return DEFAULT_FIRST_SESSION


def _reason_text(reason: dict[str, Any]) -> str:
    text = reason.get("reason")
    if isinstance(text, str) and text:
        return text
    values = reason.get("values")
    if isinstance(values, dict) and values:
        return ", ".join(
            f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items()
        )
    return "-"


def load_session_inputs(store: Store, session_id: int) -> SessionInputs:
    """Read a session from the store as :class:`dashboard.review.SessionInputs`.

    Parameters
    ----------
    store : Store
    session_id : int

    Returns
    -------
    SessionInputs
        Times relative to the session start: ``started_at_s`` of the session, or its first beat
        (or event) when it never started. The duration runs to ``stopped_at_s``, or to the last
        beat or event.

    Raises
    ------
    server.storage.RecordNotFoundError
        For an unknown session.
    """
    session = store.get_session(session_id)
    people = store.session_participants(session_id)
    notes: list[str] = []
    synchrony_allowed = True
    pages = []
    codes: dict[int, str] = {}
    for sp in people:
        person = store.get_participant(sp.participant_id)
        codes[person.id] = person.code
        if not store.has_consent(person.id, "review", session_id=session_id):
            notes.append(
                f"{person.code} ({person.role}) is left out: no active consent for review."
            )
            continue
        if not store.has_consent(person.id, "synchrony", session_id=session_id):
            synchrony_allowed = False
        page = store.read_all_beats(session_id, participant_id=person.id)
        pages.append((person, page))
    phase_events = store.list_phase_events(session_id)
    # Markers and cues about a person follow the same consent rule as their beats (issue 12).
    from server.consent_guard import readable_participants

    allowed = readable_participants(store, session_id)
    markers = [m for m in store.list_markers(session_id) if m.participant_id in (None, *allowed)]
    cues = [c for c in store.list_cues(session_id) if c.participant_id in (None, *allowed)]
    devices = store.list_device_events(session_id)

    candidates = [float(pg.beat_time_s[0]) for _, pg in pages if len(pg)]
    candidates += [e.time_s for e in phase_events]
    if session.started_at_s is not None:
        t0 = float(session.started_at_s)
    elif candidates:
        t0 = min(candidates)
    else:
        t0 = 0.0
    ends = [float(pg.beat_time_s[-1]) for _, pg in pages if len(pg)]
    ends += [e.time_s for e in phase_events] + [m.time_s for m in markers]
    if session.stopped_at_s is not None:
        t_end = float(session.stopped_at_s)
    else:
        t_end = max(ends, default=t0)

    participants = tuple(
        ParticipantBeats(
            participant_id=person.id,
            code=person.code,
            role=person.role,
            time_s=np.asarray(page.beat_time_s, dtype=np.float64) - t0,
            rr_ms=np.asarray(page.rr_ms, dtype=np.float64),
            gap_before=np.asarray(page.gap_before, dtype=bool),
            contact=np.asarray(page.contact, dtype=np.int8),
        )
        for person, page in pages
    )
    return SessionInputs(
        session_id=session.id,
        label=session.label,
        started_at_s=session.started_at_s if session.started_at_s is not None else None,
        duration_s=max(t_end - t0, 0.0),
        template=_template(session.phase_template),
        participants=participants,
        phase_events=tuple(
            PhaseEventPoint(e.time_s - t0, e.phase_name, e.action) for e in phase_events
        ),
        markers=tuple(
            MarkerPoint(
                m.time_s - t0,
                m.type,
                m.note,
                None if m.participant_id is None else codes.get(m.participant_id),
            )
            for m in markers
        ),
        cues=tuple(
            CuePoint(
                c.shown_at_s - t0,
                c.rule,
                c.text,
                _reason_text(c.reason),
                c.response,
                None if c.responded_at_s is None else c.responded_at_s - t0,
            )
            for c in cues
        ),
        device_events=tuple(
            DeviceEventPoint(
                e.time_s - t0,
                None if e.participant_id is None else codes.get(e.participant_id),
                e.device,
                e.kind,
                e.value,
            )
            for e in devices
        ),
        notes=tuple(notes),
        synchrony_allowed=synchrony_allowed,
    )
