"""The one read model of a stored session, for everything computed after (or outside) it.

The review and the report, every export, the cohort table, the alliance trend and the live page's
view of a finished session read a session through :func:`load_session_record`, so that they
agree on who is included (consent per purpose), on the session's time frame
(:func:`session_bounds`), on its phases (:func:`dashboard.phases.actual_phases`), on the privacy
pauses, and, through :meth:`PersonRecord.derivation`, on every number derived from the beats
(:func:`hrv.derive.derive`, on session-relative times).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from dashboard.phases import (
    DEFAULT_FIRST_SESSION,
    PhaseError,
    PhaseInterval,
    PhaseTemplate,
    actual_phases,
    stat_bounds,
)
from hrv.derive import Derivation, IntervalStats, StoredBeats, derive, interval_stats
from server.storage import (
    BeatPage,
    ConsentPurpose,
    Cue,
    DeviceEventRecord,
    Marker,
    Participant,
    PhaseEvent,
    Session,
    SessionParticipant,
    Store,
)

__all__ = [
    "PAUSE_MARKERS",
    "PersonRecord",
    "PrivacyPause",
    "SessionRecord",
    "consenting_participants",
    "load_session_record",
    "phase_template",
    "privacy_pauses",
    "session_bounds",
    "session_phases",
]

_log = logging.getLogger(__name__)

#: Marker types that open and close a participant's privacy pause (stored by the live hub).
PAUSE_MARKERS: Final[tuple[str, str]] = ("privacy_pause", "privacy_resume")


@dataclass(frozen=True, slots=True)
class PrivacyPause:
    """A privacy pause of one participant: nothing shown or stored in ``[start_s, end_s)``."""

    participant_id: int | None
    start_s: float
    end_s: float


@dataclass(frozen=True, eq=False, slots=True)
class PersonRecord:
    """One included participant of a session with that person's stored beats.

    Attributes
    ----------
    participant : Participant
    assignment : SessionParticipant
    beats : BeatPage
        Stored beats in beat-time order (raw, as received).
    purposes : frozenset of str
        Consent purposes in force for this session.
    start_s : float
        The session's start on the store's clock, s (derivations are session-relative).
    """

    participant: Participant
    assignment: SessionParticipant
    beats: BeatPage
    purposes: frozenset[str]
    start_s: float
    _cache: dict[tuple[bool, bool], Derivation] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def stored_beats(self) -> StoredBeats:
        """The stored beats with session-relative times, s."""
        b = self.beats
        return StoredBeats.from_arrays(
            np.asarray(b.beat_time_s, dtype=np.float64) - self.start_s,
            b.rr_ms,
            b.gap_before,
            b.contact,
        )

    def derivation(self, *, trace: bool = True, arousal: bool = True) -> Derivation:
        """:func:`hrv.derive.derive` of this person's beats, session-relative (cached).

        The arousal baseline starts at the session start (time 0).
        """
        key = (trace, arousal and trace)
        for (t, a), d in self._cache.items():  # a fuller derivation serves a lesser request
            if t >= key[0] and a >= key[1]:
                return d
        d = derive(
            self.stored_beats(),
            trace=key[0],
            arousal=key[1],
            session_start_s=0.0,
            participant=self.participant.code,
        )
        self._cache[key] = d
        return d


@dataclass(frozen=True, eq=False, slots=True)
class SessionRecord:
    """One stored session as everything after it reads it, already filtered by consent.

    Attributes
    ----------
    session : Session
    purpose : str
        The consent purpose each included participant has.
    start_s, end_s : float
        Session time frame on the store's clock, s (:func:`session_bounds`).
    template : PhaseTemplate
        The session's phase plan.
    participants : tuple of PersonRecord
        Included participants (active consent for ``purpose``), by id.
    excluded : tuple of int
        Ids of the participants left out for lack of that consent.
    phases : tuple of PhaseInterval
        On the store's clock (:func:`session_phases`).
    phase_events : tuple of PhaseEvent
    markers, cues, device_events : tuple
        Those about nobody in particular or about an included participant.
    pauses : tuple of PrivacyPause
        Privacy pauses of included participants (or of everyone), on the store's clock.
    """

    session: Session
    purpose: str
    start_s: float
    end_s: float
    template: PhaseTemplate
    participants: tuple[PersonRecord, ...]
    excluded: tuple[int, ...]
    phases: tuple[PhaseInterval, ...]
    phase_events: tuple[PhaseEvent, ...]
    markers: tuple[Marker, ...]
    cues: tuple[Cue, ...]
    device_events: tuple[DeviceEventRecord, ...]
    pauses: tuple[PrivacyPause, ...]

    @property
    def duration_s(self) -> float:
        """``end_s - start_s``, s."""
        return self.end_s - self.start_s

    def relative_phases(self) -> tuple[PhaseInterval, ...]:
        """The phases with times from the session start, s."""
        s0 = self.start_s
        return tuple(
            PhaseInterval(p.index, p.name, p.label, p.start_s - s0, p.end_s - s0, p.planned)
            for p in self.phases
        )

    def phase_stats(self, person: PersonRecord, *, lf_hf: bool = True) -> IntervalStats:
        """Per-phase HRV of one person (:func:`hrv.derive.interval_stats`): the numbers the
        report, the exports and the cohort all show."""
        rel = self.relative_phases()
        starts, ends = stat_bounds([p.start_s for p in rel], [p.end_s for p in rel])
        return interval_stats(person.derivation(trace=False), starts, ends, lf_hf=lf_hf)


def phase_template(value: Any) -> PhaseTemplate:
    """The session's stored phase template, or the default one when missing or not understood."""
    if isinstance(value, dict) and value:
        try:
            return PhaseTemplate.from_dict(value)
        except PhaseError as exc:
            _log.warning("phase template not understood (%s); using the default", exc)
    return DEFAULT_FIRST_SESSION


