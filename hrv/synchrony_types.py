"""Parameters and result types of the synchrony analyses (:mod:`hrv.synchrony`).

The option names, the default grid rate (the 4 Hz of RR resampling, Task Force 1996), the WLCC
window, lag and step (rMEA-style defaults, Kleinbub & Ramseyer 2021), the SUSY segment and lag
(Tschacher & Meier 2020), the error, and the frozen result dataclasses: every synchrony number
comes in a :class:`SurrogateComparison`.

References
----------
Kleinbub JR, Ramseyer FT. rMEA: an R package to assess nonverbal synchronization in
motion energy analysis time-series. Psychother Res 2021;31(6):817-830.
Tschacher W, Meier D. Physiological synchrony in psychotherapy sessions. Psychother Res
2020;30(5):558-573.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from hrv.errors import SintoniaError

__all__ = [
    "DEFAULT_GRID_HZ",
    "DEFAULT_MAX_GAP_S",
    "N_PERMUTATIONS",
    "SUSY_MAX_LAG_S",
    "SUSY_SEGMENT_S",
    "WLCC_MAX_LAG_S",
    "WLCC_STEP_S",
    "WLCC_WINDOW_S",
    "DyadGrid",
    "GridSignal",
    "Leader",
    "LiveSynchrony",
    "PeakRule",
    "PseudoDyadTest",
    "PseudoStatistic",
    "SegmentSynchrony",
    "SurrogateComparison",
    "SynchronyParameterError",
    "WindowedCrossCorrelation",
]


PeakRule = Literal["max", "max_abs", "boker"]
Leader = Literal["patient", "therapist", "none"]
GridSignal = Literal["hr", "rmssd"]
PseudoStatistic = Literal["z", "abs_z"]

#: Default sampling rate of the common grid, Hz (the 4 Hz of RR resampling, Task Force 1996).
DEFAULT_GRID_HZ: Final[float] = 4.0
#: Longest gap between beats bridged by interpolation, s (longer: a dropout, left NaN).
DEFAULT_MAX_GAP_S: Final[float] = 3.0
#: WLCC window length, s (rMEA-style default).
WLCC_WINDOW_S: Final[float] = 60.0
#: WLCC maximum lag either way, s (rMEA-style default).
WLCC_MAX_LAG_S: Final[float] = 5.0
#: WLCC window increment, s (rMEA-style default: windows overlap by half).
WLCC_STEP_S: Final[float] = 30.0
#: SUSY segment length, s (Tschacher & Meier 2020 used 30 s segments).
SUSY_SEGMENT_S: Final[float] = 30.0
#: SUSY maximum lag either way, s.
SUSY_MAX_LAG_S: Final[float] = 5.0
#: Default number of random re-pairings of sessions behind the pseudo-dyad overall p-value.
N_PERMUTATIONS: Final[int] = 1000
#: |r| is clipped here before the Fisher transform (atanh(1) is infinite); z(0.9999999) = 8.4.
_R_CLIP: Final[float] = 1.0 - 1e-7
#: Fewest samples a correlation is computed from.
_MIN_SAMPLES: Final[int] = 3
_MS_PER_MIN: Final[float] = 60_000.0


class SynchronyParameterError(SintoniaError, ValueError):
    """Parameters or series that cannot describe a synchrony analysis (shape, rate, lengths)."""


# ------------------------------------------------------------------------------------ results


@dataclass(frozen=True, slots=True)
class SurrogateComparison:
    """A synchrony statistic next to its surrogate (null) distribution.

    Attributes
    ----------
    method : str
        ``"window_shift"``, ``"segment_shift"`` or ``"pseudo_dyad"``.
    statistic : str
        What ``observed`` is (e.g. ``"mean peak Fisher z"``).
    observed : float
        The statistic of the real pairing (Fisher z units).
    surrogate_mean, surrogate_sd : float
        Mean and SD (ddof 1) of the statistic over the individual surrogate pairings (pseudo
        windows, pseudo segments, pseudo dyads).
    effect_size : float
        ``(observed - surrogate_mean) / surrogate_sd`` (SUSY's ES; Tschacher & Meier 2020).
    percentile : float
        Percentile of ``observed`` in the null distribution of the session-level statistic, 0-100
        (ties count half).
    p_value : float
        One-sided ``(1 + #{null >= observed}) / (1 + n_null)`` (Phipson & Smyth 2010): small when
        the real pairing is more synchronous than the surrogates.
    n_surrogates : int
        Size of that null distribution.
    """

    method: str
    statistic: str
    observed: float
    surrogate_mean: float
    surrogate_sd: float
    effect_size: float
    percentile: float
    p_value: float
    n_surrogates: int

    def significant(self, alpha: float = 0.05) -> bool:
        """Whether ``p_value < alpha`` (one-sided: more synchrony than the surrogates)."""
        return bool(self.p_value < alpha)


@dataclass(frozen=True, eq=False, slots=True)
class DyadGrid:
    """Both people's signal on one uniform time grid.

    Attributes
    ----------
    time_s : numpy.ndarray
        Grid times, s (same clock as the beat times).
    patient, therapist : numpy.ndarray
        The signal (bpm for HR, ms for RMSSD); NaN inside dropouts and outside a person's beats.
    fs_hz : float
        Grid rate, Hz.
    signal : {"hr", "rmssd"}
        What the values are.
    """

    time_s: NDArray[np.float64]
    patient: NDArray[np.float64]
    therapist: NDArray[np.float64]
    fs_hz: float
    signal: str

    def __len__(self) -> int:
        return int(self.time_s.shape[0])


@dataclass(frozen=True, eq=False, slots=True)
class WindowedCrossCorrelation:
    """Windowed lagged cross-correlation of patient and therapist (Boker et al. 2002).

    Attributes
    ----------
    window_start_s : numpy.ndarray
        Start of each window, s from the first sample of the series.
    lags_s : numpy.ndarray
        Lags, s; positive: the therapist follows the patient.
    r : numpy.ndarray
        Pearson r, shape (n_windows, n_lags); NaN for windows with missing samples.
    z : numpy.ndarray
        Fisher z of ``r``.
    peak_r : numpy.ndarray
        Peak r of each window (rule ``peak``); NaN where invalid or no peak.
    peak_lag_s : numpy.ndarray
        Lag of that peak, s.
    valid : numpy.ndarray of bool
        Windows with a peak.
    mean_z_by_lag : numpy.ndarray
        Mean Fisher z over the valid windows at each lag (the session's cross-correlogram).
    mean_peak_r : float
        ``tanh(mean(z(peak_r)))`` over valid windows.
    mean_peak_lag_s : float
        Mean of ``peak_lag_s`` over valid windows, s.
    profile_lag_s : float
        Lag of the peak (same rule) of ``mean_z_by_lag``, s: the session's dominant lag, robust to
        windows whose peak is noise.
    leader : {"patient", "therapist", "none"}
        From the sign of ``profile_lag_s`` (> 0: patient leads).
    fraction_patient_leads, fraction_therapist_leads, fraction_simultaneous : float
        Fractions of valid windows whose peak lag is > 0, < 0, == 0.
    peak : str
        The peak-picking rule.
    window_s, max_lag_s, step_s, fs_hz : float
        Parameters.
    surrogate : SurrogateComparison
        Mean peak Fisher z of the real windows against windows paired with non-overlapping
        windows of the other person (circular window shifts).
    """

    window_start_s: NDArray[np.float64]
    lags_s: NDArray[np.float64]
    r: NDArray[np.float64]
    z: NDArray[np.float64]
    peak_r: NDArray[np.float64]
    peak_lag_s: NDArray[np.float64]
    valid: NDArray[np.bool_]
    mean_z_by_lag: NDArray[np.float64]
    mean_peak_r: float
    mean_peak_lag_s: float
    profile_lag_s: float
    leader: Leader
    fraction_patient_leads: float
    fraction_therapist_leads: float
    fraction_simultaneous: float
    peak: str
    window_s: float
    max_lag_s: float
    step_s: float
    fs_hz: float
    surrogate: SurrogateComparison


@dataclass(frozen=True, eq=False, slots=True)
class SegmentSynchrony:
    """SUSY-style segment synchrony with its pseudo-pair (segment shift) comparison.

    Attributes
    ----------
    segment_start_s : numpy.ndarray
        Start of each segment, s from the first sample.
    lags_s : numpy.ndarray
        Lags, s (positive: the therapist follows the patient).
    r : numpy.ndarray
        Within-segment lagged Pearson r of the real pairs, shape (n_segments, n_lags).
    z_segment : numpy.ndarray
        Mean Fisher z over all lags of each real segment pair (NaN where invalid).
    valid : numpy.ndarray of bool
        Segments without missing samples or flat signal.
    z, abs_z : SurrogateComparison
        Mean over segments of the mean (signed / absolute) Fisher z over all lags.
    z_patient_leads, z_therapist_leads : SurrogateComparison
        The same over positive lags only (therapist follows) and negative lags only.
    abs_z_patient_leads, abs_z_therapist_leads : SurrogateComparison
        Absolute variants of the lead/lag split.
    segment_s, max_lag_s, fs_hz : float
        Parameters.
    """

    segment_start_s: NDArray[np.float64]
    lags_s: NDArray[np.float64]
    r: NDArray[np.float64]
    z_segment: NDArray[np.float64]
    valid: NDArray[np.bool_]
    z: SurrogateComparison
    abs_z: SurrogateComparison
    z_patient_leads: SurrogateComparison
    z_therapist_leads: SurrogateComparison
    abs_z_patient_leads: SurrogateComparison
    abs_z_therapist_leads: SurrogateComparison
    segment_s: float
    max_lag_s: float
    fs_hz: float


@dataclass(frozen=True, eq=False, slots=True)
class PseudoDyadTest:
    """Real dyads against all cross-session pseudo dyads.

    Attributes
    ----------
    pair_statistic : numpy.ndarray
        Shape (n_sessions, n_sessions): the statistic for the patient of session i with the
        therapist of session j over their common length; the diagonal holds the real dyads.
    dyads : tuple of SurrogateComparison
        One per session: its real dyad against every off-diagonal (pseudo) pairing.
    overall : SurrogateComparison
        Mean of the real dyads against the mean over uniformly random re-pairings of the
        sessions (a permutation test; the effect size is against the pseudo dyads).
    statistic : str
        ``"z"`` or ``"abs_z"`` (SUSY mean Fisher z, signed or absolute).
    """

    pair_statistic: NDArray[np.float64]
    dyads: tuple[SurrogateComparison, ...]
    overall: SurrogateComparison
    statistic: str


@dataclass(frozen=True, slots=True)
class LiveSynchrony:
    """The live therapist-patient correlation over the last window.

    Attributes
    ----------
    r : float
        Peak Pearson r within the lags (rule ``peak``); NaN when not valid.
    lag_s : float
        Its lag, s (positive: the therapist follows the patient).
    r_zero_lag : float
        Pearson r at lag 0.
    valid : bool
        False when the window is not complete, has missing samples or a flat signal.
    """

    r: float
    lag_s: float
    r_zero_lag: float
    valid: bool
