"""Quiet, therapist-only cues chosen by session phase and arousal state, from a table of rules.

A cue rule is data (:class:`CueRule`): in which phases, on which patient/therapist state or
therapist marker, for how long the condition must hold (persistence), the text, and a refractory
period. :class:`CueEngine` evaluates the table on each update and shows at most one cue at a time;
each cue carries its reason (one plain sentence with session-relative times; the numbers and the
rule are kept apart for a researcher's details view, :func:`cue_details`) and ends when the
therapist acknowledges or dismisses it, or when it expires unanswered. Every cue and resolution
is an event (:mod:`dashboard.events`).

Clinical rules kept here:

* cue texts are options worded for the therapist ("Consider ...", "You could ..."), never
  instructions and never a label of the patient's state;
* quiet: one cue per episode of every rule (an episode lasts while the states the rule reads
  keep their onset), and a minimum gap between the end of one cue and the next, whatever the
  rule;
* no rule, text or reason names a clinical state (:data:`dashboard.events.FORBIDDEN_TERMS`):
  heart-rate data cannot detect them (Sack, Cillien & Hopper 2012);
* grounding cues come only from a marker the therapist sets (silence, sudden sleepiness, looking
  away), never from heart-rate data alone;
* no cue fires while the signal is poor (the participant's arousal state is ``uncertain`` or its
  confidence is low); the persistence time restarts when the signal comes back.

References
----------
.. [1] Sack M, Cillien M, Hopper JW (2012). Acute dissociation and cardiac reactivity to
   script-driven imagery in trauma-related disorders. European Journal of Psychotraumatology 3,
   17419. doi:10.3402/ejpt.v3i0.17419
.. [2] Lehrer PM, Gevirtz R (2014). Heart rate variability biofeedback: how and why does it work?
   Frontiers in Psychology 5, 756 (paced breathing near 6 breaths/min, resonance frequency).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from typing import Any, Final, Literal, Protocol

from dashboard.events import Cue, CueResolution, CueResolved, find_forbidden_terms
from hrv.errors import SintoniaError

__all__ = [
    "DEFAULT_CUE_RULES",
    "GROUNDING_MARKERS",
    "MARKER_LABELS",
    "MIN_GAP_S",
    "OPTION_WORDING",
    "CueEngine",
    "CueError",
    "CueEvent",
    "CueRule",
    "ParticipantView",
    "cue_details",
]

BandName = Literal["above", "within", "below"]
_BANDS: Final[frozenset[str]] = frozenset({"above", "within", "below"})
_ID_RE: Final[re.Pattern[str]] = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

#: Therapist markers that may prompt a grounding check-in.
GROUNDING_MARKERS: Final[frozenset[str]] = frozenset(
    {"silence", "sudden_sleepiness", "looking_away"}
)
#: How markers are named in cue reasons.
MARKER_LABELS: Final[dict[str, str]] = {
    "silence": "silence",
    "sudden_sleepiness": "sudden sleepiness",
    "looking_away": "looking away",
}
_STATE_SHORT: Final[dict[str, str]] = {
    "above": "above usual",
    "within": "within usual range",
    "below": "below usual",
}
#: How a state reads in a plain-sentence reason.
_STATE_PLAIN: Final[dict[str, str]] = {
    "above": "above their usual activation",
    "within": "within their usual range",
    "below": "below their usual activation",
}
#: Default shortest time between the end of one cue and the next cue of any rule, s.
MIN_GAP_S: Final[float] = 180.0
#: How every default cue text starts: an option for the therapist, not an instruction.
OPTION_WORDING: Final[re.Pattern[str]] = re.compile(r"^(Consider|You could|You might) ")

CueEvent = Cue | CueResolved


class CueError(SintoniaError, ValueError):
    """An invalid cue rule, or an acknowledgement for a cue that is not showing."""


class ParticipantView(Protocol):
    """What the cue engine reads about a participant (:class:`hrv.arousal.ArousalUpdate` fits)."""

    @property
    def state(self) -> str: ...

    @property
    def state_since_s(self) -> float: ...

    @property
    def index(self) -> float | None: ...

    @property
    def confidence(self) -> float: ...

    @property
    def confident(self) -> bool: ...

    @property
    def trend_z_per_min(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class CueRule:
    """One row of the cue table. Every condition given must hold; empty means "any".

    Attributes
    ----------
    id : str
        Stable rule id (``"map_pacing"``).
    text : str
        What the therapist sees, worded as an option.
    phases : frozenset of str
        Phase ids where the rule applies (empty: any phase). Held time counts from the phase
        start at the earliest.
    patient, therapist : frozenset of str
        Required arousal band(s) (``"above"``, ``"within"``, ``"below"``; empty: any). Held time
        counts from the onset of that state.
    patient_rising : bool
        Requires the patient's index to be rising by at least the engine's
        ``rising_z_per_min``.
    markers : frozenset of str
        If not empty, requires one of these therapist markers within the engine's marker window;
        the marker is used up when the cue fires.
    persistence_s : float
        How long all conditions must have held together, s.
    refractory_s : float
        After a cue of this rule ends, how long before it may fire again, s (default 120 s).
    once_per_phase : bool
        Fire at most once per phase occurrence.
    once_per_episode : bool
        Fire at most once per episode: while the states the rule reads (the patient's and the
        therapist's band, the phase, the marker) keep the onset they had when it fired. A
        flickering trend or a short signal loss restarts the persistence time but not the
        episode. On for every rule of the default table (default True): without it a
        12-minute stress episode repeats the same suggestion every refractory period (7 times
        in a simulated first session), which is not quiet. The refractory period still applies
        between episodes.
    pacer_breaths_per_min : float or None
        Show a breathing pacer at this rate with the cue.
    requires_signal : bool
        The participants the rule reads (always the patient; the therapist when ``therapist`` is
        set) must have a confident signal. True for every default rule, so that no cue fires while
        the signal is poor.
    """

    id: str
    text: str
    phases: frozenset[str] = frozenset()
    patient: frozenset[str] = frozenset()
    therapist: frozenset[str] = frozenset()
    patient_rising: bool = False
    markers: frozenset[str] = frozenset()
    persistence_s: float = 0.0
    refractory_s: float = 120.0
    once_per_phase: bool = False
    once_per_episode: bool = True
    pacer_breaths_per_min: float | None = None
    requires_signal: bool = True

    def __post_init__(self) -> None:
        if not _ID_RE.match(self.id):
            raise CueError(f"cue rule id must match {_ID_RE.pattern}, got {self.id!r}")
        if not self.text.strip():
            raise CueError(f"cue rule {self.id!r} needs a text")
        words = [self.id, self.text, *self.phases, *self.markers]
        bad = sorted({term for w in words for term in find_forbidden_terms(w)})
        if bad:
            raise CueError(
                f"cue rule {self.id!r} names a clinical state ({bad}); heart-rate data cannot "
                "detect it, so cue texts and triggers must not name it"
            )
        for who, states in (("patient", self.patient), ("therapist", self.therapist)):
            unknown = sorted(set(states) - _BANDS)
            if unknown:
                raise CueError(
                    f"cue rule {self.id!r}: {who} states must be among {sorted(_BANDS)}, "
                    f"got {unknown}"
                )
        for name in ("persistence_s", "refractory_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise CueError(f"cue rule {self.id!r}: {name} must be >= 0 s, got {value!r}")
        pace = self.pacer_breaths_per_min
        if pace is not None and not (math.isfinite(pace) and 0.0 < pace <= 30.0):
            raise CueError(
                f"cue rule {self.id!r}: pacer rate must be in (0, 30] breaths/min, got {pace!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (sets become sorted lists)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = sorted(value) if isinstance(value, frozenset) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CueRule:
        """Inverse of :meth:`to_dict`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CueError(f"unknown cue rule keys {unknown}; expected some of {sorted(known)}")
        kwargs: dict[str, Any] = {
            k: frozenset(v) if k in ("phases", "patient", "therapist", "markers") else v
            for k, v in data.items()
        }
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise CueError(f"cannot build a cue rule from {sorted(data)}: {exc}") from exc


#: The default table, in priority order (the first eligible rule wins when several could fire).
#: Grounding first: it answers something the therapist has just seen. Then the therapist's own
#: regulation (co-regulation starts with the therapist), then pacing in the map phase, closing,
#: and the rehearsal-phase breathing offer.
DEFAULT_CUE_RULES: Final[tuple[CueRule, ...]] = (
    CueRule(
        id="grounding_checkin",
        text="Consider a grounding check-in (feet on the floor, name what you see)",
        markers=GROUNDING_MARKERS,
    ),
    CueRule(
        id="therapist_breathing",
        text="You could take a slower breath yourself before going on",
        therapist=frozenset({"above"}),
        patient_rising=True,
        persistence_s=20.0,
    ),
    CueRule(
        id="map_pacing",
        text="Consider slowing the pace or offering a pause",
        phases=frozenset({"map"}),
        patient=frozenset({"above"}),
        persistence_s=45.0,
        once_per_episode=True,
    ),
    CueRule(
        id="closing_settle",
        text="Consider leaving time to settle before ending",
        phases=frozenset({"closing"}),
        patient=frozenset({"above"}),
        persistence_s=30.0,
        once_per_episode=True,
    ),
    CueRule(
        id="rehearsal_breathing",
        text="Consider offering paced breathing (about 6/min)",
        phases=frozenset({"rehearsal"}),
        persistence_s=60.0,
        once_per_phase=True,
        pacer_breaths_per_min=6.0,
    ),
)


@dataclass(slots=True)
class _RuleState:
    last_end_s: float = -math.inf
    fired_phase: tuple[str | None, float] | None = None
    fired_episode_s: float = math.nan


@dataclass(slots=True)
class _Marker:
    time_s: float
    name: str
    used: bool = False


@dataclass(slots=True)
class _Eval:
    onset_s: float = -math.inf
    episode_s: float = -math.inf
    parts: list[str] = field(default_factory=list)
    values: list[tuple[str, float]] = field(default_factory=list)
    marker: _Marker | None = None


class CueEngine:
    """Evaluates the cue table on each update; at most one cue is showing at a time.

    Parameters
    ----------
    rules : sequence of CueRule
        The table, in priority order (default :data:`DEFAULT_CUE_RULES`).
    marker_window_s : float
        How long a therapist marker stays able to prompt a cue, s (default 60 s).
    expire_after_s : float
        A cue nobody answers is withdrawn after this long, s (default 90 s), so that a stale
        suggestion does not block the next one.
    rising_z_per_min : float
        Patient trend (index units per minute) counted as "rising" (default 0.5: half a baseline
        SD per minute).
    min_gap_s : float
        Shortest time from the end of one cue (answered or expired) to the next cue of any
        rule, s (default :data:`MIN_GAP_S`, 3 min).
    session_start_s : float or None
        Session start on the clock of ``time_s``; reasons give times from it (``12:05``). None:
        the start of the phase at the first :meth:`evaluate` (the first phase starts with the
        session).

    Notes
    -----
    A rule fires at time :math:`t` when all its conditions hold, the time they have held together
    :math:`t - \\max(\\text{onsets})` is at least ``persistence_s``, no cue is showing, the
    rule's refractory period since its last cue ended has passed, and (for ``once_per_phase``)
    it has not fired in this phase, and ``min_gap_s`` has passed since the last cue of any
    rule ended. A rule fires once per episode (see :class:`CueRule`). Onsets: the phase start,
    the onset of the patient's or therapist's state (as reported by
    :class:`hrv.arousal.ArousalTracker`, which already dates a band from the moment its
    persistence began), the start of the current rising run, the time
    the signal became confident, the marker time.

    Examples
    --------
    >>> eng = CueEngine()
    >>> eng.active is None
    True
    """

    def __init__(
        self,
        rules: tuple[CueRule, ...] | list[CueRule] = DEFAULT_CUE_RULES,
        *,
        marker_window_s: float = 60.0,
        expire_after_s: float = 90.0,
        rising_z_per_min: float = 0.5,
        min_gap_s: float = MIN_GAP_S,
        session_start_s: float | None = None,
    ) -> None:
        ids = [r.id for r in rules]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise CueError(f"cue rule ids must be unique, repeated: {dup}")
        for name, value in (
            ("marker_window_s", marker_window_s),
            ("expire_after_s", expire_after_s),
        ):
            if not (math.isfinite(value) and value > 0.0):
                raise CueError(f"{name} must be a positive number of seconds, got {value!r}")
        if not (math.isfinite(min_gap_s) and min_gap_s >= 0.0):
            raise CueError(f"min_gap_s must be >= 0 s, got {min_gap_s!r}")
        self.rules = tuple(rules)
        self.marker_window_s = float(marker_window_s)
        self.expire_after_s = float(expire_after_s)
        self.rising_z_per_min = float(rising_z_per_min)
        self.min_gap_s = float(min_gap_s)
        self.session_start_s = None if session_start_s is None else float(session_start_s)
        self._last_end_s = -math.inf
        self._state = {r.id: _RuleState() for r in self.rules}
        self._markers: list[_Marker] = []
        self._active: Cue | None = None
        self._events: list[CueEvent] = []
        self._n = 0
        self._t_last = -math.inf
        self._patient_ok_since: float | None = None
        self._therapist_ok_since: float | None = None
        self._rising_since: float | None = None

    @property
    def active(self) -> Cue | None:
        """The cue showing now, if any."""
        return self._active

    @property
    def events(self) -> tuple[CueEvent, ...]:
        """Every cue and resolution so far, in order."""
        return tuple(self._events)

    def _check_time(self, t: float) -> None:
        if not math.isfinite(t):
            raise CueError(f"time must be a finite number of seconds, got {t!r}")
        if t < self._t_last:
            raise CueError(f"time must not run backwards: got {t} s after {self._t_last} s")
        self._t_last = t

    def _clock(self, t: float) -> str:
        """Session-relative time ``m:ss`` of ``t``."""
        start = 0.0 if self.session_start_s is None else self.session_start_s
        m, sec = divmod(max(round(t - start), 0), 60)
        return f"{m:d}:{sec:02d}"

    def mark(self, time_s: float, marker: str) -> None:
        """Record a therapist marker (e.g. ``"silence"``); markers no rule uses are ignored.

        The name is normalised (lower case; spaces and hyphens become underscores), so
        ``"Sudden sleepiness"`` and ``"sudden_sleepiness"`` are the same marker.
        """
        self._check_time(time_s)
        if self.session_start_s is None:
            self.session_start_s = float(time_s)
        name = re.sub(r"[\s\-]+", "_", marker.strip().lower())
        if any(name in r.markers for r in self.rules):
            self._markers.append(_Marker(float(time_s), name))

    def acknowledge(self, time_s: float, cue_id: str) -> CueResolved:
        """The therapist took up the cue."""
        return self._resolve(time_s, cue_id, "acknowledged")

    def dismiss(self, time_s: float, cue_id: str) -> CueResolved:
        """The therapist dismissed the cue."""
        return self._resolve(time_s, cue_id, "dismissed")

    def _resolve(self, time_s: float, cue_id: str, how: CueResolution) -> CueResolved:
        self._check_time(time_s)
        cue = self._active
        if cue is None or cue.cue_id != cue_id:
            showing = None if cue is None else cue.cue_id
            raise CueError(f"no cue {cue_id!r} is showing (showing: {showing!r})")
        return self._end(float(time_s), how)

    def _end(self, t: float, how: CueResolution) -> CueResolved:
        cue = self._active
        assert cue is not None
        event = CueResolved(cue.cue_id, cue.rule_id, t, how, cue.time_s)
        self._state[cue.rule_id].last_end_s = t
        self._last_end_s = t
        self._active = None
        self._events.append(event)
        return event

    def evaluate(
        self,
        time_s: float,
        *,
        phase_id: str | None,
        phase_since_s: float,
        patient: ParticipantView | None,
        therapist: ParticipantView | None = None,
        coherence: float | None = None,
        breathing_rate_per_min: float | None = None,
    ) -> list[CueEvent]:
        """Evaluate the table at ``time_s``; return the events this caused (often none).

        Parameters
        ----------
        time_s : float
            Now, s (non-decreasing).
        phase_id : str or None
            Current phase id (from :class:`dashboard.phases.PhaseClock`).
        phase_since_s : float
            When the current phase started, s.
        patient, therapist : ParticipantView or None
            Latest arousal updates (None: not connected, which counts as no signal).
        coherence : float or None
            Patient's latest coherence ratio, shown with a paced-breathing cue.
        breathing_rate_per_min : float or None
            Patient's estimated breathing rate, breaths/min, shown with it too.
        """
        self._check_time(time_s)
        t = float(time_s)
        if self.session_start_s is None:
            # the first phase starts with the session
            since = float(phase_since_s)
            self.session_start_s = min(t, since) if math.isfinite(since) else t
        out: list[CueEvent] = []
        if self._active is not None and t - self._active.time_s >= self.expire_after_s:
            out.append(self._end(self._active.time_s + self.expire_after_s, "expired"))

        self._patient_ok_since = _since(self._patient_ok_since, _ok(patient), t)
        self._therapist_ok_since = _since(self._therapist_ok_since, _ok(therapist), t)
        rising = (
            _ok(patient)
            and patient is not None
            and patient.trend_z_per_min is not None
            and patient.trend_z_per_min >= self.rising_z_per_min
        )
        self._rising_since = _since(self._rising_since, rising, t)
        self._markers = [
            m for m in self._markers if not m.used and t - m.time_s <= self.marker_window_s
        ]
        if self._active is not None or t - self._last_end_s < self.min_gap_s:
            return out

        for rule in self.rules:
            ev = self._check_rule(rule, t, phase_id, phase_since_s, patient, therapist)
            if ev is None:
                continue
            held = t - ev.onset_s
            if held < rule.persistence_s:
                continue
            st = self._state[rule.id]
            if t - st.last_end_s < rule.refractory_s:
                continue
            phase_key = (phase_id, phase_since_s)
            if rule.once_per_phase and st.fired_phase == phase_key:
                continue
            if rule.once_per_episode and st.fired_episode_s == ev.episode_s:
                continue
            out.append(
                self._fire(
                    rule, t, phase_id, phase_key, ev, held, coherence, breathing_rate_per_min
                )
            )
            break
        return out

    def _check_rule(
        self,
        rule: CueRule,
        t: float,
        phase_id: str | None,
        phase_since_s: float,
        patient: ParticipantView | None,
        therapist: ParticipantView | None,
    ) -> _Eval | None:
        ev = _Eval()
        if rule.requires_signal:
            if self._patient_ok_since is None:
                return None
            ev.onset_s = max(ev.onset_s, self._patient_ok_since)
            if rule.therapist:
                if self._therapist_ok_since is None:
                    return None
                ev.onset_s = max(ev.onset_s, self._therapist_ok_since)
        if rule.patient:
            if patient is None or patient.state not in rule.patient:
                return None
            ev.onset_s = max(ev.onset_s, patient.state_since_s)
            ev.episode_s = max(ev.episode_s, patient.state_since_s)
            ev.parts.append(
                f"the patient has been {_STATE_PLAIN[patient.state]} since "
                f"{self._clock(patient.state_since_s)}"
            )
        if rule.therapist:
            if therapist is None or therapist.state not in rule.therapist:
                return None
            ev.onset_s = max(ev.onset_s, therapist.state_since_s)
            ev.episode_s = max(ev.episode_s, therapist.state_since_s)
            ev.parts.append(
                f"you have been {_STATE_PLAIN[therapist.state].replace('their', 'your')} since "
                f"{self._clock(therapist.state_since_s)}"
            )
            ev.values += _values("therapist", therapist)
        if rule.patient_rising:
            if self._rising_since is None or patient is None:
                return None
            ev.onset_s = max(ev.onset_s, self._rising_since)
            ev.parts.append("the patient's activation has been rising since {rising}")
            if patient.trend_z_per_min is not None:
                ev.values.append(("patient_trend_per_min", float(patient.trend_z_per_min)))
        if rule.markers:
            pending = [m for m in self._markers if m.name in rule.markers]
            if not pending:
                return None
            ev.marker = pending[-1]
            ev.onset_s = max(ev.onset_s, ev.marker.time_s)
            ev.episode_s = max(ev.episode_s, ev.marker.time_s)
            label = MARKER_LABELS.get(ev.marker.name, ev.marker.name.replace("_", " "))
            ev.parts.append(f"you marked {label} at {self._clock(ev.marker.time_s)}")
        if rule.phases:
            if phase_id not in rule.phases:
                return None
            ev.onset_s = max(ev.onset_s, phase_since_s)
            ev.episode_s = max(ev.episode_s, phase_since_s)
            if ev.parts:
                ev.parts[-1] += f", in the {_phase_name(phase_id)} phase"
            else:
                ev.parts.append(
                    f"the {_phase_name(phase_id)} phase began at {self._clock(phase_since_s)}"
                )
        if patient is not None:
            ev.values = _values("patient", patient) + ev.values
        if ev.onset_s == -math.inf:
            ev.onset_s = t
        if ev.episode_s == -math.inf:
            ev.episode_s = ev.onset_s
        return ev

    def _fire(
        self,
        rule: CueRule,
        t: float,
        phase_id: str | None,
        phase_key: tuple[str | None, float],
        ev: _Eval,
        held: float,
        coherence: float | None,
        breathing_rate_per_min: float | None,
    ) -> Cue:
        self._n += 1
        values = [*ev.values, ("held_s", held)]
        extra = ""
        if rule.pacer_breaths_per_min is not None:
            if coherence is not None and math.isfinite(coherence):
                values.append(("coherence", float(coherence)))
            if breathing_rate_per_min is not None and math.isfinite(breathing_rate_per_min):
                values.append(("breathing_rate_per_min", float(breathing_rate_per_min)))
                extra = f"; breathing is estimated at about {breathing_rate_per_min:.0f} per minute"
        rising = "" if self._rising_since is None else self._clock(self._rising_since)
        parts = [p.replace("{rising}", rising) for p in ev.parts]
        body = (
            " and ".join(parts)
            if parts
            else f"the conditions of this suggestion held at {self._clock(t)}"
        )
        reason = body[0].upper() + body[1:] + extra + "."
        cue = Cue(
            cue_id=f"{rule.id}-{self._n}",
            rule_id=rule.id,
            time_s=t,
            phase_id=phase_id,
            text=rule.text,
            reason=reason,
            values=tuple(values),
            pacer_breaths_per_min=rule.pacer_breaths_per_min,
        )
        if ev.marker is not None:
            ev.marker.used = True
        st = self._state[rule.id]
        st.fired_phase = phase_key
        st.fired_episode_s = ev.episode_s
        self._active = cue
        self._events.append(cue)
        return cue


def cue_details(rule_id: str, values: tuple[tuple[str, float], ...] | dict[str, float]) -> str:
    """The internals behind a cue, for a researcher's details view (never the cue's reason).

    Parameters
    ----------
    rule_id : str
        The rule that fired.
    values : tuple of (str, float) or dict
        :attr:`dashboard.events.Cue.values` (or the stored dict of them).

    Returns
    -------
    str
        ``"rule map_pacing; patient_index +3.24, patient_confidence 1.00, held_s 45.43"``: the
        arousal indices are baseline-SD units (signed), confidences 0-1, times in s.

    Examples
    --------
    >>> cue_details("map_pacing", (("patient_index", 3.24), ("held_s", 45.43)))
    'rule map_pacing; patient_index +3.24, held_s 45.43'
    """
    items = values.items() if isinstance(values, dict) else values
    numbers = ", ".join(
        f"{k} {v:+.2f}" if "index" in k or "trend" in k else f"{k} {v:.2f}" for k, v in items
    )
    return f"rule {rule_id}; {numbers}" if numbers else f"rule {rule_id}"


def _phase_name(phase_id: str | None) -> str:
    return "current" if phase_id is None else phase_id.replace("_", " ")


def _ok(p: ParticipantView | None) -> bool:
    return p is not None and p.confident and p.state != "uncertain"


def _since(current: float | None, ok: bool, t: float) -> float | None:
    if not ok:
        return None
    return t if current is None else current


def _values(who: str, p: ParticipantView) -> list[tuple[str, float]]:
    out = [(f"{who}_confidence", float(p.confidence))]
    if p.index is not None:
        out.insert(0, (f"{who}_index", float(p.index)))
    return out
