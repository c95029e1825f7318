"""What a live session holds: its clock, its participants, and the requests it makes.

Plain state for :class:`server.live.session.LiveSession`: :class:`SessionClock` (the session
clock on an injected host clock), :class:`Person` and :class:`LiveParticipant`, and the requests
a session makes of its driver besides the messages it sends (:data:`Output`): store a phase
event or a cue, redact queued messages, classify or forget a participant's look-ahead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from dashboard.events import Cue, PhaseChange
from hrv.arousal import ArousalTracker, ArousalUpdate
from server.live.display import Chunk, Ring, nan_to_none
from server.messages import CoherenceMessage, DeviceMessage, ParticipantBeats, ParticipantInfo
from server.storage import Role

__all__ = [
    "DROPOUT_KINDS",
    "LiveParticipant",
    "Lookahead",
    "Output",
    "Person",
    "Redact",
    "Restart",
    "SessionClock",
    "StoreCue",
    "StorePhase",
]

#: Device events after which a participant's beats need no more look-ahead (a dropout).
DROPOUT_KINDS: Final[frozenset[str]] = frozenset({"disconnected", "gave_up"})


class SessionClock:
    """``start_s + speed * (clock() - wall0)``, never running backwards.

    A simulated or replayed source starts its own clock when it yields its first item (after
    computing its schedule, which takes a moment that a high speed would multiply), so such a
    session's clock stands at ``start_s`` until :meth:`anchor` is called at the first item; a
    strap's session runs on the host clock from the start.

    Examples
    --------
    >>> host = [100.0]
    >>> c = SessionClock(0.0, 2.0, lambda: host[0], anchored=True)
    >>> host[0] = 103.0
    >>> c.now()
    6.0
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

    def anchor_at(self, wall0_s: float) -> None:
        """Run from ``start_s`` at host time ``wall0_s`` (a session taken over by another
        process: its clock continues from its stored start)."""
        self._wall0 = float(wall0_s)
        self.anchored = True

    def now(self) -> float:
        """Session time now, s."""
        if not self.anchored:
            return self._last
        t = self.start_s + self.speed * (self._clock() - self._wall0)
        self._last = max(self._last, t)
        return self._last


@dataclass(frozen=True, slots=True)
class Person:
    """A participant of a session as stored: id, code, role and active consent purposes."""

    pid: int
    code: str
    role: Role
    purposes: frozenset[str]


@dataclass(eq=False, slots=True)
class LiveParticipant:
    """What a live session knows about one participant (``row``: their engine row, set by the
    driver)."""

    pid: int
    code: str
    role: Role
    tracker: ArousalTracker
    purposes: frozenset[str]
    row: int = -1
    paused: bool = False
    last_update: ArousalUpdate | None = None
    last_beat_s: float = -math.inf
    pending: list[Chunk] = field(default_factory=list)
    ring: Ring = field(default_factory=Ring)
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
        """Shown: consented to ``live_display`` and not paused."""
        return "live_display" in self.purposes and not self.paused

    def beats(self, c: Chunk) -> ParticipantBeats:
        """Their part of a ``beats`` (or ``history``) message: the display values of ``c``."""
        progress = self.last_update.baseline_progress if self.last_update is not None else 0.0
        return ParticipantBeats(
            participant_id=self.pid,
            code=self.code,
            role=self.role,
            time_s=c.time_s.tolist(),
            rr_ms=c.rr_ms.tolist(),
            hr_bpm=c.hr_bpm.tolist(),
            mean_hr_bpm=nan_to_none(c.mean_hr_bpm),
            rmssd_ms=nan_to_none(c.rmssd_ms),
            arousal_index=nan_to_none(c.arousal_index),
            arousal_state=c.arousal_state,  # type: ignore[arg-type]
            confidence=c.confidence.tolist(),
            quality=c.quality.tolist(),
            artifact=c.artifact.tolist(),
            baseline_progress=float(progress),
            received_at_s=self.received_at_s,
        )

    def info(self) -> ParticipantInfo:
        """The participant as the ``session`` message lists them."""
        return ParticipantInfo(
            participant_id=self.pid,
            code=self.code,
            role=self.role,
            visible=self.visible,
            paused=self.paused,
            consents=sorted(self.purposes),
        )


@dataclass(frozen=True, slots=True)
class StorePhase:
    """Store this phase event (``index`` in the template; ``actor`` None for the system)."""

    event: PhaseChange
    index: int
    actor: str | None


@dataclass(frozen=True, slots=True)
class StoreCue:
    """Store this cue, then call :meth:`LiveSession.cue_stored` (finite ``values`` only)."""

    cue: Cue
    values: dict[str, float]
    participant_id: int | None


@dataclass(frozen=True, slots=True)
class Redact:
    """Take this participant's beats and device messages out of every queued message."""

    participant_id: int


@dataclass(frozen=True, slots=True)
class Lookahead:
    """Classify the participant's beats waiting for look-ahead; ``show`` them or discard them."""

    participant_id: int
    show: bool


@dataclass(frozen=True, slots=True)
class Restart:
    """Forget the participant's engine windows (they do not span a pause)."""

    participant_id: int


#: A message to send (any of :mod:`server.messages`) or a request to the driver.
Output = StorePhase | StoreCue | Redact | Lookahead | Restart | Any