def session_bounds(
    session: Session, beat_times_s: Sequence[float], event_times_s: Sequence[float] = ()
) -> tuple[float, float]:
    """The time frame of a session: its start and its end, s (the one rule).

    Parameters
    ----------
    session : Session
    beat_times_s : sequence of float
        Start of the first interval and end of the last beat of every participant, s.
    event_times_s : sequence of float
        Times of phase events and markers, s.

    Returns
    -------
    (start_s, end_s) : tuple of float
        Start: ``started_at_s``, else the earliest beat or event, else ``created_at_s``.
        End: ``stopped_at_s``, else the latest beat or event, else the start; never before
        the start.

    Examples
    --------
    >>> s = Session(1, None, None, {}, "stopped", 0.0, None, 100.0, 3700.0)
    >>> session_bounds(s, [101.0, 3699.0])
    (100.0, 3700.0)
    """
    times = [float(x) for x in (*beat_times_s, *event_times_s) if math.isfinite(x)]
    if session.started_at_s is not None:
        start = float(session.started_at_s)
    elif times:
        start = min(times)
    else:
        start = float(session.created_at_s)
    if session.stopped_at_s is not None:
        end = float(session.stopped_at_s)
    elif times:
        end = max(times)
    else:
        end = start
    return start, max(start, end)


def session_phases(
    events: Sequence[PhaseEvent], template: PhaseTemplate, start_s: float, end_s: float
) -> tuple[PhaseInterval, ...]:
    """The phases as they ran (:func:`dashboard.phases.actual_phases` of the stored events)."""
    return actual_phases(
        [(e.time_s, e.phase_name, e.phase_index, e.action) for e in events],
        template,
        start_s,
        end_s,
    )


