"""hrv.synchrony against independent implementations (scipy, numpy, brute-force loops)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.ndimage import uniform_filter1d
from scipy.stats import pearsonr

from hrv.errors import InsufficientDataError
from hrv.synchrony import (
    SynchronyParameterError,
    WindowedCrossCorrelation,
    dyad_grid,
    fisher_z,
    pseudo_dyad_test,
    rolling_synchrony,
    segment_synchrony,
    to_grid,
    windowed_cross_correlation,
)
from hrv.windows import trailing_rmssd

# Pearson r from batched dot products of standardised windows against scipy's two-pass
# formula: both are float64 sums of a few hundred terms of order 1, so they agree to ~1e-13.
R_TOL = 1e-10


def _ar1(rng: np.random.Generator, n: int, phi: float = 0.8) -> NDArray[np.float64]:
    e = rng.standard_normal(n)
    out = np.empty(n)
    out[0] = e[0]
    for k in range(1, n):
        out[k] = phi * out[k - 1] + e[k]
    return out


def _coupled(
    seed: int, n: int = 900, lag: int = 3
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    x = _ar1(rng, n + lag)
    y = x[:n] + 0.8 * _ar1(rng, n)  # y[t + lag] follows x[t]: therapist follows by `lag`
    return x[lag:], y


# ------------------------------------------------------------------------------------ grid


def test_to_grid_interpolates_and_leaves_gaps_and_ends_empty() -> None:
    t = np.array([1.0, 2.0, 3.0, 8.0, 9.0])
    v = np.array([60.0, 70.0, 65.0, 80.0, 90.0])
    g = np.arange(0.0, 10.5, 0.5)
    out = to_grid(t, v, g, max_gap_s=3.0)
    inside = ((g >= 1.0) & (g <= 3.0)) | ((g >= 8.0) & (g <= 9.0))
    np.testing.assert_allclose(out[inside], np.interp(g[inside], t, v), rtol=0, atol=1e-12)
    assert np.all(np.isnan(out[~inside]))  # before, after, and inside the 5 s gap


def test_dyad_grid_puts_instantaneous_hr_at_beat_times() -> None:
    rr_p = np.array([1000.0, 800.0, 1000.0, 750.0, 1000.0, 1200.0])
    rr_t = np.full(9, 700.0)
    g = dyad_grid(rr_p, rr_t, fs_hz=1.0)
    # Patient beats at 1, 1.8, 2.8, 3.55, 4.55, 5.75 s; therapist 0.7 ... 6.3 s.
    assert g.time_s.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    bt = np.cumsum(rr_p) / 1000
    np.testing.assert_allclose(g.patient, np.interp(g.time_s, bt, 60000 / rr_p), atol=1e-12)
    np.testing.assert_allclose(g.therapist, 60000 / 700.0, atol=1e-12)
    assert g.patient[0] == 60.0  # exactly a beat


def test_dyad_grid_masks_a_dropout_instead_of_bridging_it() -> None:
    rr = np.full(200, 800.0)
    t = np.cumsum(rr) / 1000
    keep = (t < 50.0) | (t > 60.0)  # 10 s with no beats
    g = dyad_grid(rr[keep], rr, patient_beat_times_s=t[keep], therapist_beat_times_s=t, fs_hz=4.0)
    gap = (g.time_s > 49.6) & (g.time_s < 60.8)  # between the beats around the dropout
    assert np.all(np.isnan(g.patient[gap]))
    assert np.all(np.isfinite(g.patient[~gap]))
    assert np.all(np.isfinite(g.therapist))


def test_dyad_grid_smoothing_is_a_centred_moving_average() -> None:
    rng = np.random.default_rng(3)
    rr = 800 + 50 * rng.standard_normal(400)
    raw = dyad_grid(rr, rr[::-1], fs_hz=2.0)
    sm = dyad_grid(rr, rr[::-1], fs_hz=2.0, smooth_s=5.0)  # 2 h + 1 = 11 samples
    ref = uniform_filter1d(raw.patient, 11)
    # Interior only (the ends are NaN by design); prefix sums vs direct sums: ~1e-12 bpm.
    np.testing.assert_allclose(sm.patient[5:-5], ref[5:-5], rtol=0, atol=1e-9)
    assert np.all(np.isnan(sm.patient[:5]))
    assert np.all(np.isnan(sm.patient[-5:]))


def test_dyad_grid_rmssd_signal_is_the_trailing_rmssd_at_the_beats() -> None:
    rng = np.random.default_rng(4)
    rr = 800 + 40 * rng.standard_normal(300)
    g = dyad_grid(rr, rr, fs_hz=1.0, signal="rmssd", rmssd_window_s=20.0)
    bt = np.cumsum(rr) / 1000
    ref = np.interp(g.time_s, bt, trailing_rmssd(rr, window_s=20.0, beat_times_s=bt))
    np.testing.assert_allclose(g.patient, ref, atol=1e-9)


# ------------------------------------------------------------------------------------ WLCC


def test_wlcc_r_equals_scipy_pearsonr_on_each_window_and_lag() -> None:
    x, y = _coupled(0, n=400)
    w_s, lag_s, step_s = 60, 5, 30
    res = windowed_cross_correlation(x, y, fs_hz=1.0, window_s=w_s, max_lag_s=lag_s, step_s=step_s)
    assert res.r.shape == (len(res.window_start_s), 2 * lag_s + 1)
    for i, s0 in enumerate(res.window_start_s.astype(int)):
        for j, tau in enumerate(res.lags_s.astype(int)):
            a = x[s0 + max(-tau, 0) : s0 + max(-tau, 0) + w_s]
            b = y[s0 + max(tau, 0) : s0 + max(tau, 0) + w_s]
            assert res.r[i, j] == pytest.approx(pearsonr(a, b).statistic, abs=R_TOL)
    np.testing.assert_allclose(res.z, np.arctanh(res.r), atol=1e-12)
    # Peak rule "max": the largest r of each window and its lag.
    np.testing.assert_allclose(res.peak_r, res.r.max(axis=1))
    np.testing.assert_array_equal(res.peak_lag_s, res.lags_s[res.r.argmax(axis=1)])
    mean_peak = math.tanh(float(np.mean(np.arctanh(res.peak_r))))
    assert res.mean_peak_r == pytest.approx(mean_peak, abs=1e-12)
    assert res.mean_peak_lag_s == pytest.approx(float(np.mean(res.peak_lag_s)))
    assert res.profile_lag_s == 3.0
    assert res.leader == "patient"
    assert res.fraction_patient_leads == float(np.mean(res.peak_lag_s > 0))
    assert res.fraction_therapist_leads == float(np.mean(res.peak_lag_s < 0))


def test_wlcc_at_4_hz_matches_numpy_corrcoef() -> None:
    x, y = _coupled(1, n=4 * 300)
    res = windowed_cross_correlation(x, y, fs_hz=4.0, window_s=30, max_lag_s=2, step_s=15)
    w, i, j = 120, 3, 0  # window 3, lag -2 s = -8 samples: patient window shifted by 8
    s0 = int(res.window_start_s[i] * 4)
    ref = np.corrcoef(x[s0 + 8 : s0 + 8 + w], y[s0 : s0 + w])[0, 1]
    assert res.lags_s[j] == -2.0
    assert res.r[i, j] == pytest.approx(ref, abs=R_TOL)


def test_wlcc_surrogate_is_the_brute_force_window_shift_distribution() -> None:
    x, y = _coupled(2, n=420)
    w_s, lag_s, step_s = 40, 4, 20
    res = windowed_cross_correlation(x, y, fs_hz=1.0, window_s=w_s, max_lag_s=lag_s, step_s=step_s)
    starts = res.window_start_s.astype(int)
    n = len(starts)

    def peak_z(i: int, j: int) -> float:
        rs = []
        for tau in range(-lag_s, lag_s + 1):
            a = x[starts[i] + max(-tau, 0) :][:w_s]
            b = y[starts[j] + max(tau, 0) :][:w_s]
            rs.append(pearsonr(a, b).statistic)
        return float(np.arctanh(max(rs)))

    m = math.ceil((w_s + lag_s) / step_s)  # spans at least W + L apart
    null, units = [], []
    for k in range(m, n - m + 1):
        vals = [peak_z(i, (i + k) % n) for i in range(n)]
        null.append(np.mean(vals))
        units += vals
    observed = np.mean([peak_z(i, i) for i in range(n)])
    sur = res.surrogate
    assert sur.n_surrogates == len(null)
    assert sur.observed == pytest.approx(observed, abs=1e-9)
    assert sur.surrogate_mean == pytest.approx(np.mean(units), abs=1e-9)
    assert sur.surrogate_sd == pytest.approx(np.std(units, ddof=1), abs=1e-9)
    es = (observed - np.mean(units)) / np.std(units, ddof=1)
    assert sur.effect_size == pytest.approx(es, abs=1e-9)
    assert sur.p_value == pytest.approx((1 + np.sum(np.array(null) >= observed)) / (1 + len(null)))


def test_wlcc_window_with_missing_samples_is_left_out() -> None:
    x, y = _coupled(3, n=600)
    y = y.copy()
    y[100] = np.nan  # inside windows starting at 60 and 90 (spans of 65 s)
    res = windowed_cross_correlation(x, y, fs_hz=1.0)
    bad = (res.window_start_s <= 100) & (res.window_start_s + 65 > 100)
    assert bad.sum() >= 1
    assert not res.valid[bad].any()
    assert res.valid[~bad].all()
    assert np.all(np.isnan(res.peak_r[bad]))
    assert math.isfinite(res.mean_peak_r)


def test_peak_rules_max_abs_and_boker() -> None:
    # Correlogram of a 12-sample sine against itself shifted by 3: +1 at lag 3, -1 at -3.
    t = np.arange(400.0)
    x = np.sin(2 * np.pi * t / 12)
    y = np.sin(2 * np.pi * (t - 3) / 12) + 0.01 * np.random.default_rng(0).standard_normal(400)
    kw = {"fs_hz": 1.0, "window_s": 48, "max_lag_s": 8, "step_s": 24}
    by_max = windowed_cross_correlation(x, y, peak="max", **kw)
    by_boker = windowed_cross_correlation(x, y, peak="boker", **kw)
    assert np.all(by_max.peak_lag_s == 3.0)
    assert np.all(by_boker.peak_lag_s == 3.0)
    anti = windowed_cross_correlation(x, -y, peak="max_abs", **kw)
    # Against -y, |r| = 1 at lag 3 (r = -1) and at lag -3 (r = +1, half a period away).
    assert np.all(np.abs(anti.peak_r) > 0.99)
    assert set(np.unique(np.abs(anti.peak_lag_s))) == {3.0}
    # Boker: the local maximum nearest lag 0, not the global maximum at the edge of the range.
    ramp = np.cumsum(np.random.default_rng(1).standard_normal(400))
    res = windowed_cross_correlation(ramp, ramp, peak="boker", **kw)
    assert np.all(res.peak_lag_s == 0.0)
    with pytest.raises(SynchronyParameterError):
        windowed_cross_correlation(x, y, peak="median", **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ SUSY


def test_susy_r_and_effect_size_by_brute_force() -> None:
    x, y = _coupled(4, n=300, lag=2)
    seg, lag = 30, 4
    res = segment_synchrony(x, y, fs_hz=1.0, segment_s=seg, max_lag_s=lag)
    n = 10

    def zpair(i: int, j: int, taus: range) -> float:
        zs = []
        for tau in taus:
            a = x[i * seg : (i + 1) * seg][max(-tau, 0) : seg - max(tau, 0)]
            b = y[j * seg : (j + 1) * seg][max(tau, 0) : seg - max(-tau, 0)]
            zs.append(np.arctanh(np.corrcoef(a, b)[0, 1]))
        return float(np.mean(zs))

    taus = range(-lag, lag + 1)
    for i in range(n):
        for k, tau in enumerate(taus):
            a = x[i * seg : (i + 1) * seg][max(-tau, 0) : seg - max(tau, 0)]
            b = y[i * seg : (i + 1) * seg][max(tau, 0) : seg - max(-tau, 0)]
            assert res.r[i, k] == pytest.approx(pearsonr(a, b).statistic, abs=R_TOL)
    for comp, lags in ((res.z, taus), (res.z_patient_leads, range(1, lag + 1))):
        real = [zpair(i, i, lags) for i in range(n)]
        pseudo = [zpair(i, j, lags) for i in range(n) for j in range(n) if i != j]
        null = [np.mean([zpair(i, (i + k) % n, lags) for i in range(n)]) for k in range(1, n)]
        es = (np.mean(real) - np.mean(pseudo)) / np.std(pseudo, ddof=1)
        assert comp.observed == pytest.approx(np.mean(real), abs=1e-9)
        assert comp.effect_size == pytest.approx(es, abs=1e-9)
        assert comp.n_surrogates == n - 1
        p = (1 + np.sum(np.array(null) >= np.mean(real))) / n
        assert comp.p_value == pytest.approx(p)
    np.testing.assert_allclose(res.z_segment, [zpair(i, i, taus) for i in range(n)], atol=1e-9)
    # |z| variant: mean of |z| over the negative lags.
    real_abs = np.mean(np.abs(np.arctanh(res.r[:, :lag])), axis=1).mean()
    assert res.abs_z_therapist_leads.observed == pytest.approx(real_abs, abs=1e-9)


def test_susy_detects_the_leader() -> None:
    # White noise (no autocorrelation), so negative lags carry nothing: y[t + 2] = x[t] + noise.
    rng = np.random.default_rng(5)
    x = rng.standard_normal(1200)
    y = np.roll(x, 2) + rng.standard_normal(1200)
    res = segment_synchrony(x, y, fs_hz=1.0)
    assert res.z.significant()
    assert res.z_patient_leads.significant()
    assert not res.z_therapist_leads.significant()
    assert res.z_patient_leads.effect_size > res.z_therapist_leads.effect_size + 1.0


def test_segments_with_missing_samples_are_left_out() -> None:
    x, y = _coupled(6, n=900)
    x = x.copy()
    x[[45, 400]] = np.nan
    res = segment_synchrony(x, y, fs_hz=1.0)
    assert res.valid.tolist() == [i not in (1, 13) for i in range(30)]
    assert res.z.n_surrogates == 29
    assert math.isfinite(res.z.observed)


# ------------------------------------------------------------------------------------ pseudo dyads


def test_pseudo_dyad_matrix_and_per_dyad_p_by_brute_force() -> None:
    pairs = [_coupled(10 + k, n=300 + 30 * k, lag=1) for k in range(4)]
    res = pseudo_dyad_test(pairs, fs_hz=1.0, segment_s=30, max_lag_s=3)
    for i, (x, _) in enumerate(pairs):
        for j, (_, y) in enumerate(pairs):
            c = min(len(x), len(y))
            ref = segment_synchrony(x[:c], y[:c], fs_hz=1.0, segment_s=30, max_lag_s=3)
            assert res.pair_statistic[i, j] == pytest.approx(np.mean(ref.z_segment), abs=1e-12)
    off = res.pair_statistic[~np.eye(4, dtype=bool)]
    for k, d in enumerate(res.dyads):
        assert d.observed == res.pair_statistic[k, k]
        assert d.p_value == pytest.approx((1 + np.sum(off >= d.observed)) / 13)
        assert d.n_surrogates == 12
    assert res.overall.observed == pytest.approx(np.mean(np.diag(res.pair_statistic)))
    assert all(d.p_value == 1 / 13 for d in res.dyads)  # coupled dyads beat all 12 pseudo dyads
    with pytest.raises(InsufficientDataError):
        pseudo_dyad_test(pairs[:2], fs_hz=1.0)


# ------------------------------------------------------------------------------------ live


def test_rolling_synchrony_is_the_last_window_of_the_wlcc() -> None:
    x, y = _coupled(7, n=65 + 30 * 10)  # the last WLCC window ends at the last sample
    live = rolling_synchrony(x, y, fs_hz=1.0)
    full = windowed_cross_correlation(x, y, fs_hz=1.0)
    assert live.valid
    assert live.r == pytest.approx(full.peak_r[-1], abs=1e-12)
    assert live.lag_s == full.peak_lag_s[-1]
    assert live.r_zero_lag == pytest.approx(full.r[-1, 5], abs=1e-12)
    y = y.copy()
    y[-3] = np.nan
    assert not rolling_synchrony(x, y, fs_hz=1.0).valid
    assert not rolling_synchrony(x[:50], y[:50], fs_hz=1.0).valid
    assert not rolling_synchrony(np.ones(100), x[:100], fs_hz=1.0).valid  # flat signal


# ------------------------------------------------------------------------------------ errors


def test_errors_say_what_was_expected() -> None:
    x = np.zeros(100)
    with pytest.raises(SynchronyParameterError, match="same length"):
        windowed_cross_correlation(x, x[:50], fs_hz=1.0)
    with pytest.raises(SynchronyParameterError, match="fs_hz"):
        segment_synchrony(x, x, fs_hz=0.0)
    with pytest.raises(SynchronyParameterError, match="segment_s"):
        segment_synchrony(x, x, fs_hz=1.0, segment_s=6, max_lag_s=5)
    with pytest.raises(InsufficientDataError):
        windowed_cross_correlation(x[:60], x[:60], fs_hz=1.0)
    with pytest.raises(InsufficientDataError):  # 4 windows: no shift keeps two spans apart
        windowed_cross_correlation(*_coupled(8, n=160), fs_hz=1.0)
    assert fisher_z(1.0) == pytest.approx(np.arctanh(1 - 1e-7))


# ------------------------------------------------------------------------------------ properties

_series = st.tuples(
    st.integers(0, 2**32 - 1), st.integers(-4, 4), st.floats(0.0, 2.0), st.floats(0.1, 50.0)
)


@settings(max_examples=40, deadline=None)
@given(_series)
def test_properties_r_bounded_swap_flips_lags_affine_invariant(
    params: tuple[int, int, float, float],
) -> None:
    seed, lag, noise, scale = params
    rng = np.random.default_rng(seed)
    n = 330
    base = rng.standard_normal(n + 10)
    x = base[5 : 5 + n]
    y = base[5 - lag : 5 - lag + n] + noise * rng.standard_normal(n)

    def wlcc(p: NDArray[np.float64], t: NDArray[np.float64]) -> WindowedCrossCorrelation:
        return windowed_cross_correlation(
            p, t, fs_hz=1.0, window_s=40.0, max_lag_s=5.0, step_s=20.0
        )

    a = wlcc(x, y)
    b = wlcc(y, x)
    assert np.all(np.abs(a.r) <= 1.0)
    # Swapping the people reverses the lag axis, exactly (the same samples are paired).
    np.testing.assert_allclose(b.r, a.r[:, ::-1], atol=1e-12)
    np.testing.assert_array_equal(b.peak_lag_s, -a.peak_lag_s)
    assert b.profile_lag_s == -a.profile_lag_s
    assert a.surrogate.observed == pytest.approx(b.surrogate.observed, abs=1e-9)
    # Pearson r ignores a positive affine change of either series (a change of units).
    c = wlcc(scale * x + 70.0, y)
    np.testing.assert_allclose(c.r, a.r, atol=1e-9)
    s_a = segment_synchrony(x, y, fs_hz=1.0, segment_s=30, max_lag_s=5)
    s_b = segment_synchrony(y, x, fs_hz=1.0, segment_s=30, max_lag_s=5)
    assert s_a.z_patient_leads.observed == pytest.approx(s_b.z_therapist_leads.observed)
    assert s_a.z.p_value == pytest.approx(s_b.z.p_value)
    assert 0.0 < s_a.z.p_value <= 1.0
    assert 0.0 <= s_a.z.percentile <= 100.0
