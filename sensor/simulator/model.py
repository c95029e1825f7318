"""The simulator's model: integral pulse frequency modulation (IPFM) hearts, offline, vectorised.

Each participant's heart is an integral pulse frequency modulation (IPFM) generator: the
instantaneous heart rate

.. math::

    f(t) = \\frac{HR(t)}{60} \\bigl(1 + m(t)\\bigr) \\quad \\text{(Hz)}

is integrated and a beat fires each time the integral crosses an integer,
:math:`\\int_{t_{k-1}}^{t_k} f(t)\\,dt = 1` (Bayly 1968; Mateo & Laguna 2000). Beat times are found
for all beats at once by inverting the monotonic phase :math:`\\Phi(t) = \\int_0^t f` with linear
interpolation on a 20 Hz grid (vectorised; error < 0.1 ms for modulations below 0.5 Hz).

* :math:`HR(t) = HR_{rest} + G\\,a(t)`: the arousal :math:`a(t)` (0 = the person's rest, 1 = a
  strong stress response) raises the mean heart rate by ``hr_gain_bpm`` per unit.
* :math:`m(t)`, the fractional modulation, sums three physiological rhythms:

  - respiratory sinus arrhythmia (RSA), :math:`A\\,v(t)\\,g(f_r)\\sin\\phi_r(t)`, with the
    breathing phase :math:`\\phi_r = 2\\pi\\int f_r` following a breathing-rate schedule (with a
    small breath-to-breath jitter), vagal scaling :math:`v(t) = 1 - w\\,a(t)` (vagal withdrawal
    under arousal lowers RMSSD) and a baroreflex resonance gain
    :math:`g(f) = 1 + R\\exp(-(f-0.1)^2/(2\\cdot 0.02^2))` which makes slow paced breathing
    (6/min = 0.1 Hz) produce large oscillations in the LF band (Vaschillo et al. 2002;
    Lehrer & Gevirtz 2014);
  - Mayer waves: Gaussian-spectrum noise centred on 0.1 Hz, standard deviation 0.01 Hz, the LF
    component of McSharry et al. (2003);
  - 1/f ("pink") variability from 0.003 to 0.5 Hz (Kobayashi & Musha 1982).

* The arousal is a schedule (e.g. a stress episode during the mind-body-context map phase,
  10-25 min) plus spontaneous fluctuations (low-pass noise, correlation time about 8 s). With a
  :class:`Coupling`, the therapist's arousal follows a fraction of the patient's arousal with a
  lag (Palumbo et al. 2017 review physiological synchrony of this kind), so co-regulation
  analyses have a known truth to find.

RR values are quantised like a strap's: beat times are rounded to 1/1024 s and the RR raw values
are their differences (so they sum exactly). Artifacts (ectopic, missed, extra beats, dropouts)
are injected at requested times and reported with their final index (:class:`InjectedArtifact`).

References
----------
Bayly EJ. Spectral analysis of pulse frequency modulation in the nervous systems. IEEE Trans
Biomed Eng 1968;15(4):257-265.
Mateo J, Laguna P. Improved heart rate variability signal analysis from the beat occurrence times
according to the IPFM model. IEEE Trans Biomed Eng 2000;47(8):985-996.
McSharry PE, Clifford GD, Tarassenko L, Smith LA. A dynamical model for generating synthetic
electrocardiogram signals. IEEE Trans Biomed Eng 2003;50(3):289-294.
Vaschillo E, Lehrer P, Rishe N, Konstantinov M. Heart rate variability biofeedback as a method for
assessing baroreflex function. Appl Psychophysiol Biofeedback 2002;27(1):1-27.
Lehrer PM, Gevirtz R. Heart rate variability biofeedback: how and why does it work? Front Psychol
2014;5:756.
Kobayashi M, Musha T. 1/f fluctuation of heartbeat period. IEEE Trans Biomed Eng
1982;29(6):456-457.
Palumbo RV, Marraccini ME, Weyandt LL, et al. Interpersonal autonomic physiology: a systematic
review of the literature. Pers Soc Psychol Rev 2017;21(2):99-141.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.fft import next_fast_len

from hrv.errors import ParameterError
from sensor.gatt import RR_UNITS_PER_S
from sensor.simulator.scenario import (
    ROLE_INDEX,
    ArtifactKind,
    ArtifactSpec,
    InjectedArtifact,
    ParticipantProfile,
    Role,
    Scenario,
    SimulatedRR,
)

__all__ = ["GRID_HZ", "RESONANCE_HZ", "simulate_rr", "simulate_session"]

#: Sampling rate of the modulation grid on which the IPFM phase is integrated, Hz.
GRID_HZ: Final[float] = 20.0
#: Centre of the baroreflex resonance and of the Mayer waves, Hz (Vaschillo 2002; McSharry 2003).
RESONANCE_HZ: Final[float] = 0.1
#: Width (SD) of the resonance gain curve, Hz.
_RESONANCE_SD_HZ: Final[float] = 0.02
#: Width (SD) of the Mayer-wave spectral peak, Hz (McSharry et al. 2003: 0.01 Hz).
_MAYER_SD_HZ: Final[float] = 0.01
#: Band of the 1/f component, Hz.
_PINK_BAND_HZ: Final[tuple[float, float]] = (0.003, 0.5)
#: Corner (Gaussian SD) of the spontaneous arousal fluctuation spectrum, Hz (~8 s correlation).
_AROUSAL_NOISE_SD_HZ: Final[float] = 0.02
#: Corner (Gaussian SD) of the breathing-rate jitter spectrum, Hz.
_BREATH_JITTER_SD_HZ: Final[float] = 0.02
#: Extra simulated time after the requested duration so the last beats exist, s.
_MARGIN_S: Final[float] = 5.0
#: Fraction of the Mayer-wave amplitude lost at arousal 1 (LF ms^2 falls under stress).
_MAYER_AROUSAL_LOSS: Final[float] = 0.3
#: Bounds of the vagal scaling v(t).
_VAGAL_BOUNDS: Final[tuple[float, float]] = (0.1, 1.5)
#: Lower bound of the fractional modulation (keeps the instantaneous rate positive).
_MIN_MODULATION: Final[float] = -0.6
#: Minimum spacing of two injected artifacts, beats.
_MIN_ARTIFACT_SPACING: Final[int] = 4
_MS_PER_S: Final[float] = 1000.0

# ------------------------------------------------------------------------------------ maths


def _rng(seed: int, role: Role) -> np.random.Generator:
    """Independent stream per (seed, role): the patient's beats do not depend on the therapist."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(ROLE_INDEX[role],)))


