"""The simulator's physiology: spectra, stress episode, determinism, coupling, artifacts, payloads.

Every spectral check resamples the tachogram at 4 Hz with a cubic spline and estimates the PSD
with scipy.signal.welch (the Task Force 1996 recipe), computed here independently of hrv/.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.interpolate import CubicSpline
from scipy.signal import welch

from sensor.gatt import parse_heart_rate_measurement
from sensor.simulator import (
    ArtifactSpec,
    Coupling,
    ParticipantProfile,
    Scenario,
    Schedule,
    SimulatedRR,
    notifications_for,
    simulate_rr,
    simulate_session,
)

FS_HZ = 4.0  # Task Force 1996 resampling rate


def _resampled(
    sim: SimulatedRR, fs: float = FS_HZ
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    t0, t1 = float(sim.beat_times_s[0]), float(sim.beat_times_s[-1])
    t = np.arange(np.ceil(t0), t1, 1.0 / fs)
    return t, CubicSpline(sim.beat_times_s, sim.rr_ms)(t)


def _psd(sim: SimulatedRR) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    _, rr = _resampled(sim)
    nperseg = int(256 * FS_HZ)  # 256 s segments: 0.004 Hz resolution
    f, p = welch(rr - rr.mean(), fs=FS_HZ, nperseg=nperseg, noverlap=nperseg // 2, detrend="linear")
    return f, p


def _band_power(f: NDArray[np.float64], p: NDArray[np.float64], lo: float, hi: float) -> float:
    sel = (f >= lo) & (f < hi)
    return float(np.trapezoid(p[sel], f[sel]))


def _one_person(breathing_bpm: float, duration_s: float = 900.0) -> Scenario:
    prof = ParticipantProfile(breathing_bpm=Schedule.constant(breathing_bpm))
    return Scenario(duration_s, patient=prof, therapist=prof, coupling=None)


# ------------------------------------------------------------------------------ spectra


@pytest.mark.parametrize(("bpm", "seed"), [(12.0, 1), (15.0, 2), (18.0, 3)])
def test_rsa_peak_at_breathing_frequency(bpm: float, seed: int) -> None:
    sim = simulate_rr(_one_person(bpm), seed=seed)
    f, p = _psd(sim)
    hf = (f >= 0.15) & (f < 0.4)
    peak = float(f[hf][np.argmax(p[hf])])
    # Welch resolution is 1/256 Hz; the breath-to-breath jitter (5 %) widens the peak by about
    # 0.01 Hz, so the peak must lie within 0.012 Hz of the breathing frequency.
    assert peak == pytest.approx(bpm / 60.0, abs=0.012)
    # and the HF band holds more power than LF at spontaneous breathing
    assert _band_power(f, p, 0.15, 0.4) > _band_power(f, p, 0.04, 0.15)


def test_paced_breathing_raises_lf_power_with_a_peak_at_0_1_hz() -> None:
    paced = simulate_rr(_one_person(6.0), seed=4)
    spont = simulate_rr(_one_person(15.0), seed=4)
    fp, pp = _psd(paced)
    fs_, ps = _psd(spont)
    lf = (fp >= 0.04) & (fp < 0.15)
    assert float(fp[lf][np.argmax(pp[lf])]) == pytest.approx(0.1, abs=0.008)
    lf_paced = _band_power(fp, pp, 0.04, 0.15)
    lf_spont = _band_power(fs_, ps, 0.04, 0.15)
    # Resonance breathing typically multiplies LF power several-fold (Lehrer & Gevirtz 2014;
    # Vaschillo 2002 report LF amplitudes 3-4x); demand at least 5x in power.
    assert lf_paced > 5.0 * lf_spont
    # and the paced record's power is concentrated in LF
    assert lf_paced > 3.0 * _band_power(fp, pp, 0.15, 0.4)


def _sliding(sim: SimulatedRR, width_s: float = 60.0) -> tuple[NDArray[np.float64], ...]:
    """60 s windows every 30 s: centres, RMSSD (ms), mean HR (bpm); computed directly."""
    t, rr = sim.beat_times_s, sim.rr_ms
    starts = np.arange(0.0, float(t[-1]) - width_s, width_s / 2)
    centres, rmssd, hr = [], [], []
    for s in starts:  # a test oracle: a plain loop on purpose, independent of hrv.windows
        w = rr[(t >= s) & (t < s + width_s)]
        centres.append(s + width_s / 2)
        rmssd.append(np.sqrt(np.mean(np.diff(w) ** 2)))
        hr.append(60000.0 / w.mean())
    return np.array(centres), np.array(rmssd), np.array(hr)


@pytest.mark.parametrize("seed", [0, 7])
def test_stress_episode_visible_in_sliding_rmssd_and_hr(seed: int) -> None:
    sim = simulate_rr(Scenario.first_session(), "patient", seed=seed)
    c, rmssd, hr = _sliding(sim)
    welcome = (c > 120) & (c < 570)  # 2-9.5 min
    stress = (c > 13 * 60) & (c < 21 * 60)  # plateau of the map phase
    recovery = (c > 30 * 60) & (c < 40 * 60)
    assert np.median(rmssd[stress]) < 0.6 * np.median(rmssd[welcome])
    assert np.median(hr[stress]) > np.median(hr[welcome]) + 10.0
    assert np.median(rmssd[recovery]) > 1.5 * np.median(rmssd[stress])
    # the minimum of sliding RMSSD falls inside the map phase (10-25 min)
    assert 10 * 60 < c[np.argmin(rmssd)] < 25 * 60


def test_values_are_physiological_and_quantised_like_a_strap() -> None:
    sessions = simulate_session(seed=11)
    for sim in sessions.values():
        assert np.all((sim.rr_ms > 300.0) & (sim.rr_ms < 2000.0))
        # RR are multiples of 1/1024 s and rr_ms is exactly rr_raw * 1000 / 1024
        np.testing.assert_array_equal(sim.rr_ms, sim.rr_raw * 1000.0 / 1024.0)
        # quantising times (not intervals) keeps the sum exact: no drift over an hour
        total_ticks = int(sim.rr_raw.sum())
        assert total_ticks == round(sim.beat_times_s[-1] * 1024) - round(sim.first_beat_s * 1024)
        assert 3500 < sim.beat_times_s[-1] <= 3600


# ------------------------------------------------------------------------------ determinism


def test_same_seed_same_beats_and_roles_are_independent_streams() -> None:
    sc = Scenario.first_session(1200.0)
    a = simulate_rr(sc, "patient", seed=5)
    b = simulate_rr(sc, "patient", seed=5)
    c = simulate_rr(sc, "patient", seed=6)
    np.testing.assert_array_equal(a.rr_raw, b.rr_raw)
    np.testing.assert_array_equal(a.beat_times_s, b.beat_times_s)
    assert len(a) != len(c) or not np.array_equal(a.rr_raw, c.rr_raw)
    # the patient's beats do not depend on whether or how the therapist is coupled
    uncoupled = dataclasses.replace(sc, coupling=None)
    np.testing.assert_array_equal(simulate_rr(uncoupled, "patient", seed=5).rr_raw, a.rr_raw)
    assert not np.array_equal(
        simulate_rr(uncoupled, "therapist", seed=5).rr_raw[:100],
        simulate_rr(sc, "therapist", seed=5).rr_raw[:100],
    )


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), bpm=st.floats(5.0, 20.0), hr=st.floats(50.0, 100.0))
def test_property_rr_sums_match_beat_times(seed: int, bpm: float, hr: float) -> None:
    prof = ParticipantProfile(resting_hr_bpm=hr, breathing_bpm=Schedule.constant(bpm))
    sim = simulate_rr(Scenario(120.0, prof, prof, None), seed=seed)
    ends_ticks = np.rint(sim.beat_times_s * 1024).astype(np.int64)
    start = round(sim.first_beat_s * 1024)
    np.testing.assert_array_equal(np.cumsum(sim.rr_raw) + start, ends_ticks)
    assert abs(60000.0 / sim.rr_ms.mean() - hr) < 0.15 * hr


# ------------------------------------------------------------------------------ coupling


def _hr_band(sim: SimulatedRR, t: NDArray[np.float64]) -> NDArray[np.float64]:
    """HR (bpm) at times t, minus a 60 s moving average, smoothed over 10 s (kills RSA/Mayer)."""
    hr = np.asarray(CubicSpline(sim.beat_times_s, 60000.0 / sim.rr_ms)(t), dtype=np.float64)
    k60, k10 = int(60 * FS_HZ), int(10 * FS_HZ)
    slow = np.convolve(hr, np.ones(k60) / k60, mode="valid")
    fast = hr[k60 // 2 : k60 // 2 + slow.size] - slow
    out: NDArray[np.float64] = np.convolve(fast, np.ones(k10) / k10, mode="valid")
    z: NDArray[np.float64] = (out - out.mean()) / out.std()
    return z


def _xcorr(x: NDArray[np.float64], y: NDArray[np.float64], max_lag: int) -> NDArray[np.float64]:
    """r(l) = mean(x[i] * y[i + l]): positive l means y follows x."""
    n = x.size
    return np.array(
        [
            np.mean(x[max(0, -lag) : n - max(0, lag)] * y[max(0, lag) : n - max(0, -lag)])
            for lag in range(-max_lag, max_lag + 1)
        ]
    )


@pytest.mark.parametrize(("lag_s", "seed"), [(7.0, 0), (5.0, 1), (10.0, 2)])
def test_therapist_follows_patient_at_the_set_lag(lag_s: float, seed: int) -> None:
    sc = dataclasses.replace(Scenario.first_session(), coupling=Coupling(0.5, lag_s))
    s = simulate_session(sc, seed=seed)
    t = np.arange(10.0, sc.duration_s - 10.0, 1.0 / FS_HZ)
    cc = _xcorr(_hr_band(s["patient"], t), _hr_band(s["therapist"], t), int(30 * FS_HZ))
    lags = np.arange(-30 * FS_HZ, 30 * FS_HZ + 1) / FS_HZ
    # the 10 s smoothing broadens the peak; 1 s tolerance (4 samples)
    assert lags[np.argmax(cc)] == pytest.approx(lag_s, abs=1.0)
    assert cc.max() > 0.4
    uncoupled = simulate_session(dataclasses.replace(sc, coupling=None), seed=seed)
    cc0 = _xcorr(_hr_band(uncoupled["patient"], t), _hr_band(uncoupled["therapist"], t), 120)
    # without coupling nothing comparable is found (the uncoupled peak is noise, ~0.1-0.15)
    assert cc0.max() < 0.5 * cc.max()


# ------------------------------------------------------------------------------ artifacts


def test_artifacts_at_known_positions() -> None:
    sc = _one_person(12.0, 300.0)
    specs = [
        ArtifactSpec("ectopic", 30.0, prematurity=0.3),
        ArtifactSpec("missed", 60.0),
        ArtifactSpec("extra", 90.0),
        ArtifactSpec("dropout", 120.0, duration_s=5.0),
        ArtifactSpec("ectopic", 200.0, prematurity=0.25),
    ]
    sim = simulate_rr(sc, seed=9, artifacts=specs)
    clean = simulate_rr(sc, seed=9)
    np.testing.assert_array_equal(sim.clean_rr_ms, clean.rr_ms)
    assert [a.kind for a in sim.artifacts] == ["ectopic", "missed", "extra", "dropout", "ectopic"]
    ct, crr = clean.beat_times_s, clean.rr_ms
    tick = 1000.0 / 1024.0  # quantisation of one RR, ms

    def clean_at(t_end: float) -> int:
        return int(np.argmin(np.abs(ct - t_end)))

    for a in sim.artifacts:
        i = a.index
        assert sim.beat_times_s[i] == pytest.approx(a.time_s)
        if a.kind == "ectopic":
            k = clean_at(sim.beat_times_s[i + 1])  # the compensatory beat is the clean one
            assert sim.rr_ms[i] < 0.8 * crr[k - 1]
            assert sim.rr_ms[i + 1] > 1.2 * crr[k]
            # premature + compensatory = the two clean intervals (one quantisation step)
            assert sim.rr_ms[i] + sim.rr_ms[i + 1] == pytest.approx(crr[k - 1] + crr[k], abs=tick)
        elif a.kind == "missed":
            k = clean_at(a.time_s)
            assert a.n_lost == 1
            assert sim.rr_ms[i] == pytest.approx(crr[k - 1] + crr[k], abs=tick)
        elif a.kind == "extra":
            k = clean_at(sim.beat_times_s[i + 1])
            assert sim.rr_ms[i] + sim.rr_ms[i + 1] == pytest.approx(crr[k], abs=tick)
            assert sim.rr_ms[i] == pytest.approx(0.45 * crr[k], abs=tick)
        else:
            assert a.window_s == (120.0, 125.0)
            assert sim.beat_times_s[i - 1] < 120.0
            assert sim.beat_times_s[i] >= 125.0
            assert a.n_lost == int(np.count_nonzero((ct >= 120.0) & (ct < 125.0)))
            assert a.n_lost >= 4  # about 6 beats at 70 bpm
    n_extra, n_missed = 1, 1
    lost = sum(a.n_lost for a in sim.artifacts if a.kind == "dropout")
    assert len(sim) == len(clean) + n_extra - n_missed - lost
    # away from the artifacts the series is the clean one
    far = np.ones(len(sim), dtype=bool)
    for a in sim.artifacts:
        far[max(0, a.index - 1) : a.index + 3] = False
    where = np.searchsorted(ct, sim.beat_times_s[far])
    np.testing.assert_array_equal(sim.rr_ms[far], crr[where])


def test_artifacts_too_close_are_refused() -> None:
    with pytest.raises(ValueError, match="4 beats apart"):
        simulate_rr(
            _one_person(12.0, 60.0),
            artifacts=[ArtifactSpec("ectopic", 20.0), ArtifactSpec("missed", 21.0)],
        )


# ------------------------------------------------------------------------------ payloads


def test_payloads_parse_back_to_the_same_raw_rr() -> None:
    specs = [ArtifactSpec("dropout", 40.0, duration_s=4.0), ArtifactSpec("ectopic", 70.0)]
    sim = simulate_rr(_one_person(12.0, 120.0), seed=3, artifacts=specs)
    notes = notifications_for(sim)
    parsed = [parse_heart_rate_measurement(n.payload) for n in notes]
    raw = [v for m in parsed for v in m.rr_raw]
    assert raw == sim.rr_raw.tolist()  # every beat exactly once, in order, bit-exact
    assert all(m.contact is True for m in parsed)
    times = np.array([n.time_s for n in notes])
    assert np.all(np.diff(times) > 0)
    # about one notification per second (latency jitter 10-60 ms), none inside the dropout
    gaps = np.diff(times)
    assert np.count_nonzero(gaps > 1.1) == 1
    assert gaps.max() > 4.0
    assert not np.any((times > 40.1) & (times < 43.9))
    # a beat is never received before it happened
    ends = sim.beat_times_s
    owner_time = np.repeat(times, [n.n_rr for n in notes])
    assert np.all(owner_time >= ends)
    # the reported heart rate agrees with the RR of the packet
    for m in parsed:
        if m.rr_ms:
            assert m.heart_rate_bpm == round(60000.0 / np.mean(m.rr_ms))
