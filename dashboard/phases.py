"""Session phases: an editable template and a running clock the therapist can steer.

The default template is a 60-minute first session: welcome 0-10 min, mind-body-context map
10-25, goals and tasks 25-40, rehearsal and adjustment 40-55, closing 55-60. Templates are plain
frozen dataclasses that round-trip through dicts (:meth:`PhaseTemplate.to_dict`,
:meth:`PhaseTemplate.from_dict`) for the API.

:class:`PhaseClock` follows the clock: each phase runs for its planned duration from the moment it
actually starts. The therapist can *advance* (end the current phase now) or *extend* it (give it
more time); later phases keep their planned durations, so the projected end of the session moves
with every advance or extension and the ribbon shows planned and actual schedules side by side.
Every change is a :class:`dashboard.events.PhaseChange`. Nothing reads a clock: every call takes
the time in seconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from dashboard.events import PhaseChange, PhaseChangeReason
from hrv.errors import SintoniaError

__all__ = [
    "DEFAULT_FIRST_SESSION",
    "PhaseClock",
    "PhaseError",
    "PhaseInterval",
    "PhaseSpec",
    "PhaseStatus",
    "PhaseTemplate",
    "ScheduleEntry",
    "actual_phases",
    "stat_bounds",
]

_ID_RE: Final[re.Pattern[str]] = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_MIN_S: Final[float] = 60.0  # seconds per minute


class PhaseError(SintoniaError, ValueError):
    """An invalid template, or a phase command that does not fit the running session."""


@dataclass(frozen=True, slots=True)
class PhaseSpec:
    """One phase of a template.

    Attributes
    ----------
    id : str
        Stable identifier (lower case, digits, underscores; e.g. ``"map"``), used by cue rules and
        storage.
    label : str
        Human label shown on the ribbon.
    duration_s : float
        Planned duration, s (> 0).
    """

    id: str
    label: str
    duration_s: float

    def __post_init__(self) -> None:
        if not _ID_RE.match(self.id):
            raise PhaseError(f"phase id must match {_ID_RE.pattern} (e.g. 'map'), got {self.id!r}")
        if not self.label.strip():
            raise PhaseError(f"phase {self.id!r} needs a non-empty label")
        if not (math.isfinite(self.duration_s) and self.duration_s > 0.0):
            raise PhaseError(
                f"phase {self.id!r} duration must be a positive number of seconds, "
                f"got {self.duration_s!r}"
            )


@dataclass(frozen=True, slots=True)
class PhaseTemplate:
    """An ordered list of phases (editable by building a new one).

    Examples
    --------
    >>> DEFAULT_FIRST_SESSION.planned_starts_s()[:3]
    (0.0, 600.0, 1500.0)
    >>> DEFAULT_FIRST_SESSION.total_s
    3600.0
    """

    name: str
    phases: tuple[PhaseSpec, ...]

    def __post_init__(self) -> None:
        if not self.phases:
            raise PhaseError(f"template {self.name!r} has no phases; expected at least one")
        ids = [p.id for p in self.phases]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise PhaseError(f"template {self.name!r} repeats phase ids {dup}; ids must be unique")

    @property
    def total_s(self) -> float:
        """Planned total duration, s."""
        return math.fsum(p.duration_s for p in self.phases)

    def planned_starts_s(self) -> tuple[float, ...]:
        """Planned start of each phase relative to the session start, s."""
        starts = [0.0]
        for p in self.phases[:-1]:
            starts.append(starts[-1] + p.duration_s)
        return tuple(starts)

    def index_of(self, phase_id: str) -> int:
        """Position of a phase; :class:`PhaseError` if the template has no such phase."""
        for i, p in enumerate(self.phases):
            if p.id == phase_id:
                return i
        raise PhaseError(
            f"no phase {phase_id!r} in template {self.name!r}; "
            f"phases are {[p.id for p in self.phases]}"
        )

    def edited(
        self, phase_id: str, *, label: str | None = None, duration_s: float | None = None
    ) -> PhaseTemplate:
        """A copy with one phase relabelled and/or given a new duration."""
        i = self.index_of(phase_id)
        old = self.phases[i]
        new = replace(
            old,
            label=old.label if label is None else label,
            duration_s=old.duration_s if duration_s is None else float(duration_s),
        )
        return replace(self, phases=(*self.phases[:i], new, *self.phases[i + 1 :]))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (durations in minutes, as a therapist edits them)."""
        return {
            "name": self.name,
            "phases": [
                {"id": p.id, "label": p.label, "minutes": p.duration_s / _MIN_S}
                for p in self.phases
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhaseTemplate:
        """Inverse of :meth:`to_dict`; raises :class:`PhaseError` with what was wrong."""
        try:
            name = str(data["name"])
            raw = data["phases"]
            phases = tuple(
                PhaseSpec(
                    id=str(p["id"]), label=str(p["label"]), duration_s=float(p["minutes"]) * _MIN_S
                )
                for p in raw
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, PhaseError):
                raise
            raise PhaseError(
                "expected {'name': str, 'phases': [{'id', 'label', 'minutes'}, ...]}, "
                f"got {data!r} ({exc})"
            ) from exc
        return cls(name=name, phases=phases)


#: The default 60-minute first session (minutes): welcome 0-10, map 10-25, goals 25-40,
#: rehearsal 40-55, closing 55-60.
DEFAULT_FIRST_SESSION: Final[PhaseTemplate] = PhaseTemplate(
    name="First session (60 min)",
    phases=(
        PhaseSpec("welcome", "Welcome", 10 * _MIN_S),
        PhaseSpec("map", "Mind-body-context map", 15 * _MIN_S),
        PhaseSpec("goals", "Goals and tasks", 15 * _MIN_S),
        PhaseSpec("rehearsal", "Rehearsal and adjustment", 15 * _MIN_S),
        PhaseSpec("closing", "Closing", 5 * _MIN_S),
    ),
)


@dataclass(frozen=True, slots=True)
class PhaseStatus:
    """Where the session is at a given time.

    Attributes
    ----------
    phase_id, label : str
        Current phase.
    index : int
        Its position in the template.
    started_s : float
        When it actually started, s.
    due_end_s : float
        When it is due to end (planned duration plus extensions), s.
    elapsed_s, remaining_s : float
        Time in the phase and time left (never negative), s.
    overrun_s : float
        Time past ``due_end_s`` (only the last phase can overrun; it ends when the session does).
    session_elapsed_s : float
        Time since the session started, s.
    """

    phase_id: str
    label: str
    index: int
    started_s: float
    due_end_s: float
    elapsed_s: float
    remaining_s: float
    overrun_s: float
    session_elapsed_s: float


@dataclass(frozen=True, slots=True)
class ScheduleEntry:
    """One phase on the ribbon: planned times, actual times so far, projected times.

    All times in s on the same clock as the session start. ``actual_*`` is None until it happened;
    ``projected_*`` equals the actual time when known, otherwise the current projection.
    """

    phase_id: str
    label: str
    planned_start_s: float
    planned_end_s: float
    actual_start_s: float | None
    actual_end_s: float | None
    projected_start_s: float
    projected_end_s: float
    extended_by_s: float


class PhaseClock:
    """The running phase of one session.

    Parameters
    ----------
    template : PhaseTemplate
        The plan (default :data:`DEFAULT_FIRST_SESSION`).
    start_s : float
        Session start, s.

    Notes
    -----
    Phase :math:`i` starts at :math:`S_i` (when the previous one ended) and is due to end at
    :math:`S_i + D_i + E_i` (planned duration plus extensions). :meth:`update` applies every
    clock-driven change up to a time (a change is stamped with its scheduled time, even if it is
    noticed later); :meth:`advance` ends the current phase now; :meth:`extend` adds to
    :math:`E_i`. Queries (:meth:`status`, :meth:`schedule`) do not change the clock.

    Examples
    --------
    >>> clock = PhaseClock(DEFAULT_FIRST_SESSION, start_s=0.0)
    >>> [e.phase_id for e in clock.update(700.0)]
    ['map']
    >>> clock.advance(1000.0).phase_id
    'goals'
    """

    def __init__(self, template: PhaseTemplate = DEFAULT_FIRST_SESSION, start_s: float = 0.0):
        if not math.isfinite(start_s):
            raise PhaseError(f"session start must be a finite time in s, got {start_s!r}")
        self.template = template
        self.start_s = float(start_s)
        n = len(template.phases)
        self._i = 0
        self._starts: list[float | None] = [self.start_s] + [None] * (n - 1)
        self._ends: list[float | None] = [None] * n
        self._extra = [0.0] * n
        self._t_last = self.start_s
        first = template.phases[0]
        self._events: list[PhaseChange] = [
            PhaseChange(self.start_s, first.id, first.label, None, "start", self._due_end())
        ]

    @property
    def events(self) -> tuple[PhaseChange, ...]:
        """Every phase change so far, in order."""
        return tuple(self._events)

    def _due_end(self) -> float:
        start = self._starts[self._i]
        assert start is not None
        return start + self.template.phases[self._i].duration_s + self._extra[self._i]

    def _check_time(self, t: float) -> None:
        if not math.isfinite(t):
            raise PhaseError(f"time must be a finite number of seconds, got {t!r}")
        if t < self._t_last:
            raise PhaseError(f"time must not run backwards: got {t} s after {self._t_last} s")

    def _enter(self, t: float, reason: PhaseChangeReason) -> PhaseChange:
        prev = self.template.phases[self._i]
        self._ends[self._i] = t
        self._i += 1
        self._starts[self._i] = t
        spec = self.template.phases[self._i]
        event = PhaseChange(t, spec.id, spec.label, prev.id, reason, self._due_end())
        self._events.append(event)
        return event

    def update(self, time_s: float) -> list[PhaseChange]:
        """Apply the clock up to ``time_s``; return the phase changes this caused (maybe none)."""
        self._check_time(time_s)
        out: list[PhaseChange] = []
        last = len(self.template.phases) - 1
        while self._i < last and time_s >= self._due_end():
            out.append(self._enter(self._due_end(), "clock"))
        self._t_last = float(time_s)
        return out

    def advance(self, time_s: float) -> PhaseChange:
        """The therapist moves on to the next phase at ``time_s``.

        Raises
        ------
        PhaseError
            In the last phase (ending the session is the server's job).
        """
        self.update(time_s)
        if self._i == len(self.template.phases) - 1:
            raise PhaseError(
                f"already in the last phase {self.template.phases[self._i].id!r}; "
                "there is no next phase to advance to"
            )
        return self._enter(float(time_s), "advance")

    def extend(self, time_s: float, by_s: float) -> PhaseChange:
        """The therapist gives the current phase ``by_s`` more seconds (> 0)."""
        if not (math.isfinite(by_s) and by_s > 0.0):
            raise PhaseError(f"extension must be a positive number of seconds, got {by_s!r}")
        self.update(time_s)
        self._extra[self._i] += float(by_s)
        spec = self.template.phases[self._i]
        event = PhaseChange(
            float(time_s), spec.id, spec.label, spec.id, "extend", self._due_end(), float(by_s)
        )
        self._events.append(event)
        return event

    def _virtual(self, time_s: float) -> tuple[int, list[float | None], list[float | None]]:
        """Phase index, starts and ends at ``time_s`` without changing the clock."""
        self._check_time(time_s)
        i = self._i
        starts = list(self._starts)
        ends = list(self._ends)
        last = len(self.template.phases) - 1
        while i < last:
            s = starts[i]
            assert s is not None
            due = s + self.template.phases[i].duration_s + self._extra[i]
            if time_s < due:
                break
            ends[i] = due
            i += 1
            starts[i] = due
        return i, starts, ends

    def status(self, time_s: float) -> PhaseStatus:
        """The current phase, elapsed and remaining time at ``time_s`` (does not change state)."""
        i, starts, _ = self._virtual(time_s)
        spec = self.template.phases[i]
        start = starts[i]
        assert start is not None
        due = start + spec.duration_s + self._extra[i]
        return PhaseStatus(
            phase_id=spec.id,
            label=spec.label,
            index=i,
            started_s=start,
            due_end_s=due,
            elapsed_s=time_s - start,
            remaining_s=max(due - time_s, 0.0),
            overrun_s=max(time_s - due, 0.0),
            session_elapsed_s=time_s - self.start_s,
        )

    def schedule(self, time_s: float) -> tuple[ScheduleEntry, ...]:
        """Planned, actual and projected times of every phase, for the ribbon."""
        i, starts, ends = self._virtual(time_s)
        planned = self.template.planned_starts_s()
        out: list[ScheduleEntry] = []
        cursor = math.nan
        for k, spec in enumerate(self.template.phases):
            start = starts[k]
            end = ends[k]
            proj_start = start if start is not None else cursor
            dur = spec.duration_s + self._extra[k]
            proj_end = end if end is not None else proj_start + dur
            if k == i:
                proj_end = max(proj_end, time_s)
            cursor = proj_end
            out.append(
                ScheduleEntry(
                    phase_id=spec.id,
                    label=spec.label,
                    planned_start_s=self.start_s + planned[k],
                    planned_end_s=self.start_s + planned[k] + spec.duration_s,
                    actual_start_s=start,
                    actual_end_s=end,
                    projected_start_s=proj_start,
                    projected_end_s=proj_end,
                    extended_by_s=self._extra[k],
                )
            )
        return tuple(out)


@dataclass(frozen=True, slots=True)
class PhaseInterval:
    """A phase as it actually ran: ``[start_s, end_s)`` on the caller's clock, s.

    Attributes
    ----------
    index : int
        Position of the phase in the session's template.
    name : str
        Phase id (e.g. ``"welcome"``, ``"map"``).
    label : str
        What the therapist saw on the ribbon.
    start_s, end_s : float
        When it was entered and when the next phase was entered (or the session ended), s.
    planned : bool
        True when no phase event was recorded and the interval is the template's plan.
    """

    index: int
    name: str
    label: str
    start_s: float
    end_s: float
    planned: bool = False

    @property
    def duration_s(self) -> float:
        """``end_s - start_s``, s."""
        return self.end_s - self.start_s


def actual_phases(
    events: Sequence[tuple[float, str, int, Literal["enter", "extend", "end"] | str]],
    template: PhaseTemplate,
    start_s: float,
    end_s: float,
) -> tuple[PhaseInterval, ...]:
    """The phases of a session as they ran, from its recorded phase events (the one rule).

    Used by the review, the report, every export and the cohort, so that they agree.

    Parameters
    ----------
    events : sequence of (time_s, phase_id, phase_index, action)
        Recorded phase events in time order; ``enter`` opens a phase (and closes the one
        before), ``end`` closes the session's last phase, ``extend`` changes the plan, not what
        happened, and is ignored.
    template : PhaseTemplate
        Labels, and the plan when no ``enter`` event was recorded.
    start_s, end_s : float
        The session's time frame on the events' clock, s.

    Returns
    -------
    tuple of PhaseInterval
        In time order, without empty intervals. The first phase starts at ``start_s`` when it
        was entered a little later (the beats before it belong to it). Without any ``enter``
        event: the template's planned schedule from ``start_s``, cut at ``end_s``, marked
        ``planned``.

    Examples
    --------
    >>> ev = [(0.0, "welcome", 0, "enter"), (600.0, "map", 1, "enter"), (900.0, "map", 1, "end")]
    >>> [(p.name, p.start_s, p.end_s) for p in actual_phases(ev, DEFAULT_FIRST_SESSION, 0, 1e3)]
    [('welcome', 0.0, 600.0), ('map', 600.0, 900.0)]
    >>> [p.name for p in actual_phases([], DEFAULT_FIRST_SESSION, 0.0, 1000.0)]
    ['welcome', 'map']
    """
    labels = {p.id: p.label for p in template.phases}
    index_of = {p.id: i for i, p in enumerate(template.phases)}
    end_s = max(float(end_s), float(start_s))
    enters = [e for e in events if e[3] == "enter"]
    if not enters:
        out: list[PhaseInterval] = []
        for i, (spec, s0) in enumerate(
            zip(template.phases, template.planned_starts_s(), strict=True)
        ):
            a = start_s + s0
            if a >= end_s:
                break
            b = min(a + spec.duration_s, end_s)
            if i == len(template.phases) - 1:
                b = end_s  # the last phase runs to the end (an overrun stays in it)
            out.append(PhaseInterval(i, spec.id, spec.label, float(a), float(b), planned=True))
        return tuple(out)
    spans: list[PhaseInterval] = []
    current: tuple[str, int, float] | None = None
    first = True
    for time_s, phase_id, phase_index, action in events:
        if action not in ("enter", "end"):
            continue
        if current is not None:
            a = current[2]
            b = max(min(float(time_s), end_s), a)
            spans.append(
                PhaseInterval(current[1], current[0], labels.get(current[0], current[0]), a, b)
            )
            current = None
        if action == "enter":
            a = min(float(start_s), float(time_s)) if first else float(time_s)
            first = False
            idx = int(phase_index) if phase_index is not None else index_of.get(phase_id, 0)
            current = (str(phase_id), idx, a)
    if current is not None and end_s > current[2]:
        spans.append(
            PhaseInterval(
                current[1], current[0], labels.get(current[0], current[0]), current[2], end_s
            )
        )
    return tuple(s for s in spans if s.end_s > s.start_s)


def stat_bounds(starts: Sequence[float], ends: Sequence[float]) -> tuple[list[float], list[float]]:
    """The intervals over which each phase's numbers are computed: ``[start, end)``, except that
    the last phase is closed at its end, ``[start, end]``: the beat that ends exactly at the
    session's end (the last beat of an imported recording) belongs to it.

    Examples
    --------
    >>> stat_bounds([0.0, 600.0], [600.0, 900.0])[1][1] > 900.0
    True
    """
    out = [float(e) for e in ends]
    if out:
        out[-1] = math.nextafter(out[-1], math.inf)
    return [float(s) for s in starts], out
