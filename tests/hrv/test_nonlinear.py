"""Nonlinear metrics: Poincaré, sample entropy, DFA against NeuroKit2, brute force and theory."""

from __future__ import annotations

import importlib.util
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hrv import nonlinear as nl
from hrv import time_domain as td
from hrv.errors import InsufficientDataError

rr_arrays = arrays(
    np.float64,
    st.integers(3, 300),
    elements=st.floats(300.0, 2000.0, allow_nan=False, allow_infinity=False),
)
seeds = st.integers(0, 2**32 - 1)


def _package_file(package: str, *parts: str) -> Path:
    """A data file shipped by an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{package} is not installed (pip install --no-deps {package})")
    return Path(next(iter(spec.submodule_search_locations)), *parts)


def _pyhrv_long() -> np.ndarray:
    """pyHRV's real 60-min NN series; integer milliseconds (4684 beats)."""
    raw = np.load(_package_file("pyhrv", "files", "SampleNNISeriesLong.npy"))
    return np.asarray(raw, dtype=np.float64)


def _systole_rr() -> np.ndarray:
    """systole's 245-beat RR series, ms (values on a 1/3 ms grid: 3 kHz ECG)."""
    text = _package_file("systole", "datasets", "rr.txt").read_text().splitlines()
    return np.array([float(line.split(",")[1]) for line in text[1:] if line.strip()])


def _neurokit() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation noise from NeuroKit2's own imports
        import neurokit2

    return neurokit2


# --- Poincaré ---------------------------------------------------------------------------------


def test_poincare_by_hand() -> None:
    pc = nl.poincare(np.array([1000.0, 1100.0, 1000.0, 1100.0]))
    # x1 = (100, -100, 100) / sqrt 2: std (ddof 1) = sqrt(4/3) * 100 / sqrt 2
    assert pc.sd1_ms == pytest.approx(100.0 * math.sqrt(4.0 / 3.0) / math.sqrt(2.0))
    # x2 = (2100, 2100, 2100) / sqrt 2: no spread along the identity line
    assert pc.sd2_ms == pytest.approx(0.0, abs=1e-9)
    assert pc.sd2_sd1 == pytest.approx(0.0, abs=1e-9)


def test_poincare_zero_sd1_gives_infinite_ratio() -> None:
    pc = nl.poincare(np.array([800.0, 810.0, 820.0, 830.0]))  # constant differences
    assert pc.sd1_ms == 0.0
    assert pc.sd2_sd1 == math.inf


def _pyhrv_first_500() -> np.ndarray:
    # NeuroKit2's hrv_nonlinear also computes a dozen entropies: 77 s on all 4684 beats, 0.5 s here
    return _pyhrv_long()[:500]


