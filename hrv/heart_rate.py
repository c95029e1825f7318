"""Heart-rate statistics of an RR series, with the Kubios HRV / Task Force definitions.

Mean HR is ``60000 / mean RR`` and min / max HR come from the longest / shortest RR (optionally
averaged over N beats), as Kubios HRV defines them; the mean of the instantaneous rates is kept
under a name that says what it is. Every function takes RR intervals as a one-dimensional float64
array in milliseconds, already checked once by :func:`hrv.validate.validate_rr`. Too-short input
raises :class:`hrv.errors.InsufficientDataError`. :mod:`hrv.time_domain` re-exports these.

References
----------
Task Force of the European Society of Cardiology and the North American Society of Pacing and
Electrophysiology (1996). Heart rate variability: standards of measurement, physiological
interpretation and clinical use. Circulation 93(5):1043-1065.

Tarvainen, M. P., Lipponen, J., Niskanen, J.-P., Ranta-aho, P. O. (2017). Kubios HRV version 3
user's guide, section "Time-domain analysis".
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

from hrv.errors import ParameterError
from hrv.validate import require_beats

__all__ = [
    "MIN_MAX_HR_AVERAGE_BEATS",
    "max_hr",
    "mean_hr",
    "mean_instantaneous_hr",
    "min_hr",
    "std_hr",
]

#: Milliseconds per minute: heart rate (bpm) = ``MS_PER_MIN / RR`` (ms).
_MS_PER_MIN: Final[float] = 60_000.0
#: Beats in the moving average of RR used for min / max HR ("Min/Max HR as average of N beats",
#: N = 1 in the Kubios HRV reference exports: the single slowest / fastest beat).
MIN_MAX_HR_AVERAGE_BEATS: Final[int] = 1


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
    8.305 bpm. No documented definition reproduces 2.093: the SD of the 5-minute mean HRs gives
    2.12-2.14, of the 1-minute means 3.00, of HR after smoothness-priors detrending 6.4-6.5. The
    SD of the 4 Hz interpolated HR divided by 4 (the interpolation rate) comes within -0.6 to
    +1.5 % of Kubios on all five Kubios 3.1 exports of pyHRV's test data, which hints at how
    Kubios scales it, but it is not a published definition and not exact, so it is not adopted
    (``tests/hrv/test_reference_kubios_v2.py``).

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
