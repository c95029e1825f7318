"""The rules of one live session, synchronous and clock-injected: updates in, messages out.

:class:`LiveSession` holds what the live path knows about one running session and applies its
rules; it does no I/O, runs no task and touches no store, so it is tested with a fake clock
(``tests/server/test_live_session.py``) and the scenarios drive it directly
(``tests/dashboard/test_scenarios.py``). :class:`server.live.hub.LiveHub` drives it: storage
first, the shared engine (:mod:`server.live.compute`), the rate cap, the subscribers.

What goes in: per-beat engine updates of a participant (:meth:`LiveSession.apply`), device events
(:meth:`LiveSession.device_event`), ticks (:meth:`LiveSession.tick`), and the therapist's
commands (advance or extend the phase, markers, cue responses, the pacer, a privacy pause) and
consent changes. What comes out: the messages of :mod:`server.messages`, and a few requests to
its driver, all in the order they must be carried out, in :meth:`LiveSession.take_outputs`:

* :class:`StorePhase`: store a phase event (before the ``phase`` message that follows it);
* :class:`StoreCue`: store a cue, then call :meth:`LiveSession.cue_stored` with its id (the
  ``cue`` message carries the stored id, which the therapist's response names);
* :class:`Redact`: take a participant's beats and device messages out of every queued message;
* :class:`Lookahead`: classify a participant's beats that wait for look-ahead in the engine, and
  show them (a dropout) or discard them (a privacy pause);
* :class:`Restart`: forget a participant's engine windows (a resume: windows do not span a pause).

The ``beats`` message is taken by :meth:`LiveSession.take_beats` when the rate cap allows.

Rules. **Phases** follow a :class:`dashboard.phases.PhaseClock` on the session clock. **Cues**
come from a :class:`dashboard.cues.CueEngine` evaluated at each tick with the latest arousal of
the *visible* patient and therapist and the patient's coherence. **Arousal** of a participant
without beats for a while (2.5 s of session time, at least 1 s of host time) decays. **Coherence**
is computed every 5 s while the pacer shows or in the rehearsal phase
(:attr:`LiveSession.coherence_period`). **Synchrony** is computed every 5 s of session time from
the first minute on, only when both participants are visible and consented to ``synchrony``.
**Consent**: without ``live_display`` nothing of a participant is sent (beats, device status,
coherence, markers about them; the cue engine does not see them), and losing it, or the
``storage`` consent, purges the history and redacts queued messages at once. A **privacy pause**
hides a participant and keeps their history; the hub also stops storing and computing their beats.

Clock: :class:`server.live.state.SessionClock` on the injected host clock.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Literal

import numpy as np

from dashboard.cues import CueEngine, CueError
from dashboard.events import Cue, CueResolved, PhaseChange
from dashboard.phases import DEFAULT_FIRST_SESSION, PhaseClock, PhaseError, PhaseTemplate
from hrv.arousal import ArousalTracker, ArousalUpdate
from hrv.errors import SintoniaError
from hrv.stream import StreamUpdates
from sensor.types import DeviceEvent
from server.live.display import Chunk, finite
from server.live.state import (
    DROPOUT_KINDS,
    LiveParticipant,
    Lookahead,
    Output,
    Person,
    Redact,
    Restart,
    SessionClock,
    StoreCue,
    StorePhase,
)
from server.live.synchrony import (
    LIVE_SYNCHRONY_READ_S,
    hidden_synchrony_message,
    live_synchrony_message,
)
from server.messages import (
    BeatsMessage,
    CoherenceMessage,
    CueMessage,
    CueResolvedMessage,
    DeviceMessage,
    HistoryMessage,
    MarkerMessage,
    ParticipantBeats,
    PhaseMessage,
    PhaseScheduleEntry,
    SessionMessage,
    SynchronyMessage,
    VisibilityMessage,
)
from server.storage import (
    CueResponse,
    InvalidRecordError,
    Marker,
    RecordNotFoundError,
    StateConflictError,
)

__all__ = [
    "COHERENCE_EVERY_S",
    "SYNCHRONY_EVERY_S",
    "LiveSession",
    "phase_template",
]

_log = logging.getLogger(__name__)

#: Coherence refresh period while the pacer is on or in the rehearsal phase, s of session time.
COHERENCE_EVERY_S: Final[float] = 5.0
#: Synchrony refresh period, s of session time.
SYNCHRONY_EVERY_S: Final[float] = 5.0
#: Session time before the first co-regulation message (``collecting`` until enough windows), s.
_FIRST_SYNCHRONY_S: Final[float] = 60.0
#: Session time without a beat after which a participant's arousal reading decays (the longest
#: plausible RR), s.
_NO_BEAT_S: Final[float] = 2.5
#: The phase in which coherence is computed without a pacer cue.
_REHEARSAL_PHASE: Final[str] = "rehearsal"
#: Shortest silence, in host seconds, before a participant counts as without beats (so that the
#: hub's own lag at a high simulated speed is never taken for a dropout).
_MIN_SILENT_WALL_S: Final[float] = 1.0
#: Control messages kept in memory per session for late joiners.
_KEEP_CONTROL: Final[int] = 200
#: Display history kept per participant by default, s of beat time (``ServerSettings.history_s``).
_DEFAULT_HISTORY_S: Final[float] = 600.0


def phase_template(value: Any) -> PhaseTemplate:
    """A session's stored phase template (a dict), the default when missing or not understood."""
    if isinstance(value, PhaseTemplate):
        return value
    if isinstance(value, dict):
        try:
            return PhaseTemplate.from_dict(value)
        except PhaseError as exc:
            _log.warning("session phase template not understood (%s); using the default", exc)
    return DEFAULT_FIRST_SESSION


