"""A physiologically plausible two-person RR simulator (patient and therapist), deterministic.

Model
-----
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

:class:`SimulatedSource` turns the beats into real Heart Rate Measurement (0x2A37) payloads, one
notification per participant about every second with the RRs completed since the previous one,
and feeds them through :class:`sensor.decoder.NotificationDecoder`, exactly like a BLE strap, at
real time, accelerated (``speed``) or as fast as possible.

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

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.fft import next_fast_len

from hrv.errors import ParameterError
from sensor.decoder import NotificationDecoder
from sensor.gatt import RR_UNITS_PER_S, encode_heart_rate_measurement
from sensor.types import DeviceEvent, SourceItem

__all__ = [
    "GRID_HZ",
    "ArtifactKind",
    "ArtifactSpec",
    "Coupling",
    "InjectedArtifact",
    "Notification",
    "ParticipantProfile",
    "Role",
    "Scenario",
    "Schedule",
    "SimulatedRR",
    "SimulatedSource",
    "notifications_for",
    "simulate_rr",
    "simulate_session",
]

logger = logging.getLogger(__name__)

Role = Literal["patient", "therapist"]
ArtifactKind = Literal["ectopic", "missed", "extra", "dropout"]

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
_ROLE_INDEX: Final[dict[str, int]] = {"patient": 0, "therapist": 1}
_MS_PER_S: Final[float] = 1000.0


# ------------------------------------------------------------------------------------ scenario


@dataclass(frozen=True)
class Schedule:
    """A piecewise-linear function of time given by key frames.

    Attributes
    ----------
    times_s : tuple of float
        Key-frame times, s from the start of the session, non-decreasing.
    values : tuple of float
        Values at those times; held constant before the first and after the last.

    Examples
    --------
    >>> Schedule((0.0, 60.0), (12.0, 6.0)).at([0.0, 30.0, 90.0]).tolist()
    [12.0, 9.0, 6.0]
    """

    times_s: tuple[float, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.times_s) == 0 or len(self.times_s) != len(self.values):
            raise ParameterError(
                f"a schedule needs as many times as values (>= 1), got {len(self.times_s)} "
                f"times and {len(self.values)} values"
            )
        if any(b < a for a, b in zip(self.times_s, self.times_s[1:], strict=False)):
            raise ParameterError(f"schedule times must be non-decreasing, got {self.times_s}")

    @classmethod
    def constant(cls, value: float) -> Schedule:
        """A schedule that is ``value`` at all times."""
        return cls((0.0,), (float(value),))

    def at(self, t_s: ArrayLike) -> NDArray[np.float64]:
        """Value at times ``t_s`` (s), linear between key frames."""
        return np.interp(
            np.asarray(t_s, dtype=np.float64),
            np.asarray(self.times_s, dtype=np.float64),
            np.asarray(self.values, dtype=np.float64),
        )


@dataclass(frozen=True)
class ParticipantProfile:
    """One person's cardiac physiology and what happens to them during the session.

    Attributes
    ----------
    resting_hr_bpm : float
        Mean heart rate at arousal 0, beats/min.
    hr_gain_bpm : float
        Heart-rate rise per unit of arousal, beats/min.
    breathing_bpm : Schedule
        Breathing rate over time, breaths/min (6 = paced resonance breathing).
    arousal : Schedule
        Scheduled arousal over time (0 rest, 1 strong stress response), dimensionless.
    rsa_amplitude : float
        RSA amplitude as a fraction of the heart rate at arousal 0, away from resonance.
    mayer_amplitude : float
        Standard deviation of the Mayer-wave modulation, fraction of the heart rate.
    pink_amplitude : float
        Standard deviation of the 1/f modulation, fraction of the heart rate.
    arousal_fluctuation : float
        Standard deviation of the spontaneous arousal fluctuations, arousal units.
    vagal_withdrawal : float
        Fraction of the vagal (RSA, 1/f) modulation lost per unit of arousal.
    breathing_jitter : float
        Standard deviation of the relative breath-to-breath rate variation.
    resonance_gain : float
        Extra RSA gain at the 0.1 Hz baroreflex resonance (g(0.1 Hz) = 1 + resonance_gain).
    """

    resting_hr_bpm: float = 70.0
    hr_gain_bpm: float = 22.0
    breathing_bpm: Schedule = field(default_factory=lambda: Schedule.constant(14.0))
    arousal: Schedule = field(default_factory=lambda: Schedule.constant(0.0))
    rsa_amplitude: float = 0.05
    mayer_amplitude: float = 0.02
    pink_amplitude: float = 0.015
    arousal_fluctuation: float = 0.08
    vagal_withdrawal: float = 0.8
    breathing_jitter: float = 0.05
    resonance_gain: float = 2.0


@dataclass(frozen=True)
class Coupling:
    """The therapist partly follows the patient's arousal, with a lag.

    ``a_therapist(t) = own(t) + strength * a_patient(t - lag_s)``.

    Attributes
    ----------
    strength : float
        Fraction of the patient's arousal (schedule and fluctuations) the therapist takes on.
    lag_s : float
        Delay of the therapist behind the patient, s.
    """

    strength: float = 0.5
    lag_s: float = 7.0


@dataclass(frozen=True)
class Scenario:
    """What the simulator plays: duration, the two people, and their coupling.

    Attributes
    ----------
    duration_s : float
        Length of the session, s.
    patient, therapist : ParticipantProfile
        The two people.
    coupling : Coupling or None
        How the therapist follows the patient; None for two independent people.
    name : str
        A label for logs and file headers.
    """

    duration_s: float
    patient: ParticipantProfile = field(default_factory=ParticipantProfile)
    therapist: ParticipantProfile = field(default_factory=ParticipantProfile)
    coupling: Coupling | None = field(default_factory=Coupling)
    name: str = "custom"

    def __post_init__(self) -> None:
        if not self.duration_s > 0:
            raise ParameterError(f"duration_s must be > 0 s, got {self.duration_s!r}")

    def profile(self, role: Role) -> ParticipantProfile:
        """The profile of ``role`` ("patient" or "therapist")."""
        if role == "patient":
            return self.patient
        if role == "therapist":
            return self.therapist
        raise ParameterError(f"role must be 'patient' or 'therapist', got {role!r}")

    @classmethod
    def first_session(cls, duration_s: float = 3600.0) -> Scenario:
        """The default 60-minute first session (phases as in DESIGN.md), scaled to ``duration_s``.

        Patient: rest (welcome, 0-10 min), a stress episode during the mind-body-context map
        (10-25 min: HR up about 17 bpm, RMSSD down, faster breathing) with recovery, paced
        breathing at 6/min during rehearsal (45-50 min), calm closing. Therapist: calmer, slower
        breathing, following 50 % of the patient's arousal with a 7 s lag.
        """
        k = duration_s / 3600.0

        def m(minutes: float) -> float:
            return minutes * 60.0 * k

        patient = ParticipantProfile(
            resting_hr_bpm=74.0,
            hr_gain_bpm=22.0,
            breathing_bpm=Schedule(
                (0.0, m(10), m(12), m(23), m(27), m(45), m(45.5), m(50), m(50.5)),
                (14.0, 14.0, 18.0, 18.0, 14.0, 14.0, 6.0, 6.0, 13.0),
            ),
            arousal=Schedule(
                (0.0, m(10), m(12), m(22), m(27), m(40), m(55), m(60)),
                (0.05, 0.1, 0.8, 0.8, 0.2, 0.15, 0.05, 0.05),
            ),
            arousal_fluctuation=0.12,
        )
        therapist = ParticipantProfile(
            resting_hr_bpm=66.0,
            hr_gain_bpm=18.0,
            breathing_bpm=Schedule.constant(11.0),
            arousal=Schedule.constant(0.0),
            rsa_amplitude=0.055,
            arousal_fluctuation=0.05,
        )
        return cls(duration_s, patient, therapist, Coupling(0.5, 7.0), name="first-session")

    @classmethod
    def calm(cls, duration_s: float = 600.0, breathing_bpm: float = 12.0) -> Scenario:
        """Two people at rest, breathing steadily at ``breathing_bpm``, no arousal schedule."""
        patient = ParticipantProfile(breathing_bpm=Schedule.constant(breathing_bpm))
        therapist = ParticipantProfile(
            resting_hr_bpm=64.0, breathing_bpm=Schedule.constant(breathing_bpm * 0.9)
        )
        return cls(duration_s, patient, therapist, Coupling(0.3, 7.0), name="calm")


# ------------------------------------------------------------------------------------ artifacts


@dataclass(frozen=True)
class ArtifactSpec:
    """An artifact to inject at (the first beat at or after) ``time_s``.

    Attributes
    ----------
    kind : {"ectopic", "missed", "extra", "dropout"}
        ``ectopic``: a premature beat (RR shortened by ``prematurity``, the next RR lengthened by
        the same amount, a compensatory pause); ``missed``: a beat not detected (two RR merged);
        ``extra``: a false detection splitting one RR (at 45 %); ``dropout``: no beats for
        ``duration_s`` (contact or radio lost; the RRs in the window are lost).
    time_s : float
        Where, s from the session start.
    duration_s : float
        Length of a dropout, s.
    prematurity : float
        Fraction by which an ectopic beat comes early.
    """

    kind: ArtifactKind
    time_s: float
    duration_s: float = 4.0
    prematurity: float = 0.3


@dataclass(frozen=True)
class InjectedArtifact:
    """Ground truth of one injected artifact.

    Attributes
    ----------
    kind : str
        As in :class:`ArtifactSpec`.
    index : int
        Index in the observed ``rr_ms`` of the affected interval: the premature RR (ectopic), the
        merged long RR (missed), the first of the two split parts (extra), the first RR after the
        gap (dropout).
    time_s : float
        Beat time of that interval (end of it), s.
    n_lost : int
        RR intervals lost (1 for missed, the number in the window for a dropout, else 0).
    window_s : tuple of float or None
        (start, end) of a dropout, s.
    """

    kind: ArtifactKind
    index: int
    time_s: float
    n_lost: int = 0
    window_s: tuple[float, float] | None = None


# ------------------------------------------------------------------------------------ results


@dataclass(frozen=True, eq=False)
class SimulatedRR:
    """One participant's simulated beats and the truth behind them.

    Attributes
    ----------
    role : str
        "patient" or "therapist".
    seed : int
        The seed used.
    rr_ms : numpy.ndarray
        Observed RR intervals (artifacts included), float64 ms, multiples of 1000/1024 ms.
    rr_raw : numpy.ndarray
        The same in 1/1024 s, int64 (what a strap sends).
    beat_times_s : numpy.ndarray
        True time of the end of each observed RR, s from the session start (float64).
    clean_rr_ms, clean_beat_times_s : numpy.ndarray
        The same before artifacts.
    first_beat_s : float
        Time of the beat that starts the first RR (rounded to 1/1024 s like the others).
    artifacts : tuple of InjectedArtifact
        Ground truth, sorted by time.
    truth_times_s, truth_arousal, truth_hr_bpm, truth_breathing_hz : numpy.ndarray
        The generating signals on a 1 Hz grid: arousal (coupling included), mean heart rate
        (bpm) and breathing rate (Hz).
    """

    role: str
    seed: int
    rr_ms: NDArray[np.float64]
    rr_raw: NDArray[np.int64]
    beat_times_s: NDArray[np.float64]
    clean_rr_ms: NDArray[np.float64]
    clean_beat_times_s: NDArray[np.float64]
    first_beat_s: float
    artifacts: tuple[InjectedArtifact, ...]
    truth_times_s: NDArray[np.float64]
    truth_arousal: NDArray[np.float64]
    truth_hr_bpm: NDArray[np.float64]
    truth_breathing_hz: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.rr_ms.shape[0])


# ------------------------------------------------------------------------------------ maths


def _rng(seed: int, role: Role) -> np.random.Generator:
    """Independent stream per (seed, role): the patient's beats do not depend on the therapist."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_ROLE_INDEX[role],)))


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
    if role not in _ROLE_INDEX:
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


