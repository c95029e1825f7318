"""One stored session gathered for an export: consenting participants, beats, phases, events.

Every export reads a session through :func:`load_session`, which applies the consent rule of the
export (a participant without an active consent for the export's purpose is left out, with
everything about that person: beats, markers, cues and device events) and works out the session's
time frame (:func:`session_bounds`) and its phases as intervals (:func:`phase_intervals`).

Times stay on the store's clock (Unix epoch seconds for live sessions); the exports subtract
:attr:`SessionData.start_s` where they write times relative to the session start.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

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
    "WHOLE_SESSION_PHASE",
    "ParticipantBeats",
    "PhaseInterval",
    "SessionData",
    "consenting_participants",
    "load_session",
    "phase_intervals",
    "session_bounds",
]

_log = logging.getLogger(__name__)

#: Name of the single interval of a session that has no recorded phase event.
WHOLE_SESSION_PHASE: Final[str] = "session"


@dataclass(frozen=True, slots=True)
class PhaseInterval:
    """A phase as it actually ran: ``[start_s, end_s)`` on the store's clock, s.

    Attributes
    ----------
    index : int
        Position of the phase in the session's template (0 for :data:`WHOLE_SESSION_PHASE`).
    name : str
        Phase id (e.g. ``"welcome"``, ``"map"``).
    start_s, end_s : float
        When it was entered and when the next phase was entered (or the session ended), s.
    """

    index: int
    name: str
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        """``end_s - start_s``, s."""
        return self.end_s - self.start_s


@dataclass(frozen=True, eq=False, slots=True)
class ParticipantBeats:
    """One participant of a session with that person's stored beats (beat-time order)."""

    participant: Participant
    assignment: SessionParticipant
    beats: BeatPage


@dataclass(frozen=True, eq=False, slots=True)
class SessionData:
    """What an export needs of one session, already filtered by consent.

    Attributes
    ----------
    session : Session
    start_s, end_s : float
        Session time frame on the store's clock, s (see :func:`session_bounds`).
    participants : tuple of ParticipantBeats
        The participants included (active consent for the export's purpose), by id.
    excluded : tuple of int
        Ids of the participants left out for lack of that consent.
    phases : tuple of PhaseInterval
    phase_events : tuple of PhaseEvent
    markers, cues, device_events : tuple
        Those about nobody in particular or about an included participant.
    """

    session: Session
    start_s: float
    end_s: float
    participants: tuple[ParticipantBeats, ...]
    excluded: tuple[int, ...]
    phases: tuple[PhaseInterval, ...]
    phase_events: tuple[PhaseEvent, ...]
    markers: tuple[Marker, ...]
    cues: tuple[Cue, ...]
    device_events: tuple[DeviceEventRecord, ...]


