"""Tests of the within-person arousal index (hrv.arousal)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import get_args

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from hrv.arousal import (
    MAD_TO_SD,
    STATE_CODES,
    STATE_LABELS,
    ArousalConfig,
    ArousalConfigError,
    ArousalInputError,
    ArousalState,
    ArousalTracker,
    ArousalUpdate,
    BaselineStats,
    arousal_index,
    baseline_stats,
    blend_baselines,
    replay_arousal,
)
from hrv.errors import InsufficientDataError, SintoniaError

BANNED = ("dissociat", "hypoarous")
HR0 = 60.0
LN0 = 4.0


def _feed(
    tr: ArousalTracker,
    t0: float,
    t1: float,
    hr: float,
    ln: float = LN0,
    quality: float = 1.0,
    dt: float = 1.0,
) -> list[ArousalUpdate]:
    """Beats every ``dt`` s in (t0, t1] with constant values."""
    times = np.arange(t0 + dt, t1 + 1e-9, dt)
    return [tr.update(float(t), hr, ln, quality) for t in times]


def _ready_tracker(**cfg: float) -> ArousalTracker:
    """A tracker whose baseline is HR 60 bpm, ln RMSSD 4.0 with the floors as spreads.

    With a constant rest the MAD is 0, so the spreads are the floors (2.5 bpm, 0.15) and the
    index of HR h with ln RMSSD 4.0 is exactly (h - 60) / 5.
    """
    cfg.setdefault("hr_sd_floor_bpm", 2.5)
    cfg.setdefault("ln_rmssd_sd_floor", 0.15)
    tr = ArousalTracker("patient", 0.0, config=ArousalConfig(**cfg))
    ups = _feed(tr, 0.0, 180.0, HR0)
    assert ups[-1].state == "within"
    return tr


# -- baseline --------------------------------------------------------------------------------


def test_baseline_stats_match_scipy_median_and_mad() -> None:
    rng = np.random.default_rng(1)
    hr = 65.0 + 4.0 * rng.standard_normal(300)
    ln = 3.7 + 0.4 * rng.standard_normal(300)
    b = baseline_stats(hr, ln, hr_sd_floor_bpm=0.1, ln_rmssd_sd_floor=0.01)
    # scipy's normal-consistent MAD is an independent implementation; same maths, so 1e-12
    assert b.hr_center_bpm == pytest.approx(float(np.median(hr)), abs=1e-12)
    assert b.hr_scale_bpm == pytest.approx(
        float(stats.median_abs_deviation(hr, scale="normal")), rel=1e-12
    )
    assert b.ln_rmssd_scale == pytest.approx(
        float(stats.median_abs_deviation(ln, scale="normal")), rel=1e-12
    )
    assert b.n_beats == 300
    # MAD of a large normal sample estimates its SD (4 bpm) within sampling error (~6 % at n=300)
    assert b.hr_scale_bpm == pytest.approx(4.0, rel=0.15)
    assert pytest.approx(1.0 / stats.norm.ppf(0.75), rel=1e-12) == MAD_TO_SD


def test_baseline_stats_floor_and_errors() -> None:
    b = baseline_stats([70.0, 70.0, 70.0], [3.0, 3.0, 3.0])
    assert (b.hr_scale_bpm, b.ln_rmssd_scale) == (3.0, 0.25)  # the default floors
    with pytest.raises(InsufficientDataError):
        baseline_stats([70.0, math.nan], [3.0, 3.0])
    with pytest.raises(ArousalConfigError, match="equal length"):
        baseline_stats([70.0, 71.0], [3.0])


def test_blend_baselines_formula_and_roundtrip() -> None:
    now = BaselineStats(70.0, 3.0, 3.5, 0.2, n_beats=150, covered_s=170.0)
    old = BaselineStats(66.0, 5.0, 3.9, 0.4)
    b = blend_baselines(now, old, 0.25)
    assert b.hr_center_bpm == pytest.approx(0.75 * 70 + 0.25 * 66)
    assert b.hr_scale_bpm == pytest.approx(math.sqrt(0.75 * 9 + 0.25 * 25))
    assert b.ln_rmssd_scale == pytest.approx(math.sqrt(0.75 * 0.04 + 0.25 * 0.16))
    assert b.n_beats == 150
    assert blend_baselines(now, old, 0.0) == now
    assert BaselineStats.from_dict(b.to_dict()) == replace(b)  # NaN times survive as None
    with pytest.raises(ArousalConfigError):
        blend_baselines(now, old, 1.5)
    with pytest.raises(ArousalConfigError, match="unknown"):
        BaselineStats.from_dict({"hr": 1.0})
    with pytest.raises(ArousalConfigError):
        BaselineStats(70.0, 0.0, 3.5, 0.2)


def test_calibrating_until_180_s_then_within() -> None:
    tr = ArousalTracker("patient", session_start_s=100.0)
    ups = _feed(tr, 100.0, 400.0, HR0)
    before = [u for u in ups if u.time_s < 280.0]
    assert all(u.state == "calibrating" and u.index is None for u in before)
    progress = [u.baseline_progress for u in before]
    assert progress == sorted(progress)
    assert progress[0] == 0.0  # one beat covers no interval yet
    assert progress[-1] == pytest.approx(179.0 / 180.0)  # then elapsed time is the limit
    first = next(u for u in ups if u.state != "calibrating")
    assert first.time_s == 280.0
    assert first.change is not None
    assert (first.change.from_state, first.change.to_state) == ("calibrating", "within")
    assert first.change.reason == "baseline_ready"
    assert first.index == pytest.approx(0.0, abs=1e-12)


def test_baseline_uses_only_good_beats_inside_the_window() -> None:
    tr = ArousalTracker("patient", 0.0)
    rng = np.random.default_rng(5)
    times = np.arange(1.0, 181.0, 0.9)
    hr = 62.0 + 3.0 * rng.standard_normal(times.size)
    ln = 3.6 + 0.3 * rng.standard_normal(times.size)
    q = np.where(np.arange(times.size) % 7 == 0, 0.5, 0.95)  # every 7th beat below 0.8
    for t, h, v, qq in zip(times, hr, ln, q, strict=True):
        tr.update(float(t), float(h), float(v), float(qq))
    # the beat that completes 180 s (t = 180.1 s) is the last one in the baseline
    assert tr.state == "within"
    good = q >= 0.8
    expected = baseline_stats(hr[good], ln[good])
    assert tr.baseline is not None
    assert tr.baseline.hr_center_bpm == pytest.approx(expected.hr_center_bpm, abs=1e-12)
    assert tr.baseline.ln_rmssd_scale == pytest.approx(expected.ln_rmssd_scale, abs=1e-12)


def test_baseline_waits_for_enough_good_signal() -> None:
    tr = ArousalTracker("patient", 0.0)
    _feed(tr, 0.0, 120.0, HR0, quality=0.3)  # too poor for the baseline
    ups = _feed(tr, 120.0, 400.0, HR0)
    # 60 % of 180 s = 108 s of good beats are needed: ready at 120 + 108 + 1 (first beat)
    first = next(u for u in ups if u.state != "calibrating")
    assert first.time_s == pytest.approx(229.0)
    assert tr.baseline is not None
    assert tr.baseline.start_s == pytest.approx(121.0)


def test_prior_is_blended_but_never_makes_ready_earlier() -> None:
    prior = BaselineStats(70.0, 4.0, 3.0, 0.3)
    tr = ArousalTracker("patient", 0.0, prior=prior)
    ups = _feed(tr, 0.0, 200.0, HR0)
    assert all(u.state == "calibrating" for u in ups if u.time_s < 180.0)
    own = baseline_stats(np.full(180, HR0), np.full(180, LN0))
    blended = blend_baselines(own, prior, 0.25)
    assert tr.baseline is not None
    assert tr.baseline.hr_center_bpm == pytest.approx(blended.hr_center_bpm, abs=1e-12)
    assert tr.baseline.hr_scale_bpm == pytest.approx(blended.hr_scale_bpm, abs=1e-12)
    assert tr.baseline.ln_rmssd_center == pytest.approx(blended.ln_rmssd_center, abs=1e-12)
    assert tr.baseline.ln_rmssd_scale == pytest.approx(blended.ln_rmssd_scale, abs=1e-12)
    # the blended centre (62.5 bpm) sits above this rest, so the index at rest is negative
    assert ups[-1].index == pytest.approx(
        0.5 * ((60 - 62.5) / tr.baseline.hr_scale_bpm - (4.0 - 3.75) / tr.baseline.ln_rmssd_scale)
    )


def test_rebaseline_restarts_calibration() -> None:
    tr = _ready_tracker()
    change = tr.rebaseline(300.0)
    assert change is not None
    assert (change.to_state, change.reason) == ("calibrating", "rebaseline")
    ups = _feed(tr, 300.0, 500.0, 70.0)
    assert all(u.state == "calibrating" for u in ups if u.time_s < 480.0)
    assert ups[-1].state == "within"
    assert tr.baseline is not None
    assert tr.baseline.hr_center_bpm == 70.0
    assert tr.rebaseline(500.0) is not None
    assert tr.rebaseline(500.0) is None  # already calibrating


# -- index and smoothing ---------------------------------------------------------------------


def test_arousal_index_formula() -> None:
    b = BaselineStats(60.0, 3.0, 4.0, 0.2)
    x = arousal_index([66.0, 60.0, 57.0], [3.6, 4.0, 4.2], b)
    np.testing.assert_allclose(x, [0.5 * (2 + 2), 0.0, 0.5 * (-1 - 1)], atol=1e-12)


def test_smoothing_matches_closed_form_ewma_for_irregular_beats() -> None:
    tr = _ready_tracker(tau_s=10.0)
    rng = np.random.default_rng(3)
    t = 180.0 + np.cumsum(rng.uniform(0.4, 2.0, 200))
    hr = 60.0 + 5.0 * rng.standard_normal(200)
    got = np.array(
        [tr.update(float(a), float(b), LN0, 1.0).index for a, b in zip(t, hr, strict=True)]
    )
    # independent closed form of the time-aware EWMA started at x0 = index of the last
    # baseline beat (0):
    # A_k = x0 e^{-(t_k-t_0)/tau} + sum_j (1 - e^{-dt_j/tau}) e^{-(t_k-t_j)/tau} x_j
    x = (hr - 60.0) / 5.0
    tt = np.concatenate([[180.0], t])
    a = 1.0 - np.exp(-np.diff(tt) / 10.0)
    decay = np.exp(-(t[:, None] - t[None, :]) / 10.0) * (t[None, :] <= t[:, None])
    expected = decay @ (a * x)
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_trend_estimates_the_slope_of_a_ramp() -> None:
    tr = _ready_tracker()
    slope = 0.02  # index units per s = 1.2 per minute; HR rises 0.1 bpm/s
    ups = [tr.update(180.0 + k, HR0 + 5.0 * slope * k, LN0, 1.0) for k in range(1, 301)]
    # after ~7 slow time constants the fast-minus-slow difference has converged to m (40 - 10);
    # discretisation at 1 s beats shifts it by well under 1 %
    assert ups[-1].trend_z_per_min == pytest.approx(1.2, rel=0.01)


# -- bands -----------------------------------------------------------------------------------


def test_band_needs_persistence_and_reports_its_onset() -> None:
    tr = _ready_tracker()
    ups = _feed(tr, 180.0, 400.0, 66.0)  # raw index 1.2
    crossing = next(u.time_s for u in ups if u.index is not None and u.index >= 1.0)
    change = next(u.change for u in ups if u.change is not None)
    assert (change.from_state, change.to_state, change.reason) == ("within", "above", "persistence")
    assert change.onset_s == crossing
    assert change.time_s == pytest.approx(crossing + 30.0)
    assert all(u.state == "within" for u in ups if u.time_s < crossing + 30.0)
    assert change.index is not None
    assert change.index >= 1.0


def test_short_excursion_does_not_change_band() -> None:
    tr = _ready_tracker()
    # index heads to 2.0: crosses 1.0 after 10 ln 2 = 7 s, reaches 1.84 at 25 s, then decays
    # below 1.0 about 8 s later: about 26 s above the threshold, less than the 30 s persistence
    ups = _feed(tr, 180.0, 205.0, 70.0)
    ups += _feed(tr, 205.0, 400.0, HR0)
    assert all(u.state == "within" for u in ups)
    assert max(u.index or 0.0 for u in ups) > 1.5


def test_hysteresis_between_enter_and_exit_thresholds() -> None:
    tr = _ready_tracker()
    _feed(tr, 180.0, 300.0, 66.0)
    assert tr.state == "above"
    ups = _feed(tr, 300.0, 600.0, 63.5)  # index 0.7: below enter (1.0), above exit (0.5)
    assert all(u.state == "above" for u in ups)
    ups = _feed(tr, 600.0, 800.0, 62.0)  # index 0.4 < exit 0.5
    change = next(u.change for u in ups if u.change is not None)
    assert (change.to_state, change.reason) == ("within", "persistence")
    # from within, 0.7 does not re-enter
    ups = _feed(tr, 800.0, 1000.0, 63.5)
    assert all(u.state == "within" for u in ups)


def test_below_band_symmetric() -> None:
    tr = _ready_tracker()
    ups = _feed(tr, 180.0, 300.0, 54.0)  # index -1.2
    assert ups[-1].state == "below"
    ups = _feed(tr, 300.0, 500.0, 57.0)  # index -0.6: stays below
    assert all(u.state == "below" for u in ups)
    ups = _feed(tr, 500.0, 700.0, 66.0)  # jump straight to above after persistence
    changes = [u.change for u in ups if u.change is not None]
    assert [c.to_state for c in changes] == ["above"]


# -- confidence ------------------------------------------------------------------------------


def test_low_quality_is_uncertain_never_a_band() -> None:
    tr = _ready_tracker()
    _feed(tr, 180.0, 300.0, 66.0)
    assert tr.state == "above"
    ups = _feed(tr, 300.0, 400.0, 66.0, quality=0.2)
    lost = next(u for u in ups if u.state == "uncertain")
    # confidence EWMA (tau 5 s) from 1 toward 0.2 falls below 0.6 after 5 ln(0.8/0.4) = 3.5 s
    assert lost.time_s - 300.0 == pytest.approx(4.0)
    assert lost.change is not None
    assert lost.change.reason == "confidence_lost"
    assert all(u.state == "uncertain" for u in ups if u.time_s >= lost.time_s)
    assert all(not u.confident for u in ups if u.state == "uncertain")
    ups = _feed(tr, 400.0, 450.0, 66.0)
    back = next(u for u in ups if u.state != "uncertain")
    assert back.state == "above"
    assert back.change is not None
    assert back.change.reason == "confidence_regained"
    assert back.confidence >= 0.75


def test_persistence_does_not_accumulate_while_uncertain() -> None:
    tr = _ready_tracker()
    ups = _feed(tr, 180.0, 240.0, 66.0, quality=0.1)  # high index but no signal
    assert all(u.state == "uncertain" for u in ups[5:])
    ups = _feed(tr, 240.0, 400.0, 66.0)
    regained = next(u.time_s for u in ups if u.state == "within")
    above = next(u.time_s for u in ups if u.state == "above")
    assert above - regained >= 30.0


def test_dropout_via_tick_becomes_uncertain() -> None:
    tr = _ready_tracker()
    ups = [tr.tick(180.0 + k) for k in range(1, 21)]
    lost = next(u for u in ups if u.state == "uncertain")
    # 2.5 s of grace (longest plausible RR), then the decay from 1 to < 0.6 takes
    # 5 ln(1/0.6) = 2.55 s: uncertain at the first tick after 185.05 s
    assert lost.time_s == pytest.approx(186.0)
    assert all(u.state == "within" for u in ups if u.time_s < 186.0)
    # a beat after a 30 s hole: confidence barely moves, still uncertain
    u = tr.update(230.0, HR0, LN0, 1.0)
    assert u.state == "uncertain"


def test_invalid_and_nan_beats_count_as_zero_quality() -> None:
    tr = _ready_tracker()
    ups = [tr.update(180.0 + k, math.nan, LN0, 1.0) for k in range(1, 11)]
    assert ups[-1].state == "uncertain"
    tr2 = _ready_tracker()
    ups2 = [tr2.update(180.0 + k, HR0, LN0, 1.0, valid=False) for k in range(1, 11)]
    assert [u.confidence for u in ups2] == pytest.approx([u.confidence for u in ups])


def test_replay_equals_live_updates() -> None:
    rng = np.random.default_rng(11)
    n = 600
    t = np.cumsum(rng.uniform(0.5, 1.3, n))
    hr = 65.0 + 8.0 * np.sin(t / 60.0) + rng.normal(0, 1.5, n)
    ln = 3.7 - 0.03 * (hr - 65.0) + rng.normal(0, 0.05, n)
    q = np.where((t > 300) & (t < 330), 0.1, 0.97)
    valid = rng.random(n) > 0.02
    live = ArousalTracker("patient", 0.0)
    ups = [
        live.update(float(a), float(b), float(c), float(d), bool(e))
        for a, b, c, d, e in zip(t, hr, ln, q, valid, strict=True)
    ]
    series = replay_arousal(t, hr, ln, q, valid, participant="patient")
    assert series.states() == [u.state for u in ups]
    np.testing.assert_array_equal(
        series.index, [math.nan if u.index is None else u.index for u in ups]
    )
    np.testing.assert_array_equal(series.confidence, [u.confidence for u in ups])
    assert list(series.changes) == [u.change for u in ups if u.change is not None]
    assert {STATE_CODES[c] for c in series.state} >= {"calibrating", "uncertain", "within"}
    with pytest.raises(ArousalInputError, match="equal length"):
        replay_arousal(t, hr[:-1], ln, q)


# -- errors and vocabulary -------------------------------------------------------------------


def test_errors() -> None:
    with pytest.raises(ArousalConfigError, match="enter_below"):
        ArousalConfig(enter_above=0.4)
    with pytest.raises(ArousalConfigError, match="trend_tau_s"):
        ArousalConfig(trend_tau_s=5.0)
    with pytest.raises(ArousalConfigError, match="finite"):
        ArousalConfig(tau_s=math.inf)
    tr = ArousalTracker("p", 10.0)
    tr.update(12.0, HR0, LN0, 1.0)
    with pytest.raises(ArousalInputError, match="backwards"):
        tr.update(11.0, HR0, LN0, 1.0)
    with pytest.raises(SintoniaError):
        tr.update(math.nan, HR0, LN0, 1.0)


def test_no_clinical_labels_in_states_or_labels() -> None:
    names = get_args(ArousalState)
    assert set(names) == set(STATE_LABELS)
    for text in (*names, *STATE_LABELS.values()):
        assert not any(b in text.lower() for b in BANNED)


# -- properties ------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(100, 500),
    p_gap=st.floats(0.0, 0.1),  # chance of a 3-10 s hole before a beat
    p_bad=st.floats(0.0, 0.6),  # chance of a poor-quality beat
    p_nan=st.floats(0.0, 0.2),  # chance of an unusable (NaN) beat
    swing_bpm=st.floats(0.0, 30.0),  # size of the slow HR swings
)
def test_state_invariants(
    seed: int, n: int, p_gap: float, p_bad: float, p_nan: float, swing_bpm: float
) -> None:
    rng = np.random.default_rng(seed)
    dt = rng.uniform(0.3, 1.5, n) + np.where(rng.random(n) < p_gap, rng.uniform(3, 10, n), 0.0)
    times = np.cumsum(dt)
    hr = 70.0 + swing_bpm * np.sin(times / rng.uniform(20.0, 200.0)) + rng.normal(0, 2, n)
    ln = 3.8 - 0.02 * (hr - 70.0) + rng.normal(0, 0.1, n)
    ln[rng.random(n) < p_nan] = math.nan
    quality = np.where(rng.random(n) < p_bad, rng.uniform(0.0, 0.5, n), 0.95)
    beats = list(zip(dt.tolist(), hr.tolist(), ln.tolist(), quality.tolist(), strict=True))
    cfg = ArousalConfig(baseline_s=60.0, persistence_s=10.0, baseline_min_coverage=0.2)
    tr = ArousalTracker("p", 0.0, config=cfg)
    t = 0.0
    prev: str = "calibrating"
    for dt, hr, ln, q in beats:
        t += dt
        u = tr.update(t, hr, ln, q)
        assert u.state in get_args(ArousalState)
        assert (u.index is None) == (u.state == "calibrating")
        assert 0.0 <= u.confidence <= 1.0
        if u.state in ("above", "within", "below"):
            assert u.confident
        if u.change is not None:
            assert (u.change.from_state, u.change.to_state) == (prev, u.state)
            if u.change.reason == "persistence":
                assert u.change.time_s - u.change.onset_s >= cfg.persistence_s
        else:
            assert u.state == prev
        prev = u.state
