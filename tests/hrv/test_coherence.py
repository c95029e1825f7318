"""Coherence ratio (McCraty et al. 2009) and breathing rate from the RR spectrum."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.typing import NDArray

from hrv.coherence import BREATHING_BAND_HZ, Coherence, coherence_ratio
from hrv.errors import InsufficientDataError


def _pink_noise(n: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """Unit-variance noise with a 1/f power spectrum (evenly sampled)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    f[0] = f[1]
    x = np.fft.irfft(spectrum / np.sqrt(f), n)
    return np.asarray(x / x.std(), dtype=np.float64)


def heart(
    breathing_hz: float,
    rsa_ms: float,
    *,
    noise_ms: float = 0.0,
    mean_ms: float = 850.0,
    duration_s: float = 120.0,
    seed: int = 0,
) -> NDArray[np.float64]:
    """RR series: mean + RSA sinusoid at the breathing rate + 1/f noise, sampled at the beats."""
    rng = np.random.default_rng(seed)
    grid_t = np.arange(0.0, duration_s + 10.0, 0.25)
    noise = noise_ms * _pink_noise(grid_t.size, rng)
    phase = rng.uniform(0.0, 2.0 * math.pi)
    rr: list[float] = []
    t = 0.0
    while t < duration_s:  # each beat's time depends on the previous intervals: a recursion
        value = mean_ms + rsa_ms * math.sin(2 * math.pi * breathing_hz * t + phase)
        value += float(np.interp(t, grid_t, noise))
        rr.append(value)
        t += value / 1000.0
    return np.array(rr)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paced_breathing_at_6_per_min_is_coherent(seed: int) -> None:
    # resonance breathing: large RSA at 0.1 Hz (amplitude 60 ms), some 1/f background (15 ms)
    c = coherence_ratio(heart(0.1, 60.0, noise_ms=15.0, seed=seed))
    assert isinstance(c, Coherence)
    # A pure sinusoid reaches CR ~ 9 with the Hann taper (90 % of its power in the 0.030 Hz
    # window); with 15 ms of 1/f noise against 1800 ms^2 of RSA we measure 4-8. 3 is far above
    # any spontaneous-breathing value below.
    assert c.ratio > 3.0
    assert c.peak_hz == pytest.approx(0.1, abs=0.004)  # FFT grid 0.00195 Hz (2048 points at 4 Hz)
    # 6/min within 0.3/min: the grid step (0.12/min) plus the spread of a noisy peak
    assert c.breathing_rate_bpm == pytest.approx(6.0, abs=0.3)
    assert c.breathing_confidence > 0.6


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_spontaneous_breathing_at_15_per_min_is_not_coherent(seed: int) -> None:
    # RSA 20 ms at 0.25 Hz on 30 ms of 1/f variability: power spread over the whole spectrum
    c = coherence_ratio(heart(0.25, 20.0, noise_ms=30.0, seed=seed))
    # measured 0.3-1.2 over seeds; HeartMath's lowest threshold region is of this order. The
    # 0.25 Hz RSA peak lies inside the 0.04-0.26 Hz search band, so the ratio is not ~0.
    assert c.ratio < 2.0
    assert c.breathing_rate_bpm == pytest.approx(15.0, abs=0.5)


def test_paced_and_spontaneous_are_well_separated() -> None:
    paced = [coherence_ratio(heart(0.1, 60.0, noise_ms=15.0, seed=s)).ratio for s in range(3)]
    spontaneous = [
        coherence_ratio(heart(0.25, 20.0, noise_ms=30.0, seed=s)).ratio for s in range(3)
    ]
    assert min(paced) > 3.0 * max(spontaneous)


@pytest.mark.parametrize("rate_per_min", [4.5, 5.5, 6.0, 7.0, 9.0, 12.0, 18.0, 24.0])
def test_breathing_rate_tracks_the_modulation(rate_per_min: float) -> None:
    c = coherence_ratio(heart(rate_per_min / 60.0, 40.0, noise_ms=5.0, seed=7))
    # grid step 0.00195 Hz = 0.12/min; 0.35/min allows for 5 ms of 1/f noise moving the peak
    assert c.breathing_rate_bpm == pytest.approx(rate_per_min, abs=0.35)
    assert c.breathing_confidence > 0.7


def test_total_power_of_a_pure_sinusoid_is_half_amplitude_squared() -> None:
    c = coherence_ratio(heart(0.1, 50.0))
    # Parseval with the Hann taper's power normalisation: A^2 / 2 = 1250 ms^2; 3 % covers the
    # spline and the few percent of 64 s Hann leakage below 0.0033 Hz
    assert c.total_power_ms2 == pytest.approx(1250.0, rel=0.03)
    assert c.ratio == pytest.approx(c.peak_power_ms2 / (c.total_power_ms2 - c.peak_power_ms2))
    assert c.ratio > 8.0  # the taper's ceiling is about 9 for a pure tone
    assert c.window_s == pytest.approx(64.0)


def test_only_the_trailing_window_matters() -> None:
    rr = heart(0.1, 50.0, noise_ms=10.0, duration_s=300.0)
    base = coherence_ratio(rr)
    older = np.cumsum(rr) / 1000.0 < (rr.sum() / 1000.0 - 64.0 - 5.0)
    changed = rr.copy()
    changed[older] = 1200.0  # rewrite everything more than 69 s before the end
    # equal up to the rounding of the cumulative beat times (which now start elsewhere)
    assert dataclasses.astuple(coherence_ratio(changed)) == pytest.approx(
        dataclasses.astuple(base), rel=1e-9
    )


def test_too_short_or_flat_windows_raise() -> None:
    with pytest.raises(InsufficientDataError, match="coherence"):
        coherence_ratio(np.full(60, 900.0))  # 54 s < 90 % of 64 s
    with pytest.raises(InsufficientDataError):
        coherence_ratio(np.array([800.0, 800.0, 800.0]))
    with pytest.raises(InsufficientDataError, match="coherence"):
        coherence_ratio(np.full(100, 900.0))  # no variability at all


def test_breathing_search_stops_at_half_the_heart_rate() -> None:
    # heart at 48 bpm (RR 1250 ms): RSA is sampled at 0.8 Hz, so rates above 0.4 Hz alias
    c = coherence_ratio(heart(0.3, 40.0, mean_ms=1250.0, noise_ms=5.0))
    assert c.breathing_hz <= 0.4
    assert c.breathing_rate_bpm == pytest.approx(18.0, abs=0.35)


@settings(max_examples=30, deadline=None)
@given(
    rr=arrays(
        np.float64, st.integers(130, 200), elements=st.floats(min_value=500.0, max_value=1000.0)
    ).filter(lambda rr: float(np.ptp(rr[-60:])) > 10.0)  # variability inside the 64 s window
)
def test_property_outputs_are_bounded(rr: NDArray[np.float64]) -> None:
    c = coherence_ratio(rr)
    assert c.ratio >= 0.0
    assert 0.0 <= c.peak_power_ms2 <= c.total_power_ms2
    assert 0.0 <= c.breathing_confidence <= 1.0
    assert 0.04 <= c.peak_hz <= 0.26
    assert BREATHING_BAND_HZ[0] <= c.breathing_hz <= BREATHING_BAND_HZ[1]
    assert c.breathing_rate_bpm == pytest.approx(60.0 * c.breathing_hz)
