"""The live page's view of a session that is no longer live: the whole session from storage.

A finished (stopped or interrupted) session has no hub state. Its ``history`` message is built
from the session read model (:func:`server.readmodel.load_session_record`, ``review`` purpose) and
each person's one derivation (:func:`hrv.derive.derive`: the live engine and the arousal tracker
replayed over the stored beats), so the page draws the arousal, HR and RMSSD the therapist saw,
the phases as they ran, and a gap wherever no beats were stored (privacy pauses, dropouts).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hrv.arousal import STATE_CODES
from server.messages import (
    HistoryMessage,
    MarkerMessage,
    ParticipantBeats,
    ParticipantInfo,
    PhaseMessage,
    PhaseScheduleEntry,
    SessionMessage,
)
from server.readmodel import PersonRecord, SessionRecord, load_session_record
from server.storage import ConsentPurpose, Store

__all__ = ["finished_history"]


def _nullable(x: Any) -> list[float | None]:
    return [None if not math.isfinite(v) else float(v) for v in np.asarray(x).tolist()]


def _beats(record: SessionRecord, person: PersonRecord) -> ParticipantBeats:
    d = person.derivation(trace=True, arousal=True)
    assert d.trace is not None
    assert d.arousal is not None
    up, a = d.trace, d.arousal
    states = np.array(STATE_CODES, dtype=object)[a.state]
    return ParticipantBeats(
        participant_id=person.participant.id,
        code=person.participant.code,
        role=person.participant.role,
        time_s=(up.time_s + record.start_s).tolist(),
        rr_ms=up.rr_ms.tolist(),
        hr_bpm=up.hr_bpm.tolist(),
        mean_hr_bpm=_nullable(np.where(up.valid_hr, up.mean_hr_bpm, np.nan)),
        rmssd_ms=_nullable(np.where(up.valid_rmssd, up.rmssd_ms, np.nan)),
        arousal_index=_nullable(a.index),
        arousal_state=states.tolist(),
        confidence=np.nan_to_num(a.confidence, nan=0.0).tolist(),
        quality=np.nan_to_num(up.quality, nan=0.0).tolist(),
        artifact=(up.artifact != 0).tolist(),
        baseline_progress=1.0 if a.baseline is not None else 0.0,
    )


def _phase(record: SessionRecord) -> PhaseMessage | None:
    if not record.phases:
        return None
    planned = record.template.planned_starts_s()
    by_id = {p.id: (i, p) for i, p in enumerate(record.template.phases)}
    actual = {p.name: p for p in record.phases}
    schedule = []
    for i, spec in enumerate(record.template.phases):
        ps = record.start_s + planned[i]
        ran = actual.get(spec.id)
        schedule.append(
            PhaseScheduleEntry(
                phase_id=spec.id,
                label=spec.label,
                planned_start_s=ps,
                planned_end_s=ps + spec.duration_s,
                actual_start_s=None if ran is None else ran.start_s,
                actual_end_s=None if ran is None else ran.end_s,
                projected_start_s=ps if ran is None else ran.start_s,
                projected_end_s=ps + spec.duration_s if ran is None else ran.end_s,
                extended_by_s=0.0,
            )
        )
    last = record.phases[-1]
    index = by_id.get(last.name, (last.index, None))[0]
    return PhaseMessage(
        session_id=record.session.id,
        time_s=record.end_s,
        phase_id=last.name,
        label=last.label,
        index=index,
        previous_id=record.phases[-2].name if len(record.phases) > 1 else None,
        reason="clock",
        started_s=last.start_s,
        planned_end_s=last.end_s,
        schedule=schedule,
    )


def finished_history(
    store: Store, session_id: int, purpose: ConsentPurpose = "review"
) -> HistoryMessage:
    """The ``history`` message of a session from storage: everything so far.

    Only participants with an active consent for ``purpose`` are included: ``review`` for a
    session that is no longer live (its view is a review), ``live_display`` for a live session
    that another server process runs (:mod:`server.cluster`); the others are listed as not
    visible.

    Raises
    ------
    server.storage.RecordNotFoundError
        Unknown session.
    """
    record = load_session_record(store, session_id, purpose=purpose)
    session = record.session
    included = {p.participant.id for p in record.participants}
    infos = []
    for sp in store.session_participants(session_id):
        person = store.get_participant(sp.participant_id)
        infos.append(
            ParticipantInfo(
                participant_id=person.id,
                code=person.code,
                role=person.role,
                visible=person.id in included,
            )
        )
    return HistoryMessage(
        session_id=session_id,
        now_s=record.end_s,
        history_s=record.duration_s,
        session=SessionMessage(
            session_id=session_id,
            status=session.status,
            time_s=session.stopped_at_s if session.stopped_at_s is not None else record.end_s,
            started_at_s=record.start_s,
            participants=infos,
        ),
        beats=[_beats(record, p) for p in record.participants if len(p.beats)],
        phase=_phase(record),
        markers=[MarkerMessage.of(session_id, m) for m in record.markers],
    )
