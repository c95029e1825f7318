"""A within-person arousal index against a resting baseline, with bands that change slowly.

One :class:`ArousalTracker` per participant turns the per-beat output of the streaming engine
(time, heart rate, ln RMSSD, signal quality) into an index of autonomic activation relative to the
person's own resting baseline, a confidence, and a state:

``calibrating``
    the resting baseline is not ready yet: no index, no guess;
``uncertain``
    the signal is not good enough to say anything (artifacts, missing beats, no contact);
``above`` / ``within`` / ``below``
    above usual activation / within the usual range / below usual activation, *for this person*,
    compared with their own resting period.

The states describe heart-rate data only. They never name a clinical state: heart rate and HRV
cannot tell a person's inner state apart from posture, speech, breathing or caffeine, and a
reading below the usual range is *not* evidence of any particular clinical condition
(Sack, Cillien & Hopper 2012 found only group-level, moderate correlations between acute
self-reported states and cardiac reactivity, with wide individual overlap).

Everything here is pure: times are passed in (float64 s), nothing reads a clock, logs or prints.
Each update is O(1) in time and memory; the baseline buffer is preallocated and bounded by the
baseline duration.

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
from dataclasses import dataclass, field, fields
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hrv.errors import InsufficientDataError, SintoniaError
from hrv.validate import LONGEST_BEAT_S

__all__ = [
    "BASELINE_DURATION_S",
    "MAD_TO_SD",
    "STATE_CODES",
    "STATE_LABELS",
    "ArousalConfig",
    "ArousalConfigError",
    "ArousalInputError",
    "ArousalSeries",
    "ArousalState",
    "ArousalStateChange",
    "ArousalTracker",
    "ArousalUpdate",
    "Band",
    "BaselineStats",
    "ChangeReason",
    "arousal_index",
    "baseline_stats",
    "blend_baselines",
    "replay_arousal",
]

ArousalState = Literal["calibrating", "uncertain", "above", "within", "below"]
Band = Literal["above", "within", "below"]
ChangeReason = Literal[
    "baseline_ready", "persistence", "confidence_lost", "confidence_regained", "rebaseline"
]

#: Human labels for the states, worded for the therapist (never a clinical term).
STATE_LABELS: Final[dict[str, str]] = {
    "calibrating": "calibrating (resting baseline)",
    "uncertain": "signal uncertain",
    "above": "above usual activation",
    "within": "within usual range",
    "below": "below usual activation",
}

#: Default resting-baseline duration, s (3 min, the short-term recording length recommended for
#: resting vagally mediated HRV by Laborde et al. 2017 is at least 1-5 min).
BASELINE_DURATION_S: Final[float] = 180.0
#: Consistency constant: MAD * 1.4826 estimates the SD of a normal distribution [4].
MAD_TO_SD: Final[float] = 1.482602218505602
#: Longest plausible single beat-to-beat interval, s (:data:`hrv.validate.LONGEST_BEAT_S`). Time
#: beyond this since the last beat counts as missing.
_MAX_BEAT_INTERVAL_S: Final[float] = LONGEST_BEAT_S
#: Shortest plausible beat interval, s (240 bpm), sizes the baseline buffer.
_MIN_BEAT_INTERVAL_S: Final[float] = 0.25


class ArousalConfigError(SintoniaError, ValueError):
    """An :class:`ArousalConfig` (or baseline) parameter out of its allowed range."""


class ArousalInputError(SintoniaError, ValueError):
    """An update that cannot be placed in time (non-finite time, time running backwards)."""


@dataclass(frozen=True, slots=True)
class ArousalConfig:
    """Parameters of the arousal index; the defaults are justified one by one below.

    Attributes
    ----------
    baseline_s : float
        Duration of the resting baseline, s (default 180 s = 3 min).
    baseline_min_coverage : float
        Fraction of ``baseline_s`` that must be covered by good beats before the baseline is
        ready (default 0.6). With less, the baseline keeps collecting past ``baseline_s``.
    baseline_quality_min : float
        Minimum beat quality (0-1) for a beat to enter the baseline (default 0.8).
    hr_sd_floor_bpm : float
        Floor on the baseline spread of HR, bpm (default 3.0). The 10 s mean HR of a person sitting
        still varies by a few bpm; without a floor an unusually steady rest would make z explode.
    ln_rmssd_sd_floor : float
        Floor on the baseline spread of ln RMSSD, ln(ms) (default 0.25, i.e. RMSSD about 22 %
        lower). Sliding 60 s windows within 3 min overlap heavily, so their spread underestimates
        the variability of independent windows over a session; the floor compensates. Both floors
        were chosen so that, in 12 simulated calm 30-minute recordings (:mod:`sensor.simulator`,
        seeds 0-5, both roles), the band read ``above`` at most 3 % of the time (with 2.5 bpm and
        0.15 it was 17 % in two of them), while a moderate response (HR +6 bpm with RMSSD -25 %)
        still scores about +1.6.
    prior_weight : float
        Weight of the participant's previous sessions in the blended baseline, 0-1 (default 0.25).
        The current rest dominates because the resting state shifts from day to day (sleep, time
        of day, caffeine, medication); the history damps a resting period that was itself unusual
        (anticipation at the start of a session).
    tau_s : float
        Time constant of the exponential smoothing of the index, s (default 10 s; the inputs are
        already a 10 s mean HR and a 60 s RMSSD window).
    trend_tau_s : float
        Time constant of the slow EWMA used for the trend, s (default 40 s; must exceed ``tau_s``).
    confidence_tau_s : float
        Time constant of the confidence EWMA, s (default 5 s).
    confidence_low : float
        Confidence below which the state becomes ``uncertain`` (default 0.6).
    confidence_high : float
        Confidence at or above which a band may be shown again (default 0.75). The gap between
        the two is hysteresis against flicker.
    enter_above, exit_above : float
        Index at which ``above`` is entered (default +1.0) and below which it is left
        (default +0.5).
    enter_below, exit_below : float
        Index at which ``below`` is entered (default -1.0) and above which it is left
        (default -0.5).
    persistence_s : float
        Time the index must stay on the other side of a threshold before the band changes, s
        (default 30 s).
    """

    baseline_s: float = BASELINE_DURATION_S
    baseline_min_coverage: float = 0.6
    baseline_quality_min: float = 0.8
    hr_sd_floor_bpm: float = 3.0
    ln_rmssd_sd_floor: float = 0.25
    prior_weight: float = 0.25
    tau_s: float = 10.0
    trend_tau_s: float = 40.0
    confidence_tau_s: float = 5.0
    confidence_low: float = 0.6
    confidence_high: float = 0.75
    enter_above: float = 1.0
    exit_above: float = 0.5
    enter_below: float = -1.0
    exit_below: float = -0.5
    persistence_s: float = 30.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not math.isfinite(value):
                raise ArousalConfigError(f"ArousalConfig.{f.name} must be finite, got {value!r}")
        positive = (
            "baseline_s",
            "hr_sd_floor_bpm",
            "ln_rmssd_sd_floor",
            "tau_s",
            "trend_tau_s",
            "confidence_tau_s",
        )
        for name in positive:
            if getattr(self, name) <= 0.0:
                raise ArousalConfigError(
                    f"ArousalConfig.{name} must be > 0, got {getattr(self, name)!r}"
                )
        for name in ("baseline_min_coverage", "baseline_quality_min", "prior_weight"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ArousalConfigError(
                    f"ArousalConfig.{name} must be in [0, 1], got {getattr(self, name)!r}"
                )
        if self.persistence_s < 0.0:
            raise ArousalConfigError(
                f"ArousalConfig.persistence_s must be >= 0, got {self.persistence_s!r}"
            )
        if self.trend_tau_s <= self.tau_s:
            raise ArousalConfigError(
                f"trend_tau_s ({self.trend_tau_s}) must exceed tau_s ({self.tau_s})"
            )
        if not 0.0 <= self.confidence_low <= self.confidence_high <= 1.0:
            raise ArousalConfigError(
                "expected 0 <= confidence_low <= confidence_high <= 1, got "
                f"{self.confidence_low} and {self.confidence_high}"
            )
        if not self.enter_below < self.exit_below <= self.exit_above < self.enter_above:
            raise ArousalConfigError(
                "expected enter_below < exit_below <= exit_above < enter_above, got "
                f"{self.enter_below}, {self.exit_below}, {self.exit_above}, {self.enter_above}"
            )


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


@dataclass(frozen=True, slots=True)
class ArousalStateChange:
    """A change of a participant's arousal state: an event for storage and review.

    Attributes
    ----------
    participant : str
        Whose state changed (pseudonymous code or role).
    time_s : float
        When the change was decided, s.
    from_state, to_state : str
        Previous and new state (:data:`ArousalState`, or None for the first state).
    onset_s : float
        When the new state actually began: for a band change after persistence, the time the
        index first crossed the threshold (``time_s - persistence``); otherwise ``time_s``.
    index : float or None
        Smoothed index at ``time_s`` (None while calibrating).
    confidence : float
        Confidence at ``time_s``, 0-1.
    reason : str
        Why (:data:`ChangeReason`).
    kind : str
        Always ``"arousal_state"``.
    """

    participant: str
    time_s: float
    from_state: ArousalState | None
    to_state: ArousalState
    onset_s: float
    index: float | None
    confidence: float
    reason: ChangeReason
    kind: Literal["arousal_state"] = field(default="arousal_state", init=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for storage and JSON."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class ArousalUpdate:
    """What the tracker says after one beat (or one :meth:`ArousalTracker.tick`).

    Attributes
    ----------
    time_s : float
        Time of the update, s.
    state : str
        :data:`ArousalState`.
    state_since_s : float
        Onset of the current state, s (see :attr:`ArousalStateChange.onset_s`).
    index : float or None
        Smoothed index (baseline-SD units); None while calibrating. Still reported while
        ``uncertain`` so that a plot can grey it out, but no band is derived from it.
    confidence : float
        0-1, smoothed signal quality counting missing time as 0.
    confident : bool
        Whether the confidence is high enough for a band (with hysteresis).
    trend_z_per_min : float or None
        Rate of change of the index, per minute (None while calibrating).
    z_hr, z_ln_rmssd : float or None
        Unsmoothed z scores of this beat (None while calibrating or for an unusable beat).
    baseline_progress : float
        0-1 progress of the baseline: the smaller of the elapsed fraction of ``baseline_s`` and
        the fraction of the required good-signal coverage (1 once ready).
    change : ArousalStateChange or None
        The state change this update caused, if any (at most one per update).
    """

    time_s: float
    state: ArousalState
    state_since_s: float
    index: float | None
    confidence: float
    confident: bool
    trend_z_per_min: float | None
    z_hr: float | None
    z_ln_rmssd: float | None
    baseline_progress: float
    change: ArousalStateChange | None = None


class ArousalTracker:
    """Per-participant arousal index with baseline, smoothing, confidence and banded states.

    Parameters
    ----------
    participant : str
        Label carried by the events (pseudonymous code or role, e.g. ``"patient"``).
    session_start_s : float
        Session start, s; the baseline is taken from ``[start, start + baseline_s)``.
    config : ArousalConfig, optional
        Parameters; defaults documented on :class:`ArousalConfig`.
    prior : BaselineStats, optional
        The participant's reference from previous sessions, blended with weight
        ``config.prior_weight`` once this session's rest is collected. The current rest is always
        required: a prior never makes the tracker ready earlier.

    Notes
    -----
    Per usable beat :math:`k` at time :math:`t_k` (valid, finite HR and ln RMSSD), with
    :math:`\\Delta_k = t_k - t_{k-1}` the time since the previous usable beat:

    * raw index :math:`x_k` from :func:`arousal_index`;
    * smoothed index, a time-aware EWMA (exact for irregular sampling with the new value held over
      the interval): :math:`a_k = 1 - e^{-\\Delta_k/\\tau}`,
      :math:`A_k = A_{k-1} + a_k (x_k - A_{k-1})`, :math:`\\tau` = ``tau_s``;
    * trend: a second EWMA :math:`S_k` with :math:`\\tau_s` = ``trend_tau_s``; for a ramp of slope
      :math:`m` the lag of a first-order EWMA is its time constant, so
      :math:`A - S \\to m(\\tau_s - \\tau)` and the trend is :math:`60 (A-S)/(\\tau_s-\\tau)`
      per minute;
    * confidence :math:`C`: an EWMA (time constant ``confidence_tau_s``) of the beat quality
      :math:`q_k` (0 for an invalid beat), where time more than 2.5 s (the longest plausible RR)
      after the previous beat counts as :math:`q = 0` (missing). :meth:`tick` applies the same
      decay when no beat arrives.

    States. ``calibrating`` until the baseline is ready (at least ``baseline_s`` elapsed and
    ``baseline_min_coverage`` of it covered by beats of quality >= ``baseline_quality_min``,
    checked on usable beats, so that an index exists from the first non-calibrating update on);
    then the band starts at ``within`` (the rest is the usual range by definition). The band is
    hidden as ``uncertain`` while not confident (:math:`C` < ``confidence_low``, until
    :math:`C` >= ``confidence_high``); persistence only accumulates on confident beats.

    Band thresholds (Schmitt-trigger hysteresis). ``within`` -> ``above`` when
    :math:`A \\ge +1.0` for ``persistence_s``; ``above`` -> ``within`` when :math:`A < +0.5` for
    ``persistence_s`` (symmetrically for ``below``). Justification: at rest :math:`A` has a
    spread between 0.71 and 1 baseline SD, so +1 is roughly the top 16 % (correlated terms) to
    8 % (independent terms) of single resting values; the 10 s smoothing and the 30 s
    persistence make a false band change from resting noise much rarer still, while a real
    activation (e.g. HR +5 bpm with RMSSD -25 %) is about +1.5 to +2 and crosses within the
    persistence time. Leaving at +0.5 (half a SD of hysteresis) keeps the band from flickering
    around the threshold.

    Examples
    --------
    >>> tr = ArousalTracker("patient", session_start_s=0.0)
    >>> tr.update(1.0, 62.0, 4.0, 1.0).state
    'calibrating'
    """

    __slots__ = (
        "_band",
        "_base_covered",
        "_base_hr",
        "_base_ln",
        "_base_n",
        "_base_start",
        "_base_t",
        "_baseline",
        "_cand",
        "_cand_since",
        "_conf",
        "_confident",
        "_idx",
        "_slow",
        "_state",
        "_state_since",
        "_t_conf",
        "_t_last",
        "_t_last_beat",
        "_t_last_usable",
        "config",
        "participant",
        "prior",
    )

    def __init__(
        self,
        participant: str,
        session_start_s: float = 0.0,
        *,
        config: ArousalConfig | None = None,
        prior: BaselineStats | None = None,
    ) -> None:
        if not math.isfinite(session_start_s):
            raise ArousalInputError(f"session_start_s must be finite, got {session_start_s!r}")
        self.participant = participant
        self.config = config if config is not None else ArousalConfig()
        self.prior = prior
        cap = math.ceil(self.config.baseline_s / _MIN_BEAT_INTERVAL_S) + 16
        self._base_t = np.empty(cap, dtype=np.float64)
        self._base_hr = np.empty(cap, dtype=np.float64)
        self._base_ln = np.empty(cap, dtype=np.float64)
        self._conf = 0.0
        self._confident = False
        self._t_conf = session_start_s
        self._t_last = float(session_start_s)
        self._t_last_beat = float(session_start_s)
        self._state: ArousalState = "calibrating"
        self._state_since = session_start_s
        self._reset_baseline(session_start_s)

    # -- public read-only views ------------------------------------------------------------

    @property
    def state(self) -> ArousalState:
        """Current state."""
        return self._state

    @property
    def baseline(self) -> BaselineStats | None:
        """The (blended) baseline in use, or None while calibrating."""
        return self._baseline

    @property
    def baseline_start_s(self) -> float:
        """Start of the current baseline period, s."""
        return self._base_start

    # -- commands ----------------------------------------------------------------------------

    def rebaseline(self, start_s: float) -> ArousalStateChange | None:
        """Start a new resting baseline at ``start_s`` (the therapist's request).

        Returns the change to ``calibrating`` (None if already calibrating). Beats before
        ``start_s`` are not used.
        """
        self._check_time(start_s)
        self._reset_baseline(start_s)
        change = self._set_state(start_s, "calibrating", start_s, "rebaseline")
        self._state_since = float(start_s)
        return change

    def update(
        self,
        time_s: float,
        hr_bpm: float,
        ln_rmssd: float,
        quality: float,
        valid: bool = True,
    ) -> ArousalUpdate:
        """Feed one beat.

        Parameters
        ----------
        time_s : float
            Beat time, s (non-decreasing).
        hr_bpm : float
            Heart rate, bpm (the streaming engine's 10 s mean). NaN marks an unusable beat.
        ln_rmssd : float
            ln RMSSD over the trailing window, ln(ms). NaN marks an unusable beat.
        quality : float
            Signal quality 0-1 (clipped; NaN counts as 0).
        valid : bool
            The engine's validity flag; an invalid beat counts as quality 0.

        Returns
        -------
        ArousalUpdate
        """
        self._check_time(time_s)
        t = float(time_s)
        hr = float(hr_bpm)
        ln = float(ln_rmssd)
        usable = bool(valid) and math.isfinite(hr) and math.isfinite(ln)
        q = float(quality) if usable and math.isfinite(quality) else 0.0
        q = min(max(q, 0.0), 1.0)

        # confidence: missing time (beyond one plausible beat interval) counts as q = 0
        dt_beat = t - self._t_last_beat
        covered_from = max(self._t_conf, t - min(dt_beat, _MAX_BEAT_INTERVAL_S))
        self._decay_confidence(covered_from)
        d = t - self._t_conf
        if d > 0.0:
            self._conf += (1.0 - math.exp(-d / self.config.confidence_tau_s)) * (q - self._conf)
        self._t_conf = t
        self._t_last_beat = t
        self._t_last = t
        self._update_confident()

        z_hr: float | None = None
        z_ln: float | None = None
        change: ArousalStateChange | None = None
        if self._baseline is None:
            if usable and t >= self._base_start:
                self._collect(t, hr, ln, q, dt_beat)
            if usable and self._baseline_ready(t):
                self._finish_baseline()
                self._t_last_usable = -math.inf
            else:
                return self._snapshot(t, None, None, None)
        assert self._baseline is not None
        if usable:
            b = self._baseline
            z_hr = (hr - b.hr_center_bpm) / b.hr_scale_bpm
            z_ln = (ln - b.ln_rmssd_center) / b.ln_rmssd_scale
            x = 0.5 * (z_hr - z_ln)
            if self._t_last_usable == -math.inf:
                self._idx = x
                self._slow = x
            else:
                dt = t - self._t_last_usable
                self._idx += (1.0 - math.exp(-dt / self.config.tau_s)) * (x - self._idx)
                self._slow += (1.0 - math.exp(-dt / self.config.trend_tau_s)) * (x - self._slow)
            self._t_last_usable = t
        change = self._step_state(t, usable)
        return self._snapshot(t, z_hr, z_ln, change)

    def tick(self, time_s: float) -> ArousalUpdate:
        """Advance time without a beat (call on a timer so that a dropout shows as uncertain).

        Time more than 2.5 s after the last beat counts as missing (quality 0).
        """
        self._check_time(time_s)
        t = float(time_s)
        self._decay_confidence(t)
        self._t_last = t
        self._update_confident()
        change = None
        if self._baseline is not None:
            change = self._step_state(t, usable=False)
        return self._snapshot(t, None, None, change)

    # -- internals ---------------------------------------------------------------------------

    def _check_time(self, t: float) -> None:
        if not math.isfinite(t):
            raise ArousalInputError(f"time must be a finite number of seconds, got {t!r}")
        if t < self._t_last:
            raise ArousalInputError(
                f"time must not run backwards: got {t} s after an update at {self._t_last} s"
            )

    def _reset_baseline(self, start_s: float) -> None:
        self._baseline: BaselineStats | None = None
        self._base_start = float(start_s)
        self._base_n = 0
        self._base_covered = 0.0
        self._idx = math.nan
        self._slow = math.nan
        self._t_last_usable = -math.inf
        self._band: Band = "within"
        self._cand: Band | None = None
        self._cand_since = math.nan

    def _decay_confidence(self, until_s: float) -> None:
        """Decay confidence over the missing part of (t_conf, until_s]."""
        start = max(self._t_conf, self._t_last_beat + _MAX_BEAT_INTERVAL_S)
        if until_s > start:
            self._conf *= math.exp(-(until_s - start) / self.config.confidence_tau_s)
            self._t_conf = until_s

    def _update_confident(self) -> None:
        if self._confident and self._conf < self.config.confidence_low:
            self._confident = False
        elif not self._confident and self._conf >= self.config.confidence_high:
            self._confident = True

    def _collect(self, t: float, hr: float, ln: float, q: float, dt_beat: float) -> None:
        if q < self.config.baseline_quality_min or self._base_n >= self._base_t.shape[0]:
            return
        i = self._base_n
        self._base_t[i] = t
        self._base_hr[i] = hr
        self._base_ln[i] = ln
        self._base_n = i + 1
        if i > 0:
            self._base_covered += min(max(dt_beat, 0.0), _MAX_BEAT_INTERVAL_S)

    def _baseline_progress(self) -> float:
        if self._baseline is not None:
            return 1.0
        cfg = self.config
        elapsed = max(self._t_last - self._base_start, 0.0) / cfg.baseline_s
        need = cfg.baseline_min_coverage * cfg.baseline_s
        covered = 1.0 if need <= 0.0 else self._base_covered / need
        return min(elapsed, covered, 1.0)

    def _baseline_ready(self, t: float) -> bool:
        if t < self._base_start + self.config.baseline_s or self._base_n < 2:
            return False
        full = self._base_n >= self._base_t.shape[0]
        return full or self._base_progress_done()

    def _base_progress_done(self) -> bool:
        return self._base_covered >= self.config.baseline_min_coverage * self.config.baseline_s

    def _finish_baseline(self) -> None:
        n = self._base_n
        cfg = self.config
        stats = baseline_stats(
            self._base_hr[:n],
            self._base_ln[:n],
            hr_sd_floor_bpm=cfg.hr_sd_floor_bpm,
            ln_rmssd_sd_floor=cfg.ln_rmssd_sd_floor,
            time_s=self._base_t[:n],
        )
        if self.prior is not None and cfg.prior_weight > 0.0:
            stats = blend_baselines(stats, self.prior, cfg.prior_weight)
        self._baseline = stats

    def _set_state(
        self, t: float, new: ArousalState, onset: float, reason: ChangeReason
    ) -> ArousalStateChange | None:
        if new == self._state:
            return None
        idx = None if self._baseline is None or math.isnan(self._idx) else self._idx
        change = ArousalStateChange(
            participant=self.participant,
            time_s=t,
            from_state=self._state,
            to_state=new,
            onset_s=onset,
            index=idx,
            confidence=self._conf,
            reason=reason,
        )
        self._state = new
        self._state_since = onset
        return change

    def _target_band(self, a: float) -> Band:
        cfg = self.config
        if self._band == "above":
            if a > cfg.exit_above:
                return "above"
            return "below" if a <= cfg.enter_below else "within"
        if self._band == "below":
            if a < cfg.exit_below:
                return "below"
            return "above" if a >= cfg.enter_above else "within"
        if a >= cfg.enter_above:
            return "above"
        if a <= cfg.enter_below:
            return "below"
        return "within"

    def _step_state(self, t: float, usable: bool) -> ArousalStateChange | None:
        if self._state == "calibrating":
            # the baseline has just become ready
            if self._confident and not math.isnan(self._idx):
                return self._set_state(t, "within", t, "baseline_ready")
            return self._set_state(t, "uncertain", t, "baseline_ready")
        if not self._confident or math.isnan(self._idx):
            self._cand = None
            return self._set_state(t, "uncertain", t, "confidence_lost")
        if usable:
            target = self._target_band(self._idx)
            if target == self._band:
                self._cand = None
            elif self._cand != target:
                self._cand = target
                self._cand_since = t
            if self._cand is not None and t - self._cand_since >= self.config.persistence_s:
                self._band = self._cand
                self._cand = None
                if self._state == "uncertain":
                    return self._set_state(t, self._band, t, "confidence_regained")
                return self._set_state(t, self._band, self._cand_since, "persistence")
        if self._state == "uncertain":
            return self._set_state(t, self._band, t, "confidence_regained")
        return None

    def _snapshot(
        self,
        t: float,
        z_hr: float | None,
        z_ln: float | None,
        change: ArousalStateChange | None,
    ) -> ArousalUpdate:
        ready = self._baseline is not None and not math.isnan(self._idx)
        trend = None
        if ready:
            trend = 60.0 * (self._idx - self._slow) / (self.config.trend_tau_s - self.config.tau_s)
        return ArousalUpdate(
            time_s=t,
            state=self._state,
            state_since_s=self._state_since,
            index=self._idx if ready else None,
            confidence=self._conf,
            confident=self._confident,
            trend_z_per_min=trend,
            z_hr=z_hr,
            z_ln_rmssd=z_ln,
            baseline_progress=self._baseline_progress(),
            change=change,
        )


#: Integer codes of the states in :class:`ArousalSeries` (index into this tuple).
STATE_CODES: Final[tuple[ArousalState, ...]] = (
    "calibrating",
    "uncertain",
    "above",
    "within",
    "below",
)


@dataclass(frozen=True, eq=False, slots=True)
class ArousalSeries:
    """A whole recording's arousal output as arrays (one entry per beat), for review.

    Attributes
    ----------
    time_s : numpy.ndarray
        Beat times, s.
    state : numpy.ndarray of int8
        Index into :data:`STATE_CODES`.
    index : numpy.ndarray
        Smoothed index (NaN while calibrating).
    confidence : numpy.ndarray
        0-1.
    trend_z_per_min : numpy.ndarray
        Trend, per minute (NaN while calibrating).
    changes : tuple of ArousalStateChange
        Every state change, in order.
    baseline : BaselineStats or None
        The baseline in use at the end.
    """

    time_s: NDArray[np.float64]
    state: NDArray[np.int8]
    index: NDArray[np.float64]
    confidence: NDArray[np.float64]
    trend_z_per_min: NDArray[np.float64]
    changes: tuple[ArousalStateChange, ...]
    baseline: BaselineStats | None

    def states(self) -> list[ArousalState]:
        """The states as strings."""
        return [STATE_CODES[int(c)] for c in self.state]


def replay_arousal(
    time_s: ArrayLike,
    hr_bpm: ArrayLike,
    ln_rmssd: ArrayLike,
    quality: ArrayLike,
    valid: ArrayLike | None = None,
    *,
    participant: str = "participant",
    session_start_s: float = 0.0,
    config: ArousalConfig | None = None,
    prior: BaselineStats | None = None,
) -> ArousalSeries:
    """Run a recording through a fresh :class:`ArousalTracker` and return arrays (review).

    Parameters
    ----------
    time_s, hr_bpm, ln_rmssd, quality : array_like
        Per-beat streaming output (s, bpm, ln ms, 0-1), equal lengths, times non-decreasing.
    valid : array_like of bool, optional
        The engine's validity flags (default all True).
    participant, session_start_s, config, prior
        As for :class:`ArousalTracker`.

    Returns
    -------
    ArousalSeries

    Notes
    -----
    The live tracker is replayed beat by beat, so that what a reviewer sees is exactly what the
    therapist saw (live equals batch by construction). The baseline, the z scores and the index
    formula are vectorised elsewhere (:func:`baseline_stats`, :func:`arousal_index`); the
    smoothing, hysteresis and persistence are a sequential state machine and are not.

    Examples
    --------
    >>> t = [float(k) for k in range(1, 201)]
    >>> s = replay_arousal(t, [60.0] * 200, [4.0] * 200, [1.0] * 200)
    >>> s.states()[0], s.states()[-1]
    ('calibrating', 'within')
    """
    t = np.asarray(time_s, dtype=np.float64)
    hr = np.asarray(hr_bpm, dtype=np.float64)
    ln = np.asarray(ln_rmssd, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    ok = np.ones(t.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    if not (t.ndim == 1 and t.shape == hr.shape == ln.shape == q.shape == ok.shape):
        raise ArousalInputError(
            "time_s, hr_bpm, ln_rmssd, quality (and valid) must be 1-D of equal length, got "
            f"shapes {t.shape}, {hr.shape}, {ln.shape}, {q.shape}, {ok.shape}"
        )
    tracker = ArousalTracker(participant, session_start_s, config=config, prior=prior)
    n = t.shape[0]
    state = np.empty(n, dtype=np.int8)
    index = np.full(n, np.nan)
    conf = np.empty(n, dtype=np.float64)
    trend = np.full(n, np.nan)
    changes: list[ArousalStateChange] = []
    code = {name: i for i, name in enumerate(STATE_CODES)}
    for k, (tk, hk, lk, qk, vk) in enumerate(
        zip(t.tolist(), hr.tolist(), ln.tolist(), q.tolist(), ok.tolist(), strict=True)
    ):
        u = tracker.update(tk, hk, lk, qk, vk)
        state[k] = code[u.state]
        conf[k] = u.confidence
        if u.index is not None:
            index[k] = u.index
        if u.trend_z_per_min is not None:
            trend[k] = u.trend_z_per_min
        if u.change is not None:
            changes.append(u.change)
    return ArousalSeries(t, state, index, conf, trend, tuple(changes), tracker.baseline)
