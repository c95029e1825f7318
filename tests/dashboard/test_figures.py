"""Figure builders: traces, grey no-band periods, phase ribbon, markers and cues."""

from __future__ import annotations

import json
import math

import numpy as np
import plotly.graph_objects as go  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.figures import (
    OKABE_ITO,
    arousal_traces,
    cue_hover,
    no_band_periods,
    phase_bars_figure,
    recording_figure,
    session_figure,
    synchrony_phases_figure,
    usual_range,
)
from dashboard.phases import DEFAULT_FIRST_SESSION
from dashboard.review import (
    CuePoint,
    MarkerPoint,
    ParticipantReview,
    ParticipantTrace,
    PhaseRow,
    PhaseSpan,
    PhaseSynchrony,
    SignalQuality,
    SurrogateStat,
    SynchronyReview,
)
from hrv.arousal import STATE_CODES

CODE = {s: i for i, s in enumerate(STATE_CODES)}


def _trace(code: str, role: str, *, drop: tuple[int, int] | None = None) -> ParticipantTrace:
    """600 beats, one per second: calibrating 0-179, uncertain 300-329, above 400-449."""
    t = np.arange(600.0)
    state = np.full(600, CODE["within"], dtype=np.int8)
    state[:180] = CODE["calibrating"]
    state[300:330] = CODE["uncertain"]
    state[400:450] = CODE["above"]
    index = np.where(state == CODE["calibrating"], np.nan, np.sin(t / 30.0))
    index[400:450] = 1.8
    keep = np.ones(600, dtype=bool)
    if drop is not None:
        keep[drop[0] : drop[1]] = False
    return ParticipantTrace(
        code,
        role,
        t[keep],
        index[keep],
        state[keep],
        np.ones(600)[keep],
        (70.0 + np.sin(t / 10.0))[keep],
        (30.0 + np.cos(t / 10.0))[keep],
    )


PHASES = tuple(
    PhaseSpan(p.id, p.label, s / 6.0, (s + p.duration_s) / 6.0)  # the template on 10 minutes
    for p, s in zip(
        DEFAULT_FIRST_SESSION.phases, DEFAULT_FIRST_SESSION.planned_starts_s(), strict=True
    )
)
MARKERS = (
    MarkerPoint(250.0, "rupture", "topic of the move"),
    MarkerPoint(470.0, "breathing_exercise", None, "P-1"),
)
CUES = (
    CuePoint(
        420.0,
        "map_pacing",
        "Consider a pause",
        "patient above usual for 45 s",
        "acknowledged",
        425.0,
    ),
    CuePoint(500.0, "closing_settle", "Leave time to settle", "held 30 s", "dismissed", 530.0),
    CuePoint(560.0, "closing_settle", "Leave time to settle", "held 30 s"),
)


def _figure() -> go.Figure:
    return session_figure(
        [_trace("P-1", "patient"), _trace("T-1", "therapist", drop=(500, 520))],
        PHASES,
        MARKERS,
        CUES,
    )


def _by_kind(fig: go.Figure, kind: str) -> list[go.Scatter]:
    return [tr for tr in fig.data if tr.meta and tr.meta.get("kind") == kind]


def test_traces_of_both_people_in_three_rows() -> None:
    fig = _figure()
    for kind, axis in (("arousal", "y"), ("hr", "y2"), ("rmssd", "y3")):
        traces = _by_kind(fig, kind)
        assert [tr.meta["participant"] for tr in traces] == ["P-1", "T-1"]
        assert {tr.yaxis for tr in traces} == {axis}
    # shared x: every subplot's x-axis follows the bottom one
    assert fig.layout.xaxis.matches == "x3"
    assert fig.layout.xaxis2.matches == "x3"
    colours = [tr.line.color for tr in _by_kind(fig, "arousal")]
    assert colours == [OKABE_ITO["blue"], OKABE_ITO["orange"]]


def test_no_line_and_grey_shapes_where_calibrating_or_uncertain() -> None:
    fig = _figure()
    arousal = _by_kind(fig, "arousal")[0]
    x = np.asarray(arousal.x, dtype=float)
    y = np.asarray(arousal.y, dtype=float)
    minutes = x * 60.0
    assert np.all(np.isnan(y[minutes < 180.0]))
    assert np.all(np.isnan(y[(minutes >= 300.0) & (minutes < 330.0)]))
    assert np.all(np.isfinite(y[(minutes >= 180.0) & (minutes < 300.0)]))
    grey = {s.name: (s.x0, s.x1) for s in fig.layout.shapes if s.name.startswith("no-band:P-1")}
    assert grey == {
        "no-band:P-1:calibrating": (0.0, 3.0),  # beats 0-179, until the beat at 180 s
        "no-band:P-1:uncertain": (5.0, 5.5),  # beats 300-329, until the beat at 330 s
    }
    assert all(s.fillcolor == "#8C8C8C" for s in fig.layout.shapes if s.name.startswith("no-band"))


