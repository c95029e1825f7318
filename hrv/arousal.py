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

The vocabulary and :class:`ArousalConfig` live in :mod:`hrv.arousal_config`, the baseline
statistics and the index in :mod:`hrv.arousal_baseline`; this module holds the tracker and its
replay, and re-exports both.

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

from hrv.arousal_baseline import BaselineStats, arousal_index, baseline_stats, blend_baselines
from hrv.arousal_config import (
    _MAX_BEAT_INTERVAL_S,
    _MIN_BEAT_INTERVAL_S,
    BASELINE_DURATION_S,
    MAD_TO_SD,
    STATE_LABELS,
    ArousalConfig,
    ArousalConfigError,
    ArousalInputError,
    ArousalState,
    Band,
    ChangeReason,
)

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
