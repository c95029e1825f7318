"""The live hub: sources -> durable storage -> streaming engine -> arousal, phases, cues -> clients.

For every live session a *runner* task iterates the session's :class:`sensor.types.BeatSource`
and, for each item, **first** hands it to :meth:`server.storage.BeatWriter.submit` (raw beats and
device events are queued for the database before anything is computed from them; the writer
commits within ~0.1 s and never drops), **then** queues it for computation. One *compute* task
serves every live session: it takes whatever beats all runners queued since its last round and
feeds them to one shared :class:`hrv.stream.MultiStreamEngine` in a single push (one array
operation per round of beats, however many sessions are live); the per-beat updates then go to the
participant's :class:`hrv.arousal.ArousalTracker` (baseline from the first 3 minutes) and into the
session's display buffers, and are sent as one ``beats`` message (:mod:`server.messages`) at once
if the session's token bucket has a token, else as soon as it has one (:attr:`LiveHub.rate_cap`:
``max_ws_messages_per_s`` per second on average, default 4, with a capacity of 2; a notification
is not delayed while the rate stays below the cap, a burst is coalesced and then sent evenly).
A *ticker* task per session, ``max_ws_messages_per_s`` times a second, advances the session's
:class:`dashboard.phases.PhaseClock` (phase events stored), evaluates the
:class:`dashboard.cues.CueEngine` (cues stored), lets the arousal reading of a participant without
beats decay, and computes the therapist-patient heart-rate synchrony every 5 s of session time.
A dropout (``disconnected`` event, or a batch re-anchored after a gap) flushes the participant's
look-ahead in the engine. Subscribers each have a bounded queue (:mod:`server.live.subscription`).

Clock. Each session has a *session clock*: ``start + speed * (host now - host start)``, with
``speed = settings.speed`` when every device is simulated or replayed (so a whole session can be
watched in minutes; such a session's clock starts with its source's first item) and 1 otherwise.
Sources produce beat times on this clock; phases, cues, markers (the API stores them at
:meth:`LiveHub.now`) and the stored session times use it too.

Consent. A participant's purposes are read when the session starts and again on
:meth:`LiveHub.consent_changed`. Without ``live_display`` nothing about the participant is sent
(beats, device status, coherence; the cue engine does not see them; the in-memory history is
purged and queued messages are redacted at once). Without ``storage`` the store refuses the beats
and counts them (:attr:`server.storage.WriterStats.refused_beats`). Synchrony needs ``synchrony``
from both participants. A privacy pause hides *and stops* a participant's stream: while paused
their beats are neither shown, computed nor stored, and the pause and the resume are stored as
markers of type ``privacy_pause`` and ``privacy_resume`` (with the participant's id), so the
review shows the gap as deliberate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray

from dashboard.cues import CueEngine, CueError
from dashboard.events import Cue, CueResolved, PhaseChange
from dashboard.phases import DEFAULT_FIRST_SESSION, PhaseClock, PhaseError, PhaseTemplate
from hrv.arousal import ArousalTracker, ArousalUpdate
from hrv.errors import ParameterError, SintoniaError
from hrv.stream import MultiStreamEngine, StreamConfig, StreamUpdates
from sensor.quality import split_corrupt
from sensor.types import BeatBatch, BeatSource, DeviceEvent, SourceItem
from server.live.sources import (
    ACCELERATED_KINDS,
    SourceFactory,
    SourceParticipant,
    SourceSpec,
)
from server.live.subscription import Envelope, Subscription
from server.live.synchrony import LIVE_SYNCHRONY_READ_S, live_synchrony_message
from server.messages import (
    BeatsMessage,
    CoherenceMessage,
    CueMessage,
    CueResolvedMessage,
    DeviceMessage,
    HistoryMessage,
    MarkerMessage,
    ParticipantBeats,
    ParticipantInfo,
    PhaseMessage,
    PhaseScheduleEntry,
    SessionMessage,
    SynchronyMessage,
    VisibilityMessage,
)
from server.settings import ServerSettings
from server.storage import (
    BeatWriter,
    CueResponse,
    InvalidRecordError,
    Marker,
    OnRevoke,
    RecordNotFoundError,
    Role,
    Session,
    StateConflictError,
    StorageError,
    Store,
)

__all__ = ["COHERENCE_EVERY_S", "SYNCHRONY_EVERY_S", "HubStats", "LiveHub"]

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
#: How long a stop waits for the source's runner to finish before cancelling it, s.
_STOP_WAIT_S: Final[float] = 5.0
#: Shortest silence, in host seconds, before a participant counts as without beats (so that the
#: hub's own lag at a high simulated speed is never taken for a dropout).
_MIN_SILENT_WALL_S: Final[float] = 1.0
#: How often the writer's backlog is checked, s; and the backlog worth a warning, items.
_WRITER_CHECK_S: Final[float] = 10.0
_WRITER_BACKLOG_WARN: Final[int] = 200
#: Control messages kept in memory per session for late joiners.
_KEEP_CONTROL: Final[int] = 200


# ---------------------------------------------------------------------------- display buffers


def _nan_to_none(values: NDArray[np.float64]) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values.tolist()]


@dataclass(slots=True)
class _Chunk:
    """Display values of consecutive beats of one participant (parallel arrays)."""

    time_s: NDArray[np.float64]
    rr_ms: NDArray[np.float64]
    hr_bpm: NDArray[np.float64]
    mean_hr_bpm: NDArray[np.float64]
    rmssd_ms: NDArray[np.float64]
    arousal_index: NDArray[np.float64]
    arousal_state: list[str]
    confidence: NDArray[np.float64]
    quality: NDArray[np.float64]
    artifact: NDArray[np.bool_]

    @staticmethod
    def join(chunks: list[_Chunk]) -> _Chunk:
        if len(chunks) == 1:
            return chunks[0]

        def cat(name: str) -> Any:
            return np.concatenate([getattr(c, name) for c in chunks])

        return _Chunk(
            time_s=cat("time_s"),
            rr_ms=cat("rr_ms"),
            hr_bpm=cat("hr_bpm"),
            mean_hr_bpm=cat("mean_hr_bpm"),
            rmssd_ms=cat("rmssd_ms"),
            arousal_index=cat("arousal_index"),
            arousal_state=[s for c in chunks for s in c.arousal_state],
            confidence=cat("confidence"),
            quality=cat("quality"),
            artifact=cat("artifact"),
        )

    def _slice(self, sl: slice) -> _Chunk:
        return _Chunk(
            self.time_s[sl],
            self.rr_ms[sl],
            self.hr_bpm[sl],
            self.mean_hr_bpm[sl],
            self.rmssd_ms[sl],
            self.arousal_index[sl],
            self.arousal_state[sl],
            self.confidence[sl],
            self.quality[sl],
            self.artifact[sl],
        )

    def since(self, t0_s: float) -> _Chunk:
        k = int(np.searchsorted(self.time_s, t0_s, side="left"))
        return self if k == 0 else self._slice(slice(k, None))

    def until(self, t1_s: float) -> _Chunk | None:
        k = int(np.searchsorted(self.time_s, t1_s, side="right"))
        if k == 0:
            return None
        return self if k == self.time_s.size else self._slice(slice(0, k))


class _Ring:
    """The recent display values of one participant (for late joiners and synchrony)."""

    def __init__(self) -> None:
        self._chunks: deque[_Chunk] = deque()

    def add(self, chunk: _Chunk, keep_from_s: float) -> None:
        self._chunks.append(chunk)
        while self._chunks and float(self._chunks[0].time_s[-1]) < keep_from_s:
            self._chunks.popleft()

    def clear(self) -> None:
        self._chunks.clear()

    def since(self, t0_s: float) -> _Chunk | None:
        chunks = [c for c in self._chunks if float(c.time_s[-1]) >= t0_s]
        if not chunks:
            return None
        out = _Chunk.join(chunks).since(t0_s)
        return out if out.time_s.size else None


# ---------------------------------------------------------------------------- session state


class _SessionClock:
    """``start_s + speed * (clock() - wall0)``, never running backwards.

    A simulated or replayed source starts its own clock when it yields its first item (after
    computing its schedule, which takes a moment that a high speed would multiply), so such a
    session's clock stands at ``start_s`` until :meth:`anchor` is called at the first item; a
    strap's session runs on the host clock from the start.
    """

    def __init__(
        self, start_s: float, speed: float, clock: Callable[[], float], *, anchored: bool
    ) -> None:
        self.start_s = start_s
        self.speed = speed
        self._clock = clock
        self._wall0 = clock()
        self.anchored = anchored
        self._last = start_s

    def anchor(self) -> None:
        """Start the clock now (at ``start_s``)."""
        self._wall0 = self._clock()
        self.anchored = True

    def now(self) -> float:
        if not self.anchored:
            return self._last
        t = self.start_s + self.speed * (self._clock() - self._wall0)
        self._last = max(self._last, t)
        return self._last


@dataclass(eq=False, slots=True)
class _Participant:
    pid: int
    code: str
    role: Role
    row: int
    tracker: ArousalTracker
    purposes: frozenset[str]
    paused: bool = False
    last_update: ArousalUpdate | None = None
    last_beat_s: float = -math.inf
    pending: list[_Chunk] = field(default_factory=list)
    ring: _Ring = field(default_factory=_Ring)
    device: str | None = None
    connected: bool | None = None
    battery: float | None = None
    contact: bool | None = None
    last_device: DeviceMessage | None = None
    coherence: CoherenceMessage | None = None
    emitted_until_s: float = -math.inf
    arrived_at_s: float = -math.inf  # session clock when the last beats were computed
    received_at_s: float | None = None  # host clock when the newest computed batch arrived
    tracker_t: float = -math.inf  # last time given to the arousal tracker
    erased: bool = False  # their data of this session was erased: store nothing more

    @property
    def visible(self) -> bool:
        return "live_display" in self.purposes and not self.paused

    def info(self) -> ParticipantInfo:
        return ParticipantInfo(
            participant_id=self.pid,
            code=self.code,
            role=self.role,
            visible=self.visible,
            paused=self.paused,
            consents=sorted(self.purposes),
        )


@dataclass(eq=False, slots=True)
class _Session:
    record: Session
    clock: _SessionClock
    phases: PhaseClock
    cues: CueEngine
    participants: dict[int, _Participant]
    labels: dict[str, _Participant]
    source: BeatSource
    runner: asyncio.Task[None] | None = None
    ticker: asyncio.Task[None] | None = None
    stopping: bool = False
    t_mono: float = -math.inf
    pacer_on: bool = False
    cue_ids: dict[str, int] = field(default_factory=dict)
    cues_by_store_id: dict[int, CueMessage] = field(default_factory=dict)
    active_cue: CueMessage | None = None
    phase_msg: PhaseMessage | None = None
    markers: deque[MarkerMessage] = field(default_factory=lambda: deque(maxlen=_KEEP_CONTROL))
    synchrony: deque[SynchronyMessage] = field(default_factory=lambda: deque(maxlen=_KEEP_CONTROL))
    coherence: deque[CoherenceMessage] = field(default_factory=lambda: deque(maxlen=_KEEP_CONTROL))
    next_synchrony_s: float = -math.inf
    tokens: float = math.inf  # token bucket of ``beats`` messages (full at the start)
    tokens_t: float = -math.inf  # loop time the bucket was last brought up to date
    emit_handle: asyncio.TimerHandle | None = None
    unknown_labels: set[str] = field(default_factory=set)

    @property
    def sid(self) -> int:
        return self.record.id

    def tnow(self) -> float:
        """Session-clock now, non-decreasing across every use (phase clock, cue engine)."""
        self.t_mono = max(self.t_mono, self.clock.now())
        return self.t_mono

    def by_role(self, role: str) -> _Participant | None:
        for p in self.participants.values():
            if p.role == role:
                return p
        return None


@dataclass(frozen=True, slots=True)
class HubStats:
    """Counters of a :class:`LiveHub` (a snapshot).

    Attributes
    ----------
    live_sessions : int
    submitted_items : int
        Items handed to the writer by the runners.
    computed_beats : int
        Beats fed to the engine.
    engine_errors : int
        Batches the engine refused (their beats were stored all the same).
    compute_rounds : int
        Engine pushes (one per round of beats over every live session).
    beats_messages : int
        ``beats`` messages sent (all sessions).
    """

    live_sessions: int
    submitted_items: int
    computed_beats: int
    engine_errors: int
    compute_rounds: int
    beats_messages: int


def _template(value: Any) -> PhaseTemplate:
    if isinstance(value, dict):
        try:
            return PhaseTemplate.from_dict(value)
        except PhaseError as exc:
            _log.warning("session phase template not understood (%s); using the default", exc)
    return DEFAULT_FIRST_SESSION


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


class LiveHub:
    """Runs live sessions and fans their messages out to subscribers.

    Parameters
    ----------
    store : Store
    writer : BeatWriter
        Where raw beats and device events go first.
    settings : ServerSettings
        ``speed``, ``history_s`` and ``max_ws_messages_per_s`` are used.
    source_factory : SourceFactory
        Builds each session's source (:func:`server.live.default_source_factory`).
    clock : callable, optional
        Host clock, s (default ``time.time``).
    stream_config : StreamConfig, optional
        Engine parameters.

    Notes
    -----
    Every method must be called from the event loop that runs the hub (the app's loop). See the
    module documentation for the data flow, the clock and consent.

    Examples
    --------
    The app builds one in :func:`server.app.create_app`; by hand, with scripted sources:

    >>> import asyncio, tempfile
    >>> from pathlib import Path
    >>> from server.live.scripted import scripted_source_factory
    >>> from server.storage import DeviceAssignment, StorageSettings
    >>> async def run() -> list[str]:
    ...     store = Store.open("sqlite://")
    ...     writer = BeatWriter(store)
    ...     settings = ServerSettings(StorageSettings(Path(tempfile.gettempdir())))
    ...     hub = LiveHub(store=store, writer=writer, settings=settings,
    ...                   source_factory=scripted_source_factory(rounds=20))
    ...     p = store.create_participant("P1", "patient")
    ...     for purpose in ("live_display", "storage"):
    ...         _ = store.grant_consent(p.id, purpose, "v1", at_s=0.0)
    ...     s = store.create_session(DEFAULT_FIRST_SESSION.to_dict(),
    ...                              participants=[DeviceAssignment(p.id, "simulator")])
    ...     sub = hub.subscribe(s.id)
    ...     await hub.start_session(s.id)  # the source ends after 20 rounds: the session stops
    ...     kinds = [m.type async for m in sub]
    ...     await hub.aclose(); writer.close(); store.close()
    ...     return kinds
    >>> kinds = asyncio.run(run())
    >>> kinds[:3], kinds[-1], "beats" in kinds
    (['history', 'session', 'phase'], 'session', True)
    """

    def __init__(
        self,
        *,
        store: Store,
        writer: BeatWriter,
        settings: ServerSettings,
        source_factory: SourceFactory,
        clock: Callable[[], float] | None = None,
        stream_config: StreamConfig | None = None,
    ) -> None:
        if not settings.max_ws_messages_per_s > 0:
            raise ParameterError(
                f"max_ws_messages_per_s must be > 0, got {settings.max_ws_messages_per_s!r}"
            )
        self.store = store
        self.writer = writer
        self.settings = settings
        self._factory = source_factory
        self._clock = clock if clock is not None else time.time
        self._engine = MultiStreamEngine(0, stream_config)
        self._free_rows: list[int] = []
        self._sessions: dict[int, _Session] = {}
        self._subs: dict[int, set[Subscription]] = {}
        self._pending: list[tuple[_Participant, BeatBatch, float]] = []
        self._wake: asyncio.Event | None = None
        self._compute_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._lock = asyncio.Lock()
        self._closed = False
        self._submitted = 0
        self._computed = 0
        self._engine_errors = 0
        self._rounds = 0
        self._beats_messages = 0
        self._writer_checked = -math.inf
        self._writer_backlog = 0

    # ================================================================== public API
    @property
    def tick_s(self) -> float:
        """Period of a session's ticker (phases, cues, synchrony), s: ``1 / rate``."""
        return 1.0 / self.settings.max_ws_messages_per_s

    @property
    def rate_cap(self) -> tuple[float, int]:
        """The ``beats`` message cap of a session, a token bucket: (rate per s, capacity).

        A message takes a token; tokens come back at ``rate`` per second up to ``capacity``
        (``ceil(rate / 2)``: 2 for the default 4 per second). So at most ``rate`` messages per
        second on average, ``capacity + rate * T`` in any interval of ``T`` seconds, evenly spaced
        (``1 / rate`` apart) when the beats come faster, and no delay while they come slower.
        """
        rate = self.settings.max_ws_messages_per_s
        return rate, max(1, math.ceil(rate / 2.0))

    def _rate_wait(self, session: _Session, now: float) -> float:
        """Seconds before the session may send its next ``beats`` message (0: now)."""
        rate, capacity = self.rate_cap
        elapsed = max(0.0, now - session.tokens_t)
        session.tokens = min(float(capacity), session.tokens + elapsed * rate)
        session.tokens_t = now
        return 0.0 if session.tokens >= 1.0 else (1.0 - session.tokens) / rate

    @property
    def stats(self) -> HubStats:
        """A snapshot of the hub's counters."""
        return HubStats(
            len(self._sessions),
            self._submitted,
            self._computed,
            self._engine_errors,
            self._rounds,
            self._beats_messages,
        )

    def is_live(self, session_id: int) -> bool:
        """Whether the session is running in this hub."""
        return session_id in self._sessions

    def live_session_ids(self) -> list[int]:
        """Ids of the live sessions, ascending."""
        return sorted(self._sessions)

    def now(self, session_id: int) -> float:
        """The session clock of a live session (s); use it to time markers and responses.

        For a session that is not live, the host clock.
        """
        s = self._sessions.get(session_id)
        return s.tnow() if s is not None else self._clock()

    def speed(self, session_id: int) -> float:
        """How many times faster than real time a live session's clock runs (1 if not live)."""
        s = self._sessions.get(session_id)
        return s.clock.speed if s is not None else 1.0

    async def start_session(self, session_id: int, *, actor: str = "system") -> Session:
        """Start a planned (or interrupted) session: store it as live and start its source.

        Returns
        -------
        Session
            The stored record, now ``live``.

        Raises
        ------
        RecordNotFoundError
            Unknown session.
        StateConflictError
            The session is live or stopped.
        InvalidRecordError
            Its device assignments cannot be streamed (none, or an unsupported kind).
        """
        async with self._lock:
            if self._closed:
                raise StorageError("the live hub is closed")
            if session_id in self._sessions:
                raise StateConflictError(
                    f"cannot start session {session_id}",
                    expected="planned or interrupted",
                    actual="live",
                )
            record, people = await asyncio.to_thread(self._load, session_id)
            if record.status not in ("planned", "interrupted"):
                raise StateConflictError(
                    f"cannot start session {session_id}",
                    expected="planned or interrupted",
                    actual=record.status,
                )
            template = _template(record.phase_template)
            accelerated = all(kind in ACCELERATED_KINDS for _, (kind, _a) in people)
            speed = float(self.settings.speed) if accelerated else 1.0
            t0 = self._clock()
            spec = SourceSpec(
                session_id=session_id,
                participants=tuple(
                    SourceParticipant(person.pid, person.code, person.role, kind, address)
                    for person, (kind, address) in people
                ),
                start_time_s=t0,
                speed=speed,
                duration_s=template.total_s,
                clock=self._clock,
            )
            source = await asyncio.to_thread(self._factory, spec)  # may read a file
            record = await asyncio.to_thread(
                self.store.start_session, session_id, actor=actor, at_s=t0
            )
            session = self._build_session(
                record, people, template, source, t0, speed, accelerated=accelerated
            )
            self._sessions[session_id] = session
            self._ensure_compute()
            start = session.phases.events[0]
            await self._persist_phase(session, start, None if actor == "system" else actor)
            session.runner = asyncio.create_task(
                self._run_source(session), name=f"sintonia-live-{session_id}-source"
            )
            session.ticker = asyncio.create_task(
                self._tick_loop(session), name=f"sintonia-live-{session_id}-ticker"
            )
            self._broadcast(session_id, self._session_message(session, "live", t0))
            self._broadcast_phase(session, start)
            _log.info("session %d live (speed %.3g)", session_id, speed)
            return record

    async def stop_session(
        self, session_id: int, *, actor: str = "system", reason: str = "requested"
    ) -> Session:
        """Stop a live session: close its source, compute and send what is pending, store it.

        Raises
        ------
        RecordNotFoundError
            Unknown session.
        StateConflictError
            The session is not live.
        """
        async with self._lock:
            session = self._sessions.get(session_id)
            if session is None or session.stopping:
                record = await asyncio.to_thread(self.store.get_session, session_id)
                raise StateConflictError(
                    f"cannot stop session {session_id}", expected="live", actual=record.status
                )
            return await self._stop(session, actor, reason)

    async def advance_phase(self, session_id: int, *, actor: str | None = None) -> dict[str, Any]:
        """End the current phase now and enter the next; returns the ``phase`` message as a dict.

        Raises
        ------
        StateConflictError
            The session is not live, or it is in its last phase.
        """
        session = await self._live(session_id, "advance the phase of")
        await self._clock_phases(session, session.tnow())
        t = session.tnow()  # after the awaits: no other task moved the phase clock since
        try:
            event = session.phases.advance(t)
        except PhaseError as exc:
            raise StateConflictError(
                str(exc), expected="a phase after the current one", actual="the last phase"
            ) from exc
        await self._persist_phase(session, event, actor)
        return self._broadcast_phase(session, event).model_dump()

    async def extend_phase(
        self, session_id: int, by_s: float, *, actor: str | None = None
    ) -> dict[str, Any]:
        """Give the current phase ``by_s`` more seconds; returns the ``phase`` message as a dict.

        Raises
        ------
        StateConflictError
            The session is not live.
        InvalidRecordError
            ``by_s`` is not a positive number of seconds.
        """
        session = await self._live(session_id, "extend the phase of")
        await self._clock_phases(session, session.tnow())
        t = session.tnow()
        try:
            event = session.phases.extend(t, by_s)
        except PhaseError as exc:
            raise InvalidRecordError(str(exc)) from exc
        await self._persist_phase(session, event, actor)
        return self._broadcast_phase(session, event).model_dump()

    async def marker_added(self, session_id: int, marker: Marker) -> None:
        """A marker was stored: show it to the cue engine (grounding) and broadcast it."""
        session = self._sessions.get(session_id)
        if session is not None:
            try:
                session.cues.mark(session.tnow(), marker.type)
            except CueError as exc:  # pragma: no cover - times come from tnow()
                _log.warning("cue engine refused marker %d: %s", marker.id, exc)
            if marker.participant_id is not None:
                p = session.participants.get(marker.participant_id)
                if p is not None and "live_display" not in p.purposes:
                    return
        msg = MarkerMessage.of(session_id, marker)
        if session is not None:
            session.markers.append(msg)
        self._broadcast(session_id, msg)

    async def marker_changed(self, session_id: int, marker: Marker) -> None:
        """A marker was undone or retracted (still stored): tell the pages to draw it so."""
        session = self._sessions.get(session_id)
        if session is not None and marker.participant_id is not None:
            p = session.participants.get(marker.participant_id)
            if p is not None and "live_display" not in p.purposes:
                return
        msg = MarkerMessage.of(session_id, marker)
        if session is not None:
            session.markers = deque(
                (m for m in session.markers if m.marker_id != marker.id), maxlen=_KEEP_CONTROL
            )
            session.markers.append(msg)
        self._broadcast(session_id, msg)

    async def cue_responded(self, session_id: int, cue_id: int, response: CueResponse) -> None:
        """The therapist answered a cue (already stored): end it and broadcast the resolution."""
        session = self._sessions.get(session_id)
        if session is None:
            return
        cue = session.cues_by_store_id.get(cue_id)
        if cue is None:
            _log.info("response to cue %d of session %d: not a cue of this run", cue_id, session_id)
            return
        engine_id = next((k for k, v in session.cue_ids.items() if v == cue_id), None)
        t = session.tnow()
        showing = session.cues.active
        if engine_id is not None and showing is not None and showing.cue_id == engine_id:
            with contextlib.suppress(CueError):
                if response == "acknowledged":
                    session.cues.acknowledge(t, engine_id)
                else:
                    session.cues.dismiss(t, engine_id)
        if session.active_cue is not None and session.active_cue.cue_id == cue_id:
            session.active_cue = None
        if response == "acknowledged" and cue.pacer_breaths_per_min is not None:
            session.pacer_on = True
            self._update_coherence(session)
        self._broadcast(
            session_id,
            CueResolvedMessage(
                session_id=session_id,
                cue_id=cue_id,
                rule_id=cue.rule_id,
                time_s=t,
                resolution=response,
                shown_s=cue.time_s,
            ),
        )

    async def set_pacer(self, session_id: int, on: bool) -> None:
        """Show or hide the breathing pacer: coherence is computed every 5 s while it shows."""
        session = await self._live(session_id, "set the pacer of")
        session.pacer_on = bool(on)
        self._update_coherence(session)

    async def consent_changed(self, participant_id: int) -> None:
        """Re-read a participant's consents in every live session and apply them at once."""
        for session in list(self._sessions.values()):
            p = session.participants.get(participant_id)
            if p is None:
                continue
            purposes = await asyncio.to_thread(
                self.store.active_purposes, participant_id, session_id=session.sid
            )
            was_visible = p.visible
            lost_storage = "storage" in p.purposes and "storage" not in purposes
            p.purposes = purposes
            t = session.tnow()
            if lost_storage:
                self._hide(session, p)  # the hub's memory of their beats goes too, at once
                await self._erase_in_flight(session, p)
            if was_visible and not p.visible:
                self._hide(session, p)
                self._blank_synchrony(session, t)
                self._broadcast(
                    session.sid,
                    VisibilityMessage(
                        session_id=session.sid,
                        participant_id=p.pid,
                        visible=False,
                        reason="consent_revoked",
                        time_s=t,
                    ),
                )
            elif p.visible and not was_visible:
                self._broadcast(
                    session.sid,
                    VisibilityMessage(
                        session_id=session.sid,
                        participant_id=p.pid,
                        visible=True,
                        reason="consent_granted",
                        time_s=t,
                    ),
                )
            _log.info(
                "participant %d in session %d: consents now %s",
                participant_id,
                session.sid,
                sorted(purposes),
            )

    async def participant_erased(
        self, participant_id: int, action: OnRevoke, *, session_id: int | None = None
    ) -> None:
        """A participant's stored data was erased: the live sessions forget it at once.

        In every live session of theirs (or only ``session_id``): their beats in the hub's
        memory (history ring, pending beats, messages queued for subscribers) are purged, nothing
        more of theirs is stored for the rest of the session (the live view follows the consents
        as before), and what was in the writer's queue at that moment is erased again once
        written, with the same ``action``.
        """
        for session in list(self._sessions.values()):
            if session_id is not None and session.sid != session_id:
                continue
            p = session.participants.get(participant_id)
            if p is None:
                continue
            p.erased = True
            self._hide(session, p)
            await self.writer.wait_durable_async(timeout=_STOP_WAIT_S)
            report = await asyncio.to_thread(
                self.store.erase_participant_data, p.pid, action, session_id=session.sid
            )
            _log.info(
                "participant %d erased in live session %d (%d rows in flight)",
                p.pid,
                session.sid,
                report.total,
            )

    async def _erase_in_flight(self, session: _Session, p: _Participant) -> None:
        """After a ``storage`` revocation, erase what was in flight when it happened.

        Beats received before the revocation may still sit in the writer's queue; the store
        accepts them when their write started before the revocation. Once the writer has written
        everything submitted so far, the participant's data of this session is erased again with
        the revoked consent's action (``delete`` wins over ``deidentify``).
        """
        await self.writer.wait_durable_async(timeout=_STOP_WAIT_S)

        def erase() -> None:
            revoked = [
                c
                for c in self.store.list_consents(p.pid)
                if c.purpose == "storage" and c.revoked_at_s is not None
            ]
            if not revoked:
                return
            action: OnRevoke = (
                "delete" if any(c.on_revoke == "delete" for c in revoked) else "deidentify"
            )
            report = self.store.erase_participant_data(p.pid, action, session_id=session.sid)
            if report.total:
                _log.info(
                    "erased %d rows of participant %d in flight at the storage revocation",
                    report.total,
                    p.pid,
                )

        await asyncio.to_thread(erase)

    async def set_privacy_pause(
        self, session_id: int, participant_id: int, paused: bool, *, actor: str | None = None
    ) -> dict[str, Any]:
        """Pause (hide and stop) or resume a participant's stream; stored as a marker.

        While paused, the participant's beats are neither sent, computed nor stored. The pause
        and the resume are stored as markers ``privacy_pause`` / ``privacy_resume`` with the
        participant's id. Returns the ``visibility`` message as a dict.

        Raises
        ------
        StateConflictError
            The session is not live, or the participant has no ``live_display`` consent (not
            shown, so a pause could never be resumed into a view).
        RecordNotFoundError
            The participant is not in the session.
        """
        session = await self._live(session_id, "pause a stream of")
        p = session.participants.get(participant_id)
        if p is None:
            raise RecordNotFoundError("participant in this session", participant_id)
        if "live_display" not in p.purposes:
            raise StateConflictError(
                f"participant {participant_id} is not shown (no consent to live display), so "
                "there is nothing to pause or resume",
                expected="a participant with a live_display consent",
                actual="no live_display consent",
            )
        t = session.tnow()
        reason: Literal["privacy_pause", "privacy_resume"] = (
            "privacy_pause" if paused else "privacy_resume"
        )
        msg = VisibilityMessage(
            session_id=session_id,
            participant_id=participant_id,
            visible=not paused and "live_display" in p.purposes,
            reason=reason,
            time_s=t,
        )
        if p.paused == bool(paused):
            return msg.model_dump()
        if paused:
            p.paused = True
            self._hide(session, p, keep_history=True)
            self._blank_synchrony(session, t)
            self._engine.flush([p.row])  # beats waiting for look-ahead are not shown
        else:
            self._engine.reset(p.row)  # the windows do not span the pause
            self._update_coherence(session)
            p.paused = False
        marker = await asyncio.to_thread(
            self.store.add_marker,
            session_id,
            reason,
            participant_id=participant_id,
            actor=actor,
            at_s=t,
        )
        self._broadcast(session_id, msg)
        await self.marker_added(session_id, marker)
        return msg.model_dump()

    def subscribe(self, session_id: int, *, history_s: float | None = None) -> Subscription:
        """A subscription to a session's messages: first ``history``, then live messages.

        A subscription to a session that is not live gets the history (its status) and then
        waits: it receives the ``session`` message when the session starts. It ends after the
        ``session`` message that says the session stopped.

        Raises
        ------
        RecordNotFoundError
            Unknown session.
        """
        keep = self.settings.history_s if history_s is None else max(0.0, float(history_s))
        keep = min(keep, self.settings.history_s)
        session = self._sessions.get(session_id)
        if session is None:
            record = self.store.get_session(session_id)
            history = HistoryMessage(
                session_id=session_id,
                now_s=self._clock(),
                history_s=keep,
                session=SessionMessage(
                    session_id=session_id,
                    status=record.status,
                    time_s=record.stopped_at_s,
                    started_at_s=record.started_at_s,
                ),
            )
        else:
            history = self._history(session, keep)
        sub = Subscription(session_id, self._forget)
        sub.put(Envelope(history))
        if session is None and history.session.status in ("stopped", "interrupted"):
            sub.end()  # nothing more will come
            return sub
        self._subs.setdefault(session_id, set()).add(sub)
        return sub

    def subscribers(self, session_id: int) -> int:
        """Open subscriptions of a session."""
        return len(self._subs.get(session_id, ()))

    async def aclose(self) -> None:
        """Stop every live session (stored as stopped) and end every subscription."""
        async with self._lock:
            self._closed = True
            for session in list(self._sessions.values()):
                if not session.stopping:
                    try:
                        await self._stop(session, "system", "shutdown")
                    except Exception:
                        _log.exception("stopping session %d at shutdown", session.sid)
            if self._compute_task is not None:
                self._compute_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._compute_task
            for task in list(self._background):
                task.cancel()
            for subs in list(self._subs.values()):
                for sub in list(subs):
                    sub.end()

    # ================================================================== building
    def _load(
        self, session_id: int
    ) -> tuple[Session, list[tuple[_Person, tuple[Any, str | None]]]]:
        record = self.store.get_session(session_id)
        people = []
        for sp in self.store.session_participants(session_id):
            participant = self.store.get_participant(sp.participant_id)
            purposes = self.store.active_purposes(sp.participant_id, session_id=session_id)
            people.append(
                (
                    _Person(participant.id, participant.code, participant.role, purposes),
                    (sp.source_kind, sp.address),
                )
            )
        return record, people

    def _build_session(
        self,
        record: Session,
        people: list[tuple[_Person, tuple[Any, str | None]]],
        template: PhaseTemplate,
        source: BeatSource,
        t0: float,
        speed: float,
        *,
        accelerated: bool,
    ) -> _Session:
        participants: dict[int, _Participant] = {}
        labels: dict[str, _Participant] = {}
        roles = [person.role for person, _ in people]
        for person, _ in people:
            p = _Participant(
                pid=person.pid,
                code=person.code,
                role=person.role,
                row=self._take_row(),
                tracker=ArousalTracker(person.code, session_start_s=t0),
                purposes=person.purposes,
            )
            participants[p.pid] = p
            labels[p.code] = p
            labels[str(p.pid)] = p
            if roles.count(p.role) == 1:
                labels.setdefault(p.role, p)
        session = _Session(
            record=record,
            clock=_SessionClock(t0, speed, self._clock, anchored=not accelerated),
            phases=PhaseClock(template, t0),
            cues=CueEngine(),
            participants=participants,
            labels=labels,
            source=source,
            t_mono=t0,
            next_synchrony_s=t0 + _FIRST_SYNCHRONY_S,
        )
        self._update_coherence(session)
        return session

    def _take_row(self) -> int:
        if self._free_rows:
            return self._free_rows.pop()
        return self._engine.add_participant()

    def _ensure_compute(self) -> None:
        if self._compute_task is None or self._compute_task.done():
            self._wake = asyncio.Event()
            self._compute_task = asyncio.create_task(self._compute_loop(), name="sintonia-compute")

    async def _live(self, session_id: int, action: str) -> _Session:
        session = self._sessions.get(session_id)
        if session is None or session.stopping:
            record = await asyncio.to_thread(self.store.get_session, session_id)
            raise StateConflictError(
                f"cannot {action} session {session_id}", expected="live", actual=record.status
            )
        return session

    # ================================================================== remote sources (issue 15)
    def ingest_remote(self, session_id: int, item: SourceItem) -> bool:
        """Feed one item of a remote participant (the ingest protocol) through the live path.

        The same path as a source's items: storage first (:meth:`BeatWriter.submit`), then the
        engine; ``item.participant`` is the participant's id as text. Returns False (and does
        nothing) when the session is not live in this hub; the caller then stores the item
        itself.
        """
        session = self._sessions.get(session_id)
        if session is None or session.stopping:
            return False
        self._ingest(session, item)
        return True

    # ================================================================== runner: storage first
    async def _run_source(self, session: _Session) -> None:
        reason = "source_ended"
        try:
            async for item in session.source:
                if session.stopping:
                    break
                self._ingest(session, item)
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("source of session %d failed", session.sid)
            reason = "source_error"
        if not session.stopping:
            task = asyncio.create_task(self._stop_later(session.sid, reason))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _stop_later(self, session_id: int, reason: str) -> None:
        with contextlib.suppress(StateConflictError):
            await self.stop_session(session_id, reason=reason)

    def _ingest(self, session: _Session, item: SourceItem) -> None:
        if not session.clock.anchored:
            session.clock.anchor()
        p = session.labels.get(item.participant)
        if p is None and item.participant not in session.unknown_labels:
            session.unknown_labels.add(item.participant)
            _log.warning(
                "session %d: items labelled %r match no participant", session.sid, item.participant
            )
        if isinstance(item, BeatBatch):
            if p is None or p.paused or len(item) == 0:
                return
            # a corrupt value (0, NaN, 1e308 ...) costs the batch none of its valid beats: it
            # is stored as a counted invalid_rr device event, and the engine never sees it;
            # nothing more is stored of a person erased or without storage consent
            kept, corrupt = split_corrupt(item)
            if corrupt is not None and not p.erased:
                self.writer.submit(session.sid, p.pid, corrupt)
                self._submitted += 1
            for batch in kept:
                if not p.erased:
                    self.writer.submit(session.sid, p.pid, batch)  # storage first ...
                    self._submitted += 1
                self._pending.append((p, batch, self._clock()))  # ... then the engine
            if self._wake is not None and kept:
                self._wake.set()
            return
        if p is not None and (p.paused or p.erased):
            return
        self.writer.submit(session.sid, None if p is None else p.pid, item)
        self._submitted += 1
        if p is not None:
            self._device_event(session, p, item)

    def _device_event(self, session: _Session, p: _Participant, ev: DeviceEvent) -> None:
        p.device = ev.device
        if ev.kind == "connected":
            p.connected = True
        elif ev.kind in ("disconnected", "reconnecting", "connecting", "gave_up"):
            p.connected = False
        elif ev.kind == "battery" and ev.value is not None:
            p.battery = float(ev.value)
        elif ev.kind == "contact" and ev.value is not None:
            p.contact = bool(ev.value)
        if ev.kind in ("disconnected", "gave_up"):
            self._flush_participant(p)  # the beats before the dropout need no more look-ahead
        msg = DeviceMessage(
            session_id=session.sid,
            participant_id=p.pid,
            device=ev.device,
            kind=ev.kind,
            time_s=ev.host_time_s,
            value=None if ev.value is None else _finite(float(ev.value)),
            connected=p.connected,
            battery_percent=p.battery,
            contact=p.contact,
            detail={str(k): str(v) for k, v in ev.detail.items()},
        )
        p.last_device = msg
        if p.visible:
            self._broadcast(session.sid, msg)

    # ================================================================== compute: one engine
    async def _compute_loop(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            items, self._pending = self._pending, []
            try:
                self._compute(items)
            except Exception:  # pragma: no cover - _compute guards its own steps
                _log.exception("live compute round failed")
            await asyncio.sleep(0)

    def _compute(self, items: list[tuple[_Participant, BeatBatch, float]]) -> None:
        """One round: every queued batch of every live session in as few engine pushes as the
        gaps allow (a batch after a re-anchoring flushes its participant's look-ahead first)."""
        live = [(p, b) for p, b, _ in items if not p.paused and p.row >= 0]
        if not live:
            return
        for p, _, received in items:
            p.received_at_s = received
        touched: list[_Session] = []
        for group in _split_at_gaps(live):
            gaps = [p.row for p, b in group if b.gap_before and self._engine.pending(p.row) > 0]
            if gaps:
                touched += self._apply(self._engine.flush(gaps))
            touched += self._apply(self._push_guarded(group))
        for session in dict.fromkeys(touched):
            self._maybe_emit(session)

    def _push_guarded(self, live: list[tuple[_Participant, BeatBatch]]) -> StreamUpdates:
        try:
            return self._push(live)
        except (SintoniaError, ValueError) as exc:
            self._engine_errors += 1
            _log.warning(
                "engine refused a round of %d batches (%s); retrying one by one", len(live), exc
            )
        parts = []
        for p, b in live:
            try:
                parts.append(self._push([(p, b)]))
            except (SintoniaError, ValueError) as one:
                self._engine_errors += 1
                _log.warning(
                    "engine refused %d beats of participant %d (stored all the same): %s",
                    len(b),
                    p.pid,
                    one,
                )
        return StreamUpdates.concatenate(parts)

    def _flush_participant(self, p: _Participant) -> None:
        """Compute what is queued, then classify ``p``'s beats waiting for look-ahead."""
        items, self._pending = self._pending, []
        self._compute(items)
        if p.row >= 0 and self._engine.pending(p.row) > 0:
            for session in self._apply(self._engine.flush([p.row])):
                self._maybe_emit(session)

    def _push(self, batches: list[tuple[_Participant, BeatBatch]]) -> StreamUpdates:
        rows = np.concatenate([np.full(len(b), p.row, dtype=np.int64) for p, b in batches])
        rr = np.concatenate([b.rr_ms for _, b in batches])
        times = np.concatenate([b.beat_times_s for _, b in batches])
        contact = np.concatenate(
            [
                np.full(len(b), -1 if b.contact is None else int(b.contact), dtype=np.int8)
                for _, b in batches
            ]
        )
        self._rounds += 1
        self._computed += int(rr.shape[0])
        return self._engine.push(rows, rr, times, contact)

    def _apply(self, up: StreamUpdates) -> list[_Session]:
        """Per-beat updates -> arousal, display buffers, coherence; returns the sessions."""
        touched: list[_Session] = []
        if len(up) == 0:
            return touched
        by_row = {p.row: (s, p) for s in self._sessions.values() for p in s.participants.values()}
        order = np.argsort(up.participant, kind="stable")
        rows_sorted = up.participant[order]
        bounds = np.flatnonzero(np.r_[True, rows_sorted[1:] != rows_sorted[:-1], True])
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            owner = by_row.get(int(rows_sorted[a]))
            if owner is None:
                continue
            session, p = owner
            if p.paused:
                continue
            self._apply_one(session, p, up.select(order[a:b]))
            if session not in touched:
                touched.append(session)
        return touched

    def _apply_one(self, session: _Session, p: _Participant, u: StreamUpdates) -> None:
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
        p.arrived_at_s = session.t_mono
        chunk = _Chunk(
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
            p.ring.add(chunk, p.last_beat_s - self.settings.history_s)
        fresh = np.flatnonzero(u.coherence_fresh)
        for k in fresh.tolist():
            msg = CoherenceMessage(
                session_id=session.sid,
                participant_id=p.pid,
                time_s=float(u.time_s[k]),
                coherence_ratio=_finite(float(u.coherence_ratio[k])),
                breathing_rate_bpm=_finite(float(u.breathing_rate_bpm[k])),
            )
            p.coherence = msg
            if p.visible:
                session.coherence.append(msg)
                self._broadcast(session.sid, msg)

    # ================================================================== ticker: 4 times a second
    async def _tick_loop(self, session: _Session) -> None:
        while not session.stopping:
            await asyncio.sleep(self.tick_s)
            try:
                await self._tick(session)
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("tick of session %d failed", session.sid)

    async def _tick(self, session: _Session) -> None:
        self._check_writer()
        t = session.tnow()
        await self._clock_phases(session, t)
        for p in session.participants.values():
            # no beat for a while: the reading decays (uncertain); the tracker's time follows
            # the participant's beat timeline, extrapolated by the session time since they came
            silent_s = t - p.arrived_at_s
            quiet_s = max(_NO_BEAT_S, session.clock.speed * _MIN_SILENT_WALL_S)
            if p.visible and silent_s > quiet_s and p.last_update is not None:
                p.tracker_t = max(p.tracker_t, p.last_beat_s + silent_s)
                with contextlib.suppress(SintoniaError):
                    p.last_update = p.tracker.tick(p.tracker_t)
        # a fresh time: a command (advance, marker) may have moved the clocks while we awaited
        await self._evaluate_cues(session, session.tnow())
        if t >= session.next_synchrony_s:
            session.next_synchrony_s = t + SYNCHRONY_EVERY_S
            self._synchrony(session, t)
        self._maybe_emit(session)

    def _check_writer(self) -> None:
        """Warn (at most every 10 s) while the writer's backlog grows (database unavailable)."""
        now = time.monotonic()
        if now - self._writer_checked < _WRITER_CHECK_S:
            return
        self._writer_checked = now
        pending = self.writer.stats.pending_items
        if pending > _WRITER_BACKLOG_WARN and pending >= self._writer_backlog:
            _log.warning(
                "the beat writer has %d items waiting (database slow or unavailable); "
                "beats are kept in memory and written when it recovers",
                pending,
            )
        self._writer_backlog = pending

    def _maybe_emit(self, session: _Session) -> None:
        """Send the pending beats now if the session's token bucket has a token
        (:attr:`rate_cap`), else as soon as it has: a notification is not delayed while the rate
        is below the cap, and a burst is coalesced."""
        if session.stopping or session.emit_handle is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self._rate_wait(session, loop.time())
        if wait <= 0:
            self._emit_beats(session)
        else:
            session.emit_handle = loop.call_later(wait, self._deferred_emit, session)

    def _deferred_emit(self, session: _Session) -> None:
        session.emit_handle = None
        if not session.stopping:
            self._emit_beats(session)

    def _emit_beats(self, session: _Session) -> None:
        parts: list[ParticipantBeats] = []
        for p in session.participants.values():
            if not p.pending:
                continue
            chunks, p.pending = p.pending, []
            if not p.visible:
                continue
            c = _Chunk.join(chunks)
            p.emitted_until_s = float(c.time_s[-1])
            parts.append(self._participant_beats(p, c))
        if parts:
            self._rate_wait(session, asyncio.get_running_loop().time())  # refill, then take
            session.tokens -= 1.0
            self._beats_messages += 1
            self._broadcast(
                session.sid,
                BeatsMessage(session_id=session.sid, sent_at_s=self._clock(), participants=parts),
            )

    @staticmethod
    def _participant_beats(p: _Participant, c: _Chunk) -> ParticipantBeats:
        progress = p.last_update.baseline_progress if p.last_update is not None else 0.0
        return ParticipantBeats(
            participant_id=p.pid,
            code=p.code,
            role=p.role,
            time_s=c.time_s.tolist(),
            rr_ms=c.rr_ms.tolist(),
            hr_bpm=c.hr_bpm.tolist(),
            mean_hr_bpm=_nan_to_none(c.mean_hr_bpm),
            rmssd_ms=_nan_to_none(c.rmssd_ms),
            arousal_index=_nan_to_none(c.arousal_index),
            arousal_state=c.arousal_state,  # type: ignore[arg-type]
            confidence=c.confidence.tolist(),
            quality=c.quality.tolist(),
            artifact=c.artifact.tolist(),
            baseline_progress=float(progress),
            received_at_s=p.received_at_s,
        )

    # ---------------------------------------------------------------- phases
    async def _clock_phases(self, session: _Session, t: float) -> None:
        for event in session.phases.update(t):
            await self._persist_phase(session, event, None)
            self._broadcast_phase(session, event)

    async def _persist_phase(
        self, session: _Session, event: PhaseChange, actor: str | None
    ) -> None:
        index = session.phases.template.index_of(event.phase_id)
        try:
            await asyncio.to_thread(
                self.store.record_phase_event,
                session.sid,
                index,
                event.phase_id,
                "extend" if event.reason == "extend" else "enter",
                extend_s=event.extended_by_s if event.reason == "extend" else None,
                actor=actor,
                at_s=event.time_s,
            )
        except StorageError:
            _log.exception("could not store a phase event of session %d", session.sid)

    def _broadcast_phase(self, session: _Session, event: PhaseChange) -> PhaseMessage:
        if event.reason == "extend":
            started_s = session.phases.status(session.t_mono).started_s
        else:
            started_s = event.time_s
        msg = PhaseMessage(
            session_id=session.sid,
            time_s=event.time_s,
            phase_id=event.phase_id,
            label=event.label,
            index=session.phases.template.index_of(event.phase_id),
            previous_id=event.previous_id,
            reason=event.reason,
            started_s=started_s,
            planned_end_s=event.planned_end_s,
            extended_by_s=event.extended_by_s,
            schedule=self._schedule(session, event.time_s),
        )
        session.phase_msg = msg
        self._update_coherence(session)
        self._broadcast(session.sid, msg)
        return msg

    @staticmethod
    def _schedule(session: _Session, t: float) -> list[PhaseScheduleEntry]:
        t = max(t, session.t_mono)
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
            for e in session.phases.schedule(t)
        ]

    def _update_coherence(self, session: _Session) -> None:
        phase = session.phase_msg.phase_id if session.phase_msg is not None else None
        on = session.pacer_on or phase == _REHEARSAL_PHASE
        for p in session.participants.values():
            want = COHERENCE_EVERY_S if on else None
            if self._engine.coherence_period(p.row) != want:
                self._engine.set_coherence(p.row, want)

    # ---------------------------------------------------------------- cues
    async def _evaluate_cues(self, session: _Session, t: float) -> None:
        patient = session.by_role("patient")
        therapist = session.by_role("therapist")
        pv = patient.last_update if patient is not None and patient.visible else None
        tv = therapist.last_update if therapist is not None and therapist.visible else None
        coh = patient.coherence if patient is not None and patient.visible else None
        status = session.phases.status(t)
        events = session.cues.evaluate(
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
                await self._show_cue(session, ev, None if patient is None else patient.pid)
            elif isinstance(ev, CueResolved):
                self._cue_ended(session, ev)

    async def _show_cue(self, session: _Session, cue: Cue, patient_id: int | None) -> None:
        values = {k: v for k, v in cue.values if math.isfinite(v)}
        try:
            stored = await asyncio.to_thread(
                self.store.add_cue,
                session.sid,
                cue.rule_id,
                cue.text,
                {
                    "cue_id": cue.cue_id,
                    "reason": cue.reason,
                    "phase_id": cue.phase_id,
                    "values": values,
                    "pacer_breaths_per_min": cue.pacer_breaths_per_min,
                },
                participant_id=patient_id,
                at_s=cue.time_s,
            )
        except StorageError:
            _log.exception("could not store a cue of session %d", session.sid)
            return
        msg = CueMessage(
            session_id=session.sid,
            cue_id=stored.id,
            rule_id=cue.rule_id,
            time_s=cue.time_s,
            phase_id=cue.phase_id,
            text=cue.text,
            reason=cue.reason,
            values=values,
            pacer_breaths_per_min=cue.pacer_breaths_per_min,
        )
        session.cue_ids[cue.cue_id] = stored.id
        session.cues_by_store_id[stored.id] = msg
        session.active_cue = msg
        self._broadcast(session.sid, msg)

    def _cue_ended(self, session: _Session, ev: CueResolved) -> None:
        store_id = session.cue_ids.get(ev.cue_id)
        if store_id is None:
            return
        if session.active_cue is not None and session.active_cue.cue_id == store_id:
            session.active_cue = None
        self._broadcast(
            session.sid,
            CueResolvedMessage(
                session_id=session.sid,
                cue_id=store_id,
                rule_id=ev.rule_id,
                time_s=ev.time_s,
                resolution=ev.resolution,
                shown_s=ev.shown_s,
            ),
        )

    # ---------------------------------------------------------------- synchrony
    def _synchrony(self, session: _Session, t: float) -> None:
        patient = session.by_role("patient")
        therapist = session.by_role("therapist")
        if patient is None or therapist is None:
            return
        if not (patient.visible and therapist.visible):
            return
        if "synchrony" not in patient.purposes or "synchrony" not in therapist.purposes:
            return
        a = patient.ring.since(t - LIVE_SYNCHRONY_READ_S)
        b = therapist.ring.since(t - LIVE_SYNCHRONY_READ_S)
        msg = live_synchrony_message(
            session.sid,
            patient.pid,
            therapist.pid,
            None if a is None else (a.time_s, a.rr_ms),
            None if b is None else (b.time_s, b.rr_ms),
            t,
        )
        session.synchrony.append(msg)
        self._broadcast(session.sid, msg)

    def _blank_synchrony(self, session: _Session, t: float) -> None:
        """One of the two is hidden: forget the readings and tell the pages to blank the panel."""
        session.synchrony.clear()
        patient = session.by_role("patient")
        therapist = session.by_role("therapist")
        if patient is None or therapist is None:
            return
        self._broadcast(
            session.sid,
            SynchronyMessage(
                session_id=session.sid,
                patient_id=patient.pid,
                therapist_id=therapist.pid,
                time_s=t,
                window_s=0.0,
                correlation=None,
                lag_s=None,
                status="hidden",
            ),
        )

    # ================================================================== fan-out
    def _broadcast(self, session_id: int, message: Any) -> None:
        subs = self._subs.get(session_id)
        if not subs:
            return
        env = Envelope(message)
        for sub in list(subs):
            sub.put(env)

    def _forget(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.session_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.session_id]

    def _hide(self, session: _Session, p: _Participant, *, keep_history: bool = False) -> None:
        """Stop showing a participant at once: pending beats, history, queued messages."""
        p.pending.clear()
        if not keep_history:
            p.ring.clear()
            p.coherence = None
            session.coherence = deque(
                (c for c in session.coherence if c.participant_id != p.pid), maxlen=_KEEP_CONTROL
            )
            session.synchrony.clear()
        for sub in list(self._subs.get(session.sid, ())):
            sub.redact(p.pid)

    def _session_message(
        self, session: _Session, status: str, t: float, reason: str | None = None
    ) -> SessionMessage:
        return SessionMessage(
            session_id=session.sid,
            status=status,  # type: ignore[arg-type]
            time_s=t,
            started_at_s=session.clock.start_s,
            speed=session.clock.speed,
            reason=reason,
            participants=[p.info() for p in session.participants.values()],
        )

    def _history(self, session: _Session, keep_s: float) -> HistoryMessage:
        t = session.tnow()
        t_from = t - keep_s
        beats = []
        for p in session.participants.values():
            if not p.visible:
                continue
            # up to the last beat already sent: the beats still pending come in the next
            # ``beats`` message, so a late joiner gets each beat exactly once
            chunk = p.ring.since(t_from)
            if chunk is not None:
                chunk = chunk.until(p.emitted_until_s)
            if chunk is not None:
                beats.append(self._participant_beats(p, chunk))
        visible = {p.pid for p in session.participants.values() if p.visible}
        phase = None
        if session.phase_msg is not None:
            phase = session.phase_msg.model_copy(update={"schedule": self._schedule(session, t)})
        return HistoryMessage(
            session_id=session.sid,
            now_s=t,
            history_s=keep_s,
            session=self._session_message(session, "live", session.clock.start_s),
            beats=beats,
            phase=phase,
            cue=session.active_cue,
            markers=[
                m
                for m in session.markers
                if m.time_s >= t_from and (m.participant_id is None or m.participant_id in visible)
            ],
            devices=[
                p.last_device
                for p in session.participants.values()
                if p.visible and p.last_device is not None
            ],
            coherence=[
                c for c in session.coherence if c.time_s >= t_from and c.participant_id in visible
            ],
            synchrony=[s for s in session.synchrony if s.time_s >= t_from],
        )

    # ================================================================== stop
    async def _stop(self, session: _Session, actor: str, reason: str) -> Session:
        session.stopping = True
        sid = session.sid
        try:
            await session.source.aclose()
        except Exception:
            _log.exception("closing the source of session %d", sid)
        for task in (session.runner, session.ticker):
            if task is None or task.done() or task is asyncio.current_task():
                continue
            if task is session.runner:
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(task), _STOP_WAIT_S)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        # compute what this session still has queued, then flush the engine's look-ahead
        if session.emit_handle is not None:
            session.emit_handle.cancel()
            session.emit_handle = None
        rows = _rows(session)
        mine = [item for item in self._pending if item[0].row in rows]
        self._pending = [item for item in self._pending if item[0].row not in rows]
        self._compute(mine)
        self._apply(self._engine.flush(sorted(rows)))
        t_end = session.tnow()
        # the last message keeps the cap too (a wait of at most one token, 1 / rate)
        wait = self._rate_wait(session, asyncio.get_running_loop().time())
        if wait > 0:
            await asyncio.sleep(wait)
        self._emit_beats(session)
        status = session.phases.status(t_end)
        try:
            await asyncio.to_thread(
                self.store.record_phase_event,
                sid,
                status.index,
                status.phase_id,
                "end",
                actor=None if actor == "system" else actor,
                at_s=t_end,
            )
        except StorageError:
            _log.exception("could not store the end of session %d", sid)
        try:
            record = await asyncio.to_thread(self.store.stop_session, sid, actor=actor, at_s=t_end)
        except StateConflictError:
            record = await asyncio.to_thread(self.store.get_session, sid)
        await self.writer.wait_durable_async(timeout=_STOP_WAIT_S)
        self._broadcast(sid, self._session_message(session, "stopped", t_end, reason))
        for sub in list(self._subs.get(sid, ())):
            sub.end()
        for p in session.participants.values():
            self._engine.reset(p.row)
            self._engine.set_coherence(p.row, None)
            self._free_rows.append(p.row)
            p.row = -1
        del self._sessions[sid]
        _log.info("session %d stopped (%s)", sid, reason)
        return record


def _split_at_gaps(
    batches: list[tuple[_Participant, BeatBatch]],
) -> list[list[tuple[_Participant, BeatBatch]]]:
    """Consecutive groups in which no participant's re-anchored batch follows another of its
    batches (so that the flush before a gap comes after the beats before it)."""
    groups: list[list[tuple[_Participant, BeatBatch]]] = [[]]
    seen: set[int] = set()
    for p, b in batches:
        if b.gap_before and p.pid in seen:
            groups.append([])
            seen = set()
        groups[-1].append((p, b))
        seen.add(p.pid)
    return groups


def _rows(session: _Session) -> set[int]:
    return {p.row for p in session.participants.values()}


@dataclass(frozen=True, slots=True)
class _Person:
    pid: int
    code: str
    role: Role
    purposes: frozenset[str]
