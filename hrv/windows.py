"""Sliding windows over an RR series, vectorized.

Two kinds of window:

* a **per-beat trailing window** (:func:`trailing_window_trace`): for every beat k, the beats whose
  time lies in ``(t_k - window_s, t_k]``; the time-domain metrics of every window come from
  cumulative sums, so the whole trace costs O(N) whatever the window length;
* a **fixed grid** (:func:`fixed_grid_windows`): windows of ``window_s`` every ``step_s`` seconds
  (e.g. 300 s every 60 s) for the slower metrics (spectra, DFA), returned as index ranges found with
  one :func:`numpy.searchsorted`.

Beat time convention: the time of beat k is the end of RR interval k, ``t_k = sum(rr[:k+1]) / 1000``
seconds from the start of the first interval, unless explicit beat times are given (live data,
where dropouts make the sum of RR differ from the clock).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hrv.errors import InsufficientDataError, InvalidRRError, ParameterError

__all__ = [
    "GridWindows",
    "WindowTrace",
    "beat_times",
    "fixed_grid_windows",
    "grid_metric",
    "trailing_rmssd",
    "trailing_window_trace",
]

_MS_PER_MIN: Final[float] = 60_000.0


@dataclass(frozen=True, eq=False, slots=True)
class WindowTrace:
    """Per-beat trailing-window metrics; index k describes the window ending at beat k.

    Attributes
    ----------
    time_s : numpy.ndarray
        Beat times (end of each window), s.
    n_beats : numpy.ndarray of int
        Beats in each window.
    mean_hr_bpm : numpy.ndarray
        Mean heart rate of the window, bpm (mean of the instantaneous rates ``60000 / RR``).
    rmssd_ms : numpy.ndarray
        Root mean square of successive differences within the window, ms.
    sdnn_ms : numpy.ndarray
        Standard deviation of the window's RR (ddof 1), ms.
    artifact_fraction : numpy.ndarray
        Fraction of the window's beats flagged as artifacts (0 when no mask was given).
    valid : numpy.ndarray of bool
        True where the window held at least ``min_beats`` beats; elsewhere the metrics are NaN, by
        design and visibly so (never a number computed from too little data).
    """

    time_s: NDArray[np.float64]
    n_beats: NDArray[np.int64]
    mean_hr_bpm: NDArray[np.float64]
    rmssd_ms: NDArray[np.float64]
    sdnn_ms: NDArray[np.float64]
    artifact_fraction: NDArray[np.float64]
    valid: NDArray[np.bool_]


@dataclass(frozen=True, eq=False, slots=True)
class GridWindows:
    """Fixed-grid windows as half-open beat index ranges ``[start[i], stop[i])``.

    Attributes
    ----------
    t_start_s, t_end_s : numpy.ndarray
        Window limits, s; a beat belongs to window i when ``t_start_s[i] < t_k <= t_end_s[i]``.
    start, stop : numpy.ndarray of int
        Beat index ranges.
    """

    t_start_s: NDArray[np.float64]
    t_end_s: NDArray[np.float64]
    start: NDArray[np.int64]
    stop: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.start.shape[0])


def beat_times(rr: NDArray[np.float64]) -> NDArray[np.float64]:
    """Beat times from RR intervals: ``t_k = sum(rr[:k+1]) / 1000``, seconds.

    Examples
    --------
    >>> beat_times(np.array([1000.0, 500.0, 500.0]))
    array([1. , 1.5, 2. ])
    """
    return np.cumsum(rr) / 1000.0


def _times(rr: NDArray[np.float64], beat_times_s: ArrayLike | None) -> NDArray[np.float64]:
    if beat_times_s is None:
        return beat_times(rr)
    t = np.asarray(beat_times_s, dtype=np.float64)
    if t.shape != rr.shape:
        raise InvalidRRError(
            f"beat_times_s must have one time per RR interval: got {t.shape[0]} times "
            f"for {rr.shape[0]} intervals"
        )
    if t.shape[0] > 1 and np.any(np.diff(t) < 0):
        i = int(np.argmax(np.diff(t) < 0)) + 1
        raise InvalidRRError(
            f"beat times must not decrease; time at index {i} is {t[i]!r} after {t[i - 1]!r}",
            index=i,
            value=float(t[i]),
        )
    return t


def _prefix(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Cumulative sum with a leading zero: ``out[j] = sum(x[:j])``."""
    out = np.empty(x.shape[0] + 1, dtype=np.float64)
    out[0] = 0.0
    np.cumsum(x, out=out[1:])
    return out


