"""Autonomic summary indexes: Baevsky's stress index, and the PNS and SNS indexes.

The PNS and SNS indexes follow the construction of Kubios HRV (Tarvainen et al.): each is the mean
of three z-scores, a parameter's distance from the mean of a healthy adult population in units of
that population's standard deviation. They are **population comparisons, not a diagnosis**: 0
means "on average equal to the normal values", +1 "on average one population SD above". They
say nothing about a person beyond that comparison, depend on the norms used, and the norms come
from short-term (about 5 min) resting recordings, so on long or active recordings they compare
unlike with like.

Every function takes RR intervals as a one-dimensional float64 array in milliseconds, already
checked once by :func:`hrv.validate.validate_rr`. Too-short input raises
:class:`hrv.errors.InsufficientDataError`. :mod:`hrv.time_domain` re-exports :func:`stress_index`.

References
----------
Baevsky, R. M., & Chernikova, A. G. (2017). Heart rate variability analysis: physiological
foundations and main methods. Cardiometry 10:66-76.

Nunan, D., Sandercock, G. R. H., & Brodie, D. A. (2010). A quantitative systematic review of normal
values for short-term heart rate variability in healthy adults. Pacing Clin Electrophysiol
33(11):1407-1417.

Brennan, M., Palaniswami, M., Kamen, P. (2001). Do existing measures of Poincaré plot geometry
reflect nonlinear features of heart rate variability? IEEE Trans Biomed Eng 48(11):1342-1347.

Kubios Oy. HRV and the autonomic nervous system function (PNS and SNS indexes),
https://www.kubios.com/hrv-ans-function/ ; Tarvainen, M. P., et al. Kubios HRV user's guide.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import numpy as np
from numpy.typing import NDArray

from hrv.detrend import smoothness_priors_trend
from hrv.errors import InsufficientDataError, ParameterError
from hrv.frequency import MIN_DURATION_S, resample_rr
from hrv.heart_rate import mean_hr
from hrv.nonlinear import poincare
from hrv.validate import require_beats

__all__ = [
    "ANS_NORMS",
    "STRESS_INDEX_BIN_MS",
    "NormalValue",
    "ans_z_scores",
    "pns_index",
    "pns_sns_indexes",
    "sns_index",
    "stress_index",
]

#: Histogram bin width of Baevsky's stress index, ms (Kubios HRV: 50 ms).
STRESS_INDEX_BIN_MS: Final[float] = 50.0


@dataclass(frozen=True, slots=True)
class NormalValue:
    """Mean and standard deviation of a parameter in a healthy adult population.

    Attributes
    ----------
    mean, sd : float
        Population mean and standard deviation, in the parameter's unit.
    source : str
        Where the numbers come from (published, or derived from published numbers and how).
    """

    mean: float
    sd: float
    source: str

    def z(self, value: float) -> float:
        """``(value - mean) / sd``: distance from the population mean in population SDs."""
        return (value - self.mean) / self.sd


# Nunan et al. (2010), Table 2, short-term resting HRV of healthy adults (pooled mean +- SD).
_NUNAN_MEAN_RR_MS: Final[float] = 926.0
_NUNAN_MEAN_RR_SD_MS: Final[float] = 90.0
_NUNAN_RMSSD_MS: Final[float] = 42.0
_NUNAN_RMSSD_SD_MS: Final[float] = 15.0
_NUNAN_SDNN_MS: Final[float] = 50.0
_NUNAN_SDNN_SD_MS: Final[float] = 16.0
# Baevsky & Chernikova (2017): SI of healthy adults at rest "80-150 conventional units" (1/s^2),
# taken here as mean +- 1 SD, i.e. 115 +- 35.
_BAEVSKY_SI_MID: Final[float] = 115.0
_BAEVSKY_SI_HALF_RANGE: Final[float] = 35.0


def _derived_norms() -> dict[str, NormalValue]:
    rr, rr_sd = _NUNAN_MEAN_RR_MS, _NUNAN_MEAN_RR_SD_MS
    # SD1 = SDSD / sqrt 2 ~= RMSSD / sqrt 2 (Brennan 2001); SD2^2 = 2 SDNN^2 - SD1^2
    sd1, sd1_sd = _NUNAN_RMSSD_MS / math.sqrt(2.0), _NUNAN_RMSSD_SD_MS / math.sqrt(2.0)
    sd2 = math.sqrt(2.0 * _NUNAN_SDNN_MS**2 - sd1**2)
    # first-order propagation of the SDs, the population SDs of SDNN and RMSSD taken independent
    sd2_sd = math.hypot(2.0 * _NUNAN_SDNN_MS / sd2 * _NUNAN_SDNN_SD_MS, sd1 / sd2 * sd1_sd)
    total = sd1 + sd2
    nu1 = 100.0 * sd1 / total
    nu_sd = 100.0 * math.hypot(sd2 / total**2 * sd1_sd, sd1 / total**2 * sd2_sd)
    si = math.sqrt(_BAEVSKY_SI_MID)
    si_sd = _BAEVSKY_SI_HALF_RANGE / (2.0 * si)  # d sqrt(x) = dx / (2 sqrt x)
    nu_source = "derived: SD1 = RMSSD / sqrt 2, SD2 = sqrt(2 SDNN^2 - SD1^2), Nunan (first order)"
    return {
        "mean_rr_ms": NormalValue(rr, rr_sd, "Nunan et al. 2010"),
        "rmssd_ms": NormalValue(_NUNAN_RMSSD_MS, _NUNAN_RMSSD_SD_MS, "Nunan et al. 2010"),
        "sd1_nu": NormalValue(nu1, nu_sd, nu_source),
        "mean_hr_bpm": NormalValue(
            60_000.0 / rr, 60_000.0 * rr_sd / rr**2, "derived: 60000 / mean RR (first order), Nunan"
        ),
        "stress_index": NormalValue(si, si_sd, "derived: sqrt of Baevsky's 80-150 as 115 +- 35"),
        "sd2_nu": NormalValue(100.0 - nu1, nu_sd, nu_source),
    }


#: Normal values the PNS and SNS indexes compare against (key -> :class:`NormalValue`): mean RR
#: 926 +- 90 ms and RMSSD 42 +- 15 ms (Nunan et al. 2010); derived from Nunan's numbers (with
#: SDNN 50 +- 16 ms): mean HR 64.79 +- 6.30 bpm, SD1 31.64 +- 11.53 n.u. and SD2 68.36 +- 11.53
#: n.u.; stress index 10.72 +- 1.63 (square root of Baevsky's normal range 80-150 as 115 +- 35).
ANS_NORMS: Final[Mapping[str, NormalValue]] = MappingProxyType(_derived_norms())

_PNS_KEYS: Final[tuple[str, str, str]] = ("mean_rr_ms", "rmssd_ms", "sd1_nu")
_SNS_KEYS: Final[tuple[str, str, str]] = ("mean_hr_bpm", "stress_index", "sd2_nu")


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


def ans_z_scores(
    rr: NDArray[np.float64],
    norms: Mapping[str, NormalValue] = ANS_NORMS,
    *,
    stress_index_value: float | None = None,
) -> dict[str, float]:
    """The six z-scores the PNS and SNS indexes average, each against its normal value.

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms, at least 120 s of beats (the detrended stress index).
    norms : mapping, default :data:`ANS_NORMS`
        A :class:`NormalValue` for each of ``mean_rr_ms``, ``rmssd_ms``, ``sd1_nu``,
        ``mean_hr_bpm``, ``stress_index`` and ``sd2_nu``.
    stress_index_value : float or None, default None
        :func:`stress_index` of ``rr`` if the caller has it already (it is the costly term).

    Returns
    -------
    dict
        ``{key: (value - norm.mean) / norm.sd}`` for the six keys above (dimensionless).

    Raises
    ------
    InsufficientDataError
        If the record is shorter than 120 s.
    ParameterError
        If a norm is missing or its SD is not positive.

    Notes
    -----
    Values: mean RR and RMSSD (ms) of the series; SD1 and SD2 in normalised units,
    ``SD1 (n.u.) = 100 SD1 / (SD1 + SD2)`` and ``SD2 (n.u.) = 100 - SD1 (n.u.)`` (Poincaré SD1 /
    SD2 of :func:`hrv.nonlinear.poincare`), the relative share of quick (respiratory) against
    slow variability, by analogy with LF and HF in n.u. (Task Force 1996), which is the rationale
    Kubios gives for the third parameter; mean HR ``60000 / mean RR``; the stress index of
    :func:`stress_index` (detrended, square root).

    Examples
    --------
    >>> rr = np.tile([900.0, 960.0], 200)
    >>> z = ans_z_scores(rr)
    >>> round(z["mean_rr_ms"], 4)  # (930 - 926) / 90
    0.0444
    """
    for key in _PNS_KEYS + _SNS_KEYS:
        if key not in norms:
            raise ParameterError(f"norms must give a NormalValue for {key!r}")
        if not norms[key].sd > 0.0:
            raise ParameterError(
                f"the SD of the norm for {key!r} must be positive, got {norms[key].sd!r}"
            )
    require_beats(rr, 3, "PNS / SNS index")
    mean_rr_ms = float(np.mean(rr))
    pc = poincare(rr)
    values = {
        "mean_rr_ms": mean_rr_ms,
        "rmssd_ms": float(np.sqrt(np.mean(np.diff(rr) ** 2))),
        "sd1_nu": 100.0 * pc.sd1_ms / (pc.sd1_ms + pc.sd2_ms),
        "mean_hr_bpm": mean_hr(rr),
        "stress_index": stress_index(rr) if stress_index_value is None else stress_index_value,
        "sd2_nu": 100.0 * pc.sd2_ms / (pc.sd1_ms + pc.sd2_ms),
    }
    return {key: norms[key].z(v) for key, v in values.items()}


def pns_index(rr: NDArray[np.float64], norms: Mapping[str, NormalValue] = ANS_NORMS) -> float:
    """Parasympathetic (PNS) index: mean z-score of mean RR, RMSSD and SD1 (n.u.).

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms, at least 120 s of beats.
    norms : mapping, default :data:`ANS_NORMS`
        Normal values, as :func:`ans_z_scores`.

    Returns
    -------
    float
        ``(z(mean RR) + z(RMSSD) + z(SD1 n.u.)) / 3``, in population SDs (dimensionless).

    Raises
    ------
    InsufficientDataError
        If the record is shorter than 120 s.

    Notes
    -----
    Kubios HRV's construction: a longer mean RR, a larger RMSSD and a larger share of quick
    variability (SD1 in normalised units) all go with more parasympathetic (vagal) cardiac
    activity, so the index is the mean of their z-scores against :data:`ANS_NORMS` (mean RR
    926 +- 90 ms and RMSSD 42 +- 15 ms from Nunan et al. 2010; SD1 (n.u.) derived from Nunan's
    numbers). A population comparison, not a diagnosis.

    Kubios HRV 3.1 reports -0.2737 on pyHRV's 60-min sample where this gives -0.292 (measured on
    the five Kubios 3.1 exports of pyHRV's test data: -0.29, +0.26, -0.67, -0.98, -0.88 against
    Kubios's -0.27, +0.82, -0.67, -1.07, -0.74). Kubios's own normal values for SD1 / SD2 in
    normalised units are not published where we could find them, and no choice of norms closes
    the gap: no linear combination of the whole-record mean RR, RMSSD and SD1 (in ms, in % of mean
    RR or in n.u.) reproduces Kubios's five PNS values (residuals up to 0.2).

    References
    ----------
    Nunan, D., et al. (2010). Pacing Clin Electrophysiol 33(11):1407-1417.
    Kubios Oy, https://www.kubios.com/hrv-ans-function/ (PNS and SNS indexes).

    Examples
    --------
    >>> rr = np.tile([900.0, 960.0], 200)  # mean RR 930 ms, RMSSD 60 ms, SD2 ~ 0: SD1 100 n.u.
    >>> round(pns_index(rr), 2)  # ((930 - 926) / 90 + (60 - 42) / 15 + (100 - 31.64) / 11.53) / 3
    2.39
    """
    z = ans_z_scores(rr, norms)
    return float(np.mean([z[k] for k in _PNS_KEYS]))


def sns_index(rr: NDArray[np.float64], norms: Mapping[str, NormalValue] = ANS_NORMS) -> float:
    """Sympathetic (SNS) index: mean z-score of mean HR, stress index and SD2 (n.u.).

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms, at least 120 s of beats.
    norms : mapping, default :data:`ANS_NORMS`
        Normal values, as :func:`ans_z_scores`.

    Returns
    -------
    float
        ``(z(mean HR) + z(stress index) + z(SD2 n.u.)) / 3``, in population SDs (dimensionless).

    Raises
    ------
    InsufficientDataError
        If the record is shorter than 120 s.

    Notes
    -----
    Kubios HRV's construction: a higher mean HR, a higher (square-root) Baevsky stress index and a
    larger share of slow variability (SD2 in normalised units) go with more sympathetic cardiac
    activity; the index is the mean of their z-scores against :data:`ANS_NORMS` (mean HR and
    SD2 (n.u.) derived from Nunan et al. 2010, stress index from Baevsky & Chernikova 2017). A
    population comparison, not a diagnosis.

    Kubios HRV 3.1 reports 0.5824 on pyHRV's 60-min sample where this gives -0.03 (five exports:
    -0.03, -0.35, +0.31, +0.43, +0.38 against Kubios's +0.58, -0.24, +0.90, +0.77, +0.57): the
    order agrees, the level does not, which points at Kubios's unpublished normal values (of the
    stress index above all) rather than at the construction.

    References
    ----------
    Baevsky, R. M., & Chernikova, A. G. (2017). Cardiometry 10:66-76.
    Kubios Oy, https://www.kubios.com/hrv-ans-function/ (PNS and SNS indexes).

    Examples
    --------
    >>> rr = np.tile([900.0, 960.0], 200)
    >>> bool(sns_index(rr) < 0.0 < pns_index(rr))  # slow, variable rhythm
    True
    """
    z = ans_z_scores(rr, norms)
    return float(np.mean([z[k] for k in _SNS_KEYS]))


def pns_sns_indexes(
    rr: NDArray[np.float64],
    norms: Mapping[str, NormalValue] = ANS_NORMS,
    *,
    stress_index_value: float | None = None,
) -> tuple[float, float]:
    """:func:`pns_index` and :func:`sns_index` from one pass over the record.

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms, at least 120 s of beats.
    norms : mapping, default :data:`ANS_NORMS`
        Normal values, as :func:`ans_z_scores`.
    stress_index_value : float or None, default None
        :func:`stress_index` of ``rr`` if already computed.

    Returns
    -------
    (float, float)
        The PNS and SNS indexes, in population SDs (the detrended stress index is computed once).

    Raises
    ------
    InsufficientDataError
        If the record is shorter than 120 s.

    Examples
    --------
    >>> rr = np.tile([900.0, 960.0], 200)
    >>> pns_sns_indexes(rr) == (pns_index(rr), sns_index(rr))
    True
    """
    z = ans_z_scores(rr, norms, stress_index_value=stress_index_value)
    return float(np.mean([z[k] for k in _PNS_KEYS])), float(np.mean([z[k] for k in _SNS_KEYS]))