def test_dropout_is_greyed_and_no_line_crosses_it() -> None:
    fig = _figure()
    shapes = [s for s in fig.layout.shapes if s.name == "no-band:T-1:no beats"]
    assert [(s.x0 * 60.0, s.x1 * 60.0) for s in shapes] == [(499.0, 520.0)]
    for kind in ("arousal", "hr", "rmssd"):
        tr = next(t for t in _by_kind(fig, kind) if t.meta["participant"] == "T-1")
        x = np.asarray(tr.x, dtype=float)
        y = np.asarray(tr.y, dtype=float)
        k = int(np.flatnonzero(np.isnan(x))[0])
        assert x[k - 1] * 60.0 == 499.0
        assert x[k + 1] * 60.0 == 520.0
        assert math.isnan(y[k])
        assert tr.connectgaps is False


def test_phase_ribbon_has_one_shape_and_label_per_phase() -> None:
    fig = _figure()
    ribbon = [s for s in fig.layout.shapes if s.name.startswith("phase:")]
    assert [s.name for s in ribbon] == [f"phase:{p.phase_id}" for p in PHASES]
    assert [(s.x0, s.x1) for s in ribbon] == [(p.start_s / 60, p.end_s / 60) for p in PHASES]
    labels = [a.text for a in fig.layout.annotations if a.yref == "paper"]
    assert labels == [p.label for p in PHASES]


def test_usual_band_is_shaded_between_the_thresholds() -> None:
    fig = session_figure([_trace("P-1", "patient")], usual_band=(-1.0, 1.0))
    band = [s for s in fig.layout.shapes if s.name == "usual-range"]
    assert len(band) == 1
    assert (band[0].y0, band[0].y1) == (-1.0, 1.0)
    assert band[0].yref == "y"


def test_markers_and_cues_carry_their_hover_texts() -> None:
    fig = _figure()
    lines = [s for s in fig.layout.shapes if s.name.startswith("marker:")]
    assert [(s.name, s.x0, s.x1) for s in lines] == [
        ("marker:rupture", 250.0 / 60.0, 250.0 / 60.0),
        ("marker:breathing_exercise", 470.0 / 60.0, 470.0 / 60.0),
    ]
    (markers,) = _by_kind(fig, "markers")
    assert markers.hovertext == (
        "Rupture at 4:10<br>topic of the move",
        "Breathing exercise at 7:50 (P-1)",
    )
    (cues,) = _by_kind(fig, "cues")
    assert cues.hovertext[0] == (
        "Cue at 7:00: Consider a pause<br>Why: patient above usual for 45 s"
        "<br>Therapist: acknowledged after 5 s"
    )
    assert cues.hovertext[1].endswith("Therapist: dismissed after 30 s")
    assert cues.hovertext[2].endswith("Therapist: no response recorded")
    assert list(cues.marker.symbol) == ["diamond", "diamond-open", "diamond-open"]


def test_no_red_in_the_figure() -> None:
    spec = json.dumps(_figure().to_plotly_json(), default=str).lower()
    for red in ('"red"', "#ff0000", '#f00"', "rgb(255, 0, 0)", "rgb(255,0,0)"):
        assert red not in spec


def test_live_window_shows_the_last_minutes() -> None:
    fig = session_figure([_trace("P-1", "patient")], window_min=5.0)
    assert list(fig.layout.xaxis3.range) == [599.0 / 60.0 - 5.0, 599.0 / 60.0]


def test_empty_inputs_give_an_empty_figure() -> None:
    fig = session_figure([])
    assert len(fig.data) == 0
    assert cue_hover(CUES[0]).startswith("Cue at 7:00")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, len(STATE_CODES) - 1), min_size=1, max_size=80),
    st.lists(st.floats(0.2, 4.0), min_size=80, max_size=80),
)
def test_line_only_where_a_band_is_known(codes: list[int], steps: list[float]) -> None:
    n = len(codes)
    t = np.cumsum(steps[:n])
    state = np.asarray(codes, dtype=np.int8)
    tr = ParticipantTrace(
        "P", "patient", t, np.zeros(n), state, np.ones(n), np.zeros(n), np.zeros(n)
    )
    x, y = arousal_traces(tr)
    banded = np.isin(state, [CODE["above"], CODE["within"], CODE["below"]])
    finite_x = x[np.isfinite(x)]
    np.testing.assert_allclose(finite_x, t / 60.0)
    np.testing.assert_array_equal(np.isfinite(y[np.isfinite(x)]), banded)
    # every beat without a band lies inside a grey period of its own state
    periods = no_band_periods(tr)
    for k in np.flatnonzero(~banded).tolist():
        assert any(a <= t[k] <= b and s == STATE_CODES[state[k]] for a, b, s in periods)
    # no line segment bridges more than 2.5 s
    seg = np.isfinite(y[1:]) & np.isfinite(y[:-1])
    assert np.all(np.diff(x)[seg] * 60.0 <= 2.5 + 1e-9)