def trailing_window_trace(
    rr: NDArray[np.float64],
    *,
    window_s: float = 60.0,
    beat_times_s: ArrayLike | None = None,
    artifact_mask: ArrayLike | None = None,
    min_beats: int = 2,
) -> WindowTrace:
    """Mean HR, RMSSD, SDNN and artifact fraction over a trailing time window at every beat.

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, ms (validated float64, e.g. from :func:`hrv.validate_rr`; normally corrected).
    window_s : float
        Window length, s. The window of beat k holds beats j <= k with ``t_j > t_k - window_s``.
    beat_times_s : array_like, optional
        Beat times, s, non-decreasing; default ``cumsum(rr) / 1000``.
    artifact_mask : array_like of bool, optional
        True for beats that were artifacts (before correction), for the artifact fraction.
    min_beats : int
        Fewest beats a window needs for its metrics (at least 2); fewer gives ``valid = False``.

    Returns
    -------
    WindowTrace

    Notes
    -----
    With prefix sums ``P[j] = sum_{i<j} x_i`` and the window ``[s_k, k]`` found by binary search,
    every window sum is ``P[k+1] - P[s_k]``:

    * mean HR = mean over the window of ``60000 / RR_i`` (bpm);
    * SDNN = sqrt((S2 - S1^2 / n) / (n - 1)), with S1, S2 the sums of ``RR - c`` and its square
      (c = the series mean, subtracted first so the sums stay small and the difference accurate);
    * RMSSD = sqrt(mean of (RR_i - RR_{i-1})^2 over the n - 1 successive pairs inside the window).

    These are the Task Force (1996) definitions, identical to :func:`hrv.time_domain.rmssd`,
    :func:`hrv.time_domain.sdnn` and :func:`hrv.time_domain.mean_hr` applied to each window
    (tested).
    Cost O(N log N) time, O(N) memory, no Python loop over windows.

    References
    ----------
    Task Force of the ESC and NASPE (1996). Heart rate variability: standards of measurement,
    physiological interpretation and clinical use. Circulation 93(5):1043-1065.

    Examples
    --------
    >>> tr = trailing_window_trace(np.array([1000.0, 1000, 1100, 1000]), window_s=2.5)
    >>> tr.n_beats.tolist()
    [1, 2, 3, 3]
    >>> round(float(tr.rmssd_ms[3]), 3)  # window 1000, 1100, 1000: diffs 100, -100
    100.0
    """
    if window_s <= 0:
        raise ParameterError(f"window_s must be positive, got {window_s}")
    if min_beats < 2:
        raise ParameterError(f"min_beats must be at least 2, got {min_beats}")
    rr = np.asarray(rr, dtype=np.float64)
    n = rr.shape[0]
    t = _times(rr, beat_times_s)
    idx = np.arange(n)
    start = np.searchsorted(t, t - window_s, side="right")
    count = idx - start + 1

    centred = rr - (rr.mean() if n else 0.0)
    p1 = _prefix(centred)
    p2 = _prefix(centred * centred)
    phr = _prefix(_MS_PER_MIN / rr)
    d = np.diff(rr)
    pd2 = _prefix(d * d)  # pd2[j] = sum of d_i^2 for i < j, d_i = rr[i+1] - rr[i]

    s1 = p1[idx + 1] - p1[start]
    s2 = p2[idx + 1] - p2[start]
    shr = phr[idx + 1] - phr[start]
    # successive differences inside [start, k] are d_start .. d_{k-1}
    sd2 = pd2[idx] - pd2[np.minimum(start, idx)]

    valid = count >= min_beats
    with np.errstate(invalid="ignore", divide="ignore"):
        nf = count.astype(np.float64)
        var = (s2 - s1 * s1 / nf) / (nf - 1.0)
        sdnn = np.sqrt(np.maximum(var, 0.0))
        rmssd = np.sqrt(sd2 / (nf - 1.0))
        mean_hr = shr / nf
    nan = np.float64(np.nan)
    sdnn = np.where(valid, sdnn, nan)
    rmssd = np.where(valid, rmssd, nan)
    mean_hr = np.where(valid, mean_hr, nan)

    if artifact_mask is None:
        frac = np.zeros(n, dtype=np.float64)
    else:
        mask = np.asarray(artifact_mask, dtype=bool)
        if mask.shape != rr.shape:
            raise InvalidRRError(
                f"artifact_mask must have one flag per RR interval: got {mask.shape[0]} flags "
                f"for {n} intervals"
            )
        pa = _prefix(mask.astype(np.float64))
        frac = (pa[idx + 1] - pa[start]) / count
    return WindowTrace(
        time_s=t,
        n_beats=count.astype(np.int64),
        mean_hr_bpm=mean_hr,
        rmssd_ms=rmssd,
        sdnn_ms=sdnn,
        artifact_fraction=frac,
        valid=valid,
    )


