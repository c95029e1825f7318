"""Time-domain and geometric heart-rate-variability metrics (Task Force 1996).

Every function takes RR (NN) intervals as a one-dimensional float64 array in milliseconds that has
already been checked once by :func:`hrv.validate.validate_rr` at the entry of the pipeline; they do
not validate again. Too-short input raises :class:`hrv.errors.InsufficientDataError` rather than
returning NaN.

The statistical metrics (mean RR, SDNN, mean HR, RMSSD) are the exact textbook formulas: the
vectorised sliding windows of :mod:`hrv.windows` and the streaming engine are tested against them.

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

from hrv.detrend import smoothness_priors_trend
from hrv.errors import InsufficientDataError, ParameterError
from hrv.frequency import MIN_DURATION_S, resample_rr
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

#: Milliseconds per minute: heart rate (bpm) = ``MS_PER_MIN / RR`` (ms).
_MS_PER_MIN: Final[float] = 60_000.0
#: Successive-difference threshold of NN50 / pNN50, ms (Task Force 1996: "more than 50 ms").
NN50_THRESHOLD_MS: Final[float] = 50.0
#: Width of the RR histogram bins of the triangular index and TINN, ms: 1/128 s = 7.8125 ms, the
#: Task Force (1996) sampling-grid recommendation (exact in binary floating point).
HISTOGRAM_BIN_MS: Final[float] = 1000.0 / 128.0
#: Beats in the moving average of RR used for min / max HR ("Min/Max HR as average of N beats",
#: N = 1 in the Kubios HRV reference exports: the single slowest / fastest beat).
MIN_MAX_HR_AVERAGE_BEATS: Final[int] = 1
#: Segment length of SDANN and the SDNN index, s (Task Force 1996: 5 minutes).
SDANN_SEGMENT_S: Final[float] = 300.0
#: Histogram bin width of Baevsky's stress index, ms (Kubios HRV: 50 ms).
STRESS_INDEX_BIN_MS: Final[float] = 50.0


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


def mean_hr(rr: NDArray[np.float64]) -> float:
    """Mean heart rate, Kubios HRV / Task Force definition: ``60000 / mean RR``.

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms, at least 1.

    Returns
    -------
    float
        Mean heart rate, beats per minute.

    Raises
    ------
    InsufficientDataError
        If ``rr`` is empty.

    Notes
    -----
    ``mean HR = 60000 / ((1 / N) sum_i RR_i)`` (RR in ms): the number of beats over the time they
    take, so that it is exactly the rate a pulse count over the recording gives. It is slightly
    smaller than the mean of the instantaneous heart rates (:func:`mean_instantaneous_hr`, Jensen's
    inequality; about 1 bpm at SDNN 85 ms), which is what sliding windows and the streaming engine
    report per beat. On pyHRV's 60-min sample this reproduces Kubios HRV 3.1 (78.0804 bpm) to
    1e-6; the instantaneous mean (78.99) is 1.2 % higher.

    References
    ----------
    Task Force (1996), Circulation 93(5):1043-1065.
    Tarvainen, M. P., et al. (2014). Kubios HRV - heart rate variability analysis software.
    Computer Methods and Programs in Biomedicine 113(1):210-220.

    Examples
    --------
    >>> mean_hr(np.array([1000.0, 500.0]))  # 60000 / 750
    80.0
    """
    require_beats(rr, 1, "mean HR")
    return _MS_PER_MIN / float(np.mean(rr))


def mean_instantaneous_hr(rr: NDArray[np.float64]) -> float:
    """Mean of the instantaneous heart rates ``60000 / RR_i``.

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms, at least 1.

    Returns
    -------
    float
        ``(1 / N) sum_i 60000 / RR_i``, beats per minute.

    Raises
    ------
    InsufficientDataError
        If ``rr`` is empty.

    Notes
    -----
    This is the per-beat "mean HR" of the sliding windows (:mod:`hrv.windows`) and of the streaming
    engine (:mod:`hrv.stream`): a plain sum that one cumulative sum gives for every window. It is at
    least :func:`mean_hr` (``60000 / mean RR``, the Kubios summary value) by Jensen's inequality.

    References
    ----------
    Task Force (1996), Circulation 93(5):1043-1065.

    Examples
    --------
    >>> mean_instantaneous_hr(np.array([1000.0, 500.0]))  # (60 + 120) / 2
    90.0
    """
    require_beats(rr, 1, "mean instantaneous HR")
    return float(np.mean(_MS_PER_MIN / rr))


def std_hr(rr: NDArray[np.float64]) -> float:
    """Standard deviation of the instantaneous heart rate (STD HR), sample estimate (ddof 1).

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms, at least 2.

    Returns
    -------
    float
        ``std(60000 / RR_i)``, beats per minute.

    Raises
    ------
    InsufficientDataError
        If fewer than 2 intervals are given.

    Notes
    -----
    ``STD HR = sqrt( sum_i (HR_i - mean HR_inst)^2 / (N - 1) )`` with ``HR_i = 60000 / RR_i``, the
    definition of the Kubios HRV user's guide ("standard deviation of instantaneous heart rate
    values"). Kubios HRV 3.1 prints 2.093 bpm for pyHRV's 60-min sample where this definition gives
    8.305 bpm; no definition we tried reproduces 2.093 (the SD of the 5-minute mean HRs is 2.115),
    so the number is documented, not matched (``tests/hrv/test_reference_kubios_v2.py``).

    References
    ----------
    Tarvainen, M. P., et al. (2017). Kubios HRV version 3 user's guide, "Time-domain analysis".

    Examples
    --------
    >>> std_hr(np.array([1000.0, 500.0]))  # 60 and 120 bpm
    42.42640687119285
    """
    require_beats(rr, 2, "STD HR")
    return float(np.std(_MS_PER_MIN / rr, ddof=1))


def _moving_average_rr(rr: NDArray[np.float64], beats: int, metric: str) -> NDArray[np.float64]:
    """Moving average of RR (ms) over ``beats`` consecutive beats (valid part)."""
    if beats < 1:
        raise ParameterError(f"average_beats must be a positive integer, got {beats}")
    require_beats(rr, beats, metric)
    if beats == 1:
        return rr
    csum = np.concatenate(([0.0], np.cumsum(rr)))
    return (csum[beats:] - csum[:-beats]) / beats


def min_hr(rr: NDArray[np.float64], average_beats: int = MIN_MAX_HR_AVERAGE_BEATS) -> float:
    """Minimum heart rate, ``60000 / max RR`` (Kubios HRV; RR optionally averaged over N beats).

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms, at least ``average_beats``.
    average_beats : int, default 1
        Beats in the moving average of RR ("Min/Max HR as average of N beats" in Kubios HRV). The
        default 1 gives the slowest single beat, ``60000 / max RR``.

    Returns
    -------
    float
        ``60000 / max_k mean(RR_k .. RR_{k+n-1})``, bpm.

    Raises
    ------
    InsufficientDataError
        If fewer than ``average_beats`` intervals are given.
    ValueError
        If ``average_beats < 1``.

    Notes
    -----
    ``min HR = 60000 / max_k (1 / n) sum_{i=k}^{k+n-1} RR_i`` with ``n = average_beats``: the
    N-beat heart rate is the N beats over the time they take, as :func:`mean_hr`. With n > 1 a
    single long beat does not set the extreme. On pyHRV's 60-min sample ``n = 1`` reproduces
    Kubios HRV 3.1 (50.5051 bpm) to 1e-6.

    References
    ----------
    Tarvainen, M. P., Lipponen, J., Niskanen, J.-P., Ranta-aho, P. O. (2017). Kubios HRV version 3
    user's guide, section "Time-domain analysis".

    Examples
    --------
    >>> rr = np.array([1000.0, 1000, 1000, 1000, 1000, 500])
    >>> min_hr(rr)
    60.0
    >>> round(max_hr(rr, average_beats=5), 4)  # 60000 / ((4 * 1000 + 500) / 5)
    66.6667
    """
    return _MS_PER_MIN / float(np.max(_moving_average_rr(rr, average_beats, "min HR")))


def max_hr(rr: NDArray[np.float64], average_beats: int = MIN_MAX_HR_AVERAGE_BEATS) -> float:
    """Maximum heart rate, ``60000 / min RR`` (Kubios HRV; RR optionally averaged over N beats).

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms, at least ``average_beats``.
    average_beats : int, default 1
        Beats in the moving average of RR. The default 1 gives ``60000 / min RR``.

    Returns
    -------
    float
        ``60000 / min_k mean(RR_k .. RR_{k+n-1})``, bpm.

    Raises
    ------
    InsufficientDataError
        If fewer than ``average_beats`` intervals are given.
    ValueError
        If ``average_beats < 1``.

    Notes
    -----
    ``max HR = 60000 / min_k (1 / n) sum_{i=k}^{k+n-1} RR_i``; see :func:`min_hr`. Reproduces
    Kubios HRV 3.1 on pyHRV's 60-min sample (106.7616 bpm) to 1e-6.

    References
    ----------
    Tarvainen, M. P., et al. (2017). Kubios HRV version 3 user's guide, "Time-domain analysis".

    Examples
    --------
    >>> max_hr(np.array([1000.0, 1000, 1000, 1000, 1000, 500]))
    120.0
    """
    return _MS_PER_MIN / float(np.min(_moving_average_rr(rr, average_beats, "max HR")))


def _segment_ids(rr: NDArray[np.float64], segment_s: float) -> NDArray[np.int64]:
    """Index of the ``segment_s`` segment holding each beat (by the time of the closing beat)."""
    if not segment_s > 0.0:
        raise ParameterError(f"segment_s must be positive, got {segment_s!r}")
    t_s = np.cumsum(rr) / 1000.0
    # a beat closing exactly on a boundary belongs to the segment it ends
    ids: NDArray[np.int64] = np.ceil(t_s / segment_s - 1e-12).astype(np.int64) - 1
    return np.maximum(ids, 0)


def _segment_stats(
    rr: NDArray[np.float64], segment_s: float, metric: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean and sample SD of RR in each segment with at least 2 beats (vectorised)."""
    require_beats(rr, 2, metric)
    ids = _segment_ids(rr, segment_s)
    count = np.bincount(ids).astype(np.float64)
    all_mean = np.bincount(ids, weights=rr) / np.maximum(count, 1.0)
    centred = rr - all_mean[ids]  # two-pass variance: no cancellation
    ss = np.bincount(ids, weights=centred * centred)
    keep = count >= 2
    sd = np.sqrt(ss[keep] / (count[keep] - 1.0))
    return all_mean[keep], sd


