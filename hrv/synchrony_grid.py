"""The common time grid of a dyad (step 1 of :mod:`hrv.synchrony`).

The instantaneous heart rate ``60000 / RR_k`` (or a trailing RMSSD) of each person, placed at the
beat times and linearly interpolated onto one uniform grid (4 Hz by default, the rate of RR
resampling in the Task Force 1996 standards); grid points inside a gap longer than ``max_gap_s``
(a dropout) are NaN, never bridged.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hrv.errors import InsufficientDataError
from hrv.synchrony_types import (
    _MS_PER_MIN,
    DEFAULT_GRID_HZ,
    DEFAULT_MAX_GAP_S,
    DyadGrid,
    GridSignal,
    SynchronyParameterError,
)
from hrv.validate import validate_rr
from hrv.windows import trailing_rmssd

__all__ = [
    "dyad_grid",
    "to_grid",
]


# ------------------------------------------------------------------------------------ grid


def to_grid(
    times_s: ArrayLike,
    values: ArrayLike,
    grid_s: ArrayLike,
    *,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
) -> NDArray[np.float64]:
    """Linear interpolation of an irregular series onto grid times, NaN across long gaps.

    Parameters
    ----------
    times_s : array_like
        Sample (beat) times, s, non-decreasing.
    values : array_like
        Values at those times (NaN allowed: it spreads to the neighbouring grid points).
    grid_s : array_like
        Grid times, s.
    max_gap_s : float
        A grid point between two samples further apart than this is NaN (not bridged), s.

    Returns
    -------
    numpy.ndarray
        Values on the grid; NaN outside ``[times_s[0], times_s[-1]]`` and inside long gaps.

    Notes
    -----
    For :math:`t_{j-1} \\le g < t_j`:
    :math:`v(g) = v_{j-1} + (v_j - v_{j-1})(g - t_{j-1})/(t_j - t_{j-1})` when
    :math:`t_j - t_{j-1} \\le` ``max_gap_s``, else NaN.

    Examples
    --------
    >>> to_grid([0.0, 1.0, 6.0, 7.0], [60.0, 62.0, 70.0, 72.0], [0.0, 0.5, 3.0, 6.5],
    ...         max_gap_s=3.0).tolist()
    [60.0, 61.0, nan, 71.0]
    """
    t = np.asarray(times_s, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    g = np.asarray(grid_s, dtype=np.float64)
    if t.ndim != 1 or t.shape != v.shape:
        raise SynchronyParameterError(
            f"times_s and values must be 1-D of one length, got shapes {t.shape} and {v.shape}"
        )
    if t.shape[0] < 2:
        raise InsufficientDataError("to_grid", needed=2, got=int(t.shape[0]), unit="samples")
    if np.any(np.diff(t) < 0):
        raise SynchronyParameterError("times_s must be non-decreasing")
    out = np.interp(g, t, v)
    after = np.searchsorted(t, g, side="right")  # t[after - 1] <= g < t[after]
    j = np.clip(after, 1, t.shape[0] - 1)
    on_sample = t[np.clip(after - 1, 0, t.shape[0] - 1)] == g
    bridged = (t[j] - t[j - 1] <= max_gap_s) | on_sample
    ok = (g >= t[0]) & (g <= t[-1]) & bridged & np.isfinite(out)
    out[~ok] = np.nan
    return out


def dyad_grid(
    patient_rr_ms: ArrayLike,
    therapist_rr_ms: ArrayLike,
    *,
    patient_beat_times_s: ArrayLike | None = None,
    therapist_beat_times_s: ArrayLike | None = None,
    fs_hz: float = DEFAULT_GRID_HZ,
    signal: GridSignal = "hr",
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    rmssd_window_s: float = 30.0,
    smooth_s: float = 0.0,
) -> DyadGrid:
    """Put both people's heart rate (or trailing RMSSD) on one uniform time grid.

    Parameters
    ----------
    patient_rr_ms, therapist_rr_ms : array_like
        RR intervals, ms (normally artifact-corrected).
    patient_beat_times_s, therapist_beat_times_s : array_like, optional
        Beat times (end of each RR), s, on a clock shared by both straps; default
        ``cumsum(rr) / 1000`` (both recordings starting together).
    fs_hz : float
        Grid rate, Hz.
    signal : {"hr", "rmssd"}
        Instantaneous heart rate ``60000 / RR`` (bpm) or RMSSD over a trailing
        ``rmssd_window_s`` (ms, :func:`hrv.windows.trailing_rmssd`).
    max_gap_s : float
        Longest gap between beats bridged by interpolation, s (see :func:`to_grid`).
    rmssd_window_s : float
        Trailing window of the RMSSD signal, s.
    smooth_s : float
        Length of a centred (zero-phase, so lag-neutral) moving average applied on the grid, s;
        0 for none. About 10 s removes respiratory sinus arrhythmia and the 0.1 Hz Mayer waves,
        which each person breathes and generates on their own, and keeps the slower heart-rate
        changes that carry arousal (first zero of the response at ``1 / smooth_s`` Hz). A point
        whose average would touch a missing sample is NaN.

    Returns
    -------
    DyadGrid
        Grid over the time both people have beats: from the later first beat (rounded up to
        the grid) to the earlier last beat.

    Notes
    -----
    The value of beat k, :math:`HR_k = 60000 / RR_k`, is placed at its beat time :math:`t_k` (end
    of the interval), the same convention for both people, so a lag between them is unbiased;
    the grid is :math:`g_n = \\lceil t_0 f_s \\rceil / f_s + n / f_s`. Smoothing:
    :math:`\\bar v_n = \\frac{1}{2h+1}\\sum_{m=-h}^{h} v_{n+m}`, with
    :math:`h = \\lfloor` ``smooth_s`` :math:`f_s / 2 \\rfloor` (prefix sums, O(N)).

    Examples
    --------
    >>> g = dyad_grid([1000.0] * 10, [750.0] * 14, fs_hz=1.0)
    >>> g.time_s.tolist()[:3], g.patient[:2].tolist(), g.therapist[:2].tolist()
    ([1.0, 2.0, 3.0], [60.0, 60.0], [80.0, 80.0])
    """
    if not fs_hz > 0:
        raise SynchronyParameterError(f"fs_hz must be > 0 Hz, got {fs_hz!r}")
    if signal not in ("hr", "rmssd"):
        raise SynchronyParameterError(f"signal must be 'hr' or 'rmssd', got {signal!r}")
    series = []
    for rr_in, t_in in (
        (patient_rr_ms, patient_beat_times_s),
        (therapist_rr_ms, therapist_beat_times_s),
    ):
        rr = validate_rr(rr_in)
        t = np.cumsum(rr) / 1000.0 if t_in is None else np.asarray(t_in, dtype=np.float64)
        if t.shape != rr.shape:
            raise SynchronyParameterError(
                f"one beat time per RR interval expected, got {t.shape[0]} times for "
                f"{rr.shape[0]} intervals"
            )
        if rr.shape[0] < 2:
            raise InsufficientDataError("dyad_grid", needed=2, got=int(rr.shape[0]))
        if signal == "hr":
            v = _MS_PER_MIN / rr
        else:
            v = trailing_rmssd(rr, window_s=rmssd_window_s, beat_times_s=t)
        series.append((t, v))
    (tp, vp), (tt, vt) = series
    start = math.ceil(max(float(tp[0]), float(tt[0])) * fs_hz) / fs_hz
    stop = min(float(tp[-1]), float(tt[-1]))
    n = math.floor((stop - start) * fs_hz + 1e-9) + 1
    if n < 2:
        raise InsufficientDataError(
            "dyad_grid (overlap of the two recordings)",
            needed=2.0 / fs_hz,
            got=max(stop - start, 0.0),
            unit="s",
        )
    grid = start + np.arange(n, dtype=np.float64) / fs_hz
    half = math.floor(smooth_s * fs_hz / 2.0) if smooth_s > 0 else 0
    return DyadGrid(
        time_s=grid,
        patient=_centred_mean(to_grid(tp, vp, grid, max_gap_s=max_gap_s), half),
        therapist=_centred_mean(to_grid(tt, vt, grid, max_gap_s=max_gap_s), half),
        fs_hz=float(fs_hz),
        signal=signal,
    )


def _centred_mean(v: NDArray[np.float64], half: int) -> NDArray[np.float64]:
    """Centred moving average over ``2 half + 1`` samples; NaN where it touches a NaN or an end."""
    if half <= 0:
        return v
    k = 2 * half + 1
    missing = np.isnan(v)
    centre = float(np.mean(v[~missing])) if np.any(~missing) else 0.0
    filled = np.where(missing, 0.0, v - centre)
    s = np.concatenate(([0.0], np.cumsum(filled)))
    c = np.concatenate(([0], np.cumsum(missing)))
    out = np.full(v.shape, np.nan)
    if v.shape[0] >= k:
        win_sum = s[k:] - s[:-k]
        win_missing = c[k:] - c[:-k]
        out[half : v.shape[0] - half] = np.where(win_missing == 0, centre + win_sum / k, np.nan)
    return out