def trailing_rmssd(
    rr: NDArray[np.float64],
    *,
    window_s: float = 60.0,
    beat_times_s: ArrayLike | None = None,
    min_beats: int = 2,
) -> NDArray[np.float64]:
    """RMSSD over a trailing time window at every beat (only RMSSD: the cheapest live trace).

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, ms (validated float64).
    window_s : float
        Window length, s; the window of beat k holds beats j <= k with ``t_j > t_k - window_s``.
    beat_times_s : array_like, optional
        Beat times, s, non-decreasing; default ``cumsum(rr) / 1000``.
    min_beats : int
        Fewest beats a window needs (at least 2); fewer gives NaN at that beat, as in
        :func:`trailing_window_trace`, whose ``rmssd_ms`` this equals exactly.

    Returns
    -------
    numpy.ndarray
        RMSSD per beat, ms.

    Notes
    -----
    ``RMSSD_k = sqrt( sum_{i=s_k+1}^{k} (RR_i - RR_{i-1})^2 / (k - s_k) )`` with ``s_k`` the first
    beat of the window, found by binary search; the sum is a difference of two prefix sums of
    squared successive differences (Task Force 1996).

    References
    ----------
    Task Force of the ESC and NASPE (1996). Circulation 93(5):1043-1065.

    Examples
    --------
    >>> trailing_rmssd(np.array([1000.0, 1000, 1100, 1000]), window_s=2.5)[3]
    np.float64(100.0)
    """
    if window_s <= 0:
        raise ParameterError(f"window_s must be positive, got {window_s}")
    if min_beats < 2:
        raise ParameterError(f"min_beats must be at least 2, got {min_beats}")
    rr = np.asarray(rr, dtype=np.float64)
    t = _times(rr, beat_times_s)
    idx = np.arange(rr.shape[0])
    start = np.searchsorted(t, t - window_s, side="right")
    d = np.diff(rr)
    pd2 = _prefix(d * d)
    n_diff = (idx - start).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.sqrt((pd2[idx] - pd2[np.minimum(start, idx)]) / n_diff)
    out[n_diff < min_beats - 1] = np.nan
    return out


