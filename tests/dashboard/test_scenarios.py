"""Scenario tests: simulator -> the live session the server runs -> phases, cues, arousal.

The two-person simulator (:mod:`sensor.simulator`) plays a 60-minute first session with a stress
episode in the mind-body-context map phase (arousal ramps up from minute 10 to 12 and stays high
until minute 22), or a calm session. The beats go, once a simulated second, through the server's
own live path without its I/O: the shared engine (:class:`server.live.compute.LiveCompute`) and
the session's rules (:class:`server.live.session.LiveSession`: arousal trackers, phase clock, cue
engine, coherence while the pacer shows or in the rehearsal phase), driven by
:class:`tests.support.live_session.SessionDriver` on a fake clock, with a tick every second and
a therapist who answers each cue a few seconds after it appears (an acknowledged pacing cue turns
the pacer on, as on the live page). The assertions read the messages the pages would receive;
the arousal updates are read from the session's own trackers (recorded as they are made).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from dashboard.cues import MIN_GAP_S, OPTION_WORDING
from dashboard.events import event_from_dict, find_forbidden_terms
from hrv.arousal import ArousalStateChange, ArousalTracker, ArousalUpdate
from sensor.simulator import ArtifactSpec, Scenario, simulate_session
from server.messages import CueMessage, CueResolvedMessage, PhaseMessage, parse_message
from tests.support.live_session import SessionDriver, person

ROLES = ("patient", "therapist")
PIDS = {"patient": 1, "therapist": 2}
MAP_START_S = 600.0
MAP_END_S = 1500.0
#: The simulated therapist takes up a cue this long after it appears, s.
ANSWER_AFTER_S = 5.0


class RecordingTracker(ArousalTracker):
    """The session's own arousal tracker, keeping every update it makes (observation only)."""

    def __init__(self, participant: str, *, session_start_s: float) -> None:
        super().__init__(participant, session_start_s=session_start_s)
        self.made: list[ArousalUpdate] = []

    def update(self, *args: Any, **kwargs: Any) -> ArousalUpdate:
        u = super().update(*args, **kwargs)
        self.made.append(u)
        return u

    def tick(self, *args: Any, **kwargs: Any) -> ArousalUpdate:
        u = super().tick(*args, **kwargs)
        self.made.append(u)
        return u


@dataclass
class Run:
    messages: list[Any] = field(default_factory=list)
    updates: dict[str, list[ArousalUpdate]] = field(default_factory=dict)

    def cues(self, rule_id: str | None = None) -> list[CueMessage]:
        return [
            m for m in self.messages if isinstance(m, CueMessage) and rule_id in (None, m.rule_id)
        ]

    def resolutions(self) -> list[CueResolvedMessage]:
        return [m for m in self.messages if isinstance(m, CueResolvedMessage)]

    def phases(self) -> list[PhaseMessage]:
        return [m for m in self.messages if isinstance(m, PhaseMessage)]

    def changes(self, who: str) -> list[ArousalStateChange]:
        return [u.change for u in self.updates[who] if u.change is not None]


def drive(
    scenario: Scenario,
    *,
    seed: int,
    until_s: float,
    artifacts: Mapping[str, Sequence[ArtifactSpec]] | None = None,
    answer: str = "acknowledged",
) -> Run:
    sims = simulate_session(scenario, seed=seed, artifacts=artifacts)
    # (no synchrony consent: the co-regulation reading is not what these scenarios look at)
    driver = SessionDriver([person(PIDS[r], r, r) for r in ROLES])
    trackers = {}
    for r in ROLES:
        p = driver.participant(r)
        p.tracker = trackers[r] = RecordingTracker(r, session_start_s=0.0)
    pos = dict.fromkeys(ROLES, 0)
    for second in range(1, int(until_s) + 1):
        t = float(second)
        driver.clock.t = t
        batches = {}
        for r in ROLES:
            times = sims[r].beat_times_s
            end = int(np.searchsorted(times, t, side="right"))
            batches[r] = (sims[r].rr_ms[pos[r] : end], times[pos[r] : end])
            pos[r] = end
        driver.feed_round(batches)  # one engine push for both, as the hub's compute task does
        active = driver.session.active_cue
        if active is not None and t - active.time_s >= ANSWER_AFTER_S:
            driver.session.respond_to_cue(active.cue_id, answer)  # type: ignore[arg-type]
            driver.carry_out()
        driver.tick(t)
    return Run(messages=driver.messages, updates={r: trackers[r].made for r in ROLES})


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
    assert first.values["patient_index"] >= 1.0
    # the episode starts at minute 10 (ramp to minute 12): the cue comes within ~5 minutes
    assert MAP_START_S < first.time_s < MAP_START_S + 300.0


def test_first_session_phases_and_other_cues(first_session: Run) -> None:
    phases = first_session.phases()
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
    assert math.isfinite(rehearsal[0].values["coherence"])
    # no grounding cue without a therapist marker, whatever the heart rate does
    assert first_session.cues("grounding_checkin") == []
    # every cue was answered and every cue fired in a phase its rule allows
    resolved = {e.cue_id for e in first_session.resolutions()}
    assert {c.cue_id for c in first_session.cues()} <= resolved
    assert all(c.phase_id == "map" for c in first_session.cues("map_pacing"))


def test_one_cue_at_a_time_in_the_whole_session(first_session: Run) -> None:
    showing: int | None = None
    for e in first_session.messages:
        if isinstance(e, CueMessage):
            assert showing is None
            showing = e.cue_id
        elif isinstance(e, CueResolvedMessage):
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
    assert pacing[0].values["held_s"] >= 45.0


def test_no_clinical_label_anywhere_in_a_session(first_session: Run) -> None:
    for m in first_session.messages:
        text = m.model_dump_json()
        assert find_forbidden_terms(text) == []
        assert parse_message(text) == m  # what the pages get parses back
    for r in ROLES:
        for c in first_session.changes(r):
            assert find_forbidden_terms(repr(c.to_dict())) == []
            assert event_from_dict(c.to_dict()) == c
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
    return drive(Scenario.first_session(), seed=seed, until_s=3600.0, answer="dismissed")


@pytest.mark.parametrize("seed", [1, 2, 3, 5])
def test_cue_count_and_spacing_over_a_simulated_60_minute_session(seed: int) -> None:
    # Before: 4-5 cues per session (seed 2: map_pacing, then therapist_breathing three times,
    # the second 14 s after the first), two cues 0 s apart at seed 1. Measured after: 3 cues
    # per session (one per rule that applies), >= 180 s apart.
    run = drive_dismissing(seed)
    cues = run.cues()
    ends = {e.cue_id: e.time_s for e in run.resolutions()}
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
