"""Rolling therapist-patient heart-rate synchrony: windowed cross-correlation with peak picking.

The co-regulation indicator of the live page: over the last ``window_s`` seconds, the Pearson
correlation between the therapist's and the patient's heart rate at every lag within
``+-max_lag_s``, and the lag where it peaks (Boker et al. 2002). Both series are resampled on one
uniform grid (linear interpolation of the instantaneous HR at the beat times) and linearly
detrended within each window, so that a slow common drift (both people settling into their chairs)
does not pass for synchrony. Pure numpy; the hub calls it every few seconds.

References
----------
.. [1] Boker SM, Xu M, Rotondo JL, King K (2002). Windowed cross-correlation and peak picking for
   the analysis of variability in the association between behavioral time series. Psychological
   Methods 7(3), 338-355. doi:10.1037/1082-989X.7.3.338
.. [2] Palumbo RV, Marraccini ME, Weyandt LL, et al. (2017). Interpersonal autonomic physiology:
   a systematic review of the literature. Personality and Social Psychology Review 21(2), 99-141.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from hrv.errors import SintoniaError

__all__ = [
    "DEFAULT_MAX_LAG_S",
    "DEFAULT_SYNCHRONY_FS_HZ",
    "DEFAULT_SYNCHRONY_WINDOW_S",
    "SynchronyError",
    "SynchronyEstimate",
    "hr_synchrony",
]

#: Window of the rolling correlation, s (a minute: several breathing and Mayer-wave cycles).
DEFAULT_SYNCHRONY_WINDOW_S: Final[float] = 60.0
#: Largest lag searched, s (physiological linkage lags reported up to ~10 s, Palumbo et al. 2017).
DEFAULT_MAX_LAG_S: Final[float] = 10.0
#: Resampling rate of the HR series, Hz (HR changes at most at the beat rate, ~1-2 Hz).
DEFAULT_SYNCHRONY_FS_HZ: Final[float] = 2.0
#: Largest gap between beats allowed inside the analysed span, s (longest plausible RR).
_MAX_GAP_S: Final[float] = 2.5


class SynchronyError(SintoniaError, ValueError):
    """The series do not allow a correlation (too short, a gap, flat) or a bad parameter."""


@dataclass(frozen=True, slots=True)
class SynchronyEstimate:
    """Peak of the windowed cross-correlation.

    Attributes
    ----------
    correlation : float
        Peak Pearson correlation, -1..1.
    lag_s : float
        Lag of the peak, s; positive when the therapist's HR follows the patient's.
    end_s : float
        End of the window, s.
    window_s : float
        Window length, s.
    """

    correlation: float
    lag_s: float
    end_s: float
    window_s: float


def _grid_values(
    t_s: NDArray[np.float64], hr: NDArray[np.float64], grid: NDArray[np.float64], who: str
) -> NDArray[np.float64]:
    if t_s.shape != hr.shape or t_s.size < 2:
        raise SynchronyError(
            f"{who}: expected matching time and HR arrays of at least 2 beats, "
            f"got {t_s.size} times and {hr.size} values"
        )
    if t_s[0] > grid[0] or t_s[-1] < grid[-1] - _MAX_GAP_S:
        raise SynchronyError(
            f"{who}: beats cover {t_s[0]:.1f}-{t_s[-1]:.1f} s, the analysis needs "
            f"{grid[0]:.1f}-{grid[-1]:.1f} s"
        )
    inside = (t_s >= grid[0]) & (t_s <= grid[-1])
    if np.any(np.diff(t_s[inside]) > _MAX_GAP_S):
        raise SynchronyError(f"{who}: a gap longer than {_MAX_GAP_S} s in the window")
    out: NDArray[np.float64] = np.interp(grid, t_s, hr)
    return out


def _detrended(rows: NDArray[np.float64]) -> NDArray[np.float64]:
    """Remove each row's least-squares line (rows of equal length)."""
    n = rows.shape[-1]
    x = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    slope = rows @ x / float(x @ x)
    out: NDArray[np.float64] = rows - rows.mean(axis=-1, keepdims=True) - slope[..., None] * x
    return out


