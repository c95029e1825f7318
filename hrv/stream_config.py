"""Configuration and output types of the streaming engine (:mod:`hrv.stream`).

:class:`StreamConfig` (windows and detector parameters), :class:`StreamUpdates` (the per-beat
updates as a struct of arrays) and the record helpers the scalar path of the engine builds them
with. The defaults of the detector are those of :mod:`hrv.artifacts` (Lipponen & Tarvainen 2019);
the RMSSD minimum of 10 beats follows Munoz et al. (2015).

References
----------
.. [1] Lipponen JA, Tarvainen MP (2019). A robust algorithm for heart rate variability time series
   artefact correction using novel beat classification. Journal of Medical Engineering &
   Technology 43(3), 173-181. doi:10.1080/03091902.2019.1640306
.. [2] Munoz ML, et al. (2015). Validity of (ultra-)short recordings for heart rate variability
   measurements. PLoS ONE 10(9), e0138921 (RMSSD from 10 s onwards).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from hrv.artifacts import (
    ALPHA,
    C1,
    C2,
    MEDIAN_BEATS,
    MIN_THRESHOLD_FRACTION,
    WINDOW_BEATS,
)
from hrv.coherence import COHERENCE_WINDOW_S
from hrv.errors import SintoniaError
from hrv.validate import PLAUSIBLE_RR_MIN_MS

__all__ = [
    "CONTACT_UNKNOWN",
    "MIN_VALID_RMSSD_MS",
    "UPDATE_FIELDS",
    "StreamConfig",
    "StreamConfigError",
    "StreamUpdates",
]

_MS_PER_MIN: Final[float] = 60_000.0
_MS_PER_S: Final[float] = 1000.0

#: RMSSD at or below this is treated as zero (not valid, no ln), ms: far below the ~1 ms
#: resolution of RR, and above the rounding residue of the compensated running sums.
MIN_VALID_RMSSD_MS: Final[float] = 1e-6

#: Contact codes of the ``contact`` field.
CONTACT_UNKNOWN: Final[int] = -1


class StreamConfigError(SintoniaError, ValueError):
    """A streaming-engine configuration or call that cannot work (says what was expected)."""


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """Parameters of the streaming engine (all times in seconds, RR in ms).

    Attributes
    ----------
    hr_window_s : float
        Trailing window of the mean heart rate, s (default 10).
    rmssd_window_s : float
        Trailing window of RMSSD, ln RMSSD, artifact fraction, missing beats and quality, s
        (default 60).
    min_beats_hr : int
        Fewest beats for a valid mean HR (default 2).
    min_beats_rmssd : int
        Fewest beats for a valid RMSSD (default 10: ultra-short RMSSD from about 10 s, Munoz et
        al. 2015).
    max_artifact_fraction : float
        Windows with a larger artifact fraction are flagged ``valid = False`` (default 0.2).
    lookahead_beats : int
        Look-ahead of the causal detector, beats (1 to 3, default 2: the dRR of the next two beats
        are what the S12 and S22 subspaces of Lipponen & Tarvainen need).
    threshold_window_beats : int
        Trailing window of the quartile-deviation thresholds, beats (default 91, as the paper).
    median_window_beats : int
        Trailing window of the median RR, beats (default 11, as the paper).
    alpha, c1, c2 : float
        Lipponen & Tarvainen constants (5.2, 0.13, 0.17).
    threshold_floor_fraction : float
        Lower bound of both thresholds as a fraction of the local median RR (default
        :data:`hrv.artifacts.MIN_THRESHOLD_FRACTION`, 0.02), so that a perfectly regular stretch
        (quartile deviation 0) neither divides by zero nor turns a few ms into an artifact.
    resync_every_beats : int
        Running sums are recomputed exactly from the ring every this many beats per participant.
    coherence_every_s : float or None
        Refresh period of the paced-breathing coherence, s of beat time, for every participant;
        None (default) turns it off (it costs a spectrum per refresh: the server turns it on per
        participant while pacing, with :meth:`MultiStreamEngine.set_coherence`).
    coherence_window_s : float
        Window of the coherence ratio, s (default 64).
    """

    hr_window_s: float = 10.0
    rmssd_window_s: float = 60.0
    min_beats_hr: int = 2
    min_beats_rmssd: int = 10
    max_artifact_fraction: float = 0.2
    lookahead_beats: int = 2
    threshold_window_beats: int = WINDOW_BEATS
    median_window_beats: int = MEDIAN_BEATS
    alpha: float = ALPHA
    c1: float = C1
    c2: float = C2
    threshold_floor_fraction: float = MIN_THRESHOLD_FRACTION
    resync_every_beats: int = 1024
    coherence_every_s: float | None = None
    coherence_window_s: float = COHERENCE_WINDOW_S

    def __post_init__(self) -> None:
        for name in ("hr_window_s", "rmssd_window_s", "coherence_window_s", "alpha"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise StreamConfigError(f"{name} must be a positive number, got {value!r}")
        if self.coherence_every_s is not None and not (
            math.isfinite(self.coherence_every_s) and self.coherence_every_s > 0
        ):
            raise StreamConfigError(
                f"coherence_every_s must be positive or None, got {self.coherence_every_s!r}"
            )
        if self.min_beats_hr < 1 or self.min_beats_rmssd < 2:
            raise StreamConfigError(
                "min_beats_hr must be >= 1 and min_beats_rmssd >= 2, got "
                f"{self.min_beats_hr} and {self.min_beats_rmssd}"
            )
        if not 1 <= self.lookahead_beats <= 3:
            raise StreamConfigError(
                f"lookahead_beats must be 1, 2 or 3, got {self.lookahead_beats}"
            )
        if self.threshold_window_beats < 3 or self.median_window_beats < 1:
            raise StreamConfigError(
                "threshold_window_beats must be >= 3 and median_window_beats >= 1, got "
                f"{self.threshold_window_beats} and {self.median_window_beats}"
            )
        if not 0.0 <= self.max_artifact_fraction <= 1.0:
            raise StreamConfigError(
                f"max_artifact_fraction must be in [0, 1], got {self.max_artifact_fraction!r}"
            )
        if self.threshold_floor_fraction <= 0 or self.resync_every_beats < 1:
            raise StreamConfigError(
                "threshold_floor_fraction must be > 0 and resync_every_beats >= 1, got "
                f"{self.threshold_floor_fraction!r} and {self.resync_every_beats!r}"
            )

    @property
    def ring_capacity(self) -> int:
        """Slots of the corrected-beat ring: beats of the longest window at 240 bpm, plus one.

        The windows are the HR, RMSSD and coherence windows (coherence can be turned on per
        participant at any time).
        """
        longest = max(self.hr_window_s, self.rmssd_window_s, self.coherence_window_s)
        return math.ceil(longest * _MS_PER_S / PLAUSIBLE_RR_MIN_MS) + 1


@dataclass(frozen=True, eq=False, slots=True)
class StreamUpdates:
    """A batch of per-beat updates as a struct of arrays (all fields have the same length).

    One entry per beat, in the order the beats were classified (per participant, the order of
    arrival). Metrics describe the trailing windows *ending at that beat*.

    Attributes
    ----------
    participant : numpy.ndarray of int64
        Participant index in the engine (0 for :class:`HRVStream`).
    beat_index : numpy.ndarray of int64
        0-based index of the beat in that participant's stream.
    time_s : numpy.ndarray of float64
        Beat time, s (as pushed).
    rr_ms : numpy.ndarray of float64
        Raw RR interval as received, ms (never changed).
    rr_corrected_ms : numpy.ndarray of float64
        RR used by the metrics, ms: ``rr_ms`` for a normal beat, the detector's trailing median
        RR for an artifact.
    hr_bpm : numpy.ndarray of float64
        Instantaneous heart rate of the corrected interval, ``60000 / rr_corrected_ms``, bpm.
    artifact : numpy.ndarray of uint8
        :class:`hrv.artifacts.BeatClass` value (0 normal, 1 ectopic, 2 long, 3 short, 4 missed,
        5 extra).
    lookahead_beats : numpy.ndarray of uint8
        Later beats the detector had seen when it classified this beat (``lookahead_beats`` of
        the config, fewer for beats classified by :meth:`MultiStreamEngine.flush`).
    delay_s : numpy.ndarray of float64
        Beat time of the newest beat at classification minus ``time_s``, s: the detector's delay.
    contact : numpy.ndarray of int8
        Sensor contact of the beat: 1 yes, 0 no, -1 not reported.
    mean_hr_bpm : numpy.ndarray of float64
        Mean of ``60000 / RR`` over the corrected beats of the HR window (default 10 s), bpm.
    n_hr : numpy.ndarray of int32
        Beats in the HR window.
    valid_hr : numpy.ndarray of bool
        ``n_hr >= min_beats_hr``; where False, ``mean_hr_bpm`` is NaN.
    rmssd_ms : numpy.ndarray of float64
        RMSSD over the corrected beats of the RMSSD window (default 60 s), ms.
    ln_rmssd : numpy.ndarray of float64
        Natural log of ``rmssd_ms`` (ln ms); NaN where RMSSD is not valid or is 0.
    n_rmssd : numpy.ndarray of int32
        Beats in the RMSSD window.
    valid_rmssd : numpy.ndarray of bool
        ``n_rmssd >= min_beats_rmssd`` and RMSSD > 0; where False, RMSSD and ln RMSSD are NaN.
    artifact_fraction : numpy.ndarray of float64
        Fraction of the RMSSD window's beats classified as artifacts, 0-1.
    missing_beats : numpy.ndarray of int32
        Beats estimated missing in the RMSSD window (gaps between beat times longer than the RR).
    quality : numpy.ndarray of float64
        Signal quality 0-1: ``(n - n_bad) / (n + n_missing)`` over the RMSSD window, where a beat
        is bad if it is an artifact or was received without sensor contact.
    valid : numpy.ndarray of bool
        ``valid_hr & valid_rmssd & (artifact_fraction <= max_artifact_fraction)``.
    coherence_ratio : numpy.ndarray of float64
        Coherence ratio over the last ``coherence_window_s`` (NaN unless ``coherence_fresh``).
    breathing_rate_bpm : numpy.ndarray of float64
        Breathing rate estimated from the RR spectrum, breaths/min (NaN unless ``coherence_fresh``,
        and NaN when its confidence is below :data:`hrv.coherence.BREATHING_MIN_CONFIDENCE`).
    coherence_fresh : numpy.ndarray of bool
        True on the beats where the coherence was refreshed (every ``coherence_every_s``).
    """

    participant: NDArray[np.int64]
    beat_index: NDArray[np.int64]
    time_s: NDArray[np.float64]
    rr_ms: NDArray[np.float64]
    rr_corrected_ms: NDArray[np.float64]
    hr_bpm: NDArray[np.float64]
    artifact: NDArray[np.uint8]
    lookahead_beats: NDArray[np.uint8]
    delay_s: NDArray[np.float64]
    contact: NDArray[np.int8]
    mean_hr_bpm: NDArray[np.float64]
    n_hr: NDArray[np.int32]
    valid_hr: NDArray[np.bool_]
    rmssd_ms: NDArray[np.float64]
    ln_rmssd: NDArray[np.float64]
    n_rmssd: NDArray[np.int32]
    valid_rmssd: NDArray[np.bool_]
    artifact_fraction: NDArray[np.float64]
    missing_beats: NDArray[np.int32]
    quality: NDArray[np.float64]
    valid: NDArray[np.bool_]
    coherence_ratio: NDArray[np.float64]
    breathing_rate_bpm: NDArray[np.float64]
    coherence_fresh: NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.time_s.shape[0])

    @classmethod
    def concatenate(cls, parts: list[StreamUpdates]) -> StreamUpdates:
        """Join batches end to end (an empty list gives an empty batch).

        Examples
        --------
        >>> len(StreamUpdates.concatenate([]))
        0
        """
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return _EMPTY
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in UPDATE_FIELDS))

    def select(self, mask: NDArray[np.bool_] | NDArray[np.intp]) -> StreamUpdates:
        """The updates picked by a boolean mask or an index array (e.g. one participant's).

        Examples
        --------
        >>> from hrv.stream import MultiStreamEngine
        >>> eng = MultiStreamEngine(2)
        >>> up = eng.push([0, 1] * 4, [800.0, 900.0] * 4, np.repeat([0.8, 1.6, 2.4, 3.2], 2))
        >>> up.select(up.participant == 1).beat_index.tolist()
        [0, 1]
        """
        return StreamUpdates(*(getattr(self, f)[mask] for f in UPDATE_FIELDS))

    def to_records(self) -> NDArray[np.void]:
        """The batch as one numpy structured array (fields and dtypes as the attributes).

        Examples
        --------
        >>> StreamUpdates.concatenate([]).to_records().dtype.names[:3]
        ('participant', 'beat_index', 'time_s')
        """
        dtype = np.dtype([(f, getattr(self, f).dtype) for f in UPDATE_FIELDS])
        out = np.empty(len(self), dtype=dtype)
        for f in UPDATE_FIELDS:
            out[f] = getattr(self, f)
        return out


#: Names of the fields of :class:`StreamUpdates`, in order.
UPDATE_FIELDS: Final[tuple[str, ...]] = tuple(f.name for f in fields(StreamUpdates))

_UPDATE_DTYPES: Final[dict[str, type[np.generic]]] = {
    "participant": np.int64,
    "beat_index": np.int64,
    "artifact": np.uint8,
    "lookahead_beats": np.uint8,
    "contact": np.int8,
    "n_hr": np.int32,
    "n_rmssd": np.int32,
    "missing_beats": np.int32,
    "valid_hr": np.bool_,
    "valid_rmssd": np.bool_,
    "valid": np.bool_,
    "coherence_fresh": np.bool_,
}

#: One update as a tuple in the order of :data:`UPDATE_FIELDS` (the scalar path's output).
_Record = tuple[Any, ...]
_RECORD_DTYPE: Final[np.dtype[np.void]] = np.dtype(
    [(f, _UPDATE_DTYPES.get(f, np.float64)) for f in UPDATE_FIELDS]
)


def _build(records: list[_Record]) -> StreamUpdates:
    """Updates from the scalar path's tuples: one structured array, fields as views."""
    if not records:
        return _EMPTY
    rec = np.array(records, dtype=_RECORD_DTYPE)
    rec["ln_rmssd"] = np.log(np.ascontiguousarray(rec["rmssd_ms"]))  # NaN stays NaN
    return StreamUpdates(*(rec[f] for f in UPDATE_FIELDS))


def _empty_updates() -> StreamUpdates:
    arrays = [np.empty(0, dtype=_UPDATE_DTYPES.get(f, np.float64)) for f in UPDATE_FIELDS]
    for a in arrays:
        a.flags.writeable = False  # shared by every empty result
    return StreamUpdates(*arrays)


_EMPTY: Final[StreamUpdates] = _empty_updates()
