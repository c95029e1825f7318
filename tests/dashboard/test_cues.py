"""Tests of the cue table and engine (dashboard.cues)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pytest

from dashboard.cues import (
    DEFAULT_CUE_RULES,
    GROUNDING_MARKERS,
    MIN_GAP_S,
    OPTION_WORDING,
    CueEngine,
    CueError,
    CueRule,
    cue_details,
)
from dashboard.events import (
    FORBIDDEN_TERMS,
    Cue,
    CueResolved,
    EventError,
    event_from_dict,
    find_forbidden_terms,
)


@dataclass(frozen=True)
class P:
    """A participant view as the arousal tracker would report it."""

    state: str = "within"
    state_since_s: float = 0.0
    index: float | None = 0.0
    confidence: float = 0.95
    confident: bool = True
    trend_z_per_min: float | None = 0.0


CALM = P()
MAP_START = 600.0


def run(
    eng: CueEngine,
    t0: float,
    t1: float,
    phase: str,
    phase_since: float,
    patient: P | None,
    therapist: P | None = None,
    step: float = 1.0,
    **kw: float,
) -> list[Cue | CueResolved]:
    out: list[Cue | CueResolved] = []
    t = t0
    while t <= t1 + 1e-9:
        out += eng.evaluate(
            t,
            phase_id=phase,
            phase_since_s=phase_since,
            patient=patient,
            therapist=therapist,
            **kw,
        )
        t += step
    return out


def shown(events: list[Cue | CueResolved]) -> list[Cue]:
    return [e for e in events if isinstance(e, Cue)]


def test_map_pacing_fires_after_45_s_above_in_the_map_phase() -> None:
    eng = CueEngine(session_start_s=0.0)
    above = P(state="above", state_since_s=700.0, index=1.4)
    evs = run(eng, 700.0, 744.0, "map", MAP_START, above)
    assert evs == []
    evs = run(eng, 745.0, 760.0, "map", MAP_START, above)
    cues = shown(evs)
    assert len(cues) == 1
    cue = cues[0]
    assert (cue.rule_id, cue.time_s, cue.phase_id) == ("map_pacing", 745.0, "map")
    assert cue.text == "Consider slowing the pace or offering a pause"
    # one plain sentence, session-relative time, no internals (they go to the details view)
    assert (
        cue.reason
        == "The patient has been above their usual activation since 11:40, in the map phase."
    )
    assert cue_details(cue.rule_id, cue.values) == (
        "rule map_pacing; patient_index +1.40, patient_confidence 0.95, held_s 45.00"
    )
    assert cue.value("held_s") == 45.0
    assert cue.value("patient_confidence") == 0.95
    assert eng.active == cue


def test_held_time_counts_from_the_later_of_phase_start_and_state_onset() -> None:
    eng = CueEngine()
    above = P(state="above", state_since_s=300.0)  # above since the welcome phase
    assert run(eng, 600.0, 644.0, "map", MAP_START, above) == []
    assert shown(run(eng, 645.0, 645.0, "map", MAP_START, above))[0].value("held_s") == 45.0


def test_no_cue_in_a_calm_session_or_outside_the_rule_phase() -> None:
    eng = CueEngine()
    assert shown(run(eng, 0.0, 3000.0, "map", 0.0, CALM, CALM, step=5.0)) == []
    above = P(state="above", state_since_s=0.0)
    eng2 = CueEngine()
    assert shown(run(eng2, 0.0, 600.0, "goals", 0.0, above, step=5.0)) == []


def test_one_cue_at_a_time_then_the_next() -> None:
    eng = CueEngine(expire_after_s=1000.0, session_start_s=0.0)
    patient = P(state="above", state_since_s=600.0, trend_z_per_min=1.0)
    therapist = P(state="above", state_since_s=600.0)
    cues = shown(run(eng, 600.0, 700.0, "map", MAP_START, patient, therapist))
    # therapist_breathing (persistence 20 s) is first, map_pacing waits while it shows
    assert [c.rule_id for c in cues] == ["therapist_breathing"]
    assert cues[0].time_s == 620.0
    assert cues[0].reason == (
        "You have been above your usual activation since 10:00 and the patient's activation "
        "has been rising since 10:00."
    )
    assert cues[0].text == "You could take a slower breath yourself before going on"
    eng.acknowledge(701.0, cues[0].cue_id)
    # map_pacing's condition has long held, but no cue comes within MIN_GAP_S of the last one
    assert (
        shown(run(eng, 701.0, 701.0 + MIN_GAP_S - 1.0, "map", MAP_START, patient, therapist)) == []
    )
    nxt = shown(
        run(eng, 701.0 + MIN_GAP_S, 705.0 + MIN_GAP_S, "map", MAP_START, patient, therapist)
    )
    assert [(c.rule_id, c.time_s) for c in nxt] == [("map_pacing", 701.0 + MIN_GAP_S)]


def test_refractory_period_per_rule() -> None:
    # a pacing rule that may repeat within one episode: only the refractory period holds it back
    repeating = replace(DEFAULT_CUE_RULES[2], once_per_episode=False)
    eng = CueEngine(rules=(repeating,), min_gap_s=0.0)
    above = P(state="above", state_since_s=600.0)
    first = shown(run(eng, 600.0, 650.0, "map", MAP_START, above))[0]
    res = eng.dismiss(660.0, first.cue_id)
    assert (res.resolution, res.shown_s, res.rule_id) == ("dismissed", 645.0, "map_pacing")
    assert shown(run(eng, 660.0, 779.0, "map", MAP_START, above)) == []
    again = shown(run(eng, 780.0, 781.0, "map", MAP_START, above))
    assert [c.time_s for c in again] == [780.0]  # 120 s after the dismissal
    assert again[0].cue_id != first.cue_id


def test_default_pacing_cue_is_not_repeated_within_one_episode() -> None:
    eng = CueEngine()
    above = P(state="above", state_since_s=600.0)
    cues = shown(run(eng, 600.0, 1500.0, "map", MAP_START, above, step=5.0))
    assert [c.rule_id for c in cues] == ["map_pacing"]


def test_once_per_episode_waits_for_a_new_onset() -> None:
    rule = replace(DEFAULT_CUE_RULES[2], once_per_episode=True)
    assert rule.id == "map_pacing"
    eng = CueEngine(rules=(rule,))
    above = P(state="above", state_since_s=600.0)
    first = shown(run(eng, 600.0, 650.0, "map", MAP_START, above))[0]
    eng.dismiss(660.0, first.cue_id)
    assert shown(run(eng, 660.0, 1200.0, "map", MAP_START, above)) == []  # same episode
    again = P(state="above", state_since_s=1300.0)  # the patient settled, then rose again
    cues = shown(run(eng, 1300.0, 1400.0, "map", MAP_START, again))
    assert [c.time_s for c in cues] == [1345.0]


def test_unanswered_cue_expires() -> None:
    eng = CueEngine(expire_after_s=90.0)
    above = P(state="above", state_since_s=600.0)
    evs = run(eng, 600.0, 740.0, "map", MAP_START, above)
    resolved = [e for e in evs if isinstance(e, CueResolved)]
    assert [(r.resolution, r.time_s) for r in resolved] == [("expired", 735.0)]
    assert eng.active is None


def test_no_cue_while_signal_is_poor_and_persistence_restarts() -> None:
    eng = CueEngine()
    poor = P(state="uncertain", state_since_s=600.0, confident=False, confidence=0.3)
    assert run(eng, 600.0, 900.0, "map", MAP_START, poor) == []
    # the tracker regained confidence at 900 s with the band "above" dated from then
    back = P(state="above", state_since_s=900.0)
    assert run(eng, 900.0, 944.0, "map", MAP_START, back) == []
    assert shown(run(eng, 945.0, 945.0, "map", MAP_START, back))[0].time_s == 945.0
    # a band reported with low confidence does not count either
    eng2 = CueEngine()
    shaky = P(state="above", state_since_s=0.0, confident=False)
    assert run(eng2, 600.0, 900.0, "map", MAP_START, shaky) == []
    assert run(CueEngine(), 600.0, 900.0, "map", MAP_START, None) == []


def test_grounding_only_from_a_therapist_marker() -> None:
    low = P(state="below", state_since_s=0.0, index=-1.8, trend_z_per_min=-1.0)
    # a long period below the usual range never prompts grounding by itself, in any phase
    for phase in ("welcome", "map", "goals", "rehearsal", "closing"):
        evs = run(CueEngine(), 0.0, 3000.0, phase, 0.0, low, low, step=10.0)
        assert all(c.rule_id == "rehearsal_breathing" for c in shown(evs))
    eng = CueEngine(session_start_s=0.0)
    eng.mark(800.0, "Looking away")  # normalised to "looking_away"
    cue = shown(run(eng, 801.0, 801.0, "map", MAP_START, CALM))[0]
    assert cue.rule_id == "grounding_checkin"
    assert cue.text == "Consider a grounding check-in (feet on the floor, name what you see)"
    assert cue.reason == "You marked looking away at 13:20."
    eng.acknowledge(802.0, cue.cue_id)
    # the marker is used up: no second grounding cue from it
    assert shown(run(eng, 1000.0, 1100.0, "map", MAP_START, CALM)) == []


def test_grounding_marker_window_quality_and_unknown_markers() -> None:
    eng = CueEngine(marker_window_s=60.0)
    poor = P(state="uncertain", confident=False)
    eng.mark(100.0, "silence")
    assert run(eng, 100.0, 150.0, "welcome", 0.0, poor) == []  # no cue on a poor signal
    assert run(eng, 170.0, 200.0, "welcome", 0.0, CALM) == []  # marker older than 60 s
    eng.mark(300.0, "free_note")  # not a grounding marker
    eng.mark(300.0, "rupture")
    assert run(eng, 300.0, 400.0, "welcome", 0.0, CALM) == []
    assert {"silence", "sudden_sleepiness", "looking_away"} == GROUNDING_MARKERS


def test_rehearsal_offers_paced_breathing_once_with_coherence() -> None:
    eng = CueEngine(session_start_s=0.0)
    start = 2400.0
    assert run(eng, start, start + 59.0, "rehearsal", start, CALM) == []
    evs = run(
        eng,
        start + 60.0,
        start + 900.0,
        "rehearsal",
        start,
        CALM,
        coherence=1.7,
        breathing_rate_per_min=9.5,
    )
    cues = shown(evs)
    assert len(cues) == 1  # once per phase, even after it expires
    cue = cues[0]
    assert (cue.rule_id, cue.time_s, cue.pacer_breaths_per_min) == (
        "rehearsal_breathing",
        start + 60.0,
        6.0,
    )
    assert cue.text == "Consider offering paced breathing (about 6/min)"
    assert cue.value("coherence") == 1.7
    assert cue.value("breathing_rate_per_min") == 9.5
    assert cue.reason == (
        "The rehearsal phase began at 40:00; breathing is estimated at about 10 per minute."
    )


def test_closing_with_patient_still_above() -> None:
    eng = CueEngine()
    above = P(state="above", state_since_s=3000.0)
    cues = shown(run(eng, 3300.0, 3400.0, "closing", 3300.0, above))
    assert [(c.rule_id, c.time_s) for c in cues] == [("closing_settle", 3330.0)]
    assert cues[0].text == "Consider leaving time to settle before ending"
    assert shown(run(CueEngine(), 3300.0, 3400.0, "closing", 3300.0, CALM)) == []


def test_acknowledge_errors() -> None:
    eng = CueEngine()
    with pytest.raises(CueError, match="no cue"):
        eng.acknowledge(1.0, "map_pacing-1")
    above = P(state="above", state_since_s=600.0)
    cue = shown(run(eng, 600.0, 650.0, "map", MAP_START, above))[0]
    with pytest.raises(CueError, match="showing"):
        eng.dismiss(651.0, "other-1")
    eng.acknowledge(652.0, cue.cue_id)
    with pytest.raises(CueError, match="backwards"):
        eng.evaluate(10.0, phase_id="map", phase_since_s=MAP_START, patient=above)


def test_rule_validation_and_roundtrip() -> None:
    for rule in DEFAULT_CUE_RULES:
        assert CueRule.from_dict(rule.to_dict()) == rule
    with pytest.raises(CueError, match="clinical state"):
        CueRule(id="x", text="Patient may be dissociating")
    with pytest.raises(CueError, match="clinical state"):
        CueRule(id="y", text="Check in", markers=frozenset({"dissociation_observed"}))
    with pytest.raises(CueError, match="states must be"):
        CueRule(id="z", text="t", patient=frozenset({"hypoaroused"}))
    with pytest.raises(CueError, match="pacer"):
        CueRule(id="z", text="t", pacer_breaths_per_min=0.0)
    with pytest.raises(CueError, match="unique"):
        CueEngine(rules=(DEFAULT_CUE_RULES[0], DEFAULT_CUE_RULES[0]))
    with pytest.raises(CueError, match="unknown"):
        CueRule.from_dict({"id": "x", "text": "t", "colour": "red"})
    with pytest.raises(CueError, match="positive"):
        CueEngine(expire_after_s=math.nan)


def test_events_roundtrip_and_vocabulary() -> None:
    eng = CueEngine()
    eng.mark(10.0, "sudden_sleepiness")
    run(eng, 10.0, 12.0, "welcome", 0.0, CALM)
    assert eng.active is not None
    eng.dismiss(13.0, eng.active.cue_id)
    above = P(state="above", state_since_s=600.0)
    run(eng, 600.0, 800.0, "map", MAP_START, above)
    assert len(eng.events) >= 4
    for ev in eng.events:
        d = ev.to_dict()
        assert event_from_dict(d) == ev
        assert find_forbidden_terms(repr(d)) == []
    with pytest.raises(EventError, match="unknown event kind"):
        event_from_dict({"kind": "note"})
    with pytest.raises(EventError, match="cannot rebuild"):
        event_from_dict({"kind": "cue", "text": "x"})


def test_default_table_never_names_a_clinical_state() -> None:
    assert FORBIDDEN_TERMS == ("dissociat", "hypoarous")
    for rule in DEFAULT_CUE_RULES:
        for text in (rule.id, rule.text, *rule.markers, *rule.phases):
            assert find_forbidden_terms(text) == []
    assert find_forbidden_terms("Hypoarousal") == ["hypoarous"]


def test_every_default_cue_is_worded_as_an_option() -> None:
    for rule in DEFAULT_CUE_RULES:
        assert OPTION_WORDING.match(rule.text), rule.text
        assert rule.once_per_episode, rule.id


def test_therapist_breathing_once_per_episode_despite_a_flickering_trend() -> None:
    # the patient's trend goes above and below "rising" every 30 s while the therapist stays
    # above usual for 10 minutes: one episode, one cue (before: one every refractory period)
    eng = CueEngine(rules=(DEFAULT_CUE_RULES[1],), min_gap_s=0.0)
    therapist = P(state="above", state_since_s=600.0)
    out: list[Cue | CueResolved] = []
    for t in range(600, 1200):
        trend = 1.0 if (t // 30) % 2 == 0 else 0.0
        out += eng.evaluate(
            float(t),
            phase_id="map",
            phase_since_s=MAP_START,
            patient=P(trend_z_per_min=trend),
            therapist=therapist,
        )
        if eng.active is not None and t - eng.active.time_s >= 5.0:
            out.append(eng.dismiss(float(t), eng.active.cue_id))
    assert len(shown(out)) == 1
