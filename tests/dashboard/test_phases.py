"""Tests of the session phase template and the running phase clock (dashboard.phases)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.events import PhaseChange, event_from_dict, find_forbidden_terms
from dashboard.phases import (
    DEFAULT_FIRST_SESSION,
    PhaseClock,
    PhaseError,
    PhaseSpec,
    PhaseTemplate,
)

MIN = 60.0


def test_default_first_session_matches_the_design() -> None:
    t = DEFAULT_FIRST_SESSION
    assert [p.id for p in t.phases] == ["welcome", "map", "goals", "rehearsal", "closing"]
    starts = [s / MIN for s in t.planned_starts_s()]
    ends = [(s + p.duration_s) / MIN for s, p in zip(t.planned_starts_s(), t.phases, strict=True)]
    assert starts == [0, 10, 25, 40, 55]
    assert ends == [10, 25, 40, 55, 60]
    assert t.total_s == 60 * MIN
    for p in t.phases:
        assert find_forbidden_terms(p.label) == []


def test_template_roundtrip_and_edit() -> None:
    d = DEFAULT_FIRST_SESSION.to_dict()
    assert d["phases"][1] == {"id": "map", "label": "Mind-body-context map", "minutes": 15.0}
    assert PhaseTemplate.from_dict(d) == DEFAULT_FIRST_SESSION
    edited = DEFAULT_FIRST_SESSION.edited("map", duration_s=20 * MIN, label="Map")
    assert edited.phases[1] == PhaseSpec("map", "Map", 20 * MIN)
    assert edited.total_s == 65 * MIN
    assert DEFAULT_FIRST_SESSION.phases[1].duration_s == 15 * MIN  # original untouched


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"name": "x", "phases": []}, "no phases"),
        ({"name": "x", "phases": [{"id": "a", "label": "A", "minutes": 0}]}, "positive"),
        ({"name": "x", "phases": [{"id": "A b", "label": "A", "minutes": 5}]}, "must match"),
        ({"name": "x", "phases": [{"id": "a", "label": " ", "minutes": 5}]}, "label"),
        (
            {
                "name": "x",
                "phases": [
                    {"id": "a", "label": "A", "minutes": 5},
                    {"id": "a", "label": "B", "minutes": 5},
                ],
            },
            "unique",
        ),
        ({"name": "x"}, "expected"),
        ({"name": "x", "phases": [{"id": "a", "label": "A", "minutes": "ten"}]}, "expected"),
    ],
)
def test_invalid_templates(data: dict[str, object], match: str) -> None:
    with pytest.raises(PhaseError, match=match):
        PhaseTemplate.from_dict(data)


def test_clock_follows_the_plan_and_catches_up() -> None:
    clock = PhaseClock(DEFAULT_FIRST_SESSION, start_s=1000.0)
    assert clock.events[0].reason == "start"
    assert clock.update(1000.0 + 599.0) == []
    changes = clock.update(1000.0 + 45 * MIN)  # noticed late: three changes at their own times
    assert [(c.phase_id, c.time_s - 1000.0, c.reason) for c in changes] == [
        ("map", 600.0, "clock"),
        ("goals", 1500.0, "clock"),
        ("rehearsal", 2400.0, "clock"),
    ]
    st_ = clock.status(1000.0 + 45 * MIN)
    assert (st_.phase_id, st_.elapsed_s, st_.remaining_s) == ("rehearsal", 300.0, 600.0)


def test_advance_starts_the_next_phase_now_with_its_full_duration() -> None:
    clock = PhaseClock(DEFAULT_FIRST_SESSION, start_s=0.0)
    ev = clock.advance(8 * MIN)
    assert (ev.phase_id, ev.previous_id, ev.reason, ev.time_s) == (
        "map",
        "welcome",
        "advance",
        480.0,
    )
    assert ev.planned_end_s == 8 * MIN + 15 * MIN
    assert clock.update(22 * MIN) == []
    nxt = clock.update(23 * MIN)
    assert [(c.phase_id, c.time_s) for c in nxt] == [("goals", 23 * MIN)]


def test_extend_pushes_the_end_and_later_phases() -> None:
    clock = PhaseClock(DEFAULT_FIRST_SESSION, start_s=0.0)
    clock.update(20 * MIN)
    ev = clock.extend(20 * MIN, 5 * MIN)
    assert (ev.phase_id, ev.reason, ev.extended_by_s, ev.planned_end_s) == (
        "map",
        "extend",
        300.0,
        30 * MIN,
    )
    assert clock.status(26 * MIN).phase_id == "map"
    sched = clock.schedule(26 * MIN)
    assert sched[1].projected_end_s == 30 * MIN
    assert sched[1].extended_by_s == 300.0
    assert sched[4].planned_end_s == 60 * MIN
    assert sched[4].projected_end_s == 65 * MIN  # the session's projected end moved too
    assert [c.phase_id for c in clock.update(30 * MIN)] == ["goals"]
    with pytest.raises(PhaseError, match="positive"):
        clock.extend(31 * MIN, 0.0)


def test_schedule_planned_actual_projected() -> None:
    clock = PhaseClock(DEFAULT_FIRST_SESSION, start_s=100.0)
    clock.advance(100.0 + 5 * MIN)
    sched = clock.schedule(100.0 + 6 * MIN)
    w, m, g = sched[0], sched[1], sched[2]
    assert (w.planned_start_s, w.planned_end_s) == (100.0, 100.0 + 10 * MIN)
    assert (w.actual_start_s, w.actual_end_s) == (100.0, 100.0 + 5 * MIN)
    assert (m.actual_start_s, m.actual_end_s) == (100.0 + 5 * MIN, None)
    assert m.projected_end_s == 100.0 + 20 * MIN
    assert (g.actual_start_s, g.projected_start_s) == (None, 100.0 + 20 * MIN)
    assert sched[-1].projected_end_s == 100.0 + 55 * MIN


def test_last_phase_overruns_and_cannot_advance() -> None:
    clock = PhaseClock(DEFAULT_FIRST_SESSION, start_s=0.0)
    clock.update(62 * MIN)
    s = clock.status(62 * MIN)
    assert (s.phase_id, s.remaining_s, s.overrun_s) == ("closing", 0.0, 2 * MIN)
    with pytest.raises(PhaseError, match="last phase"):
        clock.advance(62 * MIN)


def test_queries_do_not_change_the_clock_and_time_cannot_go_back() -> None:
    clock = PhaseClock(DEFAULT_FIRST_SESSION, start_s=0.0)
    assert clock.status(30 * MIN).phase_id == "goals"
    assert len(clock.events) == 1  # status does not record changes...
    assert [c.phase_id for c in clock.update(30 * MIN)] == ["map", "goals"]  # ...update does
    with pytest.raises(PhaseError, match="backwards"):
        clock.update(29 * MIN)


def test_phase_events_roundtrip() -> None:
    clock = PhaseClock()
    clock.advance(100.0)
    clock.extend(200.0, 60.0)
    for ev in clock.events:
        d = ev.to_dict()
        assert d["kind"] == "phase"
        assert event_from_dict(d) == ev


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["wait", "advance", "extend"]), st.floats(1.0, 900.0)),
        max_size=25,
    )
)
def test_clock_invariants(ops: list[tuple[str, float]]) -> None:
    clock = PhaseClock(DEFAULT_FIRST_SESSION, start_s=0.0)
    t = 0.0
    for op, x in ops:
        t += x
        if op == "advance":
            if clock.status(t).index < len(DEFAULT_FIRST_SESSION.phases) - 1:
                clock.advance(t)
        elif op == "extend":
            clock.extend(t, x)
        else:
            clock.update(t)
    clock.update(t)
    evs = clock.events
    assert all(isinstance(e, PhaseChange) for e in evs)
    times = [e.time_s for e in evs]
    assert times == sorted(times)
    moves = [e for e in evs if e.reason != "extend"]
    ids = [p.id for p in DEFAULT_FIRST_SESSION.phases]
    # phases are entered in template order, one at a time, never skipped
    assert [e.phase_id for e in moves] == ids[: len(moves)]
    sched = clock.schedule(t)
    for a, b in itertools.pairwise(sched):
        if b.actual_start_s is not None:
            assert a.actual_end_s == b.actual_start_s
        assert a.projected_end_s <= b.projected_start_s + 1e-9
    s = clock.status(t)
    assert s.phase_id == moves[-1].phase_id
    assert s.remaining_s >= 0.0
