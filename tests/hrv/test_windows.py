"""Vectorized sliding windows equal the metric computed on each window directly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hrv import time_domain as td
from hrv.errors import InsufficientDataError, InvalidRRError
from hrv.windows import (
    beat_times,
    fixed_grid_windows,
    grid_metric,
    trailing_rmssd,
    trailing_window_trace,
)

rr_arrays = arrays(
    np.float64,
    st.integers(2, 300),
    elements=st.floats(300.0, 2000.0, allow_nan=False, allow_infinity=False),
)


def _direct(rr: np.ndarray, t: np.ndarray, k: int, window_s: float) -> np.ndarray:
    """The window of beat k selected by a plain comparison, independently of searchsorted."""
    sel = (t > t[k] - window_s) & (np.arange(rr.size) <= k)
    return rr[sel]


@settings(max_examples=60, deadline=None)
@given(rr=rr_arrays, window_s=st.floats(0.5, 120.0))
def test_trailing_trace_equals_per_window_metrics(rr: np.ndarray, window_s: float) -> None:
    tr = trailing_window_trace(rr, window_s=window_s)
    t = beat_times(rr)
    for k in range(rr.size):
        w = _direct(rr, t, k, window_s)
        assert tr.n_beats[k] == w.size
        if w.size < 2:
            assert not tr.valid[k]
            assert np.isnan(tr.rmssd_ms[k])
            continue
        assert tr.valid[k]
        # RMSSD: prefix sums of squared differences (all terms >= 0) lose a few ulps: 1e-9 rel.
        assert tr.rmssd_ms[k] == pytest.approx(td.rmssd(w), rel=1e-9, abs=1e-9)
        # SDNN: the variance is S2 - S1^2/n from prefix sums of the centred series c, whose
        # rounding error is a few eps times the running totals, so the variance is compared with
        # that a-priori bound (it matters only for near-constant windows, where the square root
        # magnifies it; it is far below the 0.98 ms resolution of a strap's 1/1024 s RR values).
        # The reference (two-pass np.var) has its own floor: each deviation is off by about
        # eps * |RR|, which gives (eps * |RR|)^2 in the variance of a constant window.
        eps = np.finfo(float).eps
        c = rr - rr.mean()
        bound = 8 * eps * (np.sum(c * c) + 2 * np.max(np.abs(c)) * np.sum(np.abs(c)))
        bound += w.size * (4 * eps * np.max(rr)) ** 2
        assert tr.sdnn_ms[k] ** 2 == pytest.approx(
            td.sdnn(w) ** 2, rel=1e-9, abs=bound / (w.size - 1)
        )
        assert tr.mean_hr_bpm[k] == pytest.approx(np.mean(60000.0 / w), rel=1e-12)


def test_long_series_prefix_sums_stay_accurate() -> None:
    # 100,000 beats (about a day): catastrophic cancellation in the prefix sums would show here.
    rng = np.random.default_rng(7)
    rr = 800.0 + 40.0 * np.sin(np.arange(100_000) * 0.3) + rng.normal(0, 15, 100_000)
    tr = trailing_window_trace(rr, window_s=60.0)
    t = beat_times(rr)
    for k in (100, 50_000, 99_999):
        w = _direct(rr, t, k, 60.0)
        assert tr.rmssd_ms[k] == pytest.approx(td.rmssd(w), rel=1e-9)
        assert tr.sdnn_ms[k] == pytest.approx(td.sdnn(w), rel=1e-9)


def test_artifact_fraction_and_explicit_times() -> None:
    rr = np.array([1000.0, 1000.0, 1000.0, 1000.0])
    times = np.array([1.0, 2.0, 10.0, 11.0])  # a dropout between beat 1 and beat 2
    mask = np.array([False, True, False, False])
    tr = trailing_window_trace(rr, window_s=5.0, beat_times_s=times, artifact_mask=mask)
    assert tr.n_beats.tolist() == [1, 2, 1, 2]
    assert tr.artifact_fraction.tolist() == [0.0, 0.5, 0.0, 0.0]
    assert tr.valid.tolist() == [False, True, False, True]


def test_bad_inputs() -> None:
    rr = np.array([800.0, 810.0, 820.0])
    with pytest.raises(InvalidRRError, match="one time per RR interval"):
        trailing_window_trace(rr, beat_times_s=[1.0, 2.0])
    with pytest.raises(InvalidRRError, match="must not decrease"):
        trailing_window_trace(rr, beat_times_s=[1.0, 3.0, 2.0])
    with pytest.raises(InvalidRRError, match="one flag per RR"):
        trailing_window_trace(rr, artifact_mask=[True])
    with pytest.raises(ValueError, match="window_s"):
        trailing_window_trace(rr, window_s=0)


@settings(max_examples=40, deadline=None)
@given(
    rr=rr_arrays,
    window_s=st.floats(1.0, 60.0),
    step_s=st.floats(0.5, 30.0),
)
def test_grid_windows_hold_exactly_their_beats(
    rr: np.ndarray, window_s: float, step_s: float
) -> None:
    g = fixed_grid_windows(rr, window_s=window_s, step_s=step_s)
    t = beat_times(rr)
    assert len(g) == g.stop.size == g.t_end_s.size
    for i in range(len(g)):
        inside = np.flatnonzero((t > g.t_start_s[i]) & (t <= g.t_end_s[i]))
        assert inside.size == g.stop[i] - g.start[i]
        if inside.size:
            assert (inside[0], inside[-1] + 1) == (g.start[i], g.stop[i])
        # complete windows only: none ends after the last beat
        assert g.t_end_s[i] <= t[-1] + 1e-6
    if len(g):
        assert np.allclose(np.diff(g.t_start_s), step_s)


def test_grid_window_count_one_hour() -> None:
    rr = np.full(3600, 1000.0)  # exactly one hour
    g = fixed_grid_windows(rr, window_s=300.0, step_s=60.0)
    # windows start at 0, 60, ..., 3300 s: 56 complete 5-minute windows
    assert len(g) == 56
    assert (g.stop - g.start == 300).all()


@settings(max_examples=30, deadline=None)
@given(rr=rr_arrays, window_s=st.floats(0.5, 120.0), min_beats=st.integers(2, 10))
def test_trailing_rmssd_is_the_trace_rmssd(rr: np.ndarray, window_s: float, min_beats: int) -> None:
    alone = trailing_rmssd(rr, window_s=window_s, min_beats=min_beats)
    trace = trailing_window_trace(rr, window_s=window_s, min_beats=min_beats).rmssd_ms
    np.testing.assert_array_equal(alone, trace)  # the same sums in the same order: bit-identical


def test_grid_metric_applies_the_metric_to_each_window_and_flags_short_ones() -> None:
    rng = np.random.default_rng(11)
    rr = 900.0 + rng.normal(0.0, 30.0, 2000)  # about 30 minutes
    grid, values, valid = grid_metric(rr, td.rmssd, window_s=300.0, step_s=60.0)
    assert len(grid) == values.size == valid.size > 20
    assert valid.all()
    for i in (0, len(grid) // 2, len(grid) - 1):
        np.testing.assert_equal(values[i], td.rmssd(rr[grid.start[i] : grid.stop[i]]))

    def needs_400_beats(w: np.ndarray) -> float:
        if w.size < 400:
            raise InsufficientDataError("test metric", needed=400, got=w.size)
        return float(w.size)

    _, values2, valid2 = grid_metric(rr, needs_400_beats, window_s=300.0, step_s=60.0)
    counts = grid.stop - grid.start
    np.testing.assert_array_equal(valid2, counts >= 400)
    assert np.isnan(values2[~valid2]).all()
    np.testing.assert_array_equal(values2[valid2], counts[valid2])
