"""Time-domain and geometric heart-rate-variability metrics (Task Force 1996).

Every function takes RR (NN) intervals as a one-dimensional float64 array in milliseconds that has
already been checked once by :func:`hrv.validate.validate_rr` at the entry of the pipeline; they do
not validate again. Too-short input raises :class:`hrv.errors.InsufficientDataError` rather than
returning NaN.

The statistical metrics (mean RR, SDNN, mean HR, RMSSD) are the exact textbook formulas: the
vectorised sliding windows of :mod:`hrv.windows` and the streaming engine are tested against them.
The heart-rate statistics live in :mod:`hrv.heart_rate`, SDANN and the SDNN index in
:mod:`hrv.long_term` and the stress index in :mod:`hrv.ans_index`; they are re-exported here so
that ``hrv.time_domain`` keeps offering every time-domain metric.

References
----------
Task Force of the European Society of Cardiology and the North American Society of Pacing and
Electrophysiology (1996). Heart rate variability: standards of measurement, physiological
interpretation and clinical use. Circulation 93(5):1043-1065.

Shaffer, F., & Ginsberg, J. P. (2017). An overview of heart rate variability metrics and norms.
Frontiers in Public Health 5:258.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from hrv.ans_index import STRESS_INDEX_BIN_MS, stress_index
from hrv.heart_rate import (
    MIN_MAX_HR_AVERAGE_BEATS,
    max_hr,
    mean_hr,
    mean_instantaneous_hr,
    min_hr,
    std_hr,
)
from hrv.long_term import SDANN_SEGMENT_S, sdann, sdnn_index
from hrv.validate import require_beats

__all__ = [
    "HISTOGRAM_BIN_MS",
    "MIN_MAX_HR_AVERAGE_BEATS",
    "NN50_THRESHOLD_MS",
    "SDANN_SEGMENT_S",
    "STRESS_INDEX_BIN_MS",
    "TimeDomain",
    "ln_rmssd",
    "max_hr",
    "mean_hr",
    "mean_instantaneous_hr",
    "mean_rr",
    "min_hr",
    "nn50",
    "pnn50",
    "rmssd",
    "sdann",
    "sdnn",
    "sdnn_index",
    "sdsd",
    "std_hr",
    "stress_index",
    "time_domain",
    "tinn",
    "triangular_index",
]

#: Successive-difference threshold of NN50 / pNN50, ms (Task Force 1996: "more than 50 ms").
NN50_THRESHOLD_MS: Final[float] = 50.0
#: Width of the RR histogram bins of the triangular index and TINN, ms: 1/128 s = 7.8125 ms, the
#: Task Force (1996) sampling-grid recommendation (exact in binary floating point).
HISTOGRAM_BIN_MS: Final[float] = 1000.0 / 128.0


@dataclass(frozen=True, slots=True)
class TimeDomain:
    """All time-domain and geometric metrics of one RR series.

    Attributes
    ----------
    mean_rr_ms, sdnn_ms : float
        Mean and sample standard deviation of the RR intervals, ms.
    mean_hr_bpm, min_hr_bpm, max_hr_bpm : float
        ``60000 / mean RR``, ``60000 / max RR`` and ``60000 / min RR`` (Kubios HRV), bpm.
    std_hr_bpm : float
        Sample standard deviation of the instantaneous heart rate, bpm.
    rmssd_ms, sdsd_ms : float
        Root mean square and sample standard deviation of successive differences, ms.
    nn50 : int
        Successive differences larger than 50 ms in absolute value (count).
    pnn50_pct : float
        ``nn50`` as a percentage of the N - 1 successive differences, %.
    ln_rmssd : float
        Natural logarithm of RMSSD in ms, ln(ms).
    tri_index : float
        HRV triangular index (dimensionless).
    tinn_ms : float
        Triangular interpolation of the NN interval histogram (baseline width), ms.
    """

    mean_rr_ms: float
    sdnn_ms: float
    mean_hr_bpm: float
    min_hr_bpm: float
    max_hr_bpm: float
    rmssd_ms: float
    sdsd_ms: float
    nn50: int
    pnn50_pct: float
    ln_rmssd: float
    tri_index: float
    tinn_ms: float
    std_hr_bpm: float


def mean_rr(rr: NDArray[np.float64]) -> float:
    """Mean RR (NN) interval.

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms, at least 1.

    Returns
    -------
    float
        Mean RR interval, ms.

    Raises
    ------
    InsufficientDataError
        If ``rr`` is empty.

    Notes
    -----
    ``mean RR = (1 / N) sum_i RR_i``.

    References
    ----------
    Task Force (1996), Circulation 93(5):1043-1065, Table 1 (time-domain measures).

    Examples
    --------
    >>> mean_rr(np.array([800.0, 1000.0]))
    900.0
    """
    require_beats(rr, 1, "mean RR")
    return float(np.mean(rr))


def sdnn(rr: NDArray[np.float64]) -> float:
    """Standard deviation of the NN intervals (SDNN), sample estimate (ddof 1).

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms, at least 2.

    Returns
    -------
    float
        SDNN, ms.

    Raises
    ------
    InsufficientDataError
        If fewer than 2 intervals are given.

    Notes
    -----
    ``SDNN = sqrt( sum_i (RR_i - mean RR)^2 / (N - 1) )``, as Kubios HRV and NeuroKit2.

    References
    ----------
    Task Force (1996), Circulation 93(5):1043-1065, Table 1.

    Examples
    --------
    >>> sdnn(np.array([800.0, 1000.0]))  # sqrt((100^2 + 100^2) / 1)
    141.4213562373095
    """
    require_beats(rr, 2, "SDNN")
    return float(np.std(rr, ddof=1))


def rmssd(rr: NDArray[np.float64]) -> float:
    """Root mean square of successive differences (RMSSD).

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms, at least 2.

    Returns
    -------
    float
        RMSSD, ms.

    Raises
    ------
    InsufficientDataError
        If fewer than 2 intervals are given.

    Notes
    -----
    ``RMSSD = sqrt( (1 / (N - 1)) sum_{i=1}^{N-1} (RR_{i+1} - RR_i)^2 )``: a root mean square over
    the N - 1 differences (no mean is subtracted, no ddof).

    References
    ----------
    Task Force (1996), Circulation 93(5):1043-1065, Table 1.

    Examples
    --------
    >>> rmssd(np.array([1000.0, 1100.0, 1000.0]))  # differences +100, -100
    100.0
    """
    require_beats(rr, 2, "RMSSD")
    d = np.diff(rr)
    return float(np.sqrt(np.mean(d * d)))


def sdsd(rr: NDArray[np.float64]) -> float:
    """Standard deviation of successive differences (SDSD), sample estimate (ddof 1).

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms, at least 3 (two differences).

    Returns
    -------
    float
        SDSD, ms.

    Raises
    ------
    InsufficientDataError
        If fewer than 3 intervals are given.

    Notes
    -----
    ``SDSD = sqrt( sum_i (d_i - mean d)^2 / (N - 2) )`` with the signed ``d_i = RR_{i+1} - RR_i``.
    It differs from RMSSD only by the subtracted mean difference ``(RR_N - RR_1) / (N - 1)`` and the
    ddof; ``SDSD^2 / 2 = SD1^2`` exactly (:func:`hrv.nonlinear.poincare`).

    References
    ----------
    Task Force (1996), Circulation 93(5):1043-1065, Table 1.
    Brennan, M., Palaniswami, M., Kamen, P. (2001). IEEE Trans Biomed Eng 48(11):1342-1347.

    Examples
    --------
    >>> sdsd(np.array([1000.0, 1100.0, 1000.0]))  # std of (+100, -100), ddof 1
    141.4213562373095
    """
    require_beats(rr, 3, "SDSD")
    return float(np.std(np.diff(rr), ddof=1))


def nn50(rr: NDArray[np.float64]) -> int:
    """NN50: the number of successive differences larger than 50 ms in absolute value.

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms, at least 2.

    Returns
    -------
    int
        Count of ``|RR_{i+1} - RR_i| > 50 ms``.

    Raises
    ------
    InsufficientDataError
        If fewer than 2 intervals are given.

    Notes
    -----
    ``NN50 = #{ i : |RR_{i+1} - RR_i| > 50 ms }`` (strictly greater, Task Force 1996).

    References
    ----------
    Task Force (1996), Circulation 93(5):1043-1065, Table 1.

    Examples
    --------
    >>> nn50(np.array([1000.0, 1050.0, 1101.0]))  # differences 50 (not counted) and 51
    1
    """
    require_beats(rr, 2, "NN50")
    return int(np.count_nonzero(np.abs(np.diff(rr)) > NN50_THRESHOLD_MS))


def pnn50(rr: NDArray[np.float64]) -> float:
    """pNN50: NN50 as a percentage of the N - 1 successive differences.

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms, at least 2.

    Returns
    -------
    float
        pNN50, percent, in [0, 100].

    Raises
    ------
    InsufficientDataError
        If fewer than 2 intervals are given.

    Notes
    -----
    ``pNN50 = 100 * NN50 / (N - 1)``, as Kubios HRV. NeuroKit2 divides by N instead (so its value is
    smaller by a factor (N - 1) / N).

    References
    ----------
    Task Force (1996), Circulation 93(5):1043-1065, Table 1.

    Examples
    --------
    >>> pnn50(np.array([1000.0, 1050.0, 1101.0]))
    50.0
    """
    require_beats(rr, 2, "pNN50")
    return 100.0 * nn50(rr) / float(rr.shape[0] - 1)


def ln_rmssd(rr: NDArray[np.float64]) -> float:
    """Natural logarithm of RMSSD (in ms).

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms, at least 2.

    Returns
    -------
    float
        ``ln(RMSSD / 1 ms)``; ``-inf`` if every successive difference is zero (a constant series).

    Raises
    ------
    InsufficientDataError
        If fewer than 2 intervals are given.

    Notes
    -----
    ``ln RMSSD = ln(RMSSD)``: the log makes the right-skewed RMSSD roughly normal, so z-scores
    against a baseline are meaningful.

    References
    ----------
    Shaffer, F., & Ginsberg, J. P. (2017). Frontiers in Public Health 5:258.

    Examples
    --------
    >>> round(ln_rmssd(np.array([1000.0, 1100.0, 1000.0])), 4)  # ln 100
    4.6052
    """
    value = rmssd(rr)
    return float(np.log(value)) if value > 0.0 else float("-inf")


def _histogram_1_128(rr: NDArray[np.float64]) -> NDArray[np.int64]:
    """Counts of RR in bins ``[k w, (k + 1) w)``, w = 1/128 s, from min(RR)'s bin to max(RR)'s."""
    k = np.floor(rr / HISTOGRAM_BIN_MS).astype(np.int64)
    return np.bincount(k - k.min()).astype(np.int64)


def triangular_index(rr: NDArray[np.float64]) -> float:
    """HRV triangular index: number of intervals over the height of their histogram.

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms, at least 2.

    Returns
    -------
    float
        Triangular index (dimensionless, >= 1).

    Raises
    ------
    InsufficientDataError
        If fewer than 2 intervals are given.

    Notes
    -----
    ``HRV triangular index = N / max_k D_k`` where ``D_k`` counts the intervals in the bin
    ``[k w, (k + 1) w)`` with ``w = 1/128 s = 7.8125 ms`` (Task Force 1996). The bin edges lie on
    the fixed grid of multiples of ``w`` (as Kubios HRV and NeuroKit2), not at ``min(RR)``: with RR
    quantised by a 128 Hz or 1 kHz clock the grid offset changes the peak count, and a fixed grid
    makes the index of two windows comparable. On pyHRV's 60-min sample this reproduces the Kubios
    HRV 3.1 value 11.51 exactly, whereas bins starting at min(RR) give 21.9.

    References
    ----------
    Task Force (1996), Circulation 93(5):1043-1065, "Geometrical methods".

    Examples
    --------
    >>> triangular_index(np.array([800.0, 801.0, 802.0, 900.0]))  # 3 of 4 share one bin
    1.3333333333333333
    """
    require_beats(rr, 2, "HRV triangular index")
    return float(rr.shape[0] / _histogram_1_128(rr).max())


def tinn(rr: NDArray[np.float64]) -> float:
    """TINN: baseline width of the triangle fitted by least squares to the RR histogram.

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms, at least 2.

    Returns
    -------
    float
        ``M - N``, ms, a multiple of 7.8125 ms (the histogram bin width) and at least two bins.

    Raises
    ------
    InsufficientDataError
        If fewer than 2 intervals are given.

    Notes
    -----
    The histogram ``D_j`` is the one of :func:`triangular_index` (1/128 s bins on a fixed grid),
    padded with one empty bin at each end, with bin centres ``c_j``. Let ``X = c_p`` be the centre
    of the (first) highest bin and ``Y = D_p`` its count. The triangle ``q`` is zero outside
    ``[N, M]``, rises linearly from ``(N, 0)`` to ``(X, Y)`` and falls linearly to ``(M, 0)``;
    ``N`` and ``M`` range over the bin centres left and right of ``X`` (Task Force 1996), and are
    chosen to minimise

        ``sum_j (D_j - q(c_j))^2``

    over all bins. Because ``q`` left of ``X`` depends only on ``N`` and right of ``X`` only on
    ``M``, the error splits into two independent one-dimensional searches; each candidate's error
    is expanded into prefix sums of ``D_j``, ``j D_j`` and ``D_j^2``, so every candidate is
    evaluated at once in O(bins) (no search loop). Ties go to the first candidate (wider left
    flank, narrower right flank). TINN = ``M - N``.

    References
    ----------
    Task Force (1996), Circulation 93(5):1043-1065, "Geometrical methods" and Figure 2.

    Examples
    --------
    >>> w = 1000.0 / 128  # a perfect triangle of bin counts 1, 2, 3, 2, 1
    >>> rr = w * (100.5 + np.array([0, 1, 1, 2, 2, 2, 3, 3, 4]))
    >>> tinn(rr) / w  # from the empty bin before the first to the empty bin after the last
    6.0
    """
    require_beats(rr, 2, "TINN")
    hist = np.concatenate(([0.0], _histogram_1_128(rr).astype(np.float64), [0.0]))
    p = int(np.argmax(hist))
    y = hist[p]
    j = np.arange(hist.shape[0], dtype=np.float64)
    # prefix sums: s0[k] = sum_{j<k} D_j, s1[k] = sum_{j<k} j D_j
    s0 = np.concatenate(([0.0], np.cumsum(hist)))
    s1 = np.concatenate(([0.0], np.cumsum(j * hist)))

    # Left flank, candidate N = c_i for i < p: q_j = a (j - i) on i <= j <= p, a = Y / (p - i).
    # Error minus the constant sum_{j<p} D_j^2:  -2 a sum_{i<=j<p} D_j (j - i) + a^2 sum_{u<L} u^2.
    i = np.arange(p, dtype=np.float64)
    length = p - i
    a = y / length
    cross = (s1[p] - s1[:p]) - i * (s0[p] - s0[:p])
    err_left = -2.0 * a * cross + a * a * _sum_squares_below(length)

    # Right flank, candidate M = c_k for k > p: q_j = a (k - j) on p <= j <= k, a = Y / (k - p).
    k = np.arange(p + 1, hist.shape[0], dtype=np.float64)
    length_r = k - p
    a_r = y / length_r
    ki = np.arange(p + 1, hist.shape[0])
    cross_r = k * (s0[ki + 1] - s0[p + 1]) - (s1[ki + 1] - s1[p + 1])
    err_right = -2.0 * a_r * cross_r + a_r * a_r * _sum_squares_below(length_r)

    n_idx = float(i[np.argmin(err_left)])
    m_idx = float(k[np.argmin(err_right)])
    return (m_idx - n_idx) * HISTOGRAM_BIN_MS


def _sum_squares_below(length: NDArray[np.float64]) -> NDArray[np.float64]:
    """``sum_{u=0}^{L-1} u^2 = (L - 1) L (2L - 1) / 6`` for each L."""
    return (length - 1.0) * length * (2.0 * length - 1.0) / 6.0


def time_domain(rr: NDArray[np.float64]) -> TimeDomain:
    """All time-domain and geometric metrics of one (validated) RR series.

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms, at least 3 (SDSD).

    Returns
    -------
    TimeDomain
        The metrics of :func:`mean_rr`, :func:`sdnn`, :func:`mean_hr`, :func:`min_hr`,
        :func:`max_hr`, :func:`std_hr`, :func:`rmssd`, :func:`sdsd`, :func:`nn50`, :func:`pnn50`,
        :func:`ln_rmssd`, :func:`triangular_index` and :func:`tinn`.

    Raises
    ------
    InsufficientDataError
        If fewer than 3 intervals are given.

    Notes
    -----
    See each metric for its formula. The geometric metrics (triangular index, TINN) need long
    recordings to be meaningful: the Task Force recommends at least 20 minutes.

    References
    ----------
    Task Force (1996), Circulation 93(5):1043-1065.

    Examples
    --------
    >>> td = time_domain(np.array([1000.0, 1100, 1000, 1100, 1000]))
    >>> td.rmssd_ms, td.nn50, td.pnn50_pct
    (100.0, 4, 100.0)
    """
    require_beats(rr, 3, "time-domain metrics")
    return TimeDomain(
        mean_rr_ms=mean_rr(rr),
        sdnn_ms=sdnn(rr),
        mean_hr_bpm=mean_hr(rr),
        min_hr_bpm=min_hr(rr),
        max_hr_bpm=max_hr(rr),
        rmssd_ms=rmssd(rr),
        sdsd_ms=sdsd(rr),
        nn50=nn50(rr),
        pnn50_pct=pnn50(rr),
        ln_rmssd=ln_rmssd(rr),
        tri_index=triangular_index(rr),
        tinn_ms=tinn(rr),
        std_hr_bpm=std_hr(rr),
    )
