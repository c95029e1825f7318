"""What a person sees: session phases, cue rules and the events they produce.

(Plotly figure builders and the static page come with the dashboard issue.)
"""

from dashboard.cues import DEFAULT_CUE_RULES, CueEngine, CueRule
from dashboard.events import (
    ArousalStateChange,
    Cue,
    CueResolved,
    Event,
    PhaseChange,
    event_from_dict,
    find_forbidden_terms,
)
from dashboard.phases import DEFAULT_FIRST_SESSION, PhaseClock, PhaseSpec, PhaseTemplate

__all__ = [
    "DEFAULT_CUE_RULES",
    "DEFAULT_FIRST_SESSION",
    "ArousalStateChange",
    "Cue",
    "CueEngine",
    "CueResolved",
    "CueRule",
    "Event",
    "PhaseChange",
    "PhaseClock",
    "PhaseSpec",
    "PhaseTemplate",
    "event_from_dict",
    "find_forbidden_terms",
]
