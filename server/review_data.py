"""The review's view of a stored session: :func:`server.readmodel.load_session_record` for the
``review`` purpose, turned into :class:`dashboard.review.SessionInputs` (times from the session
start).

A participant without an active ``review`` consent for the session is left out, with a note
saying so: reviewing is a purpose of its own (DESIGN.md, security and consent); synchrony is
computed only when every included participant has an active ``synchrony`` consent.

A remote participant's beats carry their device clock's estimate against the server's (offset,
drift, uncertainty; saved per join link by the ingest endpoint, :mod:`server.remote.clock`), which
the review's signal quality reports and the synchrony lag's uncertainty uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from dashboard.cues import cue_details
from dashboard.review import (
    ClockEstimate,
    CuePoint,
    DeviceEventPoint,
    MarkerPoint,
    ParticipantBeats,
    PhaseEventPoint,
    PhaseSpan,
    SessionInputs,
)
from server.readmodel import SessionRecord, load_session_record
from server.remote.clock import LinkClock, session_clocks
from server.storage import Store

__all__ = ["load_session_inputs", "remote_clock", "review_inputs"]


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


def _details(rule: str, reason: dict[str, Any]) -> str:
    values = reason.get("values")
    numbers = {
        str(k): float(v)
        for k, v in (values.items() if isinstance(values, dict) else ())
        if isinstance(v, int | float)
    }
    return cue_details(rule, numbers)


def _pacer(reason: dict[str, Any]) -> float | None:
    value = reason.get("pacer_breaths_per_min")
    return float(value) if isinstance(value, int | float) and value > 0 else None


def remote_clock(clock: LinkClock | None) -> ClockEstimate:
    """The review's :class:`ClockEstimate` of a remote participant's saved clock estimate."""
    if clock is None or clock.offset_s is None:
        return ClockEstimate(
            "remote", None, None, None, 0, "remote device: no ping received, its clock is unknown"
        )
    note = (
        "remote device: offset and drift from ping/pong exchanges (minimum filter); "
        "uncertainty = shortest round trip + |drift| x span of the pings"
    )
    if clock.uncertainty_s is None:
        note = "remote device: offset from pings; no round trip reported, uncertainty unknown"
    return ClockEstimate(
        "remote", clock.offset_s, clock.drift_ppm, clock.uncertainty_s, clock.samples, note
    )


def review_inputs(
    record: SessionRecord,
    *,
    notes: tuple[str, ...] = (),
    clocks: Mapping[int, ClockEstimate] | None = None,
) -> SessionInputs:
    """:class:`dashboard.review.SessionInputs` of a session record, times from its start.

    ``clocks``: the clock estimate per participant id of the remote participants (others have
    the host's clock).
    """
    t0 = record.start_s
    clocks = clocks or {}
    codes = {p.participant.id: p.participant.code for p in record.participants}
    participants = tuple(
        ParticipantBeats(
            participant_id=p.participant.id,
            code=p.participant.code,
            role=p.participant.role,
            time_s=np.asarray(p.beats.beat_time_s, dtype=np.float64) - t0,
            rr_ms=np.asarray(p.beats.rr_ms, dtype=np.float64),
            gap_before=np.asarray(p.beats.gap_before, dtype=bool),
            contact=np.asarray(p.beats.contact, dtype=np.int8),
            clock=clocks.get(p.participant.id),
        )
        for p in record.participants
    )
    return SessionInputs(
        session_id=record.session.id,
        label=record.session.label,
        started_at_s=record.session.started_at_s,
        duration_s=record.duration_s,
        template=record.template,
        participants=participants,
        phase_events=tuple(
            PhaseEventPoint(e.time_s - t0, e.phase_name, e.action) for e in record.phase_events
        ),
        markers=tuple(
            MarkerPoint(
                m.time_s - t0,
                m.type,
                m.note,
                None if m.participant_id is None else codes.get(m.participant_id),
            )
            for m in record.markers
        ),
        cues=tuple(
            CuePoint(
                c.shown_at_s - t0,
                c.rule,
                c.text,
                _reason_text(c.reason),
                c.response,
                None if c.responded_at_s is None else c.responded_at_s - t0,
                _pacer(c.reason),
                _details(c.rule, c.reason),
            )
            for c in record.cues
        ),
        device_events=tuple(
            DeviceEventPoint(
                e.time_s - t0,
                None if e.participant_id is None else codes.get(e.participant_id),
                e.device,
                e.kind,
                e.value,
            )
            for e in record.device_events
        ),
        notes=notes,
        synchrony_allowed=all("synchrony" in p.purposes for p in record.participants),
        phases=tuple(
            PhaseSpan(p.name, p.label, p.start_s, p.end_s) for p in record.relative_phases()
        ),
    )


def load_session_inputs(store: Store, session_id: int) -> SessionInputs:
    """Read a session from the store as :class:`dashboard.review.SessionInputs`.

    Raises
    ------
    server.storage.RecordNotFoundError
        For an unknown session.
    """
    record = load_session_record(store, session_id, purpose="review")
    notes = []
    saved = session_clocks(store, session_id)
    clocks: dict[int, ClockEstimate] = {}
    for sp in store.session_participants(session_id):
        if sp.source_kind == "remote":
            clocks[sp.participant_id] = remote_clock(saved.get(sp.participant_id))
        if sp.participant_id in record.excluded:
            person = store.get_participant(sp.participant_id)
            notes.append(
                f"{person.code} ({person.role}) is left out: no active consent for review."
            )
    return review_inputs(record, notes=tuple(notes), clocks=clocks)
