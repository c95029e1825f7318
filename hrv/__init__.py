"""Pure heart-rate-variability maths: RR intervals (float64 ms) in, numbers and arrays out.

No I/O, no clock, no logging, no framework types (see DESIGN.md). Modules:

- :mod:`hrv.validate`: the one entry check, :func:`validate_rr`;
- :mod:`hrv.artifacts`: Lipponen & Tarvainen (2019) detection and correction;
- :mod:`hrv.time_domain`, :mod:`hrv.frequency`, :mod:`hrv.nonlinear`: the metrics;
  :mod:`hrv.heart_rate` (Kubios HR statistics), :mod:`hrv.long_term` (SDANN, SDNN index) and
  :mod:`hrv.ans_index` (stress index, PNS / SNS indexes), re-exported by :mod:`hrv.time_domain`;
  :mod:`hrv.ar` (Burg AR spectrum), :mod:`hrv.rqa` (recurrence plot, correlation dimension),
  :mod:`hrv.spline` (not-a-knot cubic spline), :mod:`hrv.detrend` (smoothness priors);
- :mod:`hrv.windows`: vectorized sliding and fixed-grid windows;
- :mod:`hrv.analysis`: a whole recording in one call (what ``sintonia analyze`` prints);
- :mod:`hrv.stream`: the per-beat streaming engine; :mod:`hrv.arousal`: the arousal index;
- :mod:`hrv.coherence`: paced-breathing coherence ratio and breathing rate;
- :mod:`hrv.synchrony`: therapist-patient synchrony, always with its surrogate comparison;
- :mod:`hrv.coregulation`: the live co-regulation reading (the report's WLCC over the last minutes);
- :mod:`hrv.synthetic`: deterministic synthetic RR with artifacts at known positions.

A large concern is split into modules named after it (``stream`` with ``stream_config``,
``stream_state``, ``stream_maths``; likewise ``derive_*``, ``arousal_*``, ``synchrony_*``);
:mod:`hrv.artifacts` uses :mod:`hrv.artifact_rules` and :mod:`hrv.frequency` uses :mod:`hrv.psd`.
The main module of each re-exports the public names of the others.

No name exported here equals a sub-module's name (``hrv.time_domain`` stays the module).
"""

from hrv.analysis import Analysis, analyze
from hrv.arousal import ArousalTracker, BaselineStats, replay_arousal
from hrv.artifacts import (
    ArtifactCorrection,
    ArtifactDetection,
    BeatClass,
    correct_artifacts,
    detect_artifacts,
)
from hrv.coherence import Coherence, coherence_ratio
from hrv.errors import InsufficientDataError, InvalidRRError, SintoniaError
from hrv.frequency import FrequencyDomain, frequency_domain
from hrv.nonlinear import Nonlinear, Poincare, dfa_alpha1, dfa_alpha2, poincare, sample_entropy
from hrv.stream import HRVStream, MultiStreamEngine, StreamConfig
from hrv.synchrony import (
    SurrogateComparison,
    dyad_grid,
    pseudo_dyad_test,
    rolling_synchrony,
    segment_synchrony,
    windowed_cross_correlation,
)
from hrv.time_domain import TimeDomain, ln_rmssd, mean_hr, pnn50, rmssd, sdnn, sdsd
from hrv.validate import validate_rr
from hrv.windows import fixed_grid_windows, trailing_window_trace

__all__ = [
    "Analysis",
    "ArousalTracker",
    "ArtifactCorrection",
    "ArtifactDetection",
    "BaselineStats",
    "BeatClass",
    "Coherence",
    "FrequencyDomain",
    "HRVStream",
    "InsufficientDataError",
    "InvalidRRError",
    "MultiStreamEngine",
    "Nonlinear",
    "Poincare",
    "SintoniaError",
    "StreamConfig",
    "SurrogateComparison",
    "TimeDomain",
    "analyze",
    "coherence_ratio",
    "correct_artifacts",
    "detect_artifacts",
    "dfa_alpha1",
    "dfa_alpha2",
    "dyad_grid",
    "fixed_grid_windows",
    "frequency_domain",
    "ln_rmssd",
    "mean_hr",
    "pnn50",
    "poincare",
    "pseudo_dyad_test",
    "replay_arousal",
    "rmssd",
    "rolling_synchrony",
    "sample_entropy",
    "sdnn",
    "sdsd",
    "segment_synchrony",
    "trailing_window_trace",
    "validate_rr",
    "windowed_cross_correlation",
]
