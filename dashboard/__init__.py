"""What a person sees: session phases, cue rules, events, figures, the review and its report."""

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
from dashboard.figures import session_figure
from dashboard.phases import DEFAULT_FIRST_SESSION, PhaseClock, PhaseSpec, PhaseTemplate
from dashboard.report import render_report
from dashboard.review import SessionReview, review_session

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
    "SessionReview",
    "event_from_dict",
    "find_forbidden_terms",
    "render_report",
    "review_session",
    "session_figure",
]