# ------------------------------------------------------------------------------------ payloads


@dataclass(frozen=True, slots=True)
class Notification:
    """One simulated 0x2A37 notification.

    Attributes
    ----------
    time_s : float
        When the host receives it, s from the session start.
    payload : bytes
        The characteristic value.
    n_rr : int
        Number of RR values in it.
    """

    time_s: float
    payload: bytes
    n_rr: int


def notifications_for(
    sim: SimulatedRR,
    *,
    interval_s: float = 1.0,
    phase_s: float = 0.0,
    latency_s: tuple[float, float] = (0.01, 0.06),
    seed: int | None = None,
) -> list[Notification]:
    """Pack a participant's beats into 0x2A37 notifications, as a strap sends them.

    A strap notifies every ``interval_s`` (1 s for the usual straps) with the RRs completed since
    its previous notification; the host receives each one after a radio latency drawn uniformly in
    ``latency_s``. Notifications falling inside a dropout are not sent. The reported heart rate is
    ``round(60000 / mean RR)`` of the packet (the previous value for a packet without RR).

    Parameters
    ----------
    sim : SimulatedRR
        The beats.
    interval_s : float
        Notification period, s.
    phase_s : float
        Offset of the first notification within the period, s.
    latency_s : (float, float)
        Range of the host receipt latency, s.
    seed : int, optional
        Seed of the latency draws (default: the simulation's seed).

    Returns
    -------
    list of Notification
        In time order.

    Examples
    --------
    >>> sim = simulate_rr(Scenario.calm(30.0), seed=2)
    >>> notes = notifications_for(sim)
    >>> sum(n.n_rr for n in notes) == len(sim)
    True
    """
    if not interval_s > 0:
        raise ParameterError(f"interval_s must be > 0 s, got {interval_s!r}")
    ends = sim.beat_times_s
    if ends.size == 0:
        return []
    first = sim.first_beat_s
    n_notes = math.ceil((float(ends[-1]) - phase_s) / interval_s) + 1
    sent = phase_s + interval_s * np.arange(n_notes, dtype=np.float64)
    sent = sent[sent > first]
    # Sent after the last beat (the RR values up to the send time go in).
    if sent.size == 0 or sent[-1] < ends[-1]:
        sent = np.append(sent, (sent[-1] if sent.size else first) + interval_s)
    rng = np.random.default_rng(
        np.random.SeedSequence(
            sim.seed if seed is None else seed, spawn_key=(7, _ROLE_INDEX[sim.role])
        )
    )
    received = sent + rng.uniform(latency_s[0], latency_s[1], sent.size)
    silent = np.zeros(sent.size, dtype=bool)
    for a in sim.artifacts:
        if a.window_s is not None:
            silent |= (sent >= a.window_s[0]) & (sent < a.window_s[1])
    # A beat goes in the first notification sent at or after it; the beats a silent (lost)
    # notification would have carried go in the next one that is sent.
    owner = np.searchsorted(sent, ends, side="left")
    index = np.arange(sent.size)
    next_sent = np.minimum.accumulate(np.where(silent, sent.size, index)[::-1])[::-1]
    owner = next_sent[owner]
    if np.any(owner >= sent.size):
        logger.warning(
            "%s: beats after the last notification (dropout at the end) not sent", sim.role
        )
    bounds = np.searchsorted(owner, np.arange(sent.size + 1), side="left")
    raw = sim.rr_raw.tolist()
    rr_ms = sim.rr_ms
    out: list[Notification] = []
    hr = round(60000.0 / float(rr_ms[0]))
    for i in range(sent.size):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        if silent[i]:
            continue
        if hi > lo:
            hr = round(60000.0 / float(rr_ms[lo:hi].mean()))
        payload = encode_heart_rate_measurement(max(0, min(hr, 0xFFFF)), raw[lo:hi], contact=True)
        out.append(Notification(float(received[i]), payload, hi - lo))
    return out


