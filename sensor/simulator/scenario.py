"""What the simulator plays (:class:`Scenario`: two people, their schedules, their coupling, the
artifacts to inject) and what it returns (:class:`SimulatedRR`, with the truth behind the beats).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hrv.errors import ParameterError

__all__ = [
    "ROLE_INDEX",
    "ArtifactKind",
    "ArtifactSpec",
    "Coupling",
    "InjectedArtifact",
    "ParticipantProfile",
    "Role",
    "Scenario",
    "Schedule",
    "SimulatedRR",
]

Role = Literal["patient", "therapist"]
ArtifactKind = Literal["ectopic", "missed", "extra", "dropout"]
#: Index of each role in the seed's spawn key: the patient's and the therapist's random
#: streams are independent (changing an index changes every simulation of that role).
ROLE_INDEX: Final[dict[str, int]] = {"patient": 0, "therapist": 1}


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