@pytest.mark.parametrize(
    ("loader", "sampling_rate"),
    # peaks at a rate where every RR is a whole number of samples, so NeuroKit2 sees the same RR
    [(_pyhrv_first_500, 1000), (_systole_rr, 3000)],
    ids=["pyhrv-500", "systole-245"],
)
def test_poincare_agrees_with_neurokit2(
    loader: Callable[[], np.ndarray], sampling_rate: int
) -> None:
    rr = loader()
    nk = _neurokit()
    peaks = np.rint(np.concatenate(([0.0], np.cumsum(rr))) * sampling_rate / 1000.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = nk.hrv_nonlinear(peaks.astype(np.int64), sampling_rate=sampling_rate).iloc[0]
    pc = nl.poincare(rr)
    # Same definition (Brennan's rotated axes, ddof 1): only summation order differs, so 1e-9
    # relative; ddof 0 alone would differ by 1e-3 (500 beats) to 2e-3 (245 beats).
    assert pc.sd1_ms == pytest.approx(ref["HRV_SD1"], rel=1e-9)
    assert pc.sd2_ms == pytest.approx(ref["HRV_SD2"], rel=1e-9)
    assert 1.0 / pc.sd2_sd1 == pytest.approx(ref["HRV_SD1SD2"], rel=1e-9)


@settings(max_examples=80, deadline=None)
@given(rr=rr_arrays)
def test_poincare_identities(rr: np.ndarray) -> None:
    pc = nl.poincare(rr)
    assert pc.sd1_ms >= 0.0
    assert pc.sd2_ms >= 0.0
    # SD1^2 = SDSD^2 / 2 exactly, both with ddof 1 (Brennan et al. 2001, eq. 8)
    assert pc.sd1_ms**2 == pytest.approx(td.sdsd(rr) ** 2 / 2.0, rel=1e-9, abs=1e-9)
    # SD1^2 + SD2^2 = var(RR_1..N-1) + var(RR_2..N): the cross terms cancel exactly
    total = np.var(rr[:-1], ddof=1) + np.var(rr[1:], ddof=1)
    assert pc.sd1_ms**2 + pc.sd2_ms**2 == pytest.approx(total, rel=1e-9, abs=1e-6)


@settings(max_examples=20, deadline=None)
@given(seed=seeds)
def test_poincare_sum_is_twice_sdnn_squared_up_to_end_effects(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 5000
    rr = 800.0 + np.cumsum(rng.standard_normal(n)) * 0.5 + 40.0 * rng.standard_normal(n)
    pc = nl.poincare(rr)
    sdnn2 = td.sdnn(rr) ** 2
    # var over N-1 points differs from var over N by at most about (max |RR - mean|)^2 / N per
    # term; bounding by that end effect makes the check exact in spirit without a fitted constant
    end = 2.0 * float(np.max((rr - rr.mean()) ** 2)) / (n - 2)
    assert abs(pc.sd1_ms**2 + pc.sd2_ms**2 - 2.0 * sdnn2) <= 2.0 * end + 1e-9 * sdnn2


@settings(max_examples=60, deadline=None)
@given(rr=rr_arrays, shift=st.floats(-200.0, 200.0), scale=st.floats(0.25, 4.0))
def test_poincare_shift_and_scale(rr: np.ndarray, shift: float, scale: float) -> None:
    pc = nl.poincare(rr)
    moved = nl.poincare(scale * rr + shift)
    assert moved.sd1_ms == pytest.approx(scale * pc.sd1_ms, rel=1e-9, abs=1e-8)
    assert moved.sd2_ms == pytest.approx(scale * pc.sd2_ms, rel=1e-9, abs=1e-8)


# --- sample entropy ---------------------------------------------------------------------------


def _sampen_brute_force(x: np.ndarray, m: int, r: float) -> float:
    """Richman & Moorman (2000) by explicit N x N distance matrices (independent code)."""
    n = x.size
    tol = r * np.std(x, ddof=1)

    def pairs(length: int) -> int:
        templates = np.array([x[i : i + length] for i in range(n - m)])
        dist = np.max(np.abs(templates[:, None, :] - templates[None, :, :]), axis=2)
        return int((np.sum(dist <= tol) - (n - m)) // 2)

    return -math.log(pairs(m + 1) / pairs(m))


@settings(max_examples=40, deadline=None)
@given(seed=seeds, n=st.integers(30, 250), m=st.integers(1, 3), r=st.floats(0.1, 0.5))
def test_sample_entropy_equals_brute_force(seed: int, n: int, m: int, r: float) -> None:
    rng = np.random.default_rng(seed)
    x = 800.0 + np.cumsum(rng.standard_normal(n)) + 5.0 * rng.standard_normal(n)
    try:
        expected = _sampen_brute_force(x, m, r)
    except (ZeroDivisionError, ValueError):  # no match at m + 1 (log 0) or at m
        with pytest.raises(InsufficientDataError):
            nl.sample_entropy(x, m=m, r=r)
        return
    # the same counts of the same pairs: equal up to the last bits of the log
    assert nl.sample_entropy(x, m=m, r=r) == pytest.approx(expected, rel=1e-12)


def test_sample_entropy_agrees_with_neurokit2() -> None:
    rr = _pyhrv_long()[:2000]
    nk = _neurokit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref, _ = nk.entropy_sample(rr, dimension=2, tolerance=0.2 * np.std(rr, ddof=1))
    # NeuroKit2 counts the same N - m templates with the same <= r: identical counts
    assert nl.sample_entropy(rr) == pytest.approx(float(ref), rel=1e-12)


def test_sample_entropy_of_white_noise_matches_theory() -> None:
    # For i.i.d. Gaussian data the m + 1-th coordinates match independently of the first m:
    # A / B = P(|X - Y| <= 0.2 sigma) = erf(0.1), so SampEn = -ln erf(0.1) = 2.185. With 3000
    # points B ~ 60 000 and A ~ 6 500 pairs; the Poisson-like relative error of A (~1.3 %,
    # inflated by pair dependence) gives an SE of about 0.02: 0.1 is 5 SE.
    rng = np.random.default_rng(20240601)
    x = rng.standard_normal(3000)
    assert nl.sample_entropy(x) == pytest.approx(-math.log(math.erf(0.1)), abs=0.1)


@settings(max_examples=15, deadline=None)
@given(seed=seeds)
def test_sample_entropy_regular_below_random(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 600
    t = np.arange(n)
    sine = 800.0 + 50.0 * np.sin(2 * np.pi * t / 12.3 + rng.uniform(0, 2 * np.pi))
    noise = 800.0 + 50.0 * rng.standard_normal(n)
    regular, random = nl.sample_entropy(sine), nl.sample_entropy(noise)
    assert regular >= 0.0
    assert regular < 0.5 < 1.5 < random  # ~0.1-0.3 for the sine, ~2.2 for Gaussian noise


@settings(max_examples=25, deadline=None)
@given(seed=seeds, k=st.integers(-4, 4), shift=st.floats(-500.0, 500.0))
def test_sample_entropy_invariant_to_scale_and_shift(seed: int, k: int, shift: float) -> None:
    rng = np.random.default_rng(seed)
    x = 800.0 + 30.0 * rng.standard_normal(300)
    base = nl.sample_entropy(x)
    # scaling by a power of two is exact in floating point: identical counts
    assert nl.sample_entropy(x * 2.0**k) == base
    # a shift changes rounding only; continuous data has no pair at exactly distance r
    assert nl.sample_entropy(x + shift) == pytest.approx(base, rel=1e-12)


def test_sample_entropy_errors() -> None:
    with pytest.raises(InsufficientDataError):
        nl.sample_entropy(np.array([800.0, 810.0, 820.0]))  # m + 2 = 4 values needed
    with pytest.raises(InsufficientDataError, match="matching template pair"):
        nl.sample_entropy(np.array([800.0, 900.0, 1000.0, 1100.0, 1200.0]), r=0.01)
    with pytest.raises(ValueError, match="m must be"):
        nl.sample_entropy(np.full(20, 800.0), m=0)
    with pytest.raises(ValueError, match="r must be"):
        nl.sample_entropy(np.full(20, 800.0), r=-0.1)


def test_sample_entropy_is_memory_safe_for_long_series() -> None:
    # 20 000 points would need a 3.2 GB N x N float64 matrix; the KD-tree count needs O(N)
    rng = np.random.default_rng(7)
    x = 800.0 + np.cumsum(rng.standard_normal(20_000)) * 0.3 + 20.0 * rng.standard_normal(20_000)
    value = nl.sample_entropy(x)
    assert 0.0 < value < 3.0


# --- DFA --------------------------------------------------------------------------------------


def _dfa_fluctuation_brute_force(x: np.ndarray, n: int) -> float:
    """F(n) with one np.polyfit per box (independent of the closed-form residuals)."""
    y = np.cumsum(x - x.mean())
    res = []
    for b in range(y.size // n):
        seg = y[b * n : (b + 1) * n]
        t = np.arange(n)
        res.append(seg - np.polyval(np.polyfit(t, seg, 1), t))
    return float(np.sqrt(np.mean(np.concatenate(res) ** 2)))


@settings(max_examples=20, deadline=None)
@given(seed=seeds, n=st.integers(40, 400))
def test_dfa_fluctuation_equals_per_box_fit(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    x = 800.0 + np.cumsum(rng.standard_normal(n)) + 10.0 * rng.standard_normal(n)
    scales = np.arange(3, n // 2 + 1, 3)
    got = nl.dfa_fluctuation(x, scales)
    expected = [_dfa_fluctuation_brute_force(x, int(s)) for s in scales]
    # closed form vs QR least squares: agree to rounding (profile values up to ~1e3)
    np.testing.assert_allclose(got, expected, rtol=1e-8)


def test_dfa_agrees_with_neurokit2_on_continuous_data() -> None:
    rng = np.random.default_rng(11)
    x = 800.0 + np.cumsum(rng.standard_normal(3000)) + 20.0 * rng.standard_normal(3000)
    nk = _neurokit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a1, _ = nk.fractal_dfa(x, scale=nl.DFA_ALPHA1_SCALES, overlap=False, order=1)
        a2, _ = nk.fractal_dfa(x, scale=nl.DFA_ALPHA2_SCALES, overlap=False, order=1)
    # Same boxes (non-overlapping from the start), same linear detrending, same RMS over boxes
    # and the same unweighted log-log fit: equal to rounding. (On integer-ms data NeuroKit2
    # differs because it drops boxes whose residual variance is below 1e-8; we keep them, as
    # Peng et al. 1995. That gives 1.0879 vs 1.0907 for alpha1 on pyHRV's 60-min file.)
    assert nl.dfa_alpha1(x) == pytest.approx(float(a1), rel=1e-9)
    assert nl.dfa_alpha2(x) == pytest.approx(float(a2), rel=1e-9)


# Spread of alpha over 300 seeds of 2048 points (measured once, see tests/data/README.md):
# white noise alpha1 0.582 +- 0.019, alpha2 0.504 +- 0.040; random walk alpha1 1.501 +- 0.030,
# alpha2 1.496 +- 0.050. With 4096 points the SDs shrink by sqrt 2. White-noise alpha1 sits
# above 0.5 by the known small-box bias of linear DFA (Kantelhardt et al. 2001, Physica A
# 295:441-454). Tolerances are about 5 SD (plus that bias), so a correct implementation fails
# less than once in a million examples, while a wrong profile (no integration: alpha - 1) or a
# wrong slope (log10 vs ln mix, F^2) misses by 0.5 or more.
@settings(max_examples=10, deadline=None)
@given(seed=seeds)
def test_dfa_white_noise_and_random_walk(seed: int) -> None:
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(4096)
    white = 800.0 + 50.0 * e
    walk = 800.0 + np.cumsum(e)
    assert nl.dfa_alpha1(white) == pytest.approx(0.5, abs=0.17)
    assert nl.dfa_alpha2(white) == pytest.approx(0.5, abs=0.15)
    assert nl.dfa_alpha1(walk) == pytest.approx(1.5, abs=0.12)
    assert nl.dfa_alpha2(walk) == pytest.approx(1.5, abs=0.18)


@settings(max_examples=20, deadline=None)
@given(seed=seeds, scale=st.floats(0.1, 10.0), shift=st.floats(-500.0, 500.0))
def test_dfa_invariant_to_affine_change(seed: int, scale: float, shift: float) -> None:
    rng = np.random.default_rng(seed)
    x = 800.0 + np.cumsum(rng.standard_normal(512)) + 5.0 * rng.standard_normal(512)
    # F(n) scales by |a| and is blind to a shift: the log-log slope does not move
    assert nl.dfa_alpha1(scale * x + shift) == pytest.approx(nl.dfa_alpha1(x), rel=1e-9)


def test_dfa_scales_and_length_checks() -> None:
    x = 800.0 + np.arange(200.0) % 7
    with pytest.raises(InsufficientDataError) as info:
        nl.dfa_alpha1(x[:31])
    assert info.value.needed == 32
    nl.dfa_alpha1(x[:32])
    with pytest.raises(InsufficientDataError):
        nl.dfa_alpha2(x[:127])
    nl.dfa_alpha2(x[:128])
    with pytest.raises(InsufficientDataError, match="fluctuation"):
        nl.dfa(np.full(100, 800.0), [4, 8])  # constant: F(n) = 0
    for bad in ([4], [2, 4], [4.5, 8], [[4, 8]], [4, 4]):
        with pytest.raises(ValueError, match="box size"):
            nl.dfa(x, bad)
    assert nl.dfa(x, [4.0, 8.0]) == nl.dfa(x, [8, 4])  # whole floats and any order accepted


# --- nonlinear() ------------------------------------------------------------------------------


def test_nonlinear_collects_the_individual_metrics() -> None:
    rng = np.random.default_rng(5)
    rr = 800.0 + np.cumsum(rng.standard_normal(400)) + 30.0 * rng.standard_normal(400)
    out = nl.nonlinear(rr)
    pc = nl.poincare(rr)
    assert out == nl.Nonlinear(
        sd1_ms=pc.sd1_ms,
        sd2_ms=pc.sd2_ms,
        sd2_sd1=pc.sd2_sd1,
        sampen=nl.sample_entropy(rr),
        dfa_alpha1=nl.dfa_alpha1(rr),
        dfa_alpha2=nl.dfa_alpha2(rr),
    )


def test_poincare_too_short() -> None:
    with pytest.raises(InsufficientDataError) as info:
        nl.poincare(np.array([800.0, 810.0]))
    assert info.value.needed == 3