class LiveSession:
    """One running session's state and rules (see the module documentation).

    Parameters
    ----------
    session_id : int
    people : sequence of Person
        The participants, in the order the session lists them.
    clock : callable
        Host clock, s (the session clock runs on it, see :class:`SessionClock`).
    template : PhaseTemplate or dict, optional
        The phases (a stored template as a dict is parsed; a bad one gives the default).
    start_s : float, optional
        Session time at the start (default: the host clock now).
    speed : float, optional
        Session seconds per host second (1).
    anchored : bool, optional
        Whether the clock runs from the start (True) or from :meth:`SessionClock.anchor`.
    history_s : float, optional
        Display history kept per participant, s of beat time (600).

    Examples
    --------
    >>> host = [0.0]
    >>> s = LiveSession(1, [Person(7, "P1", "patient", frozenset({"live_display"}))],
    ...                 clock=lambda: host[0], start_s=0.0)
    >>> [type(o).__name__ for o in s.opening()]
    ['StorePhase', 'SessionMessage', 'PhaseMessage']
    >>> host[0] = 601.0
    >>> s.tick()
    >>> [o.phase_id for o in s.take_outputs() if isinstance(o, PhaseMessage)]
    ['map']
    """

    def __init__(
        self,
        session_id: int,
        people: Sequence[Person],
        *,
        clock: Callable[[], float],
        template: PhaseTemplate | dict[str, Any] | None = None,
        start_s: float | None = None,
        speed: float = 1.0,
        anchored: bool = True,
        history_s: float = _DEFAULT_HISTORY_S,
    ) -> None:
        t0 = clock() if start_s is None else float(start_s)
        self.session_id = session_id
        self.history_s = float(history_s)
        self.clock = SessionClock(t0, speed, clock, anchored=anchored)
        self.phases = PhaseClock(phase_template(template), t0)
        self.cues = CueEngine()
        self.participants: dict[int, LiveParticipant] = {}
        self._labels: dict[str, LiveParticipant] = {}
        roles = [person.role for person in people]
        for person in people:
            p = LiveParticipant(
                pid=person.pid,
                code=person.code,
                role=person.role,
                tracker=ArousalTracker(person.code, session_start_s=t0),
                purposes=person.purposes,
            )
            self.participants[p.pid] = p
            self._labels[p.code] = p
            self._labels[str(p.pid)] = p
            if roles.count(p.role) == 1:
                self._labels.setdefault(p.role, p)
        self._unknown_labels: set[str] = set()
        self.t_mono = t0
        self.pacer_on = False
        self._cue_ids: dict[str, int] = {}
        self._cues_by_store_id: dict[int, CueMessage] = {}
        self.active_cue: CueMessage | None = None
        self.phase_msg: PhaseMessage | None = None
        self.markers: deque[MarkerMessage] = deque(maxlen=_KEEP_CONTROL)
        self.synchrony: deque[SynchronyMessage] = deque(maxlen=_KEEP_CONTROL)
        self.coherence: deque[CoherenceMessage] = deque(maxlen=_KEEP_CONTROL)
        self.next_synchrony_s = t0 + _FIRST_SYNCHRONY_S
        self._out: list[Output] = []

    # ================================================================== basics
    @property
    def sid(self) -> int:
        """The session's id."""
        return self.session_id

    def tnow(self) -> float:
        """Session-clock now, non-decreasing across every use (phase clock, cue engine)."""
        self.t_mono = max(self.t_mono, self.clock.now())
        return self.t_mono

    def take_outputs(self) -> list[Output]:
        """The messages and requests produced since the last call, in order (then forgotten)."""
        out, self._out = self._out, []
        return out

    def by_role(self, role: str) -> LiveParticipant | None:
        """The (first) participant with ``role``."""
        for p in self.participants.values():
            if p.role == role:
                return p
        return None

    def participant_for(self, label: str) -> LiveParticipant | None:
        """The participant a source's label names (code, id as text, or a unique role).

        The first item of a source also starts a simulated session's clock. An unknown label is
        logged once.
        """
        if not self.clock.anchored:
            self.clock.anchor()
        p = self._labels.get(label)
        if p is None and label not in self._unknown_labels:
            self._unknown_labels.add(label)
            _log.warning("session %d: items labelled %r match no participant", self.sid, label)
        return p

    def rows(self) -> list[int]:
        """The engine rows of the participants."""
        return [p.row for p in self.participants.values()]

    @property
    def coherence_period(self) -> float | None:
        """How often coherence should be computed now, s (None: off): while the pacer shows or
        in the rehearsal phase."""
        phase = self.phase_msg.phase_id if self.phase_msg is not None else None
        return COHERENCE_EVERY_S if self.pacer_on or phase == _REHEARSAL_PHASE else None

    # ================================================================== messages
    def session_message(self, status: str, t: float, reason: str | None = None) -> SessionMessage:
        """The ``session`` message with the session's status (``live``, ``stopped`` ...)."""
        return SessionMessage(
            session_id=self.sid,
            status=status,  # type: ignore[arg-type]
            time_s=t,
            started_at_s=self.clock.start_s,
            speed=self.clock.speed,
            reason=reason,
            participants=[p.info() for p in self.participants.values()],
        )

    def opening(self, actor: str | None = None) -> list[Output]:
        """The start: store the first phase, announce the session live, then the phase."""
        start = self.phases.events[0]
        self._out += [
            StorePhase(start, self.phases.template.index_of(start.phase_id), actor),
            self.session_message("live", self.clock.start_s),
        ]
        self._phase_message(start)
        return self.take_outputs()

    def history(self, keep_s: float) -> HistoryMessage:
        """The ``history`` message of a late joiner: the last ``keep_s`` s of session time."""
        t = self.tnow()
        t_from = t - keep_s
        beats = []
        for p in self.participants.values():
            if not p.visible:
                continue
            # up to the last beat already sent: the beats still pending come in the next
            # ``beats`` message, so a late joiner gets each beat exactly once
            chunk = p.ring.since(t_from)
            if chunk is not None:
                chunk = chunk.until(p.emitted_until_s)
            if chunk is not None:
                beats.append(p.beats(chunk))
        visible = {p.pid for p in self.participants.values() if p.visible}
        phase = None
        if self.phase_msg is not None:
            phase = self.phase_msg.model_copy(update={"schedule": self._schedule(t)})
        return HistoryMessage(
            session_id=self.sid,
            now_s=t,
            history_s=keep_s,
            session=self.session_message("live", self.clock.start_s),
            beats=beats,
            phase=phase,
            cue=self.active_cue,
            markers=[
                m
                for m in self.markers
                if m.time_s >= t_from and (m.participant_id is None or m.participant_id in visible)
            ],
            devices=[
                p.last_device
                for p in self.participants.values()
                if p.visible and p.last_device is not None
            ],
            coherence=[
                c for c in self.coherence if c.time_s >= t_from and c.participant_id in visible
            ],
            synchrony=[s for s in self.synchrony if s.time_s >= t_from],
        )

    # ================================================================== beats in
    def apply(self, p: LiveParticipant, u: StreamUpdates) -> None:
        """Per-beat engine updates of ``p`` -> arousal, display buffers, coherence messages."""
        if p.paused or len(u) == 0:
            return
        n = len(u)
        index = np.full(n, np.nan)
        conf = np.zeros(n)
        states: list[str] = []
        t_list = u.time_s.tolist()
        hr_list = u.mean_hr_bpm.tolist()
        ln_list = u.ln_rmssd.tolist()
        q_list = u.quality.tolist()
        ok_list = u.valid.tolist()
        last: ArousalUpdate | None = p.last_update
        try:
            for k in range(n):  # the tracker is a per-beat recurrence (O(1) each)
                # a beat dated before a tick's time (a late notification) is taken at that time
                p.tracker_t = max(p.tracker_t, t_list[k])
                last = p.tracker.update(p.tracker_t, hr_list[k], ln_list[k], q_list[k], ok_list[k])
                if last.index is not None:
                    index[k] = last.index
                conf[k] = last.confidence
                states.append(last.state)
        except SintoniaError as exc:
            _log.warning("arousal tracker of participant %d: %s", p.pid, exc)
            states.extend(["uncertain"] * (n - len(states)))
        p.last_update = last
        p.last_beat_s = max(p.last_beat_s, float(u.time_s[-1]))
        p.arrived_at_s = self.t_mono
        chunk = Chunk(
            time_s=u.time_s,
            rr_ms=u.rr_ms,
            hr_bpm=u.hr_bpm,
            mean_hr_bpm=u.mean_hr_bpm,
            rmssd_ms=u.rmssd_ms,
            arousal_index=index,
            arousal_state=states,
            confidence=conf,
            quality=u.quality,
            artifact=u.artifact != 0,
        )
        if "live_display" in p.purposes:
            p.pending.append(chunk)
            p.ring.add(chunk, p.last_beat_s - self.history_s)
        fresh = np.flatnonzero(u.coherence_fresh)
        for k in fresh.tolist():
            msg = CoherenceMessage(
                session_id=self.sid,
                participant_id=p.pid,
                time_s=float(u.time_s[k]),
                coherence_ratio=finite(float(u.coherence_ratio[k])),
                breathing_rate_bpm=finite(float(u.breathing_rate_bpm[k])),
            )
            p.coherence = msg
            if p.visible:
                self.coherence.append(msg)
                self._out.append(msg)

    def has_beats_to_send(self) -> bool:
        """Whether a participant has display values not yet sent."""
        return any(p.pending for p in self.participants.values())

    def take_beats(self, sent_at_s: float) -> BeatsMessage | None:
        """The ``beats`` message of every visible participant's pending values (None: none)."""
        parts: list[ParticipantBeats] = []
        for p in self.participants.values():
            if not p.pending:
                continue
            chunks, p.pending = p.pending, []
            if not p.visible:
                continue
            c = Chunk.join(chunks)
            p.emitted_until_s = float(c.time_s[-1])
            parts.append(p.beats(c))
        if not parts:
            return None
        return BeatsMessage(session_id=self.sid, sent_at_s=sent_at_s, participants=parts)

    def device_event(self, p: LiveParticipant, ev: DeviceEvent) -> None:
        """A device event of ``p``: its status, a dropout's look-ahead, the ``device`` message."""
        p.device = ev.device
        if ev.kind == "connected":
            p.connected = True
        elif ev.kind in ("disconnected", "reconnecting", "connecting", "gave_up"):
            p.connected = False
        elif ev.kind == "battery" and ev.value is not None:
            p.battery = float(ev.value)
        elif ev.kind == "contact" and ev.value is not None:
            p.contact = bool(ev.value)
        if ev.kind in DROPOUT_KINDS:
            # the beats before the dropout need no more look-ahead
            self._out.append(Lookahead(p.pid, show=True))
        msg = DeviceMessage(
            session_id=self.sid,
            participant_id=p.pid,
            device=ev.device,
            kind=ev.kind,
            time_s=ev.host_time_s,
            value=None if ev.value is None else finite(float(ev.value)),
            connected=p.connected,
            battery_percent=p.battery,
            contact=p.contact,
            detail={str(k): str(v) for k, v in ev.detail.items()},
        )
        p.last_device = msg
        if p.visible:
            self._out.append(msg)

    # ================================================================== tick
    def tick(self) -> None:
        """The clock moved: phases, the decay of silent readings, cues, synchrony."""
        t = self.tnow()
        self._clock_phases(t)
        for p in self.participants.values():
            # no beat for a while: the reading decays (uncertain); the tracker's time follows
            # the participant's beat timeline, extrapolated by the session time since they came
            silent_s = t - p.arrived_at_s
            quiet_s = max(_NO_BEAT_S, self.clock.speed * _MIN_SILENT_WALL_S)
            if p.visible and silent_s > quiet_s and p.last_update is not None:
                p.tracker_t = max(p.tracker_t, p.last_beat_s + silent_s)
                with contextlib.suppress(SintoniaError):
                    p.last_update = p.tracker.tick(p.tracker_t)
        self._evaluate_cues(t)
        if t >= self.next_synchrony_s:
            self.next_synchrony_s = t + SYNCHRONY_EVERY_S
            self._synchrony(t)

    # ================================================================== phases
    def _clock_phases(self, t: float, actor: str | None = None) -> None:
        for event in self.phases.update(t):
            self._phase_event(event, actor)

    def _phase_event(self, event: PhaseChange, actor: str | None) -> PhaseMessage:
        self._out.append(StorePhase(event, self.phases.template.index_of(event.phase_id), actor))
        return self._phase_message(event)

    def _phase_message(self, event: PhaseChange) -> PhaseMessage:
        if event.reason == "extend":
            started_s = self.phases.status(self.t_mono).started_s
        else:
            started_s = event.time_s
        msg = PhaseMessage(
            session_id=self.sid,
            time_s=event.time_s,
            phase_id=event.phase_id,
            label=event.label,
            index=self.phases.template.index_of(event.phase_id),
            previous_id=event.previous_id,
            reason=event.reason,
            started_s=started_s,
            planned_end_s=event.planned_end_s,
            extended_by_s=event.extended_by_s,
            schedule=self._schedule(event.time_s),
        )
        self.phase_msg = msg
        self._out.append(msg)
        return msg

    def _schedule(self, t: float) -> list[PhaseScheduleEntry]:
        t = max(t, self.t_mono)
        return [
            PhaseScheduleEntry(
                phase_id=e.phase_id,
                label=e.label,
                planned_start_s=e.planned_start_s,
                planned_end_s=e.planned_end_s,
                actual_start_s=e.actual_start_s,
                actual_end_s=e.actual_end_s,
                projected_start_s=e.projected_start_s,
                projected_end_s=e.projected_end_s,
                extended_by_s=e.extended_by_s,
            )
            for e in self.phases.schedule(t)
        ]

    def advance_phase(self, *, actor: str | None = None) -> PhaseMessage:
        """End the current phase now and enter the next (the phases due before come first).

        Raises
        ------
        StateConflictError
            The session is in its last phase.
        """
        t = self.tnow()
        self._clock_phases(t)
        try:
            event = self.phases.advance(t)
        except PhaseError as exc:
            raise StateConflictError(
                str(exc), expected="a phase after the current one", actual="the last phase"
            ) from exc
        return self._phase_event(event, actor)

    def extend_phase(self, by_s: float, *, actor: str | None = None) -> PhaseMessage:
        """Give the current phase ``by_s`` more seconds.

        Raises
        ------
        InvalidRecordError
            ``by_s`` is not a positive number of seconds.
        """
        t = self.tnow()
        self._clock_phases(t)
        try:
            event = self.phases.extend(t, by_s)
        except PhaseError as exc:
            raise InvalidRecordError(str(exc)) from exc
        return self._phase_event(event, actor)

    # ================================================================== cues
    def _evaluate_cues(self, t: float) -> None:
        patient = self.by_role("patient")
        therapist = self.by_role("therapist")
        pv = patient.last_update if patient is not None and patient.visible else None
        tv = therapist.last_update if therapist is not None and therapist.visible else None
        coh = patient.coherence if patient is not None and patient.visible else None
        status = self.phases.status(t)
        events = self.cues.evaluate(
            t,
            phase_id=status.phase_id,
            phase_since_s=status.started_s,
            patient=pv,
            therapist=tv,
            coherence=None if coh is None else coh.coherence_ratio,
            breathing_rate_per_min=None if coh is None else coh.breathing_rate_bpm,
        )
        for ev in events:
            if isinstance(ev, Cue):
                values = {k: v for k, v in ev.values if math.isfinite(v)}
                self._out.append(StoreCue(ev, values, None if patient is None else patient.pid))
            elif isinstance(ev, CueResolved):
                self._cue_ended(ev)

    def cue_stored(self, request: StoreCue, cue_id: int) -> CueMessage:
        """The cue of ``request`` was stored with id ``cue_id``: it shows; returns its message."""
        cue = request.cue
        msg = CueMessage(
            session_id=self.sid,
            cue_id=cue_id,
            rule_id=cue.rule_id,
            time_s=cue.time_s,
            phase_id=cue.phase_id,
            text=cue.text,
            reason=cue.reason,
            values=request.values,
            pacer_breaths_per_min=cue.pacer_breaths_per_min,
        )
        self._cue_ids[cue.cue_id] = cue_id
        self._cues_by_store_id[cue_id] = msg
        self.active_cue = msg
        return msg

    def _cue_ended(self, ev: CueResolved) -> None:
        store_id = self._cue_ids.get(ev.cue_id)
        if store_id is None:
            return
        if self.active_cue is not None and self.active_cue.cue_id == store_id:
            self.active_cue = None
        self._out.append(
            CueResolvedMessage(
                session_id=self.sid,
                cue_id=store_id,
                rule_id=ev.rule_id,
                time_s=ev.time_s,
                resolution=ev.resolution,
                shown_s=ev.shown_s,
            )
        )

    def respond_to_cue(self, cue_id: int, response: CueResponse) -> bool:
        """The therapist answered cue ``cue_id`` (the stored id): end it; an acknowledged pacing
        cue turns the pacer on. False if it is not a cue of this run."""
        cue = self._cues_by_store_id.get(cue_id)
        if cue is None:
            _log.info("response to cue %d of session %d: not a cue of this run", cue_id, self.sid)
            return False
        engine_id = next((k for k, v in self._cue_ids.items() if v == cue_id), None)
        t = self.tnow()
        showing = self.cues.active
        if engine_id is not None and showing is not None and showing.cue_id == engine_id:
            with contextlib.suppress(CueError):
                if response == "acknowledged":
                    self.cues.acknowledge(t, engine_id)
                else:
                    self.cues.dismiss(t, engine_id)
        if self.active_cue is not None and self.active_cue.cue_id == cue_id:
            self.active_cue = None
        if response == "acknowledged" and cue.pacer_breaths_per_min is not None:
            self.pacer_on = True
        self._out.append(
            CueResolvedMessage(
                session_id=self.sid,
                cue_id=cue_id,
                rule_id=cue.rule_id,
                time_s=t,
                resolution=response,
                shown_s=cue.time_s,
            )
        )
        return True

    def set_pacer(self, on: bool) -> None:
        """Show or hide the breathing pacer (coherence is computed while it shows)."""
        self.pacer_on = bool(on)

    # ================================================================== markers
    def _shown(self, participant_id: int | None) -> bool:
        if participant_id is None:
            return True
        p = self.participants.get(participant_id)
        return p is None or "live_display" in p.purposes

    def marker_added(self, marker: Marker) -> None:
        """A marker was stored: the cue engine sees it (grounding); sent unless it is about a
        participant without ``live_display``."""
        try:
            self.cues.mark(self.tnow(), marker.type)
        except CueError as exc:  # pragma: no cover - times come from tnow()
            _log.warning("cue engine refused marker %d: %s", marker.id, exc)
        if not self._shown(marker.participant_id):
            return
        msg = MarkerMessage.of(self.sid, marker)
        self.markers.append(msg)
        self._out.append(msg)

    def marker_changed(self, marker: Marker) -> None:
        """A marker was undone or retracted (still stored): sent again, drawn so."""
        if not self._shown(marker.participant_id):
            return
        msg = MarkerMessage.of(self.sid, marker)
        self.markers = deque(
            (m for m in self.markers if m.marker_id != marker.id), maxlen=_KEEP_CONTROL
        )
        self.markers.append(msg)
        self._out.append(msg)

    # ================================================================== synchrony
    def _synchrony(self, t: float) -> None:
        patient = self.by_role("patient")
        therapist = self.by_role("therapist")
        if patient is None or therapist is None:
            return
        if not (patient.visible and therapist.visible):
            return
        if "synchrony" not in patient.purposes or "synchrony" not in therapist.purposes:
            return
        a = patient.ring.since(t - LIVE_SYNCHRONY_READ_S)
        b = therapist.ring.since(t - LIVE_SYNCHRONY_READ_S)
        msg = live_synchrony_message(
            self.sid,
            patient.pid,
            therapist.pid,
            None if a is None else (a.time_s, a.rr_ms),
            None if b is None else (b.time_s, b.rr_ms),
            t,
        )
        self.synchrony.append(msg)
        self._out.append(msg)

    def _blank_synchrony(self, t: float) -> None:
        """One of the two is hidden: forget the readings and tell the pages to blank the panel."""
        self.synchrony.clear()
        patient = self.by_role("patient")
        therapist = self.by_role("therapist")
        if patient is None or therapist is None:
            return
        self._out.append(hidden_synchrony_message(self.sid, patient.pid, therapist.pid, t))

    # ================================================================== privacy
    def _hide(self, p: LiveParticipant, *, keep_history: bool = False) -> None:
        """Stop showing a participant at once: pending beats, history, queued messages."""
        p.pending.clear()
        if not keep_history:
            p.ring.clear()
            p.coherence = None
            self.coherence = deque(
                (c for c in self.coherence if c.participant_id != p.pid), maxlen=_KEEP_CONTROL
            )
            self.synchrony.clear()
        self._out.append(Redact(p.pid))

    def _visibility(
        self,
        p: LiveParticipant,
        reason: Literal["consent_revoked", "consent_granted", "privacy_pause", "privacy_resume"],
        t: float,
    ) -> VisibilityMessage:
        return VisibilityMessage(
            session_id=self.sid, participant_id=p.pid, visible=p.visible, reason=reason, time_s=t
        )

    def set_purposes(self, participant_id: int, purposes: Iterable[str]) -> bool:
        """A participant's active consents changed: apply them at once.

        Losing ``live_display`` hides them (history purged, queued messages redacted, synchrony
        blanked, a ``visibility`` message); losing ``storage`` purges the memory of their beats.
        Returns whether ``storage`` was lost (the driver then erases what was in flight).
        """
        p = self.participants[participant_id]
        new = frozenset(purposes)
        was_visible = p.visible
        lost_storage = "storage" in p.purposes and "storage" not in new
        p.purposes = new
        t = self.tnow()
        if lost_storage:
            self._hide(p)  # the memory of their beats goes too, at once
        if was_visible and not p.visible:
            self._hide(p)
            self._blank_synchrony(t)
            self._out.append(self._visibility(p, "consent_revoked", t))
        elif p.visible and not was_visible:
            self._out.append(self._visibility(p, "consent_granted", t))
        return lost_storage

    def erase(self, participant_id: int) -> None:
        """A participant's stored data was erased: forget their beats; store nothing more."""
        p = self.participants[participant_id]
        p.erased = True
        self._hide(p)

    def set_paused(self, participant_id: int, paused: bool) -> tuple[VisibilityMessage, bool]:
        """Pause (hide, keeping the history) or resume a participant's stream.

        Returns the ``visibility`` message (for the driver to send once the pause is stored as a
        marker) and whether anything changed.

        Raises
        ------
        RecordNotFoundError
            The participant is not in the session.
        StateConflictError
            The participant has no ``live_display`` consent (not shown, so a pause could never be
            resumed into a view).
        """
        p = self.participants.get(participant_id)
        if p is None:
            raise RecordNotFoundError("participant in this session", participant_id)
        if "live_display" not in p.purposes:
            raise StateConflictError(
                f"participant {participant_id} is not shown (no consent to live display), so "
                "there is nothing to pause or resume",
                expected="a participant with a live_display consent",
                actual="no live_display consent",
            )
        t = self.tnow()
        paused = bool(paused)
        msg = VisibilityMessage(
            session_id=self.sid,
            participant_id=participant_id,
            visible=not paused,
            reason="privacy_pause" if paused else "privacy_resume",
            time_s=t,
        )
        if p.paused == paused:
            return msg, False
        p.paused = paused
        if paused:
            self._hide(p, keep_history=True)
            self._blank_synchrony(t)
            self._out.append(Lookahead(p.pid, show=False))  # waiting beats are not shown
        else:
            self._out.append(Restart(p.pid))  # the windows do not span the pause
        return msg, True
