"""The live co-regulation reading: the report's windowed cross-correlation over the last minutes.

The therapist's live page shows how the two heart rates move together. It uses the very
definition of the post-session report (:mod:`hrv.synchrony`): heart rate of both people on one
4 Hz grid smoothed over 10 s (:func:`hrv.synchrony.dyad_grid`), windowed lagged cross-correlation
with 60 s windows, lags up to +-5 s and a 30 s step
(:func:`hrv.synchrony.windowed_cross_correlation`,
Boker et al. 2002), compared with the window-shift surrogates (Moulder et al. 2018). Only the
span is shorter: the last few minutes instead of the whole session, so that the reading changes
over minutes, not from one window to the next.

What is added here is what a live reading needs to be read honestly: an interval around the mean
peak correlation, the surrogate (chance) level next to it, and a lead that is only named when it is
stable (see :func:`coregulation`).

References
----------
Boker SM, Xu M, Rotondo JL, King K. Windowed cross-correlation and peak picking for the analysis
of variability in the association between behavioral time series. Psychol Methods
2002;7(3):338-355.
Moulder RG, Boker SM, Ramseyer F, Tschacher W. Determining synchrony between behavioral time
series: an application of surrogate data generation for establishing falsifiable null-hypotheses.
Psychol Methods 2018;23(4):757-773.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from hrv.synchrony import (
    DEFAULT_GRID_HZ,
    WLCC_MAX_LAG_S,
    WLCC_STEP_S,
    WLCC_WINDOW_S,
    Leader,
    dyad_grid,
    fisher_z,
    windowed_cross_correlation,
)

__all__ = [
    "COREGULATION_SMOOTH_S",
    "COREGULATION_SPAN_S",
    "LEAD_MIN_WINDOWS",
    "LEAD_STABLE_FRACTION",
    "CoRegulation",
    "coregulation",
]

#: Span of the live reading, s (8 min: 14 windows of 60 s every 30 s, 9 window-shift surrogates).
COREGULATION_SPAN_S: Final[float] = 480.0
#: Centred moving average of both heart rates before the correlation, s (as the review's grid:
#: removes each person's own breathing and 0.1 Hz waves, keeps slower arousal changes).
COREGULATION_SMOOTH_S: Final[float] = 10.0
#: Share of the windows whose peak lag must agree in sign before a lead is named.
LEAD_STABLE_FRACTION: Final[float] = 0.75
#: Fewest valid windows before a lead is named (6 windows: 3.5 minutes).
LEAD_MIN_WINDOWS: Final[int] = 6
#: Coverage of the interval around the mean peak correlation.
_CONFIDENCE: Final[float] = 0.95


@dataclass(frozen=True, slots=True)
class CoRegulation:
    """The live co-regulation reading over the last minutes.

    Attributes
    ----------
    r : float
        Mean peak correlation of the windows, ``tanh(mean peak Fisher z)``, -1..1.
    r_low, r_high : float
        Its 95 % interval (NaN with fewer than 2 independent windows).
    n_windows : int
        Valid windows (no missing sample, no flat signal).
    chance_r : float
        The same statistic for the window-shift surrogates (two people unrelated by time):
        ``tanh(surrogate mean z)``. Picking a peak among 41 lags makes it positive.
    above_chance : bool
        True when the observed value exceeds every surrogate (``p`` at its floor).
    p_value : float
        One-sided surrogate p-value, resolution ``1 / (n_surrogates + 1)``.
    n_surrogates : int
    lag_s : float
        Lag of the peak of the mean z by lag, s (positive: the therapist follows the patient).
    lag_at_edge : bool
        The lag is at the edge of the searched range (+-``max_lag_s``): no lead is read from it.
    lead : {"patient", "therapist", "none"}
        Who leads, only when the lead is stable (see :func:`coregulation`); else ``"none"``.
    start_s, end_s : float
        The span read, s.
    window_s, max_lag_s, step_s, fs_hz, smooth_s : float
        The parameters (the report's).
    """

    r: float
    r_low: float
    r_high: float
    n_windows: int
    chance_r: float
    above_chance: bool
    p_value: float
    n_surrogates: int
    lag_s: float
    lag_at_edge: bool
    lead: Leader
    start_s: float
    end_s: float
    window_s: float
    max_lag_s: float
    step_s: float
    fs_hz: float
    smooth_s: float


def coregulation(
    patient_time_s: ArrayLike,
    patient_rr_ms: ArrayLike,
    therapist_time_s: ArrayLike,
    therapist_rr_ms: ArrayLike,
    *,
    end_s: float,
    span_s: float = COREGULATION_SPAN_S,
    smooth_s: float = COREGULATION_SMOOTH_S,
    fs_hz: float = DEFAULT_GRID_HZ,
    window_s: float = WLCC_WINDOW_S,
    max_lag_s: float = WLCC_MAX_LAG_S,
    step_s: float = WLCC_STEP_S,
) -> CoRegulation:
    """Windowed cross-correlation of the two heart rates over ``[end - span, end]``.

    Parameters
    ----------
    patient_time_s, patient_rr_ms : array_like
        The patient's beat times (s, on the clock shared with the therapist) and RR intervals (ms).
    therapist_time_s, therapist_rr_ms : array_like
        The same for the therapist.
    end_s : float
        End of the span, s (normally the earlier of the two last beats).
    span_s : float
        Length of the span, s (default 8 min).
    smooth_s, fs_hz, window_s, max_lag_s, step_s : float
        Grid smoothing (s), grid rate (Hz), window (s), largest lag (s) and step (s): the
        defaults are the report's (:mod:`hrv.synchrony`).

    Returns
    -------
    CoRegulation

    Raises
    ------
    hrv.errors.InsufficientDataError
        The span holds too few beats, or too few windows for the surrogate comparison.
    hrv.synchrony.SynchronyParameterError
        Inconsistent series or parameters.

    Notes
    -----
    With :math:`z_i` the peak Fisher z of valid window :math:`i` (:math:`n` of them), the
    reading is :math:`r = \\tanh \\bar z`. Windows overlap by ``1 - step / window``, so they are not
    independent: the interval uses :math:`n_{eff} = n \\cdot` ``step / window`` independent
    windows, :math:`\\tanh(\\bar z \\pm t_{0.975, n_{eff}-1}\\, s_z / \\sqrt{n_{eff}})`.

    A lead is named only when (1) at least ``LEAD_MIN_WINDOWS`` windows are valid, (2) the lag
    of the peak of the mean z by lag is not 0 and not at the edge of the searched range (a peak
    at the edge means the true lag may lie outside it), (3) at least ``LEAD_STABLE_FRACTION`` of
    the windows' peak lags have that lag's sign, and (4) the reading is above the chance level.
    Otherwise the lead is ``"none"`` ("no clear lead").

    References
    ----------
    Boker SM, Xu M, Rotondo JL, King K. Psychol Methods 2002;7(3):338-355.
    Moulder RG, Boker SM, Ramseyer F, Tschacher W. Psychol Methods 2018;23(4):757-773.

    Examples
    --------
    Two people whose heart rates follow the same slow wave, the therapist 3 s later:

    >>> t = np.arange(0.8, 600.0, 0.8)
    >>> hr_p = 70 + 6 * np.sin(2 * np.pi * t / 47.0) + 3 * np.sin(2 * np.pi * t / 83.0)
    >>> hr_t = 65 + 4 * np.sin(2 * np.pi * (t - 3) / 47.0) + 2 * np.sin(2 * np.pi * (t - 3) / 83.0)
    >>> c = coregulation(t, 60000 / hr_p, t, 60000 / hr_t, end_s=598.0)
    >>> c.lag_s, c.lead, c.r > 0.9
    (3.0, 'patient', True)
    """
    tp = np.asarray(patient_time_s, dtype=np.float64)
    tt = np.asarray(therapist_time_s, dtype=np.float64)
    rp = np.asarray(patient_rr_ms, dtype=np.float64)
    rt = np.asarray(therapist_rr_ms, dtype=np.float64)
    start = end_s - span_s
    keep_from = start - smooth_s  # the smoothing reaches half of it back
    sel_p = (tp >= keep_from) & (tp <= end_s)
    sel_t = (tt >= keep_from) & (tt <= end_s)
    grid = dyad_grid(
        rp[sel_p],
        rt[sel_t],
        patient_beat_times_s=tp[sel_p],
        therapist_beat_times_s=tt[sel_t],
        fs_hz=fs_hz,
        signal="hr",
        smooth_s=smooth_s,
    )
    inside = grid.time_s >= start
    w = windowed_cross_correlation(
        grid.patient[inside],
        grid.therapist[inside],
        fs_hz=grid.fs_hz,
        window_s=window_s,
        max_lag_s=max_lag_s,
        step_s=step_s,
    )
    z = fisher_z(w.peak_r[w.valid])
    n = int(z.shape[0])
    mean_z = float(np.mean(z))
    n_eff = n * min(step_s / window_s, 1.0)
    if n_eff >= 2 and n >= 2:
        half = (
            float(stats.t.ppf(0.5 + _CONFIDENCE / 2, n_eff - 1))
            * float(np.std(z, ddof=1))
            / math.sqrt(n_eff)
        )
        low, high = math.tanh(mean_z - half), math.tanh(mean_z + half)
    else:
        low = high = math.nan
    lag = float(w.profile_lag_s)
    at_edge = bool(math.isfinite(lag) and abs(lag) >= max_lag_s - 0.5 / fs_hz)
    lags = w.peak_lag_s[w.valid]
    same_sign = float(np.mean(np.sign(lags) == np.sign(lag))) if n else 0.0
    above = w.surrogate.effect_size > 0 and mean_z > w.surrogate.surrogate_mean
    stable = (
        n >= LEAD_MIN_WINDOWS
        and math.isfinite(lag)
        and lag != 0.0
        and not at_edge
        and same_sign >= LEAD_STABLE_FRACTION
        and above
    )
    floor = 1.0 / (w.surrogate.n_surrogates + 1)
    return CoRegulation(
        r=math.tanh(mean_z),
        r_low=low,
        r_high=high,
        n_windows=n,
        chance_r=math.tanh(w.surrogate.surrogate_mean),
        above_chance=bool(w.surrogate.p_value <= floor + 1e-12),
        p_value=float(w.surrogate.p_value),
        n_surrogates=int(w.surrogate.n_surrogates),
        lag_s=lag,
        lag_at_edge=at_edge,
        lead=w.leader if stable else "none",
        start_s=float(start),
        end_s=float(end_s),
        window_s=float(window_s),
        max_lag_s=float(max_lag_s),
        step_s=float(step_s),
        fs_hz=float(grid.fs_hz),
        smooth_s=float(smooth_s),
    )