def hr_synchrony(
    patient_time_s: ArrayLike,
    patient_hr_bpm: ArrayLike,
    therapist_time_s: ArrayLike,
    therapist_hr_bpm: ArrayLike,
    end_s: float,
    *,
    window_s: float = DEFAULT_SYNCHRONY_WINDOW_S,
    max_lag_s: float = DEFAULT_MAX_LAG_S,
    fs_hz: float = DEFAULT_SYNCHRONY_FS_HZ,
) -> SynchronyEstimate:
    """Windowed cross-correlation of two heart-rate series and the lag of its peak.

    Parameters
    ----------
    patient_time_s, patient_hr_bpm : array_like
        Patient's beat times (s, increasing) and heart rate at those beats (bpm).
    therapist_time_s, therapist_hr_bpm : array_like
        The same for the therapist.
    end_s : float
        End of the analysis, s; the therapist window is ``[end - max_lag - window, end - max_lag]``
        and the patient series is shifted against it by every lag in ``[-max_lag, +max_lag]``.
    window_s : float
        Window length, s (default 60).
    max_lag_s : float
        Largest lag, s (default 10).
    fs_hz : float
        Resampling rate, Hz (default 2).

    Returns
    -------
    SynchronyEstimate

    Raises
    ------
    SynchronyError
        If a series does not cover ``[end - window - 2 max_lag, end]`` without gaps, or a window
        is flat (no variance to correlate).

    Notes
    -----
    With both series on the grid :math:`t_i = t_0 + i/f_s`, therapist window :math:`y` and patient
    window :math:`x_k` shifted back by :math:`k` samples (both linearly detrended),

    .. math:: r_k = \\frac{\\sum (x_k - \\bar x_k)(y - \\bar y)}
              {\\sqrt{\\sum (x_k - \\bar x_k)^2 \\sum (y - \\bar y)^2}}, \\quad
              k^* = \\arg\\max_k r_k, \\quad \\text{lag} = k^* / f_s .

    A positive lag means the therapist's HR at :math:`t` resembles the patient's at
    :math:`t - \\text{lag}` (the therapist follows). Peak picking of Boker et al. (2002), with the
    largest positive correlation (in-phase linkage).

    References
    ----------
    .. [1] Boker SM, Xu M, Rotondo JL, King K (2002). Psychological Methods 7(3), 338-355.

    Examples
    --------
    >>> t = np.arange(0.0, 200.0, 0.8)
    >>> patient = 70 + 5 * np.sin(2 * np.pi * t / 23.0)
    >>> therapist = 65 + 3 * np.sin(2 * np.pi * (t - 4.0) / 23.0)  # follows by 4 s
    >>> est = hr_synchrony(t, patient, t, therapist, end_s=190.0)
    >>> round(est.lag_s, 1), round(est.correlation, 2)
    (4.0, 1.0)
    """
    for name, value in (("window_s", window_s), ("max_lag_s", max_lag_s), ("fs_hz", fs_hz)):
        if not (math.isfinite(value) and value > 0):
            raise SynchronyError(f"{name} must be a positive number, got {value!r}")
    n = round(window_s * fs_hz)
    k_max = round(max_lag_s * fs_hz)
    total = n + 2 * k_max
    grid = end_s - (total - 1 - np.arange(total, dtype=np.float64)) / fs_hz
    x = _grid_values(
        np.asarray(patient_time_s, np.float64),
        np.asarray(patient_hr_bpm, np.float64),
        grid,
        "patient",
    )
    y = _grid_values(
        np.asarray(therapist_time_s, np.float64),
        np.asarray(therapist_hr_bpm, np.float64),
        grid,
        "therapist",
    )
    y_w = _detrended(y[k_max : k_max + n])
    lags = np.arange(-k_max, k_max + 1)
    x_w = _detrended(sliding_window_view(x, n)[k_max - lags])  # row j: x shifted back by lags[j]
    norm = np.sqrt((x_w * x_w).sum(axis=1) * float(y_w @ y_w))
    if not np.all(norm > 0):
        raise SynchronyError("a heart-rate window is flat; no correlation to compute")
    r = (x_w @ y_w) / norm
    best = int(np.argmax(r))
    return SynchronyEstimate(float(r[best]), float(lags[best]) / fs_hz, float(end_s), window_s)
