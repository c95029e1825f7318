"""Vocabulary and parameters of the arousal index (:mod:`hrv.arousal`).

The state and band names with their labels for the therapist (never a clinical term: see
:mod:`hrv.arousal` and Sack et al. 2012), the default resting-baseline duration (Laborde et al.
2017), the MAD consistency constant (Rousseeuw & Croux 1993), the errors, and
:class:`ArousalConfig`.

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
from typing import Final, Literal

from hrv.errors import SintoniaError
from hrv.validate import LONGEST_BEAT_S

__all__ = [
    "BASELINE_DURATION_S",
    "MAD_TO_SD",
    "STATE_LABELS",
    "ArousalConfig",
    "ArousalConfigError",
    "ArousalInputError",
    "ArousalState",
    "Band",
    "ChangeReason",
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
