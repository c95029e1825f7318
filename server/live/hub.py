"""The live hub: sources -> durable storage -> streaming engine -> session rules -> clients.

Layout. The hub (this module) starts and stops sessions, takes the therapist's commands and
consent changes, and hands out subscriptions; its data path is :mod:`server.live.runtime`; each
session's rules are a synchronous :class:`server.live.session.LiveSession` (phases, cues, arousal,
privacy pause, consent, synchrony, coherence: updates in, messages out), which the hub drives and
whose outputs it carries out in order (what must be stored, :mod:`server.live.records`, is stored
before its message is sent).

For every live session a *runner* task iterates the session's :class:`sensor.types.BeatSource`
and, for each item, **first** hands it to :meth:`server.storage.BeatWriter.submit` (raw beats and
device events are queued for the database before anything is computed from them; the writer
commits within ~0.1 s and never drops), **then** queues it for computation. One *compute* task
serves every live session: it takes whatever beats all runners queued since its last round and
feeds them to one shared :class:`hrv.stream.MultiStreamEngine` in a single push
(:class:`server.live.compute.LiveCompute`: one array operation per round of beats, however many
sessions are live); the per-beat updates then go to the participant's session
(:class:`hrv.arousal.ArousalTracker`, baseline from the first 3 minutes; display buffers,
:mod:`server.live.display`), and are sent as one ``beats`` message (:mod:`server.messages`) at
once if the session's token bucket has a token, else as soon as it has one
(:attr:`LiveHub.rate_cap`, :class:`server.live.ratelimit.TokenBucket`: ``max_ws_messages_per_s``
per second on average, default 4, with a capacity of 2; a notification is not delayed while the
rate stays below the cap, a burst is coalesced and then sent evenly). A *ticker* task per
session, ``max_ws_messages_per_s`` times a second, ticks the session: its
:class:`dashboard.phases.PhaseClock` (phase events stored), its :class:`dashboard.cues.CueEngine`
(cues stored), the decay of the arousal reading of a participant without beats, and the
therapist-patient heart-rate synchrony every 5 s of session time. A dropout (``disconnected``
event, or a batch re-anchored after a gap) flushes the participant's look-ahead in the engine.
Subscribers each have a bounded queue (:mod:`server.live.subscription`).

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
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from hrv.errors import ParameterError
from hrv.stream import StreamConfig
from server.live.adopt import adopt_running, fence
from server.live.ratelimit import TokenBucket
from server.live.records import erase_in_flight, load_session, store_end
from server.live.runtime import LiveRuntime, RunningSession
from server.live.session import COHERENCE_EVERY_S, SYNCHRONY_EVERY_S, LiveSession, phase_template
from server.live.sources import (
    ACCELERATED_KINDS,
    SourceFactory,
    SourceParticipant,
    SourceSpec,
)
from server.live.state import LiveParticipant
from server.live.subscription import Envelope, Subscription
from server.messages import HistoryMessage, MarkerMessage, SessionMessage
from server.settings import ServerSettings
from server.storage import (
    BeatWriter,
    CueResponse,
    Marker,
    OnRevoke,
    Session,
    StateConflictError,
    StorageError,
    Store,
)

__all__ = ["COHERENCE_EVERY_S", "SYNCHRONY_EVERY_S", "ClusterHooks", "HubStats", "LiveHub"]

_log = logging.getLogger(__name__)

#: How long a stop waits for the source's runner to finish before cancelling it, s.
_STOP_WAIT_S: Final[float] = 5.0


class ClusterHooks(Protocol):
    """What the hub asks of the cluster (:class:`server.cluster.coordinator.Coordinator`)."""

    async def claim(self, session_id: int) -> bool:
        """Take the session's lease before running it; False: another process runs it."""
        ...

    async def release(self, session_id: int) -> None:
        """The session stopped (its end is stored): give its lease up."""
        ...

    def publish(self, session_id: int, envelope: Envelope) -> None:
        """Hand one broadcast message to the other processes (never blocks)."""
        ...


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


