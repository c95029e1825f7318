"""The live sessions' data path: storage first, one engine, ticks, the rate cap, the fan-out.

:class:`LiveRuntime` is the machinery under :class:`server.live.hub.LiveHub` (which adds the
public API: starting and stopping sessions, the therapist's commands, consent, subscriptions).
For every item a session's source yields, :meth:`LiveRuntime._ingest` **first** hands it to
:meth:`server.storage.BeatWriter.submit`, **then** queues it for the one compute task, which
feeds every queued batch of every live session to the shared engine in one push
(:class:`server.live.compute.LiveCompute`) and gives each participant's updates to their
session's :class:`server.live.session.LiveSession`. What a session produces is carried out in
order (:meth:`LiveRuntime._carry_out`): phase events and cues are stored before their messages
go to the subscribers (:class:`server.live.subscription.Fanout`); ``beats`` messages go out
under the session's token bucket (:class:`server.live.ratelimit.TokenBucket`). A ticker per
session, ``max_ws_messages_per_s`` times a second, lets the session's clock move its rules.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from hrv.stream import MultiStreamEngine, StreamConfig, StreamUpdates
from sensor.quality import split_corrupt
from sensor.types import BeatBatch, BeatSource, SourceItem
from server.live.compute import LiveCompute, by_row
from server.live.ratelimit import TokenBucket, default_capacity
from server.live.records import store_cue, store_phase
from server.live.session import LiveSession
from server.live.state import (
    LiveParticipant,
    Lookahead,
    Output,
    Redact,
    Restart,
    StoreCue,
    StorePhase,
)
from server.live.subscription import Fanout
from server.settings import ServerSettings
from server.storage import BeatWriter, Store

__all__ = ["LiveRuntime", "RunningSession"]

_log = logging.getLogger(__name__)

#: How often the writer's backlog is checked, s; and the backlog worth a warning, items.
_WRITER_CHECK_S: Final[float] = 10.0
_WRITER_BACKLOG_WARN: Final[int] = 200


@dataclass(eq=False, slots=True)
class RunningSession:
    """A running session in the hub: its rules, its source and tasks, its message cap."""

    session: LiveSession
    source: BeatSource
    bucket: TokenBucket
    runner: asyncio.Task[None] | None = None
    ticker: asyncio.Task[None] | None = None
    stopping: bool = False
    #: Another process owns the session now (issue 16): nothing more is stored for it.
    abandoned: bool = False
    emit_handle: asyncio.TimerHandle | None = None
    #: The coherence period last given to the engine for this session's rows (NaN: none yet).
    coherence_every: float | None = math.nan

    @property
    def sid(self) -> int:
        return self.session.sid

    def fenced(self) -> bool:
        """Whether another process owns the session now (store nothing more for it)."""
        return self.abandoned

    @property
    def participants(self) -> dict[int, LiveParticipant]:
        return self.session.participants


class LiveRuntime:
    """The data path of the live sessions (see the module documentation).

    Every method must be called from the event loop that runs it.
    """

    def __init__(
        self,
        *,
        store: Store,
        writer: BeatWriter,
        settings: ServerSettings,
        clock: Callable[[], float],
        stream_config: StreamConfig | None = None,
    ) -> None:
        self.store = store
        self.writer = writer
        self.settings = settings
        self._clock = clock
        self._compute = LiveCompute(stream_config)
        self._sessions: dict[int, RunningSession] = {}
        self._fanout = Fanout()
        self._pending: list[tuple[LiveParticipant, BeatBatch, float]] = []
        self._wake: asyncio.Event | None = None
        self._compute_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._submitted = 0
        self._beats_messages = 0
        self._writer_checked = -math.inf
        self._writer_backlog = 0
        #: Items of sessions being adopted (issue 16), held until the replay of storage is done.
        self._adopting: dict[int, list[SourceItem]] = {}

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
        See :class:`server.live.ratelimit.TokenBucket`.
        """
        rate = self.settings.max_ws_messages_per_s
        return rate, default_capacity(rate)

    @property
    def _engine(self) -> MultiStreamEngine:
        """The shared streaming engine (tests spy on it)."""
        return self._compute.engine

    @property
    def _computed(self) -> int:
        return self._compute.computed

    def _ensure_compute(self) -> None:
        if self._compute_task is None or self._compute_task.done():
            self._wake = asyncio.Event()
            self._compute_task = asyncio.create_task(self._compute_loop(), name="sintonia-compute")

    # ================================================================== the session's outputs
    async def _carry_out(self, live: RunningSession, outputs: list[Output] | None = None) -> None:
        """Carry out what the session produced, in order: store first, then send."""
        items = live.session.take_outputs() if outputs is None else outputs
        for item in items:
            if live.abandoned:
                return  # fenced: another process owns the session (LiveHub.abandon_session)
            if isinstance(item, StorePhase):
                await asyncio.to_thread(store_phase, self.store, live.sid, item)
            elif isinstance(item, StoreCue):
                cue_id = await asyncio.to_thread(store_cue, self.store, live.sid, item)
                if cue_id is not None:
                    self._fanout.broadcast(live.sid, live.session.cue_stored(item, cue_id))
            else:
                self._carry_out_one(live, item)
        self._sync_coherence(live)

    def _carry_out_now(self, live: RunningSession) -> None:
        """Carry out outputs that need no storage (the compute path: messages, look-ahead)."""
        for item in live.session.take_outputs():
            self._carry_out_one(live, item)
        self._sync_coherence(live)

    def _carry_out_one(self, live: RunningSession, item: Output) -> None:
        if isinstance(item, Redact):
            self._fanout.redact(live.sid, item.participant_id)
        elif isinstance(item, Lookahead):
            p = live.participants[item.participant_id]
            if item.show:
                self._flush_participant(p)
            elif p.row >= 0:
                self._compute.flush([p.row])  # discarded: not shown
        elif isinstance(item, Restart):
            row = live.participants[item.participant_id].row
            if row >= 0:
                self._compute.engine.reset(row)  # (its coherence period too)
                live.coherence_every = math.nan
        elif isinstance(item, StorePhase | StoreCue):  # pragma: no cover - not from compute
            self._spawn(self._carry_out(live, [item]))
        else:
            self._fanout.broadcast(live.sid, item)

    def _sync_coherence(self, live: RunningSession) -> None:
        """Give the engine the session's coherence period when it changed."""
        every = live.session.coherence_period
        if every == live.coherence_every:
            return
        live.coherence_every = every
        rows = [row for row in live.session.rows() if row >= 0]
        self._compute.set_coherence(rows, every)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ================================================================== remote sources (issue 15)
    def ingest_remote(self, session_id: int, item: SourceItem) -> bool:
        """Feed one item of a remote participant (the ingest protocol) through the live path.

        The same path as a source's items: storage first (:meth:`BeatWriter.submit`), then the
        engine; ``item.participant`` is the participant's id as text. Returns False (and does
        nothing) when the session is not live in this hub; the caller then stores the item
        itself.
        """
        live = self._sessions.get(session_id)
        if live is None or live.stopping:
            held = self._adopting.get(session_id)
            if held is not None:  # being adopted: stored by the caller, computed after the replay
                held.append(item)
            return False
        self._ingest(live, item)
        return True

    # ================================================================== runner: storage first
    def _ingest(self, live: RunningSession, item: SourceItem) -> None:
        p = live.session.participant_for(item.participant)
        if isinstance(item, BeatBatch):
            if p is None or p.paused or len(item) == 0:
                return
            # a corrupt value (0, NaN, 1e308 ...) costs the batch none of its valid beats: it
            # is stored as a counted invalid_rr device event, and the engine never sees it;
            # nothing more is stored of a person erased or without storage consent
            kept, corrupt = split_corrupt(item)
            if corrupt is not None and not p.erased:
                self.writer.submit(live.sid, p.pid, corrupt)
                self._submitted += 1
            for batch in kept:
                if not p.erased:
                    self.writer.submit(live.sid, p.pid, batch)  # storage first ...
                    self._submitted += 1
                self._pending.append((p, batch, self._clock()))  # ... then the engine
            if self._wake is not None and kept:
                self._wake.set()
            return
        if p is not None and (p.paused or p.erased):
            return
        self.writer.submit(live.sid, None if p is None else p.pid, item)
        self._submitted += 1
        if p is not None:
            live.session.device_event(p, item)
            self._carry_out_now(live)

    # ================================================================== compute: one engine
    async def _compute_loop(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            items, self._pending = self._pending, []
            try:
                self._run_compute(items)
            except Exception:  # pragma: no cover - the steps guard themselves
                _log.exception("live compute round failed")
            await asyncio.sleep(0)

    def _run_compute(self, items: list[tuple[LiveParticipant, BeatBatch, float]]) -> None:
        """One round: every queued batch of every live session in as few engine pushes as the
        gaps allow (:meth:`LiveCompute.round`); then each touched session may send."""
        live = [(p, b) for p, b, _ in items if not p.paused and p.row >= 0]
        if not live:
            return
        for p, _, received in items:
            p.received_at_s = received
        touched: list[RunningSession] = []
        for up in self._compute.round([(p.row, b) for p, b in live]):
            touched += self._apply(up)
        for s in dict.fromkeys(touched):
            self._maybe_emit(s)

    def _flush_participant(self, p: LiveParticipant) -> None:
        """Compute what is queued, then classify ``p``'s beats waiting for look-ahead."""
        items, self._pending = self._pending, []
        self._run_compute(items)
        if p.row >= 0 and self._compute.pending(p.row) > 0:
            for s in self._apply(self._compute.flush([p.row])):
                self._maybe_emit(s)

    def _apply(self, up: StreamUpdates) -> list[RunningSession]:
        """Per-beat updates -> each participant's session; returns the sessions touched."""
        touched: list[RunningSession] = []
        if len(up) == 0:
            return touched
        owners = {p.row: (s, p) for s in self._sessions.values() for p in s.participants.values()}
        for row, u in by_row(up):
            owner = owners.get(row)
            if owner is None:
                continue
            s, p = owner
            if p.paused:
                continue
            s.session.apply(p, u)
            self._carry_out_now(s)
            if s not in touched:
                touched.append(s)
        return touched

    # ================================================================== ticker: 4 times a second
    async def _tick_loop(self, live: RunningSession) -> None:
        while not live.stopping:
            await asyncio.sleep(self.tick_s)
            try:
                self._check_writer()
                live.session.tick()
                await self._carry_out(live)
                self._maybe_emit(live)
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("tick of session %d failed", live.sid)

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

    # ================================================================== rate cap
    def _maybe_emit(self, live: RunningSession) -> None:
        """Send the pending beats now if the session's token bucket has a token
        (:attr:`rate_cap`), else as soon as it has: a notification is not delayed while the rate
        is below the cap, and a burst is coalesced."""
        if live.stopping or live.emit_handle is not None:
            return
        loop = asyncio.get_running_loop()
        wait = live.bucket.wait(loop.time())
        if wait <= 0:
            self._emit_beats(live)
        else:
            live.emit_handle = loop.call_later(wait, self._deferred_emit, live)

    def _deferred_emit(self, live: RunningSession) -> None:
        live.emit_handle = None
        if not live.stopping:
            self._emit_beats(live)

    def _emit_beats(self, live: RunningSession) -> None:
        msg = live.session.take_beats(self._clock())
        if msg is not None:
            live.bucket.take(asyncio.get_running_loop().time())
            self._beats_messages += 1
            self._fanout.broadcast(live.sid, msg)
