"""Drive a real :class:`server.live.session.LiveSession` in memory, synchronously, as the hub does.

:class:`SessionDriver` wires a session to a real :class:`server.live.compute.LiveCompute` (the
hub's engine, one row per participant) on a :class:`FakeClock`, and carries out what the session
produces in the hub's order: phase events and cues are "stored" in lists (cue ids numbered from
1, as a fresh database would), redactions and look-ahead requests are applied, and messages are
collected in :attr:`SessionDriver.messages`. No rule is re-implemented here: the driver only
moves beats, time and answers in, and records what comes out. The rate cap (the hub's token
bucket) is not applied: :meth:`SessionDriver.tick` sends the pending beats at every tick.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from dashboard.phases import PhaseTemplate
from sensor.types import BeatBatch
from server.live.compute import LiveCompute, by_row
from server.live.session import LiveSession
from server.live.state import (
    LiveParticipant,
    Lookahead,
    Output,
    Person,
    Redact,
    Restart,
    StoreCue,
    StorePhase,
)

__all__ = ["FakeClock", "SessionDriver", "person"]


class FakeClock:
    """A host clock that moves only when told (``clock.t = ...``)."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = float(t)

    def __call__(self) -> float:
        return self.t


def person(
    pid: int, code: str, role: str, purposes: Iterable[str] = ("live_display", "storage")
) -> Person:
    """A participant as the hub loads them (``role``: ``patient`` or ``therapist``)."""
    return Person(pid, code, role, frozenset(purposes))  # type: ignore[arg-type]


class SessionDriver:
    """A live session with its engine rows, a fake clock and an in-memory "store".

    Attributes
    ----------
    session : LiveSession
    compute : LiveCompute
    clock : FakeClock
    messages : list
        Every message sent, in order (the ``session`` and first ``phase`` message included).
    stored_phases, stored_cues : list
        The storage requests carried out, in order.
    redacted : list of int
        Participants whose queued messages were redacted.
    discarded_beats : int
        Beats classified on a privacy pause and not shown.
    """

    def __init__(
        self,
        people: Sequence[Person],
        *,
        template: PhaseTemplate | None = None,
        start_s: float = 0.0,
        speed: float = 1.0,
        history_s: float = 600.0,
        session_id: int = 1,
    ) -> None:
        self.clock = FakeClock(start_s)
        self.session = LiveSession(
            session_id,
            people,
            clock=self.clock,
            template=template,
            start_s=start_s,
            speed=speed,
            history_s=history_s,
        )
        self.compute = LiveCompute()
        self._by_row: dict[int, LiveParticipant] = {}
        for p in self.session.participants.values():
            p.row = self.compute.take_row()
            self._by_row[p.row] = p
        self.messages: list[Any] = []
        self.stored_phases: list[StorePhase] = []
        self.stored_cues: list[StoreCue] = []
        self.redacted: list[int] = []
        self.discarded_beats = 0
        self._fed: set[int] = set()
        self.carry_out(self.session.opening())

    # ------------------------------------------------------------------ in
    def participant(self, code: str) -> LiveParticipant:
        """The participant with ``code``."""
        p = self.session.participant_for(code)
        assert p is not None, code
        return p

    def feed(self, code: str, rr_ms: ArrayLike, beat_times_s: ArrayLike) -> None:
        """One notification of ``code``'s beats (the hub's storage step is not modelled)."""
        self.feed_round({code: (rr_ms, beat_times_s)})

    def feed_round(self, batches: Mapping[str, tuple[ArrayLike, ArrayLike]]) -> None:
        """A compute round: one notification per participant code, in one engine push."""
        round_: list[tuple[int, BeatBatch]] = []
        for code, (rr_ms, beat_times_s) in batches.items():
            rr = np.asarray(rr_ms, dtype=np.float64)
            times = np.asarray(beat_times_s, dtype=np.float64)
            p = self.participant(code)
            if rr.size == 0 or p.paused:
                continue  # the hub neither stores nor computes a paused participant's beats
            first = p.pid not in self._fed
            self._fed.add(p.pid)
            batch = BeatBatch(code, "sim", rr, None, float(times[-1]), times, gap_before=first)
            round_.append((p.row, batch))
        for up in self.compute.round(round_):
            self._apply(up)

    def _apply(self, up: Any) -> None:
        for row, u in by_row(up):
            self.session.apply(self._by_row[row], u)
        self.carry_out()

    def tick(self, t: float | None = None) -> None:
        """Move the clock to ``t`` (host s), tick the session and send the pending beats."""
        if t is not None:
            self.clock.t = float(t)
        self.session.tick()
        self.carry_out()
        beats = self.session.take_beats(self.clock.t)
        if beats is not None:
            self.messages.append(beats)

    # ------------------------------------------------------------------ out
    def carry_out(self, outputs: list[Output] | None = None) -> None:
        """Carry out the session's outputs in order, as the hub does."""
        items = self.session.take_outputs() if outputs is None else outputs
        for item in items:
            if isinstance(item, StorePhase):
                self.stored_phases.append(item)
            elif isinstance(item, StoreCue):
                self.stored_cues.append(item)
                self.messages.append(self.session.cue_stored(item, len(self.stored_cues)))
            elif isinstance(item, Redact):
                self.redacted.append(item.participant_id)
            elif isinstance(item, Lookahead):
                row = self.session.participants[item.participant_id].row
                up = self.compute.flush([row])
                if item.show:
                    self._apply(up)
                else:
                    self.discarded_beats += len(up)
            elif isinstance(item, Restart):
                self.compute.engine.reset(self.session.participants[item.participant_id].row)
            else:
                self.messages.append(item)
        self.compute.set_coherence(self.session.rows(), self.session.coherence_period)

    def of_type(self, kind: str) -> list[Any]:
        """The messages of one ``type`` (``phase``, ``cue``, ``beats`` ...), in order."""
        return [m for m in self.messages if m.type == kind]

    def beat_times(self, pid: int) -> list[float]:
        """The beat times of ``pid`` sent in ``beats`` messages."""
        return [
            t
            for m in self.of_type("beats")
            for part in m.participants
            if part.participant_id == pid
            for t in part.time_s
        ]