def session_bounds(
    session: Session, beat_times_s: Sequence[float], event_times_s: Sequence[float] = ()
) -> tuple[float, float]:
    """The time frame of a session: its start and its end, s.

    Parameters
    ----------
    session : Session
    beat_times_s : sequence of float
        Times of the first and last beat of every participant (any beats will do), s.
    event_times_s : sequence of float
        Times of phase events, markers, cues, s.

    Returns
    -------
    (start_s, end_s) : tuple of float
        Start: ``started_at_s``, else the earliest beat or event, else ``created_at_s``.
        End: ``stopped_at_s``, else the latest beat or event, else the start; never before the
        start.

    Examples
    --------
    >>> from server.storage import Session
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


def phase_intervals(
    events: Sequence[PhaseEvent], start_s: float, end_s: float
) -> tuple[PhaseInterval, ...]:
    """Phases as intervals, from the recorded phase events.

    Each ``enter`` event opens a phase that lasts until the next ``enter`` or the ``end`` event
    (else ``end_s``); ``extend`` events change the plan, not what happened, and are ignored. The
    first phase is taken to start at ``start_s`` if it was entered a little later. A session
    with no ``enter`` event is one interval named :data:`WHOLE_SESSION_PHASE`.

    Parameters
    ----------
    events : sequence of PhaseEvent
        In time order (as :meth:`server.storage.Store.list_phase_events` returns them).
    start_s, end_s : float
        The session time frame, s.

    Returns
    -------
    tuple of PhaseInterval
        In time order; intervals of zero length (two phases entered at the same instant) are
        dropped.

    Examples
    --------
    >>> from server.storage import PhaseEvent
    >>> ev = [PhaseEvent(1, 1, 0.0, 0, "welcome", "enter", None, None),
    ...       PhaseEvent(2, 1, 600.0, 1, "map", "enter", None, None),
    ...       PhaseEvent(3, 1, 900.0, 1, "map", "end", None, None)]
    >>> [(p.name, p.start_s, p.end_s) for p in phase_intervals(ev, 0.0, 1000.0)]
    [('welcome', 0.0, 600.0), ('map', 600.0, 900.0)]
    """
    enters = [e for e in events if e.action == "enter"]
    if not enters:
        return (PhaseInterval(0, WHOLE_SESSION_PHASE, start_s, end_s),)
    end_events = [e.time_s for e in events if e.action == "end"]
    stop = min(end_events) if end_events else end_s
    out: list[PhaseInterval] = []
    for k, e in enumerate(enters):
        a = start_s if k == 0 else e.time_s
        a = min(a, e.time_s)
        b = enters[k + 1].time_s if k + 1 < len(enters) else max(stop, e.time_s)
        if b > a:
            out.append(PhaseInterval(e.phase_index, e.phase_name, float(a), float(b)))
    return tuple(out)


def consenting_participants(
    store: Store, session_id: int, purpose: ConsentPurpose, *, at_s: float | None = None
) -> tuple[list[SessionParticipant], list[SessionParticipant]]:
    """Split a session's participants into those with an active consent for ``purpose`` and not.

    A consent counts when it is global or for this session, granted at or before ``at_s`` (now)
    and not revoked (:meth:`server.storage.Store.has_consent`).

    Returns
    -------
    (included, excluded) : tuple of list of SessionParticipant
    """
    included: list[SessionParticipant] = []
    excluded: list[SessionParticipant] = []
    for sp in store.session_participants(session_id):
        ok = store.has_consent(sp.participant_id, purpose, session_id=session_id, at_s=at_s)
        (included if ok else excluded).append(sp)
    return included, excluded


def load_session(
    store: Store, session_id: int, *, purpose: ConsentPurpose, at_s: float | None = None
) -> SessionData:
    """Read one session for an export, keeping only what the consent rule allows.

    Parameters
    ----------
    store : Store
    session_id : int
    purpose : {"review", "research_export", ...}
        The consent each participant must have (active at ``at_s``, now by default).
    at_s : float, optional
        Time at which consent is checked, s.

    Returns
    -------
    SessionData

    Raises
    ------
    server.storage.RecordNotFoundError
        Unknown session.
    """
    session = store.get_session(session_id)
    included, excluded = consenting_participants(store, session_id, purpose, at_s=at_s)
    keep = {sp.participant_id for sp in included}
    people = [
        ParticipantBeats(
            store.get_participant(sp.participant_id),
            sp,
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
        for p in people
        if len(p.beats)
        for x in (p.beats.beat_time_s[0] - p.beats.rr_ms[0] / 1000.0, p.beats.beat_time_s[-1])
    ]
    event_times = [e.time_s for e in phase_events] + [m.time_s for m in markers]
    start, end = session_bounds(session, beat_ends, event_times)
    if excluded:
        _log.info(
            "session %d: %d participant(s) left out without %s consent",
            session_id,
            len(excluded),
            purpose,
        )
    return SessionData(
        session=session,
        start_s=start,
        end_s=end,
        participants=tuple(people),
        excluded=tuple(sp.participant_id for sp in excluded),
        phases=phase_intervals(phase_events, start, end),
        phase_events=phase_events,
        markers=markers,
        cues=cues,
        device_events=device_events,
    )
