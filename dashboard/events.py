"""Timestamped session events: phase changes, cues and their resolution, arousal state changes.

Every event is a small frozen dataclass with a ``kind`` and a ``to_dict()`` giving plain JSON-able
values, so the server can store it and the review page can replay it; :func:`event_from_dict`
turns a stored dict back into the same event. Arousal state changes are defined next to the maths
(:class:`hrv.arousal.ArousalStateChange`, since ``hrv/`` must not import ``dashboard/``) and are
re-exported here so that one module names every event a session produces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Final, Literal

from hrv.arousal import ArousalStateChange
from hrv.errors import SintoniaError

__all__ = [
    "FORBIDDEN_TERMS",
    "ArousalStateChange",
    "Cue",
    "CueResolution",
    "CueResolved",
    "Event",
    "EventError",
    "PhaseChange",
    "PhaseChangeReason",
    "event_from_dict",
    "find_forbidden_terms",
]

PhaseChangeReason = Literal["start", "clock", "advance", "extend"]
CueResolution = Literal["acknowledged", "dismissed", "expired"]

#: Word stems that must never appear in anything shown or stored by the cue and arousal code:
#: heart-rate data cannot detect these clinical states (Sack, Cillien & Hopper 2012), so the
#: software never names them. Checked by :func:`find_forbidden_terms` and the tests.
FORBIDDEN_TERMS: Final[tuple[str, ...]] = ("dissociat", "hypoarous")


class EventError(SintoniaError, ValueError):
    """A stored event dict that cannot be turned back into an event."""


def find_forbidden_terms(text: str) -> list[str]:
    """Return the :data:`FORBIDDEN_TERMS` found in ``text`` (case-insensitive).

    Examples
    --------
    >>> find_forbidden_terms("Consider slowing the pace")
    []
    """
    low = text.lower()
    return [term for term in FORBIDDEN_TERMS if term in low]


@dataclass(frozen=True, slots=True)
class PhaseChange:
    """The session moved to a phase, or the current phase was extended.

    Attributes
    ----------
    time_s : float
        When, s. For a change driven by the clock, the scheduled time (not when it was noticed).
    phase_id : str
        Phase now running (stable id, e.g. ``"map"``).
    label : str
        Its human label.
    previous_id : str or None
        Phase before (None at the start; equal to ``phase_id`` for an extension).
    reason : str
        ``"start"``, ``"clock"`` (planned end reached), ``"advance"`` (therapist moved on) or
        ``"extend"`` (therapist gave the current phase more time).
    planned_end_s : float
        When the phase is now due to end, s.
    extended_by_s : float
        For ``"extend"``: the time added, s; otherwise 0.
    kind : str
        Always ``"phase"``.
    """

    time_s: float
    phase_id: str
    label: str
    previous_id: str | None
    reason: PhaseChangeReason
    planned_end_s: float
    extended_by_s: float = 0.0
    kind: Literal["phase"] = field(default="phase", init=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for storage and JSON."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class Cue:
    """A quiet suggestion shown to the therapist, with the reason it was offered.

    Attributes
    ----------
    cue_id : str
        Unique within the session (``"<rule id>-<n>"``).
    rule_id : str
        The rule that fired.
    time_s : float
        When it was shown, s.
    phase_id : str or None
        Phase at that time.
    text : str
        The suggestion, worded as an option for the therapist.
    reason : str
        Why, as one plain sentence with session-relative times, e.g. ``"The patient has been
        above their usual activation since 11:40, in the map phase."`` (the numbers are in
        :attr:`values`; :func:`dashboard.cues.cue_details` formats them for researchers).
    values : tuple of (str, float)
        The numbers behind the reason (index, confidence, seconds held, coherence...).
    pacer_breaths_per_min : float or None
        Breathing pace to show with a pacer, breaths/min, if the cue offers paced breathing.
    kind : str
        Always ``"cue"``.
    """

    cue_id: str
    rule_id: str
    time_s: float
    phase_id: str | None
    text: str
    reason: str
    values: tuple[tuple[str, float], ...] = ()
    pacer_breaths_per_min: float | None = None
    kind: Literal["cue"] = field(default="cue", init=False)

    def value(self, name: str) -> float:
        """One of :attr:`values` by name (NaN if absent)."""
        for key, val in self.values:
            if key == name:
                return val
        return math.nan

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for storage and JSON (``values`` becomes a dict)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["values"] = dict(self.values)
        return out


@dataclass(frozen=True, slots=True)
class CueResolved:
    """The therapist acknowledged or dismissed a cue, or it expired unanswered.

    Attributes
    ----------
    cue_id, rule_id : str
        Which cue.
    time_s : float
        When, s.
    resolution : str
        ``"acknowledged"`` (taken up), ``"dismissed"`` or ``"expired"``.
    shown_s : float
        When the cue had been shown, s.
    kind : str
        Always ``"cue_resolved"``.
    """

    cue_id: str
    rule_id: str
    time_s: float
    resolution: CueResolution
    shown_s: float
    kind: Literal["cue_resolved"] = field(default="cue_resolved", init=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for storage and JSON."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


Event = PhaseChange | Cue | CueResolved | ArousalStateChange

_KINDS: Final[dict[str, type[PhaseChange | Cue | CueResolved | ArousalStateChange]]] = {
    "phase": PhaseChange,
    "cue": Cue,
    "cue_resolved": CueResolved,
    "arousal_state": ArousalStateChange,
}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from its ``to_dict()`` form.

    Raises
    ------
    EventError
        If ``kind`` is unknown or the fields do not match.

    Examples
    --------
    >>> ev = CueResolved("map_pacing-1", "map_pacing", 700.0, "dismissed", 650.0)
    >>> event_from_dict(ev.to_dict()) == ev
    True
    """
    kind = data.get("kind")
    cls = _KINDS.get(str(kind))
    if cls is None:
        raise EventError(f"unknown event kind {kind!r}; expected one of {sorted(_KINDS)}")
    kwargs = {k: v for k, v in data.items() if k != "kind"}
    if cls is Cue and isinstance(kwargs.get("values"), dict):
        kwargs["values"] = tuple((str(k), float(v)) for k, v in kwargs["values"].items())
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise EventError(f"cannot rebuild a {kind!r} event from {sorted(data)}: {exc}") from exc