def privacy_pauses(markers: Sequence[Marker], end_s: float) -> tuple[PrivacyPause, ...]:
    """Privacy pauses from the ``privacy_pause`` / ``privacy_resume`` markers (per person).

    A pause still open at the end of the session lasts until ``end_s``.
    """
    open_at: dict[int | None, float] = {}
    out: list[PrivacyPause] = []
    for m in sorted(markers, key=lambda m: m.time_s):
        if m.type == PAUSE_MARKERS[0]:
            open_at.setdefault(m.participant_id, m.time_s)
        elif m.type == PAUSE_MARKERS[1] and m.participant_id in open_at:
            out.append(PrivacyPause(m.participant_id, open_at.pop(m.participant_id), m.time_s))
    for pid, t in open_at.items():
        out.append(PrivacyPause(pid, t, max(t, end_s)))
    return tuple(sorted(out, key=lambda p: p.start_s))


def consenting_participants(
    store: Store, session_id: int, purpose: ConsentPurpose, *, at_s: float | None = None
) -> tuple[list[SessionParticipant], list[SessionParticipant]]:
    """Split a session's participants into those with an active consent for ``purpose`` and not.

    A consent counts when it is global or for this session, granted at or before ``at_s`` (now)
    and not revoked (:meth:`server.storage.Store.has_consent`).
    """
    included: list[SessionParticipant] = []
    excluded: list[SessionParticipant] = []
    for sp in store.session_participants(session_id):
        ok = store.has_consent(sp.participant_id, purpose, session_id=session_id, at_s=at_s)
        (included if ok else excluded).append(sp)
    return included, excluded


def load_session_record(
    store: Store, session_id: int, *, purpose: ConsentPurpose, at_s: float | None = None
) -> SessionRecord:
    """Read one session, keeping only what the consent for ``purpose`` allows.

    Parameters
    ----------
    store : Store
    session_id : int
    purpose : {"review", "research_export", ...}
        The consent each participant must have (active at ``at_s``, now by default); a person
        without it is left out with everything about them (beats, markers, cues, device events).
    at_s : float, optional
        Time at which consent is checked, s.

    Returns
    -------
    SessionRecord

    Raises
    ------
    server.storage.RecordNotFoundError
        Unknown session.
    """
    session = store.get_session(session_id)
    included, excluded = consenting_participants(store, session_id, purpose, at_s=at_s)
    keep = {sp.participant_id for sp in included}
    pages = [
        (
            sp,
            store.get_participant(sp.participant_id),
            store.read_all_beats(session_id, participant_id=sp.participant_id),
        )
        for sp in included
    ]
    phase_events = tuple(store.list_phase_events(session_id))
    markers = tuple(m for m in store.list_markers(session_id) if m.participant_id in (None, *keep))
    cues = tuple(c for c in store.list_cues(session_id) if c.participant_id in (None, *keep))
    device_events = tuple(
        d for d in store.list_device_events(session_id) if d.participant_id in (None, *keep)
    )
    beat_ends = [
        float(x)
        for _, _, b in pages
        if len(b)
        for x in (b.beat_time_s[0] - b.rr_ms[0] / 1000.0, b.beat_time_s[-1])
    ]
    event_times = [e.time_s for e in phase_events] + [m.time_s for m in markers]
    start, end = session_bounds(session, beat_ends, event_times)
    template = phase_template(session.phase_template)
    people = tuple(
        PersonRecord(
            participant=person,
            assignment=sp,
            beats=page,
            purposes=store.active_purposes(person.id, session_id=session_id, at_s=at_s),
            start_s=start,
        )
        for sp, person, page in pages
    )
    if excluded:
        _log.info(
            "session %d: %d participant(s) left out without %s consent",
            session_id,
            len(excluded),
            purpose,
        )
    return SessionRecord(
        session=session,
        purpose=purpose,
        start_s=start,
        end_s=end,
        template=template,
        participants=people,
        excluded=tuple(sp.participant_id for sp in excluded),
        phases=session_phases(phase_events, template, start, end),
        phase_events=phase_events,
        markers=markers,
        cues=cues,
        device_events=device_events,
        pauses=privacy_pauses(markers, end),
    )
