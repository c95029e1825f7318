"""Frequency-domain HRV and smoothness-priors detrending on synthetic tachograms."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.typing import NDArray

from hrv.detrend import (
    smoothness_priors_cutoff_hz,
    smoothness_priors_detrend,
    smoothness_priors_trend,
)
from hrv.errors import InsufficientDataError, SintoniaError
from hrv.frequency import (
    HF_BAND_HZ,
    LF_BAND_HZ,
    FrequencyDomain,
    band_powers,
    frequency_domain,
    integrate_psd,
    lomb_psd,
    peak_frequencies,
    resample_rr,
    welch_psd,
)


def modulated_tachogram(
    freq_hz: float,
    amp_ms: float,
    *,
    mean_ms: float = 800.0,
    duration_s: float = 300.0,
    phase: float = 0.3,
    ramp_ms_per_s: float = 0.0,
) -> NDArray[np.float64]:
    """RR series of a heart whose interval follows ``mean + ramp t + amp sin(2 pi f t)``.

    Each interval takes the value of the modulating function at the beat that opens it, so the
    beats sample a continuous-time sinusoid unevenly, as real respiratory sinus arrhythmia does.
    """
    n = int(duration_s * 1000.0 / (mean_ms - amp_ms)) + 2
    rr = np.empty(n)
    t = 0.0
    for i in range(n):  # beat times depend on the previous intervals: a recursion, not maths
        rr[i] = mean_ms + ramp_ms_per_s * t + amp_ms * math.sin(2.0 * math.pi * freq_hz * t + phase)
        t += rr[i] / 1000.0
    keep = np.cumsum(rr) <= duration_s * 1000.0
    return rr[keep]


# ----------------------------------------------------------------------------- resampling


def test_resample_passes_through_the_beats_and_uses_a_4hz_grid() -> None:
    rr = modulated_tachogram(0.2, 40.0, duration_s=150.0)
    t_s, x_ms = resample_rr(rr)
    beat_t = np.cumsum(rr) / 1000.0
    assert t_s[0] == pytest.approx(beat_t[0])
    assert np.allclose(np.diff(t_s), 0.25)
    assert t_s[-1] <= beat_t[-1] < t_s[-1] + 0.25
    # an interpolating spline: evaluated at the knots it returns the RR values (to rounding)
    on_grid_beats = resample_rr(np.full(200, 1000.0), fs_hz=4.0)
    assert np.allclose(on_grid_beats[1], 1000.0)
    # between knots it stays within the range a smooth sinusoid allows
    assert x_ms.min() > 800.0 - 40.0 - 1.0
    assert x_ms.max() < 800.0 + 40.0 + 1.0


def test_resample_is_not_a_knot_cubic_like_scipy() -> None:
    rng = np.random.default_rng(7)
    rr = rng.uniform(700.0, 900.0, 50)
    t_s, x_ms = resample_rr(rr, fs_hz=2.0)
    beat_t = np.cumsum(rr) / 1000.0
    # independent evaluation with scipy's B-spline interpolant (same not-a-knot cubic)
    from scipy.interpolate import make_interp_spline

    reference = make_interp_spline(beat_t, rr, k=3)(t_s)
    assert np.allclose(x_ms, reference, rtol=0.0, atol=1e-8)


# ----------------------------------------------------------------------------- known sinusoids


@pytest.mark.parametrize("method", ["welch", "lomb"])
def test_hf_sinusoid_puts_half_amplitude_squared_in_hf(method: str) -> None:
    amp = 30.0
    fd = frequency_domain(modulated_tachogram(0.25, amp), method=method)  # type: ignore[arg-type]
    # A^2/2 = 450 ms^2. 2 % tolerance: at 0.25 Hz and RR 800 ms the beats sample the sinusoid
    # only 5 times per cycle; the 4 Hz cubic spline through them loses about 1 % of the power
    # (measured 445.4 ms^2), Lomb's beat-time warping about 0.6 %.
    assert fd.hf_ms2 == pytest.approx(amp**2 / 2.0, rel=0.02)
    assert fd.hf_peak_hz == pytest.approx(0.25, abs=0.002)  # grid step 0.001 Hz (Welch)
    assert fd.hf_nu > 99.0
    assert fd.lf_ms2 < 0.01 * fd.hf_ms2


@pytest.mark.parametrize("method", ["welch", "lomb"])
def test_lf_sinusoid_at_0_1_hz_lands_in_lf(method: str) -> None:
    amp = 30.0
    fd = frequency_domain(modulated_tachogram(0.1, amp), method=method)  # type: ignore[arg-type]
    # 10 beats per cycle: the spline is nearly exact (measured 449.9 ms^2 Welch, 446.8 Lomb)
    assert fd.lf_ms2 == pytest.approx(amp**2 / 2.0, rel=0.02)
    assert fd.lf_peak_hz == pytest.approx(0.1, abs=0.002)
    assert fd.lf_nu > 99.0
    assert fd.lf_hf > 100.0


def test_welch_and_lomb_agree_on_a_two_tone_tachogram() -> None:
    rr = modulated_tachogram(0.1, 25.0, duration_s=600.0)
    rr = rr + modulated_tachogram(0.27, 15.0, duration_s=600.0)[: rr.shape[0]] - 800.0
    welch_fd = frequency_domain(rr, method="welch")
    lomb_fd = frequency_domain(rr, method="lomb")
    # Same signal, two estimators: the spline (Welch) and the beat-time sampling (Lomb) each bias
    # a tone by at most ~1 % (see above), so 3 % bounds their disagreement with margin.
    assert lomb_fd.lf_ms2 == pytest.approx(welch_fd.lf_ms2, rel=0.03)
    assert lomb_fd.hf_ms2 == pytest.approx(welch_fd.hf_ms2, rel=0.03)
    assert lomb_fd.lf_peak_hz == pytest.approx(welch_fd.lf_peak_hz, abs=0.003)
    assert lomb_fd.hf_peak_hz == pytest.approx(welch_fd.hf_peak_hz, abs=0.003)


def test_lomb_normalisation_satisfies_parseval_on_a_known_sinusoid() -> None:
    # Evenly spaced beats make the Lomb periodogram a plain periodogram: the integral of the
    # one-sided PSD over 0..mean-beat-rate/2 must equal the variance of the RR values.
    rr = 800.0 + 20.0 * np.sin(2 * np.pi * 0.2 * 0.8 * np.arange(1, 376))
    f, p = lomb_psd(rr, max_hz=1000.0 / 800.0 / 2.0)
    assert float(np.trapezoid(p, f)) == pytest.approx(float(np.var(rr)), rel=0.01)
    assert float(np.trapezoid(p, f)) == pytest.approx(20.0**2 / 2.0, rel=0.01)


def test_welch_psd_integrates_to_the_variance_of_the_resampled_series() -> None:
    rng = np.random.default_rng(11)
    rr = 850.0 + 40.0 * rng.standard_normal(4300)  # about an hour of uncorrelated beats
    _, x_ms = resample_rr(rr)
    f, p = welch_psd(rr)
    # Parseval for the one-sided density; 3 %: the Hann window and the per-segment mean removal
    # make Welch's integral the average within-segment variance, which differs from the whole
    # series' variance by the variance of the segment means (~1/N_segment of it).
    assert float(np.trapezoid(p, f)) == pytest.approx(float(np.var(x_ms)), rel=0.03)


def test_detrending_removes_a_slow_ramp_but_keeps_hf() -> None:
    # a 0.15 ms/s drift (45 ms over 5 min) plus a 0.25 Hz, 20 ms oscillation
    plain = modulated_tachogram(0.25, 20.0)
    ramped = modulated_tachogram(0.25, 20.0, ramp_ms_per_s=0.15)
    raw = frequency_domain(ramped)
    sp = frequency_domain(ramped, detrend="smoothness_priors")
    reference = frequency_domain(plain)
    assert raw.vlf_ms2 > 20.0 * sp.vlf_ms2  # the ramp dominated VLF; detrending removes it
    assert sp.vlf_ms2 < 5.0  # ms^2, what is left of a 45 ms ramp
    # HF lies a decade above the 0.035 Hz cut-off, where the gain is 1 - 1e-4: HF unchanged to 1 %
    # (the ramp also shortens the beats by up to 6 %, shifting the sampling slightly)
    assert sp.hf_ms2 == pytest.approx(reference.hf_ms2, rel=0.02)
    assert sp.hf_ms2 == pytest.approx(raw.hf_ms2, rel=0.01)


def test_lomb_with_detrending_removes_the_ramp_too() -> None:
    ramped = modulated_tachogram(0.25, 20.0, ramp_ms_per_s=0.15)
    raw = frequency_domain(ramped, method="lomb")
    sp = frequency_domain(ramped, method="lomb", detrend="smoothness_priors")
    assert raw.vlf_ms2 > 20.0 * sp.vlf_ms2
    assert sp.hf_ms2 == pytest.approx(raw.hf_ms2, rel=0.02)


# ----------------------------------------------------------------------------- detrending


def test_smoothness_priors_matches_the_dense_formula_of_tarvainen_2002() -> None:
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.standard_normal(120))
    lam = 50.0
    n = x.shape[0]
    d2 = np.zeros((n - 2, n))
    for i in range(n - 2):
        d2[i, i : i + 3] = [1.0, -2.0, 1.0]
    dense = (np.eye(n) - np.linalg.inv(np.eye(n) + lam**2 * d2.T @ d2)) @ x
    assert np.allclose(smoothness_priors_detrend(x, lam=lam), dense, atol=1e-8)


def test_smoothness_priors_frequency_response_at_the_cutoff() -> None:
    # Away from the ends the stationary part is a high-pass; at fc its gain is 1/sqrt(2).
    fs = 4.0
    fc = smoothness_priors_cutoff_hz(500.0, fs)
    assert fc == pytest.approx(0.035, abs=0.001)  # Kubios quotes 0.035 Hz for lambda 500 at 4 Hz
    t = np.arange(0.0, 3600.0, 1.0 / fs)
    x = np.sin(2 * np.pi * fc * t)
    mid = slice(t.size // 4, 3 * t.size // 4)
    gain = np.std(smoothness_priors_detrend(x)[mid]) / np.std(x[mid])
    assert gain == pytest.approx(1.0 / math.sqrt(2.0), rel=0.02)


def test_smoothness_priors_handles_an_hour_at_4hz_sparsely() -> None:
    x = np.linspace(0.0, 100.0, 14_400) + np.sin(np.arange(14_400))
    trend = smoothness_priors_trend(x)
    assert trend.shape == x.shape
    assert np.allclose(smoothness_priors_detrend(np.linspace(0.0, 100.0, 14_400)), 0.0, atol=1e-6)


def test_smoothness_priors_rejects_bad_input() -> None:
    with pytest.raises(InsufficientDataError):
        smoothness_priors_trend(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="lam"):
        smoothness_priors_trend(np.ones(10), lam=-1.0)


# ----------------------------------------------------------------------------- integration helpers


def test_band_integration_is_exact_for_a_piecewise_linear_psd() -> None:
    f = np.linspace(0.0, 0.5, 11)  # 0.05 Hz grid: band edges 0.04 and 0.15 fall between points
    p = 1000.0 * f  # S(f) = 1000 f, integral from a to b is 500 (b^2 - a^2)
    vlf, lf, hf = band_powers(f, p)
    assert vlf == pytest.approx(500.0 * 0.04**2)
    assert lf == pytest.approx(500.0 * (0.15**2 - 0.04**2))
    assert hf == pytest.approx(500.0 * (0.4**2 - 0.15**2))
    lo = np.array([LF_BAND_HZ[0], HF_BAND_HZ[0]])
    hi = np.array([LF_BAND_HZ[1], HF_BAND_HZ[1]])
    assert np.allclose(integrate_psd(f, p, lo, hi), [lf, hf])


def test_peak_frequencies_per_band() -> None:
    f = np.linspace(0.0, 0.5, 501)
    p = np.exp(-(((f - 0.02) / 0.005) ** 2)) + 2 * np.exp(-(((f - 0.3) / 0.01) ** 2))
    assert peak_frequencies(f, p).tolist() == pytest.approx([0.02, 0.04, 0.3])
    with pytest.raises(InsufficientDataError):
        peak_frequencies(np.array([0.2, 0.3]), np.ones(2))


# ----------------------------------------------------------------------------- errors and types


def test_too_short_records_raise_instead_of_returning_nan() -> None:
    rr = np.full(140, 850.0)  # 119 s
    for method in ("welch", "lomb"):
        with pytest.raises(InsufficientDataError, match="120 s"):
            frequency_domain(rr, method=method)
    with pytest.raises(InsufficientDataError):
        welch_psd(np.array([800.0, 800.0, 800.0]))


def test_a_constant_series_raises_a_sintonia_error() -> None:
    with pytest.raises(SintoniaError, match="power"):
        frequency_domain(np.full(300, 800.0))


def test_unknown_method_is_rejected() -> None:
    with pytest.raises(ValueError, match="welch"):
        frequency_domain(modulated_tachogram(0.2, 10.0), method="fft")  # type: ignore[arg-type]


def test_result_is_frozen_and_read_only() -> None:
    fd = frequency_domain(modulated_tachogram(0.2, 10.0, duration_s=150.0))
    assert isinstance(fd, FrequencyDomain)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fd.lf_ms2 = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        fd.psd_ms2_hz[0] = 1.0
    assert fd.method == "welch"


def test_welch_grid_is_at_least_as_fine_as_1_over_300_hz() -> None:
    f, _ = welch_psd(modulated_tachogram(0.2, 10.0, duration_s=900.0))
    assert f[1] - f[0] <= 1.0 / 300.0


# ----------------------------------------------------------------------------- properties

rr_series = arrays(
    np.float64,
    st.integers(min_value=210, max_value=260),
    elements=st.floats(min_value=600.0, max_value=1100.0),
).filter(lambda rr: float(np.ptp(rr)) > 20.0)


@settings(max_examples=25, deadline=None)
@given(rr=rr_series, method=st.sampled_from(["welch", "lomb"]))
def test_property_powers_are_consistent(rr: NDArray[np.float64], method: str) -> None:
    fd = frequency_domain(rr, method=method)  # type: ignore[arg-type]
    assert min(fd.vlf_ms2, fd.lf_ms2, fd.hf_ms2) >= 0.0
    assert fd.vlf_ms2 + fd.lf_ms2 + fd.hf_ms2 <= fd.total_ms2 * (1 + 1e-12)
    assert fd.total_ms2 <= float(np.trapezoid(fd.psd_ms2_hz, fd.freqs_hz)) * (1 + 1e-12)
    assert fd.lf_nu + fd.hf_nu == pytest.approx(100.0)
    assert fd.vlf_pct + fd.lf_pct + fd.hf_pct == pytest.approx(100.0)
    assert fd.lf_hf == pytest.approx(fd.lf_nu / fd.hf_nu)
    assert fd.ln_hf == pytest.approx(math.log(fd.hf_ms2))
    assert 0.0 < fd.vlf_peak_hz <= 0.04
    assert 0.04 <= fd.lf_peak_hz < 0.15
    assert 0.15 <= fd.hf_peak_hz < 0.4


@settings(max_examples=20, deadline=None)
@given(
    dev=arrays(
        np.float64, st.integers(170, 230), elements=st.floats(min_value=-25.0, max_value=25.0)
    ).filter(lambda d: float(np.std(d)) > 5.0),
    k=st.floats(min_value=0.5, max_value=2.0),
)
def test_property_scaling_the_variability_by_k_scales_powers_by_k_squared(
    dev: NDArray[np.float64], k: float
) -> None:
    # RR = 800 + k * dev. Scaling the deviations also moves the beat times slightly (by at most
    # the running sum of (k - 1) * dev, a fraction of a second over ~3 min), which perturbs the
    # spectrum a little: 5 % on the total, which integrates over many bins, is ample.
    base = frequency_domain(800.0 + dev)
    scaled = frequency_domain(800.0 + k * dev)
    assert scaled.total_ms2 == pytest.approx(k**2 * base.total_ms2, rel=0.05)