def sdann(rr: NDArray[np.float64], segment_s: float = SDANN_SEGMENT_S) -> float:
    """SDANN: standard deviation of the mean RR of consecutive 5-minute segments.

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms, spanning at least two segments.
    segment_s : float, default 300
        Segment length, s.

    Returns
    -------
    float
        SDANN, ms.

    Raises
    ------
    InsufficientDataError
        If fewer than two segments hold at least 2 beats.

    Notes
    -----
    Beats are assigned to consecutive segments ``[k T, (k + 1) T)`` of the time axis
    ``t_i = sum_{j<=i} RR_j`` (the time of the beat that closes interval i); the last, possibly
    shorter segment is kept if it holds at least 2 beats. ``SDANN = std_k(mean RR in segment k)``
    (ddof 1). Kubios HRV 3.1 reports 21.896 ms on pyHRV's 60-min sample where this gives 21.397 ms
    (-2.3 %); Kubios's segment bookkeeping is not published (beat start, middle or end times, the
    4 Hz series, equal beat counts all give 21.1-22.1 ms).

    References
    ----------
    Task Force (1996), Circulation 93(5):1043-1065, Table 1 (SDANN, 5-min segments).

    Examples
    --------
    >>> rr = np.concatenate((np.full(300, 1000.0), np.full(375, 800.0)))  # 5 min at each rate
    >>> sdann(rr)  # std of (1000, 800), ddof 1
    141.4213562373095
    """
    mean, _ = _segment_stats(rr, segment_s, "SDANN")
    if mean.shape[0] < 2:
        raise InsufficientDataError(
            "SDANN", needed=2, got=int(mean.shape[0]), unit=f"{segment_s:g} s segments"
        )
    return float(np.std(mean, ddof=1))


