"""The resting baseline of the arousal index (:mod:`hrv.arousal`) and the index against it.

:class:`BaselineStats` (robust location and scale of heart rate and ln RMSSD over the resting
period: median and MAD, Rousseeuw & Croux 1993), :func:`baseline_stats` to compute it,
:func:`blend_baselines` to weigh in a prior one, and :func:`arousal_index`, the within-person
index (heart rate up, vagally mediated HRV down with activation: Task Force 1996; Laborde et al.
2017).

References
----------
.. [1] Task Force of the European Society of Cardiology and the North American Society of
   Pacing and Electrophysiology (1996). Heart rate variability: standards of measurement,
   physiological interpretation and clinical use. Circulation 93(5), 1043-1065.
.. [2] Laborde S, Mosley E, Thayer JF (2017). Heart rate variability and cardiac vagal tone in
   psychophysiological research - recommendations for experiment planning, data analysis, and
   data reporting. Frontiers in Psychology 8, 213. doi:10.3389/fpsyg.2017.00213
.. [3] Sack M, Cillien M, Hopper JW (2012). Acute dissociation and cardiac reactivity to
   script-driven imagery in trauma-related disorders. European Journal of Psychotraumatology 3,
   17419. doi:10.3402/ejpt.v3i0.17419
.. [4] Rousseeuw PJ, Croux C (1993). Alternatives to the median absolute deviation. Journal of
   the American Statistical Association 88(424), 1273-1283 (MAD consistency constant 1.4826).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hrv.arousal_config import (
    _MAX_BEAT_INTERVAL_S,
    MAD_TO_SD,
    ArousalConfigError,
)
from hrv.errors import InsufficientDataError

__all__ = [
    "BaselineStats",
    "arousal_index",
    "baseline_stats",
    "blend_baselines",
]


@dataclass(frozen=True, slots=True)
class BaselineStats:
    """Resting reference of one participant: robust centre and spread of HR and ln RMSSD.

    Attributes
    ----------
    hr_center_bpm, hr_scale_bpm : float
        Median and floored MAD-based SD of heart rate, bpm.
    ln_rmssd_center, ln_rmssd_scale : float
        Median and floored MAD-based SD of ln RMSSD (RMSSD in ms), ln(ms).
    n_beats : int
        Number of good beats the statistics come from.
    covered_s : float
        Time covered by those beats, s.
    start_s, end_s : float
        First and last beat time of the baseline, s (NaN for a prior given by hand).
    """

    hr_center_bpm: float
    hr_scale_bpm: float
    ln_rmssd_center: float
    ln_rmssd_scale: float
    n_beats: int = 0
    covered_s: float = 0.0
    start_s: float = math.nan
    end_s: float = math.nan

    def __post_init__(self) -> None:
        for name in ("hr_center_bpm", "hr_scale_bpm", "ln_rmssd_center", "ln_rmssd_scale"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ArousalConfigError(f"BaselineStats.{name} must be finite, got {value!r}")
        if self.hr_scale_bpm <= 0.0 or self.ln_rmssd_scale <= 0.0:
            raise ArousalConfigError(
                "BaselineStats scales must be > 0, got "
                f"hr_scale_bpm={self.hr_scale_bpm}, ln_rmssd_scale={self.ln_rmssd_scale}"
            )

    def to_dict(self) -> dict[str, float | int | None]:
        """Plain dict for storage (NaN times become None)."""
        out: dict[str, float | int | None] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = None if isinstance(value, float) and math.isnan(value) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BaselineStats:
        """Inverse of :meth:`to_dict`; unknown keys are an error, missing counts default."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ArousalConfigError(
                f"unknown BaselineStats keys {sorted(unknown)}; expected some of {sorted(known)}"
            )
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key == "n_beats":
                kwargs[key] = int(value)
            else:
                kwargs[key] = math.nan if value is None else float(value)
        return cls(**kwargs)