class LiveHub(LiveRuntime):
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
    >>> from dashboard.phases import DEFAULT_FIRST_SESSION
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
        super().__init__(
            store=store,
            writer=writer,
            settings=settings,
            clock=clock if clock is not None else time.time,
            stream_config=stream_config,
        )
        self._factory = source_factory
        self._lock = asyncio.Lock()
        self._closed = False
        self._cluster: ClusterHooks | None = None

    @property
    def cluster(self) -> ClusterHooks | None:
        """The cluster's hooks (None: this process is alone and needs no lease)."""
        return self._cluster

    @cluster.setter
    def cluster(self, hooks: ClusterHooks | None) -> None:
        self._cluster = hooks
        self._fanout.tap = None if hooks is None else hooks.publish

    # ================================================================== public API
    @property
    def stats(self) -> HubStats:
        """A snapshot of the hub's counters."""
        return HubStats(
            len(self._sessions),
            self._submitted,
            self._compute.computed,
            self._compute.errors,
            self._compute.rounds,
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
        return s.session.tnow() if s is not None else self._clock()

    def speed(self, session_id: int) -> float:
        """How many times faster than real time a live session's clock runs (1 if not live)."""
        s = self._sessions.get(session_id)
        return s.session.clock.speed if s is not None else 1.0

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
            record, people = await asyncio.to_thread(load_session, self.store, session_id)
            if record.status not in ("planned", "interrupted"):
                raise StateConflictError(
                    f"cannot start session {session_id}",
                    expected="planned or interrupted",
                    actual=record.status,
                )
            template = phase_template(record.phase_template)
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
            if self._cluster is not None and not await self._cluster.claim(session_id):
                raise StateConflictError(
                    f"cannot start session {session_id}",
                    expected="planned or interrupted",
                    actual="run by another server process",
                )
            try:
                source = await asyncio.to_thread(self._factory, spec)  # may read a file
                record = await asyncio.to_thread(
                    self.store.start_session, session_id, actor=actor, at_s=t0
                )
            except BaseException:
                if self._cluster is not None:
                    await self._cluster.release(session_id)
                raise
            session = LiveSession(
                record.id,
                [person for person, _ in people],
                clock=self._clock,
                template=template,
                start_s=t0,
                speed=speed,
                anchored=not accelerated,
                history_s=self.settings.history_s,
            )
            for p in session.participants.values():
                p.row = self._compute.take_row()
            rate, capacity = self.rate_cap
            live = RunningSession(session, source, TokenBucket(rate, capacity))
            self._sessions[session_id] = live
            self._sync_coherence(live)
            self._ensure_compute()
            await self._carry_out(live, session.opening(None if actor == "system" else actor))
            live.runner = asyncio.create_task(
                self._run_source(live), name=f"sintonia-live-{session_id}-source"
            )
            live.ticker = asyncio.create_task(
                self._tick_loop(live), name=f"sintonia-live-{session_id}-ticker"
            )
            _log.info("session %d live (speed %.3g)", session_id, speed)
            return record

    async def adopt_session(self, session_id: int) -> bool:
        """Take over a live session no process runs any more (its owner died; issue 16).

        Call it once this process holds the session's lease. Only a session whose participants
        are all ``remote`` can be adopted; for any other (a strap, simulator or file belonged to
        the dead process) this returns False and does nothing: the caller marks it interrupted.
        The running state is rebuilt from storage without storing anything again
        (:mod:`server.live.adopt`: clock, phases, engine rows and arousal by replaying the
        stored beats, display history, privacy pauses, fresh consents); past cues are not shown
        again and the cue engine starts with a fresh cooldown from now. The stored status stays
        ``live``; then the session runs on (:meth:`ingest_remote`, ticks, subscribers). Items
        ingested while storage is read and replayed are stored by the caller (False) and held,
        then computed.

        Returns
        -------
        bool
            True if the session runs here now (also when it already did), False if it cannot
            be adopted.

        Raises
        ------
        RecordNotFoundError
            Unknown session.
        StateConflictError
            Its stored status is not ``live``.
        """
        async with self._lock:
            if self._closed:
                raise StorageError("the live hub is closed")
            if session_id in self._sessions:
                return True
            self._adopting[session_id] = []  # from now on, ingested items are held too
            try:
                await self.writer.wait_durable_async(timeout=_STOP_WAIT_S)
                live = await adopt_running(self, session_id)
            finally:
                self._adopting.pop(session_id, None)
            if live is None:
                return False
            live.runner = asyncio.create_task(
                self._run_source(live), name=f"sintonia-live-{session_id}-source"
            )
            live.ticker = asyncio.create_task(
                self._tick_loop(live), name=f"sintonia-live-{session_id}-ticker"
            )
            _log.info("session %d adopted", session_id)
            return True

    async def abandon_session(self, session_id: int) -> None:
        """Give up a session this process lost the lease of (another process took it over).

        At once, before anything is awaited (:func:`server.live.adopt.fence`): it is no longer
        live here (:meth:`is_live` False, :meth:`ingest_remote` False), nothing of it is
        computed or stored any more (no stop record, phase event, cue or status change; a write
        already under way in a worker thread completes), and its subscribers' iterators end
        (their WebSockets close; the pages reconnect elsewhere). Then its tasks are cancelled and
        its source closed. Raw beats already handed to the writer are still written (idempotent;
        the new owner reads storage). Nothing happens for a session not live here.
        """
        live = fence(self, session_id)
        if live is None:
            return
        for task in (live.runner, live.ticker):
            if task is None or task.done() or task is asyncio.current_task():
                continue
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        try:
            await live.source.aclose()
        except Exception:
            _log.exception("closing the source of abandoned session %d", session_id)
        _log.info("session %d abandoned (another process owns it)", session_id)

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
            live = self._sessions.get(session_id)
            if live is None or live.stopping:
                record = await asyncio.to_thread(self.store.get_session, session_id)
                raise StateConflictError(
                    f"cannot stop session {session_id}", expected="live", actual=record.status
                )
            return await self._stop(live, actor, reason)

    async def advance_phase(self, session_id: int, *, actor: str | None = None) -> dict[str, Any]:
        """End the current phase now and enter the next; returns the ``phase`` message as a dict.

        Raises
        ------
        StateConflictError
            The session is not live, or it is in its last phase.
        """
        live = await self._live(session_id, "advance the phase of")
        try:
            msg = live.session.advance_phase(actor=actor)
        finally:
            await self._carry_out(live)
        return msg.model_dump()

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
        live = await self._live(session_id, "extend the phase of")
        try:
            msg = live.session.extend_phase(by_s, actor=actor)
        finally:
            await self._carry_out(live)
        return msg.model_dump()

    async def marker_added(self, session_id: int, marker: Marker) -> None:
        """A marker was stored: show it to the cue engine (grounding) and broadcast it."""
        live = self._sessions.get(session_id)
        if live is None:
            self._fanout.broadcast(session_id, MarkerMessage.of(session_id, marker))
            return
        live.session.marker_added(marker)
        await self._carry_out(live)

    async def marker_changed(self, session_id: int, marker: Marker) -> None:
        """A marker was undone or retracted (still stored): tell the pages to draw it so."""
        live = self._sessions.get(session_id)
        if live is None:
            self._fanout.broadcast(session_id, MarkerMessage.of(session_id, marker))
            return
        live.session.marker_changed(marker)
        await self._carry_out(live)

    async def cue_responded(self, session_id: int, cue_id: int, response: CueResponse) -> None:
        """The therapist answered a cue (already stored): end it and broadcast the resolution."""
        live = self._sessions.get(session_id)
        if live is None:
            return
        live.session.respond_to_cue(cue_id, response)
        await self._carry_out(live)

    async def set_pacer(self, session_id: int, on: bool) -> None:
        """Show or hide the breathing pacer: coherence is computed every 5 s while it shows."""
        live = await self._live(session_id, "set the pacer of")
        live.session.set_pacer(on)
        await self._carry_out(live)

    async def consent_changed(self, participant_id: int) -> None:
        """Re-read a participant's consents in every live session and apply them at once."""
        for live in list(self._sessions.values()):
            p = live.participants.get(participant_id)
            if p is None:
                continue
            purposes = await asyncio.to_thread(
                self.store.active_purposes, participant_id, session_id=live.sid
            )
            lost_storage = live.session.set_purposes(participant_id, purposes)
            await self._carry_out(live)
            if lost_storage:
                await self._erase_in_flight(live, p)
            _log.info(
                "participant %d in session %d: consents now %s",
                participant_id,
                live.sid,
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
        for live in list(self._sessions.values()):
            if session_id is not None and live.sid != session_id:
                continue
            p = live.participants.get(participant_id)
            if p is None:
                continue
            live.session.erase(participant_id)
            await self._carry_out(live)
            await self.writer.wait_durable_async(timeout=_STOP_WAIT_S)
            report = await asyncio.to_thread(
                self.store.erase_participant_data, p.pid, action, session_id=live.sid
            )
            _log.info(
                "participant %d erased in live session %d (%d rows in flight)",
                p.pid,
                live.sid,
                report.total,
            )

    async def _erase_in_flight(self, live: RunningSession, p: LiveParticipant) -> None:
        """After a ``storage`` revocation, erase what was in flight when it happened
        (:func:`server.live.records.erase_in_flight`, once the writer has written it)."""
        await self.writer.wait_durable_async(timeout=_STOP_WAIT_S)
        await asyncio.to_thread(erase_in_flight, self.store, p.pid, live.sid)

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
        live = await self._live(session_id, "pause a stream of")
        msg, changed = live.session.set_paused(participant_id, paused)
        if not changed:
            return msg.model_dump()
        await self._carry_out(live)
        marker = await asyncio.to_thread(
            self.store.add_marker,
            session_id,
            msg.reason,
            participant_id=participant_id,
            actor=actor,
            at_s=msg.time_s,
        )
        self._fanout.broadcast(session_id, msg)
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
        live = self._sessions.get(session_id)
        if live is None:
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
            history = live.session.history(keep)
        finished = live is None and history.session.status in ("stopped", "interrupted")
        sub = self._fanout.subscribe(session_id, register=not finished)
        sub.put(Envelope(history))
        if finished:
            sub.end()  # nothing more will come
        return sub

    def subscribers(self, session_id: int) -> int:
        """Open subscriptions of a session."""
        return self._fanout.count(session_id)

    async def aclose(self) -> None:
        """Stop every live session (stored as stopped) and end every subscription."""
        async with self._lock:
            self._closed = True
            for live in list(self._sessions.values()):
                if not live.stopping:
                    try:
                        await self._stop(live, "system", "shutdown")
                    except Exception:
                        _log.exception("stopping session %d at shutdown", live.sid)
            if self._compute_task is not None:
                self._compute_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._compute_task
            for task in list(self._background):
                task.cancel()
            self._fanout.end()

    # ================================================================== building
    async def _live(self, session_id: int, action: str) -> RunningSession:
        live = self._sessions.get(session_id)
        if live is None or live.stopping:
            record = await asyncio.to_thread(self.store.get_session, session_id)
            raise StateConflictError(
                f"cannot {action} session {session_id}", expected="live", actual=record.status
            )
        return live

    # ================================================================== sources
    async def _run_source(self, live: RunningSession) -> None:
        reason = "source_ended"
        try:
            async for item in live.source:
                if live.stopping:
                    break
                self._ingest(live, item)
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("source of session %d failed", live.sid)
            reason = "source_error"
        if not live.stopping:
            self._spawn(self._stop_later(live.sid, reason))

    async def _stop_later(self, session_id: int, reason: str) -> None:
        with contextlib.suppress(StateConflictError):
            await self.stop_session(session_id, reason=reason)

    # ================================================================== stop
    async def _stop(self, live: RunningSession, actor: str, reason: str) -> Session:
        live.stopping = True
        sid = live.sid
        session = live.session
        try:
            await live.source.aclose()
        except Exception:
            _log.exception("closing the source of session %d", sid)
        for task in (live.runner, live.ticker):
            if task is None or task.done() or task is asyncio.current_task():
                continue
            if task is live.runner:
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(task), _STOP_WAIT_S)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if live.abandoned:  # another process owns it now: store nothing (abandon_session)
            return await asyncio.to_thread(self.store.get_session, sid)
        # compute what this session still has queued, then flush the engine's look-ahead
        if live.emit_handle is not None:
            live.emit_handle.cancel()
            live.emit_handle = None
        rows = set(session.rows())
        mine = [item for item in self._pending if item[0].row in rows]
        self._pending = [item for item in self._pending if item[0].row not in rows]
        self._run_compute(mine)
        self._apply(self._compute.flush(sorted(rows)))
        t_end = session.tnow()
        # the last message keeps the cap too (a wait of at most one token, 1 / rate)
        wait = live.bucket.wait(asyncio.get_running_loop().time())
        if wait > 0:
            await asyncio.sleep(wait)
        if live.fenced():  # abandoned while waiting
            return await asyncio.to_thread(self.store.get_session, sid)
        self._emit_beats(live)
        status = session.phases.status(t_end)
        end_actor = None if actor == "system" else actor
        await asyncio.to_thread(
            store_end, self.store, sid, status.index, status.phase_id, end_actor, t_end
        )
        try:
            record = await asyncio.to_thread(self.store.stop_session, sid, actor=actor, at_s=t_end)
        except StateConflictError:
            record = await asyncio.to_thread(self.store.get_session, sid)
        await self.writer.wait_durable_async(timeout=_STOP_WAIT_S)
        self._fanout.broadcast(sid, session.session_message("stopped", t_end, reason))
        self._fanout.end(sid)
        for p in session.participants.values():
            if p.row >= 0:
                self._compute.release_row(p.row)
            p.row = -1
        if self._sessions.get(sid) is live:
            del self._sessions[sid]
        if self._cluster is not None:
            await self._cluster.release(sid)
        _log.info("session %d stopped (%s)", sid, reason)
        return record