def sdnn_index(rr: NDArray[np.float64], segment_s: float = SDANN_SEGMENT_S) -> float:
    """SDNN index: the mean of the SDNN of consecutive 5-minute segments.

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms, spanning at least one segment with 2 beats.
    segment_s : float, default 300
        Segment length, s.

    Returns
    -------
    float
        SDNN index, ms.

    Raises
    ------
    InsufficientDataError
        If fewer than 2 intervals are given.

    Notes
    -----
    Segments as in :func:`sdann`; ``SDNN index = mean_k SDNN_k`` (each SDNN with ddof 1). Kubios
    HRV 3.1 reports 82.233 ms on pyHRV's 60-min sample where this gives 82.619 ms (+0.5 %).

    References
    ----------
    Task Force (1996), Circulation 93(5):1043-1065, Table 1 (SDNN index).

    Examples
    --------
    >>> rr = np.concatenate((np.tile([900.0, 1100.0], 150), np.full(375, 800.0)))
    >>> round(sdnn_index(rr), 3)  # (100.167 + 0) / 2
    50.084
    """
    _, sd = _segment_stats(rr, segment_s, "SDNN index")
    return float(np.mean(sd))


def stress_index(rr: NDArray[np.float64], *, detrend_lam: float | None = 500.0) -> float:
    """Baevsky's stress index, as Kubios HRV reports it: the square root of the original.

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms; with detrending at least 120 s of beats, else at least 2.
    detrend_lam : float or None, default 500
        Smoothness-priors lambda of the detrending applied before the histogram (on the 4 Hz
        series, as :mod:`hrv.detrend`); ``None`` uses the RR as given.

    Returns
    -------
    float
        ``sqrt(SI)`` (dimensionless as Kubios reports it; SI in 1/s^2 with Mo and MxDMn in s).

    Raises
    ------
    InsufficientDataError
        If the record is too short.

    Notes
    -----
    ``SI = AMo / (2 Mo MxDMn)`` (Baevsky & Chernikova 2017), with ``Mo`` the mode of RR in s
    (Kubios takes the median), ``AMo`` the height of the RR histogram with 50 ms bins in percent
    of the beats, and ``MxDMn = max RR - min RR`` in s. Kubios computes AMo and MxDMn from the
    detrended RR series so that slow changes of mean heart rate do not inflate it; here the
    smoothness-priors trend (lambda 500 on the 4 Hz series, cut-off 0.035 Hz) is interpolated at
    the beats and removed, the median added back, and the 50 ms bins lie on the grid of multiples
    of 50 ms. On pyHRV's 60-min sample this gives 6.554 where Kubios 3.1 reports 6.5571 (-0.05 %);
    without detrending 5.230. Kubios reports the square root to make the distribution closer to
    normal. A population comparison, not a diagnosis.

    References
    ----------
    Baevsky, R. M., & Chernikova, A. G. (2017). Heart rate variability analysis: physiological
    foundations and main methods. Cardiometry 10:66-76.
    Tarvainen, M. P., et al. (2017). Kubios HRV version 3 user's guide, "Time-domain analysis".

    Examples
    --------
    >>> rr = np.array([810.0, 820.0, 830.0, 840.0, 815.0])  # one 50 ms bin: AMo 100 %
    >>> round(stress_index(rr, detrend_lam=None), 4)  # sqrt(100 / (2 * 0.820 * 0.030))
    45.0835
    """
    require_beats(rr, 2, "stress index")
    x = rr
    if detrend_lam is not None:
        duration_s = float(rr.sum()) / 1000.0
        if duration_s < MIN_DURATION_S:
            raise InsufficientDataError(
                "stress index (detrended)", needed=MIN_DURATION_S, got=duration_s, unit="s of beats"
            )
        t_even, x_even = resample_rr(rr)
        trend = smoothness_priors_trend(x_even, lam=detrend_lam)
        x = rr - np.interp(np.cumsum(rr) / 1000.0, t_even, trend) + float(np.median(rr))
    mo_s = float(np.median(rr)) / 1000.0
    k = np.floor(x / STRESS_INDEX_BIN_MS).astype(np.int64)
    amo_pct = 100.0 * float(np.bincount(k - k.min()).max()) / x.shape[0]
    mxdmn_s = float(x.max() - x.min()) / 1000.0
    if not mxdmn_s > 0.0:
        raise InsufficientDataError("stress index", needed=1, got=0, unit="ms of RR range")
    return float(np.sqrt(amo_pct / (2.0 * mo_s * mxdmn_s)))


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