def baseline_stats(
    hr_bpm: ArrayLike,
    ln_rmssd: ArrayLike,
    *,
    hr_sd_floor_bpm: float = 3.0,
    ln_rmssd_sd_floor: float = 0.25,
    time_s: ArrayLike | None = None,
) -> BaselineStats:
    """Robust resting statistics of heart rate and ln RMSSD.

    Parameters
    ----------
    hr_bpm : array_like
        Heart rate of the good resting beats, bpm (the 10 s mean from the streaming engine).
    ln_rmssd : array_like
        ln RMSSD at the same beats, ln(ms). Same length as ``hr_bpm``.
    hr_sd_floor_bpm, ln_rmssd_sd_floor : float
        Lower bounds on the spreads (see :class:`ArousalConfig`).
    time_s : array_like, optional
        Beat times, s; only used to fill ``start_s``, ``end_s`` and ``covered_s``.

    Returns
    -------
    BaselineStats

    Raises
    ------
    InsufficientDataError
        If fewer than 2 finite pairs are given.

    Notes
    -----
    Centre :math:`c = \\mathrm{median}(x)`; spread
    :math:`s = \\max(1.4826\\,\\mathrm{median}|x - c|,\\ s_{floor})`. Median and MAD are used
    instead of mean and SD so that a few residual artifacts or one deep sigh in the rest do not
    move the reference [4]; the floor keeps z finite and meaningful when the rest was unusually
    steady. ln RMSSD rather than RMSSD is used because its distribution is closer to normal
    ([2], section "Data analysis").

    Examples
    --------
    >>> b = baseline_stats([60, 62, 64], [4.0, 4.0, 4.0], hr_sd_floor_bpm=1.0)
    >>> b.hr_center_bpm, round(b.hr_scale_bpm, 3), b.ln_rmssd_scale
    (62.0, 2.965, 0.25)
    """
    hr = np.asarray(hr_bpm, dtype=np.float64)
    ln = np.asarray(ln_rmssd, dtype=np.float64)
    if hr.shape != ln.shape or hr.ndim != 1:
        raise ArousalConfigError(
            f"hr_bpm and ln_rmssd must be 1-D of equal length, got {hr.shape} and {ln.shape}"
        )
    ok = np.isfinite(hr) & np.isfinite(ln)
    if int(ok.sum()) < 2:
        raise InsufficientDataError("baseline", needed=2, got=int(ok.sum()))
    hr, ln = hr[ok], ln[ok]
    c_hr = float(np.median(hr))
    c_ln = float(np.median(ln))
    s_hr = max(MAD_TO_SD * float(np.median(np.abs(hr - c_hr))), hr_sd_floor_bpm)
    s_ln = max(MAD_TO_SD * float(np.median(np.abs(ln - c_ln))), ln_rmssd_sd_floor)
    start = end = covered = math.nan
    if time_s is not None:
        t = np.asarray(time_s, dtype=np.float64)[ok]
        start, end = float(t[0]), float(t[-1])
        dt = np.diff(t)
        covered = float(np.minimum(dt, _MAX_BEAT_INTERVAL_S).sum())
    return BaselineStats(
        hr_center_bpm=c_hr,
        hr_scale_bpm=s_hr,
        ln_rmssd_center=c_ln,
        ln_rmssd_scale=s_ln,
        n_beats=int(hr.shape[0]),
        covered_s=0.0 if math.isnan(covered) else covered,
        start_s=start,
        end_s=end,
    )


def blend_baselines(current: BaselineStats, prior: BaselineStats, weight: float) -> BaselineStats:
    """Blend the current resting baseline with one from previous sessions.

    Parameters
    ----------
    current : BaselineStats
        Baseline from this session's resting period.
    prior : BaselineStats
        Reference from the participant's previous sessions.
    weight : float
        Weight :math:`w` of the prior, 0-1.

    Returns
    -------
    BaselineStats
        Blended statistics; counts and times are the current session's.

    Notes
    -----
    Centres are blended linearly, :math:`c = (1-w)\\,c_{now} + w\\,c_{prior}`, spreads in
    variance, :math:`s = \\sqrt{(1-w)\\,s_{now}^2 + w\\,s_{prior}^2}` (the SD of a mixture with
    equal centres), so the blend of two valid baselines is valid.

    Examples
    --------
    >>> now = BaselineStats(70.0, 3.0, 3.5, 0.2)
    >>> old = BaselineStats(66.0, 4.0, 3.9, 0.2)
    >>> blend_baselines(now, old, 0.25).hr_center_bpm
    69.0
    """
    if not 0.0 <= weight <= 1.0:
        raise ArousalConfigError(f"prior weight must be in [0, 1], got {weight!r}")
    w = float(weight)
    return BaselineStats(
        hr_center_bpm=(1.0 - w) * current.hr_center_bpm + w * prior.hr_center_bpm,
        hr_scale_bpm=math.sqrt((1.0 - w) * current.hr_scale_bpm**2 + w * prior.hr_scale_bpm**2),
        ln_rmssd_center=(1.0 - w) * current.ln_rmssd_center + w * prior.ln_rmssd_center,
        ln_rmssd_scale=math.sqrt(
            (1.0 - w) * current.ln_rmssd_scale**2 + w * prior.ln_rmssd_scale**2
        ),
        n_beats=current.n_beats,
        covered_s=current.covered_s,
        start_s=current.start_s,
        end_s=current.end_s,
    )


def arousal_index(
    hr_bpm: ArrayLike, ln_rmssd: ArrayLike, baseline: BaselineStats
) -> NDArray[np.float64]:
    """Unsmoothed arousal index of each beat against a baseline (vectorised; for review).

    Parameters
    ----------
    hr_bpm : array_like
        Heart rate, bpm.
    ln_rmssd : array_like
        ln RMSSD, ln(ms), same shape.
    baseline : BaselineStats
        The resting reference.

    Returns
    -------
    numpy.ndarray
        Index in baseline-SD units (dimensionless), NaN where an input is not finite.

    Notes
    -----
    .. math::

       A = \\tfrac12 \\left( \\frac{HR - c_{HR}}{s_{HR}}
           - \\frac{\\ln RMSSD - c_{\\ln}}{s_{\\ln}} \\right)

    Heart rate rises and vagally mediated HRV (RMSSD, [1], [2]) falls with sympathetic
    activation and vagal withdrawal, so both terms point the same way; averaging two imperfectly
    correlated signals reduces noise. At baseline the index has median 0 and a spread between
    :math:`1/\\sqrt2` (independent terms) and 1 (perfectly correlated terms).

    Examples
    --------
    >>> b = BaselineStats(60.0, 3.0, 4.0, 0.2)
    >>> arousal_index([66.0], [3.6], b)
    array([2.])
    """
    hr = np.asarray(hr_bpm, dtype=np.float64)
    ln = np.asarray(ln_rmssd, dtype=np.float64)
    z_hr = (hr - baseline.hr_center_bpm) / baseline.hr_scale_bpm
    z_ln = (ln - baseline.ln_rmssd_center) / baseline.ln_rmssd_scale
    out: NDArray[np.float64] = 0.5 * (z_hr - z_ln)
    return out
