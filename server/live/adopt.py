"""Taking over a live session whose process died: its running state rebuilt from storage.

With several server processes on one database (issue 16), a session is computed by the process
that holds its lease; when that process dies, another takes the lease and calls
:meth:`server.live.hub.LiveHub.adopt_session`, which uses this module. Everything the live path
keeps in memory is rebuilt from what the dead process stored, and nothing is stored again:

* **Clock.** The session clock runs on the host clock from the run's start (speed 1, anchored):
  only sessions whose participants are all ``remote`` can be adopted (:func:`adoptable`), and
  those always run at speed 1, with session time equal to host time.
* **Phases.** The stored phase events (``enter`` / ``extend``, as
  :func:`dashboard.phases.actual_phases` reads them) are replayed into the session's
  :class:`dashboard.phases.PhaseClock`, so the current phase, its start and its planned end
  continue; a phase boundary that fell while no process owned the session is entered (and
  stored) by the new owner's first tick, stamped with its scheduled time, as the clock always
  does.
* **Engine and arousal.** Each participant's stored beats go through the hub's own
  :class:`hrv.stream.MultiStreamEngine` row in beat order, cut exactly where the live path cuts
  them (a re-anchored batch flushes the look-ahead first; a dropout event flushes and shows it;
  a privacy pause flushes and discards it, a resume forgets the windows), and the per-beat
  updates go through :meth:`server.live.session.LiveSession.apply` (the arousal tracker and its
  baseline, the display ring). The engine is streaming-invariant (how beats are split into
  pushes does not change any number: live == batch), so the rows end in the state the dead
  process's rows had, with the same beats waiting for look-ahead, and the next beats give the
  same values as an uninterrupted run.
* **Privacy pauses** from the stored ``privacy_pause`` / ``privacy_resume`` markers; **markers**
  (for late joiners) from storage; **consents** read fresh; the **device status** from the
  stored device events.
* **Cues.** Past cues are stored and are not shown again; the new cue engine starts with a fresh
  cooldown (no cue before ``min_gap_s`` from the adoption) and sees the stored markers
  (grounding).

Beats that arrive while the adoption reads and replays storage are not lost to the live view:
from the moment it begins, :meth:`LiveRuntime.ingest_remote` holds a copy of each item (and
returns False, so the ingest route stores it, as for any session not live here); once storage is
replayed, the held beats after each participant's last stored one are computed, with no await in
between. The replay yields to the event loop every :data:`_REPLAY_SLICE` beats, so that the
other live sessions go on meanwhile (an hour of a dyad, about 9,000 beats, takes a few hundred
ms of work).

Known differences from the dead process's memory: the decay of a silent participant's reading
(ticks at host instants, which are not stored) is not replayed, so after a silence the tracker's
confidence follows the batch replay (:func:`hrv.arousal.replay_arousal`, what the review shows);
the decay the live path gives a participant at a resume is replayed at the resume's time (as if
their last beats had come at the pause); beats still queued for the engine when a pause came
were stored but never computed live, and the replay computes them; the coherence period is
switched at the stored phase boundaries (the live path switches it at the next tick) and the
pacer state is not stored (off after adoption); synchrony readings are not stored, so a late
joiner's history has none until the next one (within 5 s); a participant without the ``storage``
consent had no beats stored, so their live view starts afresh.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import math
from dataclasses import dataclass
from typing import Any, Final, cast

import numpy as np

from hrv.errors import SintoniaError
from hrv.stream import StreamUpdates
from sensor.quality import split_corrupt
from sensor.types import BeatBatch, DeviceEvent, DeviceEventKind, SourceItem
from server.live.compute import LiveCompute
from server.live.ratelimit import TokenBucket
from server.live.records import Loaded, load_session
from server.live.runtime import LiveRuntime, RunningSession
from server.live.session import (
    _NO_BEAT_S as NO_BEAT_S,
)
from server.live.session import (
    _REHEARSAL_PHASE,
    COHERENCE_EVERY_S,
    LiveSession,
    phase_template,
)
from server.live.sources import IdleSource
from server.live.state import DROPOUT_KINDS, LiveParticipant
from server.messages import MarkerMessage
from server.readmodel import PAUSE_MARKERS
from server.storage import (
    BeatPage,
    DeviceEventRecord,
    Marker,
    PhaseEvent,
    Session,
    StateConflictError,
    Store,
)

__all__ = [
    "ADOPTABLE_KINDS",
    "Stored",
    "adopt_running",
    "adoptable",
    "fence",
    "load_stored",
    "restore_session",
]

_log = logging.getLogger(__name__)

#: Source kinds whose beats reach any process (the ingest protocol): only these can be adopted.
ADOPTABLE_KINDS: Final[frozenset[str]] = frozenset({"remote"})

#: Beats replayed between two turns of the event loop (about 10 ms of work on this machine).
_REPLAY_SLICE: Final[int] = 256

#: Device events the live path does not give to the session (stored counts of corrupt values).
_NOT_SESSION_EVENTS: Final[frozenset[str]] = frozenset({"invalid_rr"})


@dataclass(frozen=True, slots=True)
class Stored:
    """What storage holds of a live session, as adoption needs it."""

    record: Session
    people: list[Loaded]
    phase_events: list[PhaseEvent]
    markers: list[Marker]
    beats: dict[int, BeatPage]
    device_events: dict[int, list[DeviceEventRecord]]

    @property
    def run_start_s(self) -> float:
        """Start of the current run: the last opening of the first phase (a restarted
        interrupted session keeps its first ``started_at_s``), else ``started_at_s``."""
        openings = [
            e.time_s for e in self.phase_events if e.action == "enter" and e.phase_index == 0
        ]
        if openings:
            return float(max(openings))
        start = self.record.started_at_s
        return float(start if start is not None else self.record.created_at_s)


async def adopt_running(runtime: LiveRuntime, session_id: int) -> RunningSession | None:
    """Read a live session from storage, rebuild it and register it in ``runtime`` (its tasks
    are the caller's to start); None, with nothing changed, when it cannot be adopted.

    Raises
    ------
    RecordNotFoundError
        Unknown session.
    StateConflictError
        Its stored status is not ``live``.
    """
    stored = await asyncio.to_thread(load_stored, runtime.store, session_id)
    if stored.record.status != "live":
        raise StateConflictError(
            f"cannot adopt session {session_id}", expected="live", actual=stored.record.status
        )
    if not adoptable(stored.people):
        return None
    session = await restore_session(
        stored,
        clock=runtime._clock,
        history_s=runtime.settings.history_s,
        compute=runtime._compute,
    )
    # from here on nothing is awaited: the items held while storage was read and replayed
    # (the caller stored them) go to the engine, then ingest goes the usual way
    rate, capacity = runtime.rate_cap
    live = RunningSession(session, IdleSource(), TokenBucket(rate, capacity))
    runtime._sessions[session_id] = live
    runtime._sync_coherence(live)
    runtime._ensure_compute()
    _take_held(runtime, live, stored, runtime._adopting.get(session_id, []))
    return live


def _take_held(
    runtime: LiveRuntime, live: RunningSession, stored: Stored, held: list[SourceItem]
) -> None:
    """Compute the items ingested during the adoption (already stored by the ingest route):
    each participant's beats after the last one replayed from storage (the others were in it);
    a paused participant's are dropped, as the live path drops them."""
    session = live.session
    until = {
        pid: float(page.beat_time_s[-1]) if len(page.beat_time_s) else -math.inf
        for pid, page in stored.beats.items()
    }
    for item in held:
        p = session.participant_for(item.participant)
        if p is None or p.paused or p.erased:
            continue
        if not isinstance(item, BeatBatch):
            session.device_event(p, item)
            runtime._carry_out_now(live)
            continue
        kept, _corrupt = split_corrupt(item)
        for batch in kept:
            new = np.flatnonzero(batch.beat_times_s > until.get(p.pid, -math.inf))
            if new.size == 0:
                continue
            k = int(new[0])
            part = dataclasses.replace(
                batch,
                rr_ms=batch.rr_ms[k:],
                rr_raw=None if batch.rr_raw is None else batch.rr_raw[k:],
                beat_times_s=batch.beat_times_s[k:],
                seq=batch.seq + k,
                gap_before=batch.gap_before and k == 0,
            )
            until[p.pid] = float(part.beat_times_s[-1])
            runtime._pending.append((p, part, runtime._clock()))
    if runtime._wake is not None and runtime._pending:
        runtime._wake.set()


def fence(runtime: LiveRuntime, session_id: int) -> RunningSession | None:
    """Take a session out of ``runtime`` at once (its lease was lost): no longer live, nothing
    more computed, stored or sent for it (its queued beats and engine rows dropped, its
    subscriptions ended). Returns it (its tasks still to be cancelled), None if not live."""
    live = runtime._sessions.pop(session_id, None)
    if live is None:
        return None
    live.abandoned = True
    live.stopping = True
    if live.emit_handle is not None:
        live.emit_handle.cancel()
        live.emit_handle = None
    rows = {row for row in live.session.rows() if row >= 0}
    runtime._pending = [item for item in runtime._pending if item[0].row not in rows]
    for p in live.participants.values():
        if p.row >= 0:
            runtime._compute.release_row(p.row)
        p.row = -1
    runtime._fanout.end(session_id)
    return live


def adoptable(people: list[Loaded]) -> bool:
    """Whether every participant's beats come through the ingest protocol (``remote``)."""
    return bool(people) and all(kind in ADOPTABLE_KINDS for _p, (kind, _a) in people)


def load_stored(store: Store, session_id: int, *, beats: bool = True) -> Stored:
    """Read a session's record, participants (fresh consents), phase events, markers, and (when
    ``beats``) every participant's beats and device events. Blocking: run it in a thread.

    Raises
    ------
    RecordNotFoundError
        Unknown session.
    """
    record, people = load_session(store, session_id)
    stored_beats: dict[int, BeatPage] = {}
    events: dict[int, list[DeviceEventRecord]] = {}
    if beats and adoptable(people):
        for person, _ in people:
            stored_beats[person.pid] = store.read_all_beats(session_id, participant_id=person.pid)
            events[person.pid] = store.list_device_events(session_id, participant_id=person.pid)
    return Stored(
        record=record,
        people=people,
        phase_events=store.list_phase_events(session_id),
        markers=store.list_markers(session_id, include_retracted=True),
        beats=stored_beats,
        device_events=events,
    )


async def restore_session(
    stored: Stored, *, clock: Any, history_s: float, compute: LiveCompute
) -> LiveSession:
    """The running state of an adopted session, rebuilt from ``stored`` (see the module).

    Takes an engine row of ``compute`` for each participant. Free of I/O (it yields to the
    event loop between slices of the replay); the session's outputs from the replay are
    discarded (nothing is stored or sent again).
    """
    t0 = stored.run_start_s
    session = LiveSession(
        stored.record.id,
        [person for person, _ in stored.people],
        clock=clock,
        template=phase_template(stored.record.phase_template),
        start_s=t0,
        speed=1.0,
        anchored=True,
        history_s=history_s,
    )
    session.clock.anchor_at(t0)  # session time = host time since the run's start
    _replay_phases(session, [e for e in stored.phase_events if e.time_s >= t0])
    now = session.tnow()
    markers = [m for m in stored.markers if m.time_s >= t0]
    periods = _coherence_periods(session)
    for p in session.participants.values():
        p.row = compute.take_row()
        await _replay_participant(session, p, compute, stored, markers, periods)
    for p in session.participants.values():  # what the replay computed counts as sent (as
        if p.pending and p.visible:  # LiveSession.take_beats): late joiners get it
            p.emitted_until_s = float(p.pending[-1].time_s[-1])
        p.pending.clear()
    for m in markers:
        if m.participant_id is None or (
            m.participant_id in session.participants
            and "live_display" in session.participants[m.participant_id].purposes
        ):
            session.markers.append(MarkerMessage.of(session.sid, m))
    for m in sorted((m for m in markers if not m.retracted), key=lambda m: m.time_s):
        if m.time_s > now:  # (a clock ahead of this host's: the cue engine's time is now)
            continue
        try:
            session.cues.mark(m.time_s, m.type)
        except SintoniaError:  # pragma: no cover - sorted, finite times
            _log.warning("adopted session %d: marker %d not shown to the cues", session.sid, m.id)
    # a fresh cooldown: no cue within min_gap_s of the adoption (past cues are stored and are
    # not shown again)
    session.cues._last_end_s = now
    session.take_outputs()
    return session


def _replay_phases(session: LiveSession, events: list[PhaseEvent]) -> None:
    """Move the phase clock through the stored ``enter`` / ``extend`` events of the run."""
    phases = session.phases
    last = phases.events[0]
    for e in events:
        t = max(float(e.time_s), phases.events[-1].time_s)
        try:
            if e.action == "extend" and e.extend_s is not None and e.extend_s > 0:
                last = phases.extend(t, float(e.extend_s))
            elif e.action == "enter":
                changes = phases.update(t)  # entered by the clock ...
                if changes:
                    last = changes[-1]
                if phases.status(t).index < e.phase_index:  # ... or by the therapist
                    last = phases.advance(t)
        except SintoniaError as exc:
            _log.warning(
                "adopted session %d: phase event %d not replayed: %s", session.sid, e.id, exc
            )
    session.t_mono = max(session.t_mono, phases.events[-1].time_s)
    session._phase_message(last)  # the phase message late joiners get (the output is dropped)
    session.take_outputs()


def _coherence_periods(session: LiveSession) -> list[tuple[float, float | None]]:
    """(time, coherence period) at each phase change (on in the rehearsal phase; the pacer's
    state is not stored)."""
    out: list[tuple[float, float | None]] = []
    for ev in session.phases.events:
        every = COHERENCE_EVERY_S if ev.phase_id == _REHEARSAL_PHASE else None
        if not out or out[-1][1] != every:
            out.append((ev.time_s, every))
    return out


async def _replay_participant(
    session: LiveSession,
    p: LiveParticipant,
    compute: LiveCompute,
    stored: Stored,
    markers: list[Marker],
    periods: list[tuple[float, float | None]],
) -> None:
    """``p``'s stored beats through their engine row and the session, cut as live cut them."""
    t0 = stored.run_start_s
    page = stored.beats.get(p.pid)
    t_all = np.empty(0) if page is None else np.asarray(page.beat_time_s, dtype=np.float64)
    first = 0
    if page is not None and t0 > (stored.record.started_at_s or t0):
        first = int(np.searchsorted(t_all, t0, side="left"))  # a restart: only this run's beats
    # (time, order, kind, payload): the cuts of the live path, in time order
    cuts: list[tuple[float, int, str, Any]] = []
    for t, every in periods:
        cuts.append((t, 0, "period", every))
    paused = False
    paused_at = t0
    for m in markers:
        if m.participant_id == p.pid and m.type in PAUSE_MARKERS and not m.retracted:
            cuts.append((m.time_s, 1, m.type, None))
            paused = m.type == PAUSE_MARKERS[0]
    for ev in stored.device_events.get(p.pid, []):
        if ev.time_s >= t0 and ev.kind not in _NOT_SESSION_EVENTS:
            cuts.append((ev.time_s, 2, "device", ev))
    cuts.sort(key=lambda c: (c[0], c[1]))
    engine = compute.engine
    every_now: float | None = None
    i = first
    n = t_all.size
    for t_cut, _, kind, payload in cuts:
        j = max(i, int(np.searchsorted(t_all, t_cut, side="right")))
        await _push(session, p, compute, page, i, j)
        i = j
        if kind == "period":
            every_now = payload
            compute.set_coherence([p.row], every_now)
        elif kind == PAUSE_MARKERS[0]:
            compute.flush([p.row])  # the waiting beats were discarded, not shown
            p.pending.clear()
            paused_at = t_cut
        elif kind == PAUSE_MARKERS[1]:
            engine.reset(p.row)  # the windows do not span the pause
            compute.set_coherence([p.row], every_now)
            _resume_tick(session, p, t_cut - paused_at)
        else:
            ev = cast(DeviceEventRecord, payload)
            session.device_event(
                p,
                DeviceEvent(
                    p.code,
                    ev.device,
                    cast(DeviceEventKind, ev.kind),
                    ev.time_s,
                    ev.value,
                    {str(k): str(v) for k, v in ev.detail.items()},
                ),
            )
            if ev.kind in DROPOUT_KINDS and compute.pending(p.row) > 0:
                _apply(session, p, compute.flush([p.row]))
    await _push(session, p, compute, page, i, n)
    p.paused = paused


def _resume_tick(session: LiveSession, p: LiveParticipant, silent_s: float) -> None:
    """The tick the live path gives a participant at a resume: shown again after ``silent_s``
    without beats, their reading decays (:meth:`LiveSession.tick`) before their next beats come.
    Replayed at the resume's time, as if their last beats had arrived at the pause."""
    if p.last_update is None or "live_display" not in p.purposes or silent_s <= NO_BEAT_S:
        return
    p.tracker_t = max(p.tracker_t, p.last_beat_s + silent_s)
    try:
        p.last_update = p.tracker.tick(p.tracker_t)
    except SintoniaError as exc:  # pragma: no cover - times only move forward here
        _log.warning("adopted session %d: tick of participant %d: %s", session.sid, p.pid, exc)


async def _push(
    session: LiveSession,
    p: LiveParticipant,
    compute: LiveCompute,
    page: BeatPage | None,
    a: int,
    b: int,
) -> None:
    """Beats ``a:b`` of ``page`` into ``p``'s row, a flush before each re-anchored beat."""
    if page is None or b <= a:
        return
    gap = np.asarray(page.gap_before[a:b], dtype=np.bool_)
    starts = np.flatnonzero(gap).tolist()
    bounds = [a] + [a + k for k in starts if k > 0] + [b]
    for lo, hi in itertools.pairwise(bounds):
        if page.gap_before[lo] and compute.pending(p.row) > 0:
            _apply(session, p, compute.flush([p.row]))
        for x in range(lo, hi, _REPLAY_SLICE):  # (the engine is streaming-invariant)
            y = min(hi, x + _REPLAY_SLICE)
            try:
                up = compute.engine.push(
                    np.full(y - x, p.row, dtype=np.int64),
                    page.rr_ms[x:y],
                    page.beat_time_s[x:y],
                    np.asarray(page.contact[x:y], dtype=np.int8),
                )
            except (SintoniaError, ValueError) as exc:
                _log.warning(
                    "adopted session %d: %d stored beats of participant %d not replayed: %s",
                    session.sid,
                    y - x,
                    p.pid,
                    exc,
                )
                continue
            _apply(session, p, up)
            await asyncio.sleep(0)  # the other live sessions go on meanwhile


def _apply(session: LiveSession, p: LiveParticipant, up: StreamUpdates) -> None:
    if len(up):
        session.apply(p, up)