def _spectral_noise(
    rng: np.random.Generator, n: int, fs: float, shape: Callable[[NDArray[np.float64]], ArrayLike]
) -> NDArray[np.float64]:
    """Gaussian noise with power spectral density proportional to ``shape(f)``, unit variance.

    Synthesised in the frequency domain (random complex Gaussian amplitudes scaled by
    ``sqrt(shape)``, inverse real FFT), as McSharry et al. (2003) build their RR tachogram.
    """
    n_fft = next_fast_len(n, real=True)  # an awkward length makes the FFT 10x slower
    f = np.fft.rfftfreq(n_fft, d=1.0 / fs).astype(np.float64)
    amp = np.sqrt(np.asarray(shape(f), dtype=np.float64))
    spec = (rng.standard_normal(f.size) + 1j * rng.standard_normal(f.size)) * amp
    spec[0] = 0.0
    x: NDArray[np.float64] = np.fft.irfft(spec, n_fft)[:n].astype(np.float64)
    sd = float(x.std())
    return x / sd if sd > 0 else x


def _gaussian_peak(centre_hz: float, sd_hz: float) -> Callable[[NDArray[np.float64]], ArrayLike]:
    return lambda f: np.exp(-0.5 * ((f - centre_hz) / sd_hz) ** 2)


def _pink(f: NDArray[np.float64]) -> ArrayLike:
    lo, hi = _PINK_BAND_HZ
    inside = (f >= lo) & (f <= hi)
    return np.where(inside, 1.0 / np.maximum(f, lo), 0.0)