def fixed_grid_windows(
    rr: NDArray[np.float64],
    *,
    window_s: float = 300.0,
    step_s: float = 60.0,
    beat_times_s: ArrayLike | None = None,
    t0_s: float | None = None,
    complete_only: bool = True,
) -> GridWindows:
    """Windows of ``window_s`` seconds every ``step_s`` seconds, as beat index ranges.

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, ms.
    window_s, step_s : float
        Window length and step, s (e.g. 300 s every 60 s).
    beat_times_s : array_like, optional
        Beat times, s; default ``cumsum(rr) / 1000``.
    t0_s : float, optional
        Start of the first window; default the start of the first RR interval
        (``t_0 - rr_0 / 1000``).
    complete_only : bool
        Keep only windows that end at or before the last beat (default), so that no window is
        silently shorter than asked.

    Returns
    -------
    GridWindows
        Window i spans ``(t0 + i * step_s, t0 + i * step_s + window_s]``; beats
        ``start[i]:stop[i]`` fall in it.

    Examples
    --------
    >>> g = fixed_grid_windows(np.full(10, 1000.0), window_s=4, step_s=2)
    >>> g.start.tolist(), g.stop.tolist()
    ([0, 2, 4, 6], [4, 6, 8, 10])
    """
    if window_s <= 0 or step_s <= 0:
        raise ParameterError(f"window_s and step_s must be positive, got {window_s} and {step_s}")
    rr = np.asarray(rr, dtype=np.float64)
    t = _times(rr, beat_times_s)
    if t.shape[0] == 0:
        empty = np.empty(0, dtype=np.int64)
        return GridWindows(np.empty(0), np.empty(0), empty, empty)
    origin = float(t[0] - rr[0] / 1000.0) if t0_s is None else float(t0_s)
    span = float(t[-1]) - origin
    if complete_only:
        # small tolerance: a window ending exactly at the last beat counts as complete
        n_win = int(np.floor((span - window_s) / step_s + 1e-9)) + 1 if span >= window_s else 0
    else:
        n_win = int(np.ceil(span / step_s - 1e-9))
    n_win = max(n_win, 0)
    t_start = origin + step_s * np.arange(n_win, dtype=np.float64)
    t_end = t_start + window_s
    start = np.searchsorted(t, t_start, side="right").astype(np.int64)
    stop = np.searchsorted(t, t_end, side="right").astype(np.int64)
    return GridWindows(t_start, t_end, start, stop)


def grid_metric(
    rr: NDArray[np.float64],
    metric: Callable[[NDArray[np.float64]], float],
    *,
    window_s: float = 300.0,
    step_s: float = 60.0,
    beat_times_s: ArrayLike | None = None,
) -> tuple[GridWindows, NDArray[np.float64], NDArray[np.bool_]]:
    """Apply a slow metric (spectrum, DFA, entropy) to every fixed-grid window.

    The windows come from :func:`fixed_grid_windows` (one binary search for all of them); the
    metric itself runs once per window, which is the cost of any metric that is not a plain sum.

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, ms (validated float64, normally corrected).
    metric : callable
        Maps the RR of one window (ms) to a number, e.g.
        ``lambda w: hrv.frequency.frequency_domain(w).lf_hf``; it may raise
        :class:`~hrv.errors.InsufficientDataError` for a window with too little data.
    window_s, step_s : float
        Window length and step, s.
    beat_times_s : array_like, optional
        Beat times, s; default ``cumsum(rr) / 1000``.

    Returns
    -------
    windows : GridWindows
        The windows.
    values : numpy.ndarray
        The metric per window; NaN where ``valid`` is False.
    valid : numpy.ndarray of bool
        False where the metric raised :class:`~hrv.errors.InsufficientDataError` (the window had
        too little data for it): explicit, never a silent NaN.

    Examples
    --------
    >>> from hrv.time_domain import rmssd
    >>> rr = np.tile([1000.0, 1100.0], 5)
    >>> _, values, valid = grid_metric(rr, rmssd, window_s=4.2, step_s=2.1)
    >>> values.round(1).tolist(), valid.tolist()
    ([100.0, 100.0, 100.0, 100.0], [True, True, True, True])
    """
    grid = fixed_grid_windows(rr, window_s=window_s, step_s=step_s, beat_times_s=beat_times_s)
    values = np.full(len(grid), np.nan)
    valid = np.zeros(len(grid), dtype=bool)
    for i, (a, b) in enumerate(zip(grid.start.tolist(), grid.stop.tolist(), strict=True)):
        try:
            values[i] = metric(rr[a:b])
        except InsufficientDataError:
            continue
        valid[i] = True
    return grid, values, valid
