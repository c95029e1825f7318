"""Issue 14: property tests of the new metrics against brute-force or independent implementations.

Every fast kernel is compared with the plain O(N^2) definition written out here (full distance
matrices on short series), or with scipy where scipy has the same estimator.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from hrv import ans_index as ans
from hrv import nonlinear as nl
from hrv import rqa
from hrv import time_domain as td
from hrv.ar import ar_spectrum, burg
from hrv.detrend import smoothness_priors_trend
from hrv.errors import InsufficientDataError, ParameterError
from hrv.frequency import _fast_lomb, _welch

# RR on a 1 ms grid (as most files): ties in the distances are frequent, which is where a
# "<" / "<=" or an off-by-one in the band would show.
rr_short = arrays(
    np.float64,
    st.integers(12, 120),
    elements=st.integers(500, 1200).map(float),
)
rr_smooth = st.builds(
    lambda seed, n: (
        800.0
        + np.round(
            np.cumsum(np.random.default_rng(seed).normal(0.0, 15.0, n))
            + np.random.default_rng(seed + 1).normal(0.0, 20.0, n)
        )
    ),
    st.integers(0, 10_000),
    st.integers(40, 300),
)


def _cheb(templates: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.max(np.abs(templates[:, None, :] - templates[None, :, :]), axis=2)


def _sampen_brute(x: NDArray[np.float64], m: int, r: float) -> float:
    n = x.shape[0]
    rho = r * np.std(x, ddof=1)
    iu = np.triu_indices(n - m, 1)
    b = int(np.count_nonzero(_cheb(sliding_window_view(x, m)[: n - m])[iu] <= rho))
    a = int(np.count_nonzero(_cheb(sliding_window_view(x, m + 1))[iu] <= rho))
    if a == 0:
        raise InsufficientDataError("brute SampEn", needed=1, got=0)
    return math.log(b / a)


def _apen_brute(x: NDArray[np.float64], m: int, r: float) -> float:
    rho = r * np.std(x, ddof=1)

    def phi(k: int) -> float:
        t = sliding_window_view(x, k)
        c = np.mean(_cheb(t) <= rho, axis=1)
        return float(np.mean(np.log(c)))

    return phi(m) - phi(m + 1)


@settings(max_examples=60, deadline=None)
@given(x=rr_short, m=st.integers(1, 3), r=st.sampled_from([0.1, 0.2, 0.25]))
def test_sample_entropy_equals_the_brute_force_count(x: np.ndarray, m: int, r: float) -> None:
    if np.std(x) == 0.0:
        return
    try:
        expected = _sampen_brute(x, m, r)
    except InsufficientDataError:
        with pytest.raises(InsufficientDataError):
            nl.sample_entropy(x, m, r)
        return
    assert nl.sample_entropy(x, m, r) == pytest.approx(expected, rel=1e-12, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(x=rr_short, m=st.integers(1, 3))
def test_approximate_entropy_equals_the_brute_force_count(x: np.ndarray, m: int) -> None:
    assert nl.approximate_entropy(x, m) == pytest.approx(_apen_brute(x, m, 0.2), abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(x=rr_smooth, window=st.integers(20, 80))
def test_windowed_sample_entropy_pools_the_windows_counts(x: np.ndarray, window: int) -> None:
    bounds = np.linspace(0, x.size, -(-x.size // window) + 1).round().astype(int)
    a = b = 0
    for lo, hi in itertools.pairwise(bounds):
        w = x[lo:hi]
        rho = 0.2 * np.std(w, ddof=1)
        iu = np.triu_indices(w.size - 2, 1)
        b += int(np.count_nonzero(_cheb(sliding_window_view(w, 2)[: w.size - 2])[iu] <= rho))
        a += int(np.count_nonzero(_cheb(sliding_window_view(w, 3))[iu] <= rho))
    if a == 0:
        return
    assert nl.sample_entropy(x, window_beats=window) == pytest.approx(math.log(b / a), rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(x=rr_smooth, scale=st.floats(0.5, 3.0), shift=st.floats(-300.0, 300.0))
def test_entropies_are_invariant_to_units_and_offset(
    x: np.ndarray, scale: float, shift: float
) -> None:
    # r is a fraction of the SD, so a change of unit or offset changes no comparison; scale by a
    # power of two and shift by a whole number so that the arithmetic stays exact
    scale = 2.0 ** round(math.log2(scale))
    y = scale * x + round(shift)
    try:
        s = nl.sample_entropy(x)
    except InsufficientDataError:
        return
    assert nl.sample_entropy(y) == pytest.approx(s, rel=1e-12)
    assert nl.approximate_entropy(y) == pytest.approx(nl.approximate_entropy(x), abs=1e-12)


@settings(max_examples=20, deadline=None)
@given(x=rr_smooth)
def test_multiscale_entropy_scale_one_is_sample_entropy(x: np.ndarray) -> None:
    mse = nl.multiscale_entropy(x, scales=4)
    assert len(mse) == 4
    try:
        s = nl.sample_entropy(x)
    except InsufficientDataError:
        assert mse[0] is None
        return
    assert mse[0] == pytest.approx(s, rel=1e-12)
    # scale 2 is SampEn of the pairwise means with the original tolerance
    y = x[: x.size // 2 * 2].reshape(-1, 2).mean(axis=1)
    if mse[1] is not None:
        r_rel = 0.2 * np.std(x, ddof=1) / np.std(y, ddof=1)
        assert mse[1] == pytest.approx(nl.sample_entropy(y, 2, r_rel), rel=1e-9)


def _rqa_brute(x: NDArray[np.float64], m: int, thr: float) -> tuple[float, float, float, int]:
    u = sliding_window_view(x, m)
    d = np.sqrt(((u[:, None, :] - u[None, :, :]) ** 2).sum(axis=2))
    nv = u.shape[0]
    rmat = d <= thr * np.std(x, ddof=1)
    np.fill_diagonal(rmat, False)
    lengths = []
    for k in range(1, nv):
        run = 0
        for v in [*list(np.diagonal(rmat, k)), False]:
            if v:
                run += 1
            elif run:
                lengths.append(run)
                run = 0
    arr = np.array(lengths, dtype=np.int64)
    long = arr[arr >= 2]
    rec = int(rmat.sum())
    det = 100.0 * 2 * long.sum() / rec if rec else 0.0
    return (
        100.0 * rec / (nv * (nv - 1)),
        det,
        float(long.mean()) if long.size else 0.0,
        int(long.max() if long.size else 0),
    )


@settings(max_examples=30, deadline=None)
@given(x=rr_smooth, m=st.integers(1, 10), thr=st.floats(0.5, 4.0))
def test_recurrence_analysis_equals_the_full_matrix(x: np.ndarray, m: int, thr: float) -> None:
    x = x[:120]
    rec, det, lmean, lmax = _rqa_brute(x, m, thr)
    if rec == 0.0:
        with pytest.raises(InsufficientDataError):
            rqa.recurrence_analysis(x, m, thr)
        return
    got = rqa.recurrence_analysis(x, m, thr)
    assert got.rec_pct == pytest.approx(rec, rel=1e-12)
    assert got.det_pct == pytest.approx(det, rel=1e-12)
    assert got.lmean_beats == pytest.approx(lmean, rel=1e-12)
    assert got.lmax_beats == lmax
    assert 0.0 <= got.rec_pct <= 100.0
    assert 0.0 <= got.det_pct <= 100.0
    assert got.shannon >= 0.0


def test_correlation_sum_matches_the_pair_count() -> None:
    # C(r) at the histogram edges equals the fraction of pairs closer than r, counted directly
    rng = np.random.default_rng(5)
    x = 800.0 + np.cumsum(rng.normal(0, 10, 400)) + rng.normal(0, 25, 400)
    m = 4
    u = sliding_window_view(x, m)
    d2 = ((u[:, None, :] - u[None, :, :]) ** 2).sum(axis=2)[np.triu_indices(u.shape[0], 1)]
    d2_hat = rqa.correlation_dimension(x, m)
    # D2 from a direct pair count over the same C range, least squares on a fine log grid
    scale = float(np.var(x, ddof=1)) * m
    edges = np.exp(-30.0 + np.arange(1, 2401) / 40.0) * scale
    c = np.searchsorted(np.sort(d2), edges, side="left") / d2.size
    sel = (c >= 1e-3) & (c <= 1e-1)
    ln_r = 0.5 * np.log(edges[sel])
    slope = np.polyfit(ln_r, np.log(c[sel]), 1)[0]
    assert d2_hat == pytest.approx(slope, rel=1e-6)


def test_correlation_dimension_of_noise_follows_the_embedding() -> None:
    # uncorrelated noise fills its embedding space: D2 close to m for small m
    rng = np.random.default_rng(0)
    x = 800.0 + 50.0 * rng.standard_normal(2000)
    for m in (1, 2, 3):
        assert rqa.correlation_dimension(x, m) == pytest.approx(m, rel=0.2)


# --- AR, Lomb, Welch, detrending ------------------------------------------------------------------


def test_burg_recovers_an_ar2_model() -> None:
    rng = np.random.default_rng(1)
    e = rng.standard_normal(50_000)
    x = np.zeros_like(e)
    for n in range(2, e.size):  # x_n = 1.2 x_{n-1} - 0.5 x_{n-2} + e_n
        x[n] = 1.2 * x[n - 1] - 0.5 * x[n - 2] + e[n]
    a, var = burg(x - x.mean(), 2)
    np.testing.assert_allclose(a, [1.0, -1.2, 0.5], atol=0.01)
    assert var == pytest.approx(1.0, rel=0.02)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), order=st.integers(1, 20))
def test_ar_spectrum_integrates_to_the_model_variance(seed: int, order: int) -> None:
    # a smooth (moving-average) process: its AR fit has no pole near the unit circle, so the
    # trapezoid rule on the grid resolves every peak
    rng = np.random.default_rng(seed)
    e = rng.normal(size=2002)
    x = e[2:] + 0.7 * e[1:-1] + 0.3 * e[:-2]
    f, p = ar_spectrum(x, 4.0, order, grid_step_hz=1e-4)
    a, var = burg(x - x.mean(), order)
    # the variance of the AR process: sum of the squared impulse response times the noise variance
    h = np.zeros(20_000)
    h[0] = 1.0
    for n in range(1, h.size):
        k = min(order, n)
        h[n] = -float(a[1 : k + 1] @ h[n - 1 :: -1][:k])
    power = float(np.trapezoid(p, f))
    assert power == pytest.approx(var * float(h @ h), rel=0.02)
    assert np.all(p > 0.0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(50, 400), n_freqs=st.integers(10, 300))
def test_fast_lomb_matches_scipy_direct_sums(seed: int, n: int, n_freqs: int) -> None:
    from scipy.signal import lombscargle

    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.uniform(0.4, 1.4, n))
    y = np.sin(2 * np.pi * 0.1 * t) + rng.normal(0, 0.5, n)
    y = y - y.mean()
    step = 0.5 / n_freqs
    freqs = step * np.arange(1, n_freqs + 1)
    direct = lombscargle(t, y, 2 * np.pi * freqs)
    fast = _fast_lomb(t, y, step, n_freqs)
    np.testing.assert_allclose(fast, direct, rtol=2e-3, atol=2e-3 * float(direct.max()))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(200, 3000),
    frac=st.floats(0.2, 1.0),
    ov=st.floats(0.0, 0.9),
    detrend=st.sampled_from(["constant", "linear"]),
)
def test_welch_equals_scipy(seed: int, n: int, frac: float, ov: float, detrend: str) -> None:
    from scipy.signal import welch

    x = np.cumsum(np.random.default_rng(seed).normal(size=n))
    nperseg = max(8, int(frac * n))
    noverlap = min(nperseg - 1, int(ov * nperseg))
    nfft = 1 << (nperseg - 1).bit_length()
    f1, p1 = welch(x, 4.0, "hann", nperseg, noverlap, nfft, detrend, scaling="density")
    f2, p2 = _welch(x, 4.0, nperseg, noverlap, nfft, detrend)  # type: ignore[arg-type]
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_allclose(p2, p1, rtol=1e-10, atol=1e-12 * float(p1.max()))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 400), lam=st.floats(1.0, 1000.0))
def test_banded_detrending_equals_the_sparse_solution(seed: int, n: int, lam: float) -> None:
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve

    x = np.cumsum(np.random.default_rng(seed).normal(size=n))
    ones = np.ones(n - 2)
    d2 = sp.diags_array([ones, -2 * ones, ones], offsets=[0, 1, 2], shape=(n - 2, n))
    expected = spsolve((sp.eye_array(n) + lam * lam * (d2.T @ d2)).tocsc(), x)
    np.testing.assert_allclose(smoothness_priors_trend(x, lam=lam), expected, atol=1e-6)


# --- time domain ----------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), minutes=st.floats(10.5, 60.0))
def test_sdann_and_sdnn_index_equal_a_segment_loop(seed: int, minutes: float) -> None:
    rng = np.random.default_rng(seed)
    rr = np.clip(800.0 + np.cumsum(rng.normal(0, 5, 6000)) + rng.normal(0, 30, 6000), 400, 1500)
    rr = rr[: int(np.searchsorted(np.cumsum(rr), minutes * 60_000.0))]
    t = np.cumsum(rr) / 1000.0
    means, sds = [], []
    k = 0
    while k * 300.0 < t[-1]:
        seg = rr[(t > k * 300.0) & (t <= (k + 1) * 300.0)]
        if seg.size >= 2:
            means.append(seg.mean())
            sds.append(seg.std(ddof=1))
        k += 1
    assert td.sdann(rr) == pytest.approx(float(np.std(means, ddof=1)), rel=1e-9)
    assert td.sdnn_index(rr) == pytest.approx(float(np.mean(sds)), rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(rr=arrays(np.float64, st.integers(2, 200), elements=st.floats(300.0, 2000.0)))
def test_stress_index_without_detrending_follows_its_formula(rr: np.ndarray) -> None:
    if rr.max() == rr.min():
        with pytest.raises(InsufficientDataError):
            td.stress_index(rr, detrend_lam=None)
        return
    counts = np.bincount(np.floor(rr / 50.0).astype(int))
    amo = 100.0 * counts.max() / rr.size
    si = amo / (2.0 * np.median(rr) / 1000.0 * (rr.max() - rr.min()) / 1000.0)
    assert td.stress_index(rr, detrend_lam=None) == pytest.approx(math.sqrt(si), rel=1e-12)
    # more spread (same histogram peak share) lowers the index
    assert td.stress_index(rr, detrend_lam=None) > 0.0


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(4, 300))
def test_not_a_knot_spline_equals_scipy_cubic_spline(seed: int, n: int) -> None:
    from scipy.interpolate import CubicSpline

    from hrv.spline import not_a_knot_spline

    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.uniform(0.3, 2.0, n))
    y = rng.normal(800.0, 60.0, n)
    xq = np.linspace(x[0] - 0.5, x[-1] + 0.5, 500)
    expected = CubicSpline(x, y, bc_type="not-a-knot")(xq)
    np.testing.assert_allclose(not_a_knot_spline(x, y, xq), expected, rtol=1e-10, atol=1e-8)


# --- PNS / SNS indexes: the published construction, checked term by term ----------------------

rr_rest = st.builds(
    lambda seed, n, base: (
        base
        + np.cumsum(np.random.default_rng(seed).normal(0.0, 4.0, n))
        + 40.0 * np.sin(np.arange(n) * 2.0 * np.pi / 4.3)
        + np.random.default_rng(seed + 1).normal(0.0, 15.0, n)
    ),
    st.integers(0, 10_000),
    st.integers(200, 600),
    st.floats(700.0, 1100.0),
)


@settings(max_examples=25, deadline=None)
@given(rr=rr_rest)
def test_pns_and_sns_are_means_of_z_scores_against_the_cited_norms(rr: np.ndarray) -> None:
    # each term written out from its definition with independent functions
    pc = nl.poincare(rr)
    nu1 = 100.0 * pc.sd1_ms / (pc.sd1_ms + pc.sd2_ms)
    sd1n = 42.0 / math.sqrt(2.0)  # Nunan 2010 RMSSD 42 ms, SD1 = RMSSD / sqrt 2
    sd2n = math.sqrt(2.0 * 50.0**2 - sd1n**2)  # Nunan SDNN 50 ms
    norm_nu1 = 100.0 * sd1n / (sd1n + sd2n)
    nu_sd = ans.ANS_NORMS["sd1_nu"].sd
    pns = (
        (float(np.mean(rr)) - 926.0) / 90.0
        + (td.rmssd(rr) - 42.0) / 15.0
        + (nu1 - norm_nu1) / nu_sd
    ) / 3.0
    hr_norm = 60000.0 / 926.0
    sns = (
        (td.mean_hr(rr) - hr_norm) / (60000.0 * 90.0 / 926.0**2)
        + (td.stress_index(rr) - math.sqrt(115.0)) / (35.0 / (2.0 * math.sqrt(115.0)))
        + ((100.0 - nu1) - (100.0 - norm_nu1)) / nu_sd
    ) / 3.0
    assert ans.pns_index(rr) == pytest.approx(pns, rel=1e-9, abs=1e-12)
    assert ans.sns_index(rr) == pytest.approx(sns, rel=1e-9, abs=1e-12)
    assert ans.pns_sns_indexes(rr) == (ans.pns_index(rr), ans.sns_index(rr))
    si = td.stress_index(rr)
    assert ans.pns_sns_indexes(rr, stress_index_value=si) == ans.pns_sns_indexes(rr)


@settings(max_examples=15, deadline=None)
@given(rr=rr_rest, shift=st.floats(-2.0, 2.0))
def test_indexes_read_in_population_sds(rr: np.ndarray, shift: float) -> None:
    # norms centred on the record's own values, SD 1: every z is 0, so both indexes are 0; moving
    # every norm mean down by `shift` SDs moves both indexes up by exactly `shift`
    z = ans.ans_z_scores(rr)
    own = {k: ans.NormalValue(v.mean + z[k] * v.sd, v.sd, "test") for k, v in ans.ANS_NORMS.items()}
    assert ans.pns_index(rr, own) == pytest.approx(0.0, abs=1e-9)
    assert ans.sns_index(rr, own) == pytest.approx(0.0, abs=1e-9)
    moved = {k: ans.NormalValue(v.mean - shift * v.sd, v.sd, "test") for k, v in own.items()}
    assert ans.pns_index(rr, moved) == pytest.approx(shift, abs=1e-9)
    assert ans.sns_index(rr, moved) == pytest.approx(shift, abs=1e-9)


@settings(max_examples=15, deadline=None)
@given(rr=rr_rest, factor=st.floats(1.05, 1.5))
def test_a_slower_heart_with_the_same_relative_variability_raises_pns(
    rr: np.ndarray, factor: float
) -> None:
    # RR x factor: mean RR and RMSSD grow, SD1 / (SD1 + SD2) is unchanged, mean HR falls
    z0, z1 = ans.ans_z_scores(rr), ans.ans_z_scores(rr * factor)
    assert z1["sd1_nu"] == pytest.approx(z0["sd1_nu"], abs=1e-9)
    assert ans.pns_index(rr * factor) > ans.pns_index(rr)
    assert z1["mean_hr_bpm"] < z0["mean_hr_bpm"]


def test_norms_are_the_published_numbers() -> None:
    n = ans.ANS_NORMS
    assert (n["mean_rr_ms"].mean, n["mean_rr_ms"].sd) == (926.0, 90.0)  # Nunan et al. 2010
    assert (n["rmssd_ms"].mean, n["rmssd_ms"].sd) == (42.0, 15.0)
    assert n["mean_hr_bpm"].mean == pytest.approx(60000.0 / 926.0)
    assert n["sd1_nu"].mean + n["sd2_nu"].mean == pytest.approx(100.0)
    assert n["stress_index"].mean ** 2 == pytest.approx(115.0)  # Baevsky's 80-150, mid-range
    assert all(v.source for v in n.values())


def test_pns_sns_refuse_bad_norms_and_short_records() -> None:
    rr = np.tile([900.0, 960.0], 200)
    bad = dict(ans.ANS_NORMS)
    bad["rmssd_ms"] = ans.NormalValue(42.0, 0.0, "test")
    with pytest.raises(ParameterError):
        ans.pns_index(rr, bad)
    with pytest.raises(ParameterError):
        ans.sns_index(rr, {})
    with pytest.raises(InsufficientDataError):
        ans.pns_index(np.full(100, 1000.0))  # 100 s: too short for the detrended stress index