# ------------------------------------------------------------------------------------ source


class SimulatedSource:
    """A :class:`~sensor.types.BeatSource` playing simulated straps through the real decoder.

    Each participant's beats are packed into 0x2A37 payloads (:func:`notifications_for`) and fed,
    at their receipt times, to a :class:`~sensor.decoder.NotificationDecoder` per participant,
    exactly as BLE notifications are; the items it returns (beat batches, contact events) are
    yielded in time order. A ``DeviceEvent("connected")`` per participant comes first.

    Parameters
    ----------
    scenario : Scenario, optional
        Default :meth:`Scenario.first_session`.
    seed : int
        Seed of the simulation (see :func:`simulate_rr`).
    roles : sequence of str
        Which participants to stream.
    speed : float or None
        1.0 real time, 20.0 twenty times faster, None as fast as possible.
    artifacts : mapping of role to ArtifactSpec sequence, optional
        Artifacts to inject per participant.
    start_time_s : float, optional
        Host time (s) of the session start; default ``clock()`` when iteration starts. Host
        times are ``start_time_s + simulated time``, also when accelerated, so beat times stay
        consistent with the RR values.
    clock : callable
        Wall clock, s (``time.time``); injected by tests.
    sleep : callable
        Awaitable sleep (``asyncio.sleep``); injected by tests.
    notify_interval_s : float
        Notification period of the simulated straps, s.

    Examples
    --------
    >>> import asyncio
    >>> async def first_beats():
    ...     src = SimulatedSource(Scenario.calm(20.0), seed=1, roles=("patient",), speed=None)
    ...     return [len(i) async for i in src if not isinstance(i, DeviceEvent)]
    >>> sum(asyncio.run(first_beats())) > 15
    True
    """

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        seed: int = 0,
        roles: Sequence[Role] = ("patient", "therapist"),
        speed: float | None = 1.0,
        artifacts: Mapping[str, Sequence[ArtifactSpec]] | None = None,
        start_time_s: float | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        notify_interval_s: float = 1.0,
    ) -> None:
        if speed is not None and not speed > 0:
            raise ParameterError(f"speed must be > 0 or None (as fast as possible), got {speed!r}")
        for r in roles:
            if r not in _ROLE_INDEX:
                raise ParameterError(f"role must be 'patient' or 'therapist', got {r!r}")
        self.scenario = scenario if scenario is not None else Scenario.first_session()
        self.seed = seed
        self.roles = tuple(roles)
        self.speed = speed
        self._artifacts = dict(artifacts or {})
        self._start_time_s = start_time_s
        self._clock = clock
        self._sleep = sleep
        self._interval_s = float(notify_interval_s)
        self.decoders: dict[str, NotificationDecoder] = {
            r: NotificationDecoder(r, f"simulator:{seed}:{r}") for r in self.roles
        }
        self.simulations: dict[str, SimulatedRR] = {}
        self._closed = False

    def __aiter__(self) -> AsyncIterator[SourceItem]:
        return self._run()

    async def aclose(self) -> None:
        """Stop the stream (the iterator ends at its next step)."""
        self._closed = True

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def _is_closed(self) -> bool:
        # A call, not an attribute, so that type checkers do not assume it unchanged by an await.
        return self._closed

    def _schedule(self) -> tuple[NDArray[np.float64], list[tuple[str, bytes]]]:
        events: list[tuple[float, int, str, bytes]] = []
        for k, role in enumerate(self.roles):
            sim = simulate_rr(
                self.scenario, role, seed=self.seed, artifacts=self._artifacts.get(role, ())
            )
            self.simulations[role] = sim
            # Spread the straps within the period so their notifications do not coincide.
            phase = self._interval_s * (0.3 + 0.45 * k) % self._interval_s
            notes = notifications_for(sim, interval_s=self._interval_s, phase_s=phase)
            events.extend((n.time_s, k, role, n.payload) for n in notes)
        events.sort(key=lambda e: (e[0], e[1]))
        times = np.array([e[0] for e in events], dtype=np.float64)
        return times, [(e[2], e[3]) for e in events]

    async def _run(self) -> AsyncIterator[SourceItem]:
        # the whole session is generated up front (about 0.16 s per hour): off the event loop, so
        # that starting one session never stalls the others
        times, packets = await asyncio.to_thread(self._schedule)
        t0 = self._start_time_s if self._start_time_s is not None else self._clock()
        wall0 = self._clock()
        for who in self.roles:
            yield DeviceEvent(
                who,
                self.decoders[who].device,
                "connected",
                t0,
                detail={"scenario": self.scenario.name, "seed": str(self.seed)},
            )
        for t_sim, (role, payload) in zip(times.tolist(), packets, strict=True):
            if self.closed:
                return
            if self.speed is not None:
                delay = wall0 + t_sim / self.speed - self._clock()
                if delay > 0:
                    await self._sleep(delay)
                    if self._is_closed():
                        return
            else:
                await asyncio.sleep(0)
            for item in self.decoders[role].feed(t0 + t_sim, payload):
                yield item