def _resonance(f_hz: NDArray[np.float64], gain: float) -> NDArray[np.float64]:
    """Baroreflex resonance gain of the RSA, 1 far from 0.1 Hz, 1 + gain at 0.1 Hz."""
    return 1.0 + gain * np.exp(-0.5 * ((f_hz - RESONANCE_HZ) / _RESONANCE_SD_HZ) ** 2)


def _own_arousal(
    prof: ParticipantProfile, rng: np.random.Generator, t: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Scheduled arousal plus spontaneous fluctuations (the first draw of the person's stream)."""
    noise = _spectral_noise(rng, t.size, GRID_HZ, _gaussian_peak(0.0, _AROUSAL_NOISE_SD_HZ))
    return np.asarray(prof.arousal.at(t) + prof.arousal_fluctuation * noise)


def _beat_times(
    scenario: Scenario, role: Role, seed: int
) -> tuple[
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
]:
    """IPFM beat times (all beats up to the duration) and the generating signals on the grid."""
    prof = scenario.profile(role)
    n = math.ceil((scenario.duration_s + _MARGIN_S) * GRID_HZ) + 1
    t = np.arange(n, dtype=np.float64) / GRID_HZ
    rng = _rng(seed, role)
    arousal = _own_arousal(prof, rng, t)
    coupling = scenario.coupling
    if role == "therapist" and coupling is not None and coupling.strength != 0.0:
        # The patient's arousal is the first draw of the patient's own stream: the same signal
        # that drives the patient's beats.
        a_patient = _own_arousal(scenario.patient, _rng(seed, "patient"), t)
        arousal = arousal + coupling.strength * np.interp(t - coupling.lag_s, t, a_patient)
    jitter = _spectral_noise(rng, n, GRID_HZ, _gaussian_peak(0.0, _BREATH_JITTER_SD_HZ))
    mayer = _spectral_noise(rng, n, GRID_HZ, _gaussian_peak(RESONANCE_HZ, _MAYER_SD_HZ))
    pink = _spectral_noise(rng, n, GRID_HZ, _pink)
    breath_phase0, beat_phase0 = rng.random(2)

    breathing_hz = prof.breathing_bpm.at(t) / 60.0
    inst_breath_hz = breathing_hz * (1.0 + prof.breathing_jitter * jitter)
    dt = 1.0 / GRID_HZ
    breath_phase = 2.0 * np.pi * (breath_phase0 + _cumtrapz(inst_breath_hz, dt))
    vagal = np.clip(1.0 - prof.vagal_withdrawal * arousal, *_VAGAL_BOUNDS)
    rsa = prof.rsa_amplitude * _resonance(breathing_hz, prof.resonance_gain) * np.sin(breath_phase)
    modulation = (
        vagal * rsa
        + (1.0 - _MAYER_AROUSAL_LOSS * np.clip(arousal, 0.0, 1.0)) * prof.mayer_amplitude * mayer
        + vagal * prof.pink_amplitude * pink
    )
    np.maximum(modulation, _MIN_MODULATION, out=modulation)
    hr_bpm = prof.resting_hr_bpm + prof.hr_gain_bpm * arousal
    if np.any(hr_bpm <= 0):
        raise ParameterError(f"{role}: the arousal schedule drives the mean heart rate to <= 0 bpm")
    rate_hz = hr_bpm / 60.0 * (1.0 + modulation)
    phase = beat_phase0 + _cumtrapz(rate_hz, dt)
    levels = np.arange(math.ceil(phase[0]), math.floor(phase[-1]) + 1, dtype=np.float64)
    beats = np.interp(levels, phase, t)
    beats = beats[beats <= scenario.duration_s]
    return beats, t, arousal, hr_bpm, breathing_hz


def _cumtrapz(y: NDArray[np.float64], dt: float) -> NDArray[np.float64]:
    """Cumulative trapezoidal integral starting at 0 (same length as ``y``)."""
    out = np.empty_like(y)
    out[0] = 0.0
    np.cumsum((y[1:] + y[:-1]) * (0.5 * dt), out=out[1:])
    return out


def _quantise(times_s: NDArray[np.float64]) -> NDArray[np.int64]:
    """Beat times to integer 1/1024 s ticks (RR raw values are their differences)."""
    return np.rint(times_s * RR_UNITS_PER_S).astype(np.int64)


def _inject(
    beats: NDArray[np.float64], specs: Sequence[ArtifactSpec]
) -> tuple[NDArray[np.float64], NDArray[np.bool_], list[InjectedArtifact]]:
    """Apply artifacts to all beat times (beat 0 starts the first RR).

    Returns the new beat times, a mask of the RRs to keep (False inside dropouts; indexes RR k =
    beats[k+1] - beats[k]) and the ground truth (indexes filled in later).
    """
    n = beats.size
    if not specs:
        return beats, np.ones(n - 1, dtype=bool), []
    order = sorted(specs, key=lambda s: s.time_s)
    kinds = [s.kind for s in order]
    for k in kinds:
        if k not in ("ectopic", "missed", "extra", "dropout"):
            raise ParameterError(
                f"artifact kind must be ectopic, missed, extra or dropout, got {k!r}"
            )
    at = np.array([s.time_s for s in order], dtype=np.float64)
    j = np.clip(np.searchsorted(beats, at), 2, n - 3)
    if np.any(np.diff(j) < _MIN_ARTIFACT_SPACING):
        raise ParameterError(
            f"artifacts must be at least {_MIN_ARTIFACT_SPACING} beats apart; requested at "
            f"{at.tolist()} s (beats {j.tolist()})"
        )
    new = beats.copy()
    keep = np.ones(n, dtype=bool)
    extra_times: list[float] = []
    truth: list[tuple[ArtifactKind, float, int, tuple[float, float] | None]] = []
    for spec, jj in zip(order, j.tolist(), strict=True):
        rr_prev = beats[jj] - beats[jj - 1]
        if spec.kind == "ectopic":
            if not 0.0 < spec.prematurity < 1.0:
                raise ParameterError(f"prematurity must be in (0, 1), got {spec.prematurity!r}")
            new[jj] = beats[jj] - spec.prematurity * rr_prev
            truth.append(("ectopic", float(new[jj]), 0, None))
        elif spec.kind == "missed":
            keep[jj] = False
            truth.append(("missed", float(beats[jj + 1]), 1, None))
        elif spec.kind == "extra":
            t_extra = float(beats[jj - 1] + 0.45 * rr_prev)
            extra_times.append(t_extra)
            truth.append(("extra", t_extra, 0, None))
        else:
            if not spec.duration_s > 0:
                raise ParameterError(f"dropout duration must be > 0 s, got {spec.duration_s!r}")
            span = (float(spec.time_s), float(spec.time_s + spec.duration_s))
            truth.append(("dropout", span[1], 0, span))
    times = np.sort(np.concatenate([new[keep], np.asarray(extra_times, dtype=np.float64)]))
    rr_keep = np.ones(times.size - 1, dtype=bool)
    for kind, _, _, window in truth:
        if kind == "dropout" and window is not None:
            ends = times[1:]
            rr_keep &= ~((ends >= window[0]) & (ends < window[1]))
    injected = [
        InjectedArtifact(kind=kind, index=-1, time_s=t_at, n_lost=lost, window_s=window)
        for kind, t_at, lost, window in truth
    ]
    return times, rr_keep, injected


def simulate_rr(
    scenario: Scenario,
    role: Role = "patient",
    *,
    seed: int = 0,
    artifacts: Sequence[ArtifactSpec] = (),
) -> SimulatedRR:
    """Simulate one participant's RR intervals for a whole scenario (offline, vectorised).

    Parameters
    ----------
    scenario : Scenario
        What happens (duration, breathing, arousal, coupling).
    role : {"patient", "therapist"}
        Whose beats.
    seed : int
        Seed; the same (scenario, role, seed) always gives the same beats, and the patient's
        beats do not depend on the therapist's.
    artifacts : sequence of ArtifactSpec
        Artifacts to inject (at least 4 beats apart).

    Returns
    -------
    SimulatedRR
        Observed and clean RR (ms, quantised to 1/1024 s), beat times, ground truth.

    Notes
    -----
    IPFM: beat :math:`k` at :math:`t_k` with :math:`\\int_{t_{k-1}}^{t_k} f(t)dt = 1`,
    :math:`f = HR(t)/60\\,(1 + m(t))`; see the module docstring for :math:`m(t)`.
    :math:`RR_k = (\\lfloor 1024 t_k \\rceil - \\lfloor 1024 t_{k-1} \\rceil)/1.024` ms.

    References
    ----------
    Mateo J, Laguna P. IEEE Trans Biomed Eng 2000;47(8):985-996 (IPFM).
    McSharry PE et al. IEEE Trans Biomed Eng 2003;50(3):289-294 (RR spectrum).

    Examples
    --------
    >>> sim = simulate_rr(Scenario.calm(120.0), "patient", seed=1)
    >>> 100 < len(sim) < 180, bool(abs(60000 / sim.rr_ms.mean() - 70) < 8)
    (True, True)
    """
    if role not in ROLE_INDEX:
        raise ParameterError(f"role must be 'patient' or 'therapist', got {role!r}")
    beats, t, arousal, hr_bpm, breathing_hz = _beat_times(scenario, role, seed)
    if beats.size < 2 + 2 * _MIN_ARTIFACT_SPACING and artifacts:
        raise ParameterError(f"too few beats ({beats.size}) to inject artifacts")
    ticks_clean = _quantise(beats)
    clean_rr = np.diff(ticks_clean).astype(np.float64) * (_MS_PER_S / RR_UNITS_PER_S)
    times, rr_keep, injected = _inject(beats, artifacts)
    ticks = _quantise(times)
    raw = np.diff(ticks)[rr_keep]
    ends = times[1:][rr_keep]
    truth = tuple(
        InjectedArtifact(
            kind=a.kind,
            index=int(np.searchsorted(ends, a.time_s)),
            time_s=float(ends[min(int(np.searchsorted(ends, a.time_s)), ends.size - 1)]),
            n_lost=(
                int(np.count_nonzero(~rr_keep & _in_window(times[1:], a.window_s)))
                if a.window_s is not None
                else a.n_lost
            ),
            window_s=a.window_s,
        )
        for a in injected
    )
    step = int(GRID_HZ)
    return SimulatedRR(
        role=role,
        seed=seed,
        rr_ms=raw.astype(np.float64) * (_MS_PER_S / RR_UNITS_PER_S),
        rr_raw=raw,
        beat_times_s=ends,
        clean_rr_ms=clean_rr,
        clean_beat_times_s=beats[1:],
        first_beat_s=float(ticks[0]) / RR_UNITS_PER_S,
        artifacts=truth,
        truth_times_s=t[::step],
        truth_arousal=arousal[::step],
        truth_hr_bpm=hr_bpm[::step],
        truth_breathing_hz=breathing_hz[::step],
    )


def _in_window(x: NDArray[np.float64], window: tuple[float, float] | None) -> NDArray[np.bool_]:
    if window is None:
        return np.zeros(x.shape, dtype=bool)
    return (x >= window[0]) & (x < window[1])


def simulate_session(
    scenario: Scenario | None = None,
    *,
    seed: int = 0,
    artifacts: Mapping[str, Sequence[ArtifactSpec]] | None = None,
) -> dict[str, SimulatedRR]:
    """Simulate both participants of a scenario (default :meth:`Scenario.first_session`).

    Returns
    -------
    dict
        ``{"patient": SimulatedRR, "therapist": SimulatedRR}``.

    Examples
    --------
    >>> s = simulate_session(Scenario.calm(60.0), seed=3)
    >>> sorted(s)
    ['patient', 'therapist']
    """
    sc = scenario if scenario is not None else Scenario.first_session()
    arts = artifacts or {}
    return {
        role: simulate_rr(sc, role, seed=seed, artifacts=arts.get(role, ()))
        for role in ("patient", "therapist")
    }