# ------------------------------------------------- report figures (issue 13, item 12)


def _row(phase: str, hr: float | None, rmssd: float | None) -> PhaseRow:
    return PhaseRow(
        phase, phase.title(), 0.0, 60.0, 60, hr, rmssd, None, 0.0, 60.0, 0.0, 0.0, 0.0, None
    )


def test_usual_range_from_the_resting_baseline() -> None:
    tr = _trace("P-1", "patient")  # calibrating beats 0-179: HR 70 + sin(t/10), RMSSD 30 + cos
    r = usual_range(tr, (-1.0, 1.5))
    assert r is not None
    hr = 70.0 + np.sin(np.arange(180.0) / 10.0)
    m, s = hr.mean(), hr.std()
    assert r["mean_hr_bpm"] == pytest.approx((m - s, m + 1.5 * s))
    ln = np.log(30.0 + np.cos(np.arange(180.0) / 10.0))
    assert r["rmssd_ms"] == pytest.approx(
        (math.exp(ln.mean() - 1.5 * ln.std()), math.exp(ln.mean() + ln.std()))
    )
    short = ParticipantTrace(
        "P", "patient", tr.time_s[:10], tr.arousal_index[:10], tr.state[:10],
        tr.confidence[:10], tr.mean_hr_bpm[:10], tr.rmssd_ms[:10],
    )  # fmt: skip
    assert usual_range(short, (-1.0, 1.0)) is None


def test_phase_bars_with_the_usual_range() -> None:
    person = ParticipantReview(
        "P-1",
        "patient",
        _trace("P-1", "patient"),
        (_row("welcome", 72.0, 35.0), _row("map", 88.0, 14.0), _row("closing", None, None)),
        (),
        SignalQuality(0, 0.0, {}, 0, 0.0, 0, 0, 0.0),
    )
    usual = {"mean_hr_bpm": (68.0, 76.0), "rmssd_ms": (28.0, 40.0)}
    fig = phase_bars_figure(person, usual)
    bars = [t for t in fig.data if t.type == "bar"]
    assert [t.meta["metric"] for t in bars] == ["mean_hr_bpm", "rmssd_ms"]
    assert list(bars[0].x) == ["Welcome", "Map", "Closing"]
    assert list(bars[0].y) == [72.0, 88.0, None]  # no bar where there is no value ...
    assert bars[0].text[2] == "\u2013"  # ... but a dash
    bands = {s.name: (s.y0, s.y1) for s in fig.layout.shapes}
    assert bands == {"usual:mean_hr_bpm": (68.0, 76.0), "usual:rmssd_ms": (28.0, 40.0)}
    assert not [s for s in phase_bars_figure(person, None).layout.shapes]


def test_synchrony_per_phase_against_its_surrogates() -> None:
    def stat(obs: float, mean: float, sd: float, p: float) -> SurrogateStat:
        return SurrogateStat("segment_shift", "mean z", obs, mean, sd, (obs - mean) / sd, p, 99)

    sync = SynchronyReview(
        "P-1",
        "T-1",
        10.0,
        (
            PhaseSynchrony("welcome", "Welcome", 18, stat(0.3, 0.0, 0.1, 0.01), None, None),
            PhaseSynchrony("closing", "Closing", 1, None, None, None, "phase too short"),
        ),
        None,
        None,
        None,
        None,
    )
    fig = synchrony_phases_figure(sync)
    kinds = {t.meta["kind"]: t for t in fig.data}
    assert list(kinds["observed"].y) == [0.3]
    assert list(kinds["surrogates"].y) == [0.0]
    assert kinds["surrogates"].error_y.array[0] == pytest.approx(1.959964 * 0.1)
    assert "p <= 0.01 (the smallest possible with 99 surrogates)" in kinds["observed"].hovertext[0]
    assert [a.text for a in fig.layout.annotations] == ["phase too short"]  # labelled, not drawn


def test_recording_figure_marks_the_artifacts() -> None:
    rr = np.full(200, 800.0) + 20.0 * np.sin(np.arange(200) / 3.0)
    rr[50] = 1600.0
    artifact = np.zeros(200, dtype=bool)
    artifact[50] = True
    corrected = rr.copy()
    corrected[50] = 800.0
    f = np.linspace(0.0, 1.0, 101)
    fig = recording_figure(rr, artifact, corrected, f, np.ones(101))
    kinds = {t.meta["kind"]: t for t in fig.data if t.meta}
    assert set(kinds) == {"rr", "corrected", "artifacts", "psd", "poincare"}
    assert list(kinds["artifacts"].y) == [1600.0]
    assert kinds["artifacts"].x[0] == pytest.approx(rr[:51].sum() / 60000.0)
    assert max(kinds["psd"].x) <= 0.5
    assert len(kinds["poincare"].x) == 199
    assert "psd" not in {
        t.meta["kind"] for t in recording_figure(rr, artifact, corrected, None, None).data if t.meta
    }
