"""Scenario tests: simulator -> streaming HRV -> arousal trackers -> phase clock -> cue engine.

The two-person simulator (:mod:`sensor.simulator`) plays a 60-minute first session with a stress
episode in the mind-body-context map phase (arousal ramps up from minute 10 to 12 and stays high
until minute 22), or a calm session; :class:`hrv.stream.HRVStream` turns the beats into per-beat
HR, ln RMSSD and quality; one :class:`hrv.arousal.ArousalTracker` per person, a
:class:`dashboard.phases.PhaseClock` and a :class:`dashboard.cues.CueEngine` run as the server
will run them: beats in time order, a tick every second so that dropouts are seen, cues evaluated
every second, and a therapist who answers each cue a few seconds after it appears.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest

from dashboard.cues import MIN_GAP_S, OPTION_WORDING, CueEngine
from dashboard.events import (
    Cue,
    CueResolved,
    Event,
    PhaseChange,
    event_from_dict,
    find_forbidden_terms,
)
from dashboard.phases import DEFAULT_FIRST_SESSION, PhaseClock
from hrv.arousal import ArousalStateChange, ArousalTracker, ArousalUpdate
from hrv.stream import HRVStream, StreamConfig, StreamUpdates
from sensor.simulator import ArtifactSpec, Scenario, simulate_session

ROLES = ("patient", "therapist")
MAP_START_S = 600.0
MAP_END_S = 1500.0
#: The simulated therapist takes up a cue this long after it appears, s.
ANSWER_AFTER_S = 5.0


@dataclass
class Run:
    events: list[Event] = field(default_factory=list)
    updates: dict[str, list[ArousalUpdate]] = field(default_factory=dict)

    def cues(self, rule_id: str | None = None) -> list[Cue]:
        return [e for e in self.events if isinstance(e, Cue) and rule_id in (None, e.rule_id)]

    def changes(self, who: str) -> list[ArousalStateChange]:
        return [
            e for e in self.events if isinstance(e, ArousalStateChange) and e.participant == who
        ]


def _stream(role: str, rr_ms: np.ndarray, times_s: np.ndarray) -> StreamUpdates:
    cfg = StreamConfig(coherence_every_s=5.0) if role == "patient" else StreamConfig()
    st = HRVStream(cfg)
    return StreamUpdates.concatenate([st.push(rr_ms, times_s, contact=True), st.flush()])


def drive(
    scenario: Scenario,
    *,
    seed: int,
    until_s: float,
    artifacts: Mapping[str, Sequence[ArtifactSpec]] | None = None,
    answer: str = "acknowledge",
) -> Run:
    sims = simulate_session(scenario, seed=seed, artifacts=artifacts)
    ups = {r: _stream(r, sims[r].rr_ms, sims[r].beat_times_s) for r in ROLES}
    trackers = {r: ArousalTracker(r, session_start_s=0.0) for r in ROLES}
    clock = PhaseClock(DEFAULT_FIRST_SESSION, start_s=0.0)
    run = Run(events=list(clock.events), updates={r: [] for r in ROLES})
    latest: dict[str, ArousalUpdate | None] = dict.fromkeys(ROLES)
    pos = dict.fromkeys(ROLES, 0)
    coherence = math.nan
    breathing = math.nan
    engine = CueEngine(session_start_s=0.0)
    for second in range(1, int(until_s) + 1):
        t = float(second)
        for r in ROLES:
            u = ups[r]
            k = pos[r]
            end = int(np.searchsorted(u.time_s, t, side="right"))
            for i in range(k, end):
                a = trackers[r].update(
                    float(u.time_s[i]),
                    float(u.mean_hr_bpm[i]),
                    float(u.ln_rmssd[i]),
                    float(u.quality[i]),
                    bool(u.valid[i]),
                )
                run.updates[r].append(a)
                latest[r] = a
                if a.change is not None:
                    run.events.append(a.change)
                if r == "patient" and u.coherence_fresh[i]:
                    coherence = float(u.coherence_ratio[i])
                    breathing = float(u.breathing_rate_bpm[i])
            if end == k:  # no beat this second: let the tracker see the silence
                a = trackers[r].tick(t)
                run.updates[r].append(a)
                latest[r] = a
                if a.change is not None:
                    run.events.append(a.change)
            pos[r] = end
        run.events += clock.update(t)
        status = clock.status(t)
        active = engine.active
        if active is not None and t - active.time_s >= ANSWER_AFTER_S:
            respond = engine.dismiss if answer == "dismiss" else engine.acknowledge
            run.events.append(respond(t, active.cue_id))
        run.events += engine.evaluate(
            t,
            phase_id=status.phase_id,
            phase_since_s=status.started_s,
            patient=latest["patient"],
            therapist=latest["therapist"],
            coherence=coherence,
            breathing_rate_per_min=breathing,
        )
    return run


def _above_onset_in_map(run: Run) -> float:
    onsets = [
        c.onset_s
        for c in run.changes("patient")
        if c.to_state == "above" and MAP_START_S <= c.time_s < MAP_END_S
    ]
    assert onsets, "the stress episode should put the patient above usual in the map phase"
    return max(onsets[0], MAP_START_S)


@pytest.fixture(scope="module")
def first_session() -> Run:
    return drive(Scenario.first_session(), seed=1, until_s=3600.0)


def test_stress_in_map_phase_gives_the_pacing_cue_within_its_persistence(
    first_session: Run,
) -> None:
    onset = _above_onset_in_map(first_session)
    pacing = [c for c in first_session.cues("map_pacing") if c.phase_id == "map"]
    assert pacing, "expected the pacing cue during the map phase"
    first = pacing[0]
    # the rule needs 45 s above usual in the map phase; a cue shown before it holds it back
    # until the simulated therapist answers (ANSWER_AFTER_S) and the minimum gap has passed;
    # evaluation is once a second
    earlier = [c for c in first_session.cues() if c.time_s < first.time_s]
    ready = onset + 45.0
    if earlier:
        ready = max(ready, earlier[-1].time_s + ANSWER_AFTER_S + MIN_GAP_S)
    assert onset + 45.0 <= first.time_s <= ready + 1.0
    assert first.text == "Consider slowing the pace or offering a pause"
    assert first.reason.endswith("in the map phase.")
    assert first.value("patient_index") >= 1.0
    # the episode starts at minute 10 (ramp to minute 12): the cue comes within ~5 minutes
    assert MAP_START_S < first.time_s < MAP_START_S + 300.0


def test_first_session_phases_and_other_cues(first_session: Run) -> None:
    phases = [e for e in first_session.events if isinstance(e, PhaseChange)]
    assert [(p.phase_id, p.time_s) for p in phases] == [
        ("welcome", 0.0),
        ("map", 600.0),
        ("goals", 1500.0),
        ("rehearsal", 2400.0),
        ("closing", 3300.0),
    ]
    rehearsal = first_session.cues("rehearsal_breathing")
    assert len(rehearsal) == 1
    assert rehearsal[0].pacer_breaths_per_min == 6.0
    assert math.isfinite(rehearsal[0].value("coherence"))
    # no grounding cue without a therapist marker, whatever the heart rate does
    assert first_session.cues("grounding_checkin") == []
    # every cue was answered and every cue fired in a phase its rule allows
    resolved = {e.cue_id for e in first_session.events if isinstance(e, CueResolved)}
    assert {c.cue_id for c in first_session.cues()} <= resolved
    assert all(c.phase_id == "map" for c in first_session.cues("map_pacing"))


def test_one_cue_at_a_time_in_the_whole_session(first_session: Run) -> None:
    showing: str | None = None
    for e in first_session.events:
        if isinstance(e, Cue):
            assert showing is None
            showing = e.cue_id
        elif isinstance(e, CueResolved):
            assert e.cue_id == showing
            showing = None


@pytest.mark.parametrize("seed", [3, 4])
def test_calm_session_gives_no_pacing_cue(seed: int) -> None:
    run = drive(Scenario.calm(1500.0), seed=seed, until_s=1500.0)
    assert run.cues() == []
    states = [u.state for u in run.updates["patient"] if u.time_s > 200.0]
    assert states.count("within") / len(states) > 0.9


def test_artifacts_and_dropouts_lower_confidence_and_suppress_cues() -> None:
    # the strap slips repeatedly during the stress episode: a 20 s dropout followed by a run of
    # spurious detections, several times, then the signal is clean again from 900 s
    bursts = [640.0, 700.0, 760.0, 820.0]
    specs: list[ArtifactSpec] = []
    for b in bursts:
        specs.append(ArtifactSpec("dropout", b, duration_s=20.0))
        specs += [ArtifactSpec("extra", b + 22.0 + 3.0 * j) for j in range(12)]
    run = drive(
        Scenario.first_session(),
        seed=1,
        until_s=1300.0,
        artifacts={"patient": specs},
    )
    pu = run.updates["patient"]
    in_dropout = [u for u in pu if any(b + 8.0 <= u.time_s < b + 20.0 for b in bursts)]
    assert in_dropout
    assert all(u.state == "uncertain" and u.confidence < 0.6 for u in in_dropout)
    clean_map = [u for u in pu if 400.0 <= u.time_s < 600.0]
    assert min(u.confidence for u in clean_map) > 0.9
    # between bursts the confidence does not climb back to 0.75, so the whole slipping period
    # reads "uncertain", never a band
    slipping = [u for u in pu if bursts[0] + 10.0 <= u.time_s < bursts[-1] + 40.0]
    assert all(u.state == "uncertain" for u in slipping)
    lost = [c for c in run.changes("patient") if c.reason == "confidence_lost"]
    regained = [c for c in run.changes("patient") if c.reason == "confidence_regained"]
    assert lost[0].time_s < bursts[0] + 10.0
    assert regained
    assert regained[0].time_s > bursts[-1] + 40.0
    # no cue while the patient signal was poor ...
    for cue in run.cues():
        now = max((u for u in pu if u.time_s <= cue.time_s), key=lambda u: u.time_s)
        assert now.confident
        assert now.state != "uncertain"
    # ... and the pacing cue waits until the patient has been above usual on a good signal for
    # 45 s: persistence restarts when the signal comes back
    pacing = run.cues("map_pacing")
    assert pacing
    assert pacing[0].time_s >= regained[0].time_s + 45.0
    assert pacing[0].value("held_s") >= 45.0


def test_no_clinical_label_anywhere_in_a_session(first_session: Run) -> None:
    for e in first_session.events:
        assert find_forbidden_terms(repr(e.to_dict())) == []
        assert event_from_dict(e.to_dict()) == e  # what is stored can be replayed
    for r in ROLES:
        assert {u.state for u in first_session.updates[r]} <= {
            "calibrating",
            "uncertain",
            "above",
            "within",
            "below",
        }


# ------------------------------------------------------------ quiet cues (issue 13, item 4)


def drive_dismissing(seed: int) -> Run:
    """A first session whose therapist dismisses every cue 5 s after it appears."""
    return drive(Scenario.first_session(), seed=seed, until_s=3600.0, answer="dismiss")


@pytest.mark.parametrize("seed", [1, 2, 3, 5])
def test_cue_count_and_spacing_over_a_simulated_60_minute_session(seed: int) -> None:
    # Before: 4-5 cues per session (seed 2: map_pacing, then therapist_breathing three times,
    # the second 14 s after the first), two cues 0 s apart at seed 1. Measured after: 3 cues
    # per session (one per rule that applies), >= 180 s apart.
    run = drive_dismissing(seed)
    cues = run.cues()
    ends = {e.cue_id: e.time_s for e in run.events if isinstance(e, CueResolved)}
    # one cue per episode of every rule: the session has one stress episode (map phase) and one
    # rehearsal phase, so no rule fires twice
    rules = [c.rule_id for c in cues]
    assert len(rules) == len(set(rules)), rules
    assert 1 <= len(cues) <= 4
    assert "map_pacing" in rules or "therapist_breathing" in rules
    in_map = [c for c in cues if MAP_START_S <= c.time_s < MAP_END_S]
    assert len(in_map) <= 2
    # a minimum gap between any two cues, from the end of one to the next
    for a, b in itertools.pairwise(cues):
        assert b.time_s - ends[a.cue_id] >= MIN_GAP_S
    for c in cues:
        # worded as an option, reason one plain sentence with session-relative times
        assert OPTION_WORDING.match(c.text), c.text
        assert c.reason.endswith("."), c.reason
        assert c.reason.count(".") == 1, c.reason
        assert "_" not in c.reason, c.reason
        assert "rule" not in c.reason, c.reason
        for clock in re.findall(r"\b(\d+):(\d\d)\b", c.reason):
            assert 0 <= int(clock[0]) * 60 + int(clock[1]) <= c.time_s + 1.0
