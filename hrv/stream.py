"""The streaming (per-beat) HRV engine: ring buffers, a causal artifact detector, live metrics.

One :class:`MultiStreamEngine` holds the state of many participants in 2-D ring buffers
``[participant, slot]`` and updates every participant that received a beat with one array
operation per step; :class:`HRVStream` is the same engine for one participant. Memory per
participant is fixed by the configuration (the longest window and the detector's windows), never
by the length of the session.

Per beat, in order of arrival:

1. **Causal artifact detection** (Lipponen & Tarvainen 2019, trailing windows): the beat is
   classified once ``lookahead_beats`` (default 2) later beats have arrived, so the update of beat
   k leaves the engine with beat k + 2 (``lookahead_beats`` and ``delay_s`` say so on each update).
   :meth:`MultiStreamEngine.flush` classifies the beats still waiting, with whatever look-ahead
   there is, at the end of a stream or at a dropout.
2. **Correction**: a beat classified as an artifact is replaced, for the metrics only, by the
   trailing median RR of the detector; the raw RR is never changed and is reported next to it.
3. **Trailing-window metrics** on the corrected beats, time-based windows on beat times: mean HR
   over 10 s, RMSSD and ln RMSSD over 60 s, the artifact fraction, the beats estimated missing,
   a signal quality 0-1, sensor contact; compensated running sums updated in O(1) per beat and
   re-synchronised exactly from the ring every ``resync_every_beats`` beats, so they do not drift.
4. Optionally, per participant (paced breathing), every 5 s of beat time the coherence ratio and
   breathing rate over the last 64 s of corrected beats (:func:`hrv.coherence.coherence_ratio`).

Live equals batch: for every beat, ``rmssd_ms``, ``ln_rmssd`` and ``mean_hr_bpm`` equal
:func:`hrv.time_domain.rmssd`, :func:`hrv.time_domain.ln_rmssd` and
:func:`hrv.time_domain.mean_hr` applied to the same window of the same corrected beats (tested to
1e-9, with hypothesis, random batch splits and injected artifacts).

References
----------
.. [1] Lipponen JA, Tarvainen MP (2019). A robust algorithm for heart rate variability time series
   artefact correction using novel beat classification. Journal of Medical Engineering &
   Technology 43(3), 173-181. doi:10.1080/03091902.2019.1640306
.. [2] Task Force of the ESC and NASPE (1996). Heart rate variability: standards of measurement,
   physiological interpretation and clinical use. Circulation 93(5), 1043-1065.
.. [3] Munoz ML, et al. (2015). Validity of (ultra-)short recordings for heart rate variability
   measurements. PLoS ONE 10(9), e0138921 (RMSSD from 10 s onwards).
.. [4] Neumaier A (1974). Rundungsfehleranalyse einiger Verfahren zur Summation endlicher Summen.
   ZAMM 54(1), 39-51 (compensated summation).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, fields
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hrv.artifacts import (
    ALPHA,
    C1,
    C2,
    MEDIAN_BEATS,
    MIN_ADAPTIVE_BEATS,
    MIN_THRESHOLD_FRACTION,
    WINDOW_BEATS,
    BeatClass,
)
from hrv.coherence import BREATHING_MIN_CONFIDENCE, COHERENCE_WINDOW_S, coherence_ratio
from hrv.errors import InsufficientDataError, InvalidRRError, SintoniaError
from hrv.validate import PLAUSIBLE_RR_MAX_MS, PLAUSIBLE_RR_MIN_MS, validate_rr

__all__ = [
    "MIN_VALID_RMSSD_MS",
    "UPDATE_FIELDS",
    "HRVStream",
    "MultiStreamEngine",
    "StreamConfig",
    "StreamConfigError",
    "StreamUpdates",
]

_MS_PER_MIN: Final[float] = 60_000.0
_MS_PER_S: Final[float] = 1000.0

# Beat classes as plain ints (stored as uint8 in the updates).
_NORMAL: Final[int] = int(BeatClass.NORMAL)
_ECTOPIC: Final[int] = int(BeatClass.ECTOPIC)
_LONG: Final[int] = int(BeatClass.LONG)
_SHORT: Final[int] = int(BeatClass.SHORT)
_MISSED: Final[int] = int(BeatClass.MISSED)
_EXTRA: Final[int] = int(BeatClass.EXTRA)
#: |mRRs| above which a beat is long or short whatever dRR says (Lipponen & Tarvainen 2019).
_MRRS_LIMIT: Final[float] = 3.0
#: A beat flagged long/short by the dRR rules must also lie more than Th2 from medRR (|mRRs| > 1),
#: the confirmation rule of :mod:`hrv.artifacts`.
_MRRS_CONFIRM: Final[float] = 1.0

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


def _quartile_deviation(
    sorted_rows: NDArray[np.float64], count: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Quartile deviation ``(Q3 - Q1) / 2`` of the first ``count`` values of each sorted row.

    Quantiles by linear interpolation between order statistics (numpy's and pandas' default, as
    the rolling quantiles of the batch detector), position ``q * (count - 1)``.
    """
    rows = np.arange(sorted_rows.shape[0])
    span = (count - 1).astype(np.float64)
    out = np.zeros(sorted_rows.shape[0])
    for sign, q in ((-1.0, 0.25), (1.0, 0.75)):
        pos = q * span
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, count - 1)
        frac = pos - lo
        a = sorted_rows[rows, lo]
        b = sorted_rows[rows, hi]
        out += sign * (a + frac * (b - a))
    return 0.5 * out


def _neumaier(s: float, c: float, x: float) -> tuple[float, float]:
    """Scalar twin of :meth:`MultiStreamEngine._add`: compensated ``s += x``, returns (s, c)."""
    new = s + x
    c += (s - new) + x if abs(s) >= abs(x) else (x - new) + s
    return new, c


def _quartile_deviation_one(sorted_values: list[float], count: int) -> float:
    """Scalar twin of :func:`_quartile_deviation` (same operations, same order)."""
    span = float(count - 1)
    out = 0.0
    for sign, q in ((-1.0, 0.25), (1.0, 0.75)):
        pos = q * span
        lo = math.floor(pos)
        hi = min(lo + 1, count - 1)
        frac = pos - lo
        a = sorted_values[lo]
        b = sorted_values[hi]
        out += sign * (a + frac * (b - a))
    return 0.5 * out


class MultiStreamEngine:
    """Streaming HRV for many participants at once, one array operation per step.

    Parameters
    ----------
    n_participants : int
        Participants (rows) to allocate; :meth:`add_participant` adds more.
    config : StreamConfig, optional
        Windows and detector parameters (see :class:`StreamConfig`).

    Notes
    -----
    **State.** Per participant: a detector ring of the last ``max(median_window, L + 2)`` raw
    beats (RR, time, dRR, contact), two rings of the last ``threshold_window_beats`` absolute
    ``dRR`` and ``mRR`` values, and a ring of ``ring_capacity`` corrected beats (time, RR,
    artifact, bad, missing) with running sums for each trailing window. All are 2-D arrays
    ``[participant, slot]``; memory does not grow with the session.

    **Causal detector** (Lipponen & Tarvainen 2019 with trailing windows). When beat j arrives,
    beat k = j - L is classified (L = ``lookahead_beats``) from

    * ``dRR_i = RR_i - RR_{i-1}`` (0 for the first beat of a segment);
    * ``medRR`` = median of the last 11 RR up to j; ``mRR_k = RR_k - medRR`` (doubled if < 0);
    * ``Th1 = max(alpha QD(|dRR|), 0.02 medRR)`` over the last 91 beats up to j, with
      QD = (Q3 - Q1) / 2; ``Th2`` likewise from ``|mRR|`` over the last 91 classified beats;
    * ``d_i = dRR_i / Th1``, ``m = mRR_k / Th2``;
      ``S12 = max(d_{k-1}, d_{k+1})`` if ``d_k > 0`` else ``min``;
      ``S22 = min(d_{k+1}, d_{k+2})`` if ``d_k >= 0`` else ``max``;
    * ectopic: ``d_k > 1 and S12 < -c1 d_k - c2`` or ``d_k < -1 and S12 > -c1 d_k + c2``;
    * long: ``d_k > 1 and S22 < -1 and |m| > 1``, or ``|m| > 3 and mRR > 0``; short: the mirror;
    * missed: long with ``n = round(RR_k / medRR) >= 2`` and ``|RR_k / n - medRR| < Th2``, or
      ``RR_k > 2500 ms``; extra: short with ``|RR_k + RR_{k+1} - medRR| < Th2``, or
      ``RR_k < 250 ms`` (not ectopic);
    * adaptive rules only once 5 beats have been received (as
      :func:`hrv.artifacts.detect_artifacts`); RR outside 250-2500 ms is always an artifact.

    Deliberate differences from the batch detector :func:`hrv.artifacts.detect_artifacts`
    (centred windows, pair and merge resolution, spline correction): windows trail (they end at
    the newest beat, or at k for ``mRR``); the four ``dRR`` around k share ``Th1`` of beat k; only
    the beat being classified is labelled (an ectopic pair's partner, already emitted, is not
    relabelled); look-ahead not yet available (at a flush) counts as ``dRR = 0`` and an unknown
    next RR never makes an extra beat; every artifact is replaced by ``medRR`` (one corrected
    value per beat: a missed beat is not split and an extra one not merged, so the beat count
    of a window can be off by one around such an event).

    **Metrics.** On the corrected beats, for the window ``(t_k - W, t_k]`` (at most
    ``ring_capacity`` beats): running sums of ``60000 / RR``, of squared successive differences
    inside the window, and of artifact, bad and missing counts are updated when a beat enters or
    leaves (the float sums compensated, Neumaier 1974, so that a large term leaving the window
    leaves no rounding residue), and recomputed exactly from the ring every
    ``resync_every_beats`` beats: bounded rounding, no drift (tested over 100,000 beats).
    Missing beats of beat k: ``max(0, round(gap / medRR))`` with
    ``gap = 1000 (t_k - t_{k-1}) - RR_k`` (ms); quality ``(n - n_bad) / (n + n_missing)``.

    **Two code paths, one arithmetic.** Rounds with at most a few participants run a scalar
    twin of the array code (the same operations in the same order, tested bit for bit equal);
    a single beat then costs tens of microseconds instead of ~150 small numpy calls.

    **Steps.** A push is processed in rounds: round r takes the r-th beat of every participant
    that has one; a round is a handful of array operations over those participants (the update
    of one participant is a recurrence in time, so a participant's own beats are sequential).

    Examples
    --------
    >>> eng = MultiStreamEngine(2)
    >>> up = eng.push([0, 1, 0, 1, 0, 1], [800, 900, 810, 905, 790, 910],
    ...               [0.8, 0.9, 1.61, 1.805, 2.4, 2.715])
    >>> up.participant.tolist(), up.beat_index.tolist()  # beat 0 leaves with beat 2
    ([0, 1], [0, 0])
    >>> len(eng.flush())  # beats 1 and 2 of both participants
    4
    """

    def __init__(self, n_participants: int = 1, config: StreamConfig | None = None) -> None:
        if n_participants < 0:
            raise StreamConfigError(f"n_participants must be >= 0, got {n_participants}")
        self.config = config if config is not None else StreamConfig()
        c = self.config
        self._L = c.lookahead_beats
        self._D = max(c.median_window_beats, self._L + 2)
        self._M = c.median_window_beats
        self._W = c.threshold_window_beats
        self._C = c.ring_capacity
        self._n = 0
        c_every = self.config.coherence_every_s
        self._coh_default = math.nan if c_every is None else float(c_every)
        self._alloc(n_participants)
        #: Rounds with at most this many participants take the scalar path (same arithmetic, in
        #: the same order, as the array path; a round of one beat costs tens of microseconds
        #: instead of the fixed overhead of ~150 small numpy calls).
        self._scalar_max_rows = 4

    # ------------------------------------------------------------------ state
    _PER_ROW: Final[dict[str, tuple[str, int, float]]] = {
        # name: (dtype, slots (0 = scalar per participant; -1..-4 = D, W, W, C), initial value)
        "_arrived": ("i8", 0, 0),  # beats received, all segments
        "_seg": ("i8", 0, 0),  # beats received in the current segment
        "_pending": ("i8", 0, 0),  # received, not yet classified
        "_last_t": ("f8", 0, -np.inf),  # time of the newest beat received
        "_d_rr": ("f8", -1, 0.0),
        "_d_t": ("f8", -1, 0.0),
        "_d_drr": ("f8", -1, 0.0),
        "_d_contact": ("i1", -1, -1),
        "_abs_drr": ("f8", -2, np.inf),
        "_abs_mrr": ("f8", -3, np.inf),
        "_n_mrr": ("i8", 0, 0),
        "_m_t": ("f8", -4, 0.0),
        "_m_rr": ("f8", -4, 0.0),
        "_m_art": ("i1", -4, 0),
        "_m_bad": ("i1", -4, 0),
        "_m_miss": ("i4", -4, 0),
        "_final": ("i8", 0, 0),  # beats classified (next absolute index in the metric ring)
        "_hr_head": ("i8", 0, 0),
        "_hr_sum": ("f8", 0, 0.0),  # Neumaier sum and its compensation term
        "_hr_cmp": ("f8", 0, 0.0),
        "_rm_head": ("i8", 0, 0),
        "_rm_sq": ("f8", 0, 0.0),
        "_rm_cmp": ("f8", 0, 0.0),
        "_rm_art": ("i8", 0, 0),
        "_rm_bad": ("i8", 0, 0),
        "_rm_miss": ("i8", 0, 0),
        "_coh_due": ("f8", 0, -np.inf),
        "_coh_every": ("f8", 0, np.nan),  # coherence period, s; NaN = off (default from config)
        "_mark": ("i8", 0, 0),  # scratch: detects a participant repeated within a push
    }

    _arrived: NDArray[np.int64]
    _seg: NDArray[np.int64]
    _pending: NDArray[np.int64]
    _last_t: NDArray[np.float64]
    _d_rr: NDArray[np.float64]
    _d_t: NDArray[np.float64]
    _d_drr: NDArray[np.float64]
    _d_contact: NDArray[np.int8]
    _abs_drr: NDArray[np.float64]
    _abs_mrr: NDArray[np.float64]
    _n_mrr: NDArray[np.int64]
    _m_t: NDArray[np.float64]
    _m_rr: NDArray[np.float64]
    _m_art: NDArray[np.int8]
    _m_bad: NDArray[np.int8]
    _m_miss: NDArray[np.int32]
    _final: NDArray[np.int64]
    _hr_head: NDArray[np.int64]
    _hr_sum: NDArray[np.float64]
    _hr_cmp: NDArray[np.float64]
    _rm_head: NDArray[np.int64]
    _rm_sq: NDArray[np.float64]
    _rm_cmp: NDArray[np.float64]
    _rm_art: NDArray[np.int64]
    _rm_bad: NDArray[np.int64]
    _rm_miss: NDArray[np.int64]
    _coh_due: NDArray[np.float64]
    _coh_every: NDArray[np.float64]
    _mark: NDArray[np.int64]

    def _slots(self, code: int) -> int:
        return {-1: self._D, -2: self._W, -3: self._W, -4: self._C}[code]

    def _alloc(self, n: int) -> None:
        for name, (dtype, code, init) in self._PER_ROW.items():
            shape = (n,) if code == 0 else (n, self._slots(code))
            setattr(self, name, np.full(shape, init, dtype=dtype))
        self._n = n
        self._coh_every[:] = self._coh_default

    @property
    def n_participants(self) -> int:
        """Participants (rows) allocated."""
        return self._n

    def add_participant(self) -> int:
        """Add one participant with an empty state and return its index.

        Arrays grow by doubling, so adding participants one by one is amortised O(1).

        Examples
        --------
        >>> eng = MultiStreamEngine(0)
        >>> eng.add_participant(), eng.add_participant(), eng.n_participants
        (0, 1, 2)
        """
        index = self._n
        for name, (dtype, _code, init) in self._PER_ROW.items():
            old: NDArray[Any] = getattr(self, name)
            if old.shape[0] <= index:
                shape = (max(2 * old.shape[0], 4), *old.shape[1:])
                new = np.full(shape, init, dtype=dtype)
                new[: old.shape[0]] = old
                setattr(self, name, new)
            else:
                getattr(self, name)[index] = init
        self._coh_every[index] = self._coh_default
        self._n = index + 1
        return index

    def reset(self, participant: int) -> None:
        """Forget everything about one participant (e.g. a new session in the same slot)."""
        self._check_rows(np.array([participant]))
        for name, (_dtype, _code, init) in self._PER_ROW.items():
            getattr(self, name)[participant] = init
        self._coh_every[participant] = self._coh_default

    def set_coherence(self, participant: int, every_s: float | None = 5.0) -> None:
        """Turn the paced-breathing coherence of one participant on (every ``every_s``) or off.

        The first value comes ``every_s`` seconds of beat time after the next beat, then one
        every ``every_s`` (see :class:`StreamUpdates` ``coherence_fresh``).

        Parameters
        ----------
        participant : int
            Participant index.
        every_s : float or None
            Refresh period, s of beat time (default 5); None turns it off.

        Examples
        --------
        >>> eng = MultiStreamEngine(2)
        >>> eng.set_coherence(1, 5.0)
        >>> eng.coherence_period(1), eng.coherence_period(0)
        (5.0, None)
        """
        self._check_rows(np.array([participant]))
        if every_s is not None and not (math.isfinite(every_s) and every_s > 0):
            raise StreamConfigError(f"every_s must be a positive number or None, got {every_s!r}")
        self._coh_every[participant] = np.nan if every_s is None else every_s
        self._coh_due[participant] = -np.inf

    def coherence_period(self, participant: int) -> float | None:
        """The coherence refresh period of a participant, s, or None when it is off."""
        self._check_rows(np.array([participant]))
        every = float(self._coh_every[participant])
        return None if math.isnan(every) else every

    def pending(self, participant: int) -> int:
        """Beats of ``participant`` received, not yet classified (at most ``lookahead_beats``)."""
        self._check_rows(np.array([participant]))
        return int(self._pending[participant])

    def time_since_last_beat(self, now_s: float) -> NDArray[np.float64]:
        """Seconds from each participant's newest beat to ``now_s`` (inf before the first beat).

        A dropout produces no beats and so no updates; the caller (which owns the clock) polls
        this, and past a limit (e.g. 2.5 s, the longest plausible RR) shows the participant as
        missing and calls :meth:`flush` for them.

        Parameters
        ----------
        now_s : float
            Current time on the clock of the beat times, s.

        Returns
        -------
        numpy.ndarray of float64
            One value per participant, s.

        Examples
        --------
        >>> eng = MultiStreamEngine(2)
        >>> _ = eng.push([0], [800.0], [10.0])
        >>> eng.time_since_last_beat(12.5).tolist()
        [2.5, inf]
        """
        out: NDArray[np.float64] = now_s - self._last_t[: self._n]
        return out

    def _check_rows(self, rows: NDArray[np.int64]) -> None:
        if rows.size and (int(rows.min()) < 0 or int(rows.max()) >= self._n):
            raise StreamConfigError(
                f"participant indices must be in [0, {self._n}), got {rows.min()}..{rows.max()}"
            )

    # ------------------------------------------------------------------ API
    def push(
        self,
        participant: ArrayLike,
        rr_ms: ArrayLike,
        beat_times_s: ArrayLike,
        contact: ArrayLike | None = None,
    ) -> StreamUpdates:
        """Feed beats of any participants; return the updates of the beats now classified.

        Parameters
        ----------
        participant : array_like of int
            Participant index of each beat.
        rr_ms : array_like of float
            RR interval of each beat, ms (finite, positive).
        beat_times_s : array_like of float
            Time of each beat (end of its RR interval), s; non-decreasing per participant.
        contact : array_like of bool, optional
            Sensor contact of each beat (or one value for all); None if not reported.

        Returns
        -------
        StreamUpdates
            One entry per beat classified by this push (each participant's beat k comes out when
            its beat k + ``lookahead_beats`` arrives).

        Raises
        ------
        InvalidRRError
            For corrupt RR, mismatched lengths or beat times going back.
        StreamConfigError
            For a participant index out of range.

        Examples
        --------
        >>> eng = MultiStreamEngine(3)
        >>> for i in range(3):  # beats of participants 0 and 2 arrive together
        ...     up = eng.push([0, 2], [1000.0, 750.0], [i + 1.0, 0.75 * (i + 1)])
        >>> up.participant.tolist(), up.beat_index.tolist(), up.hr_bpm.tolist()
        ([0, 2], [0, 0], [60.0, 80.0])
        """
        rr = validate_rr(rr_ms)
        rows = np.asarray(participant, dtype=np.int64).reshape(-1)
        t = np.asarray(beat_times_s, dtype=np.float64).reshape(-1)
        if rows.shape != rr.shape or t.shape != rr.shape:
            raise InvalidRRError(
                "participant, rr_ms and beat_times_s must have one value per beat: got "
                f"{rows.shape[0]}, {rr.shape[0]} and {t.shape[0]}"
            )
        if not np.all(np.isfinite(t)):
            raise InvalidRRError("beat times must be finite numbers of seconds")
        cont = self._contact_codes(contact, rr.shape[0])
        self._check_rows(rows)
        n = rows.shape[0]
        if n == 0:
            return _EMPTY
        if n > 1 and rows.min() == rows.max():  # one participant's beats (a replay, a batch)
            row = int(rows[0])
            records = [
                self._arrive_one(row, *args)
                for args in zip(rr.tolist(), t.tolist(), cont.tolist(), strict=True)
            ]
            return _build([r for r in records if r is not None])
        order_n = np.arange(n)
        self._mark[rows] = order_n  # a repeated participant keeps only its last position
        if n == 1 or bool((self._mark[rows] == order_n).all()):
            return self._arrive(rows, rr, t, cont)
        # several beats per participant: round r takes each participant's r-th beat of the push
        order = np.argsort(rows, kind="stable")
        srows = rows[order]
        first = np.r_[True, srows[1:] != srows[:-1]]
        group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n) - group_start
        by_round = np.argsort(rank, kind="stable")  # round r: beats by_round[bounds[r]:bounds[r+1]]
        bounds = np.r_[0, np.cumsum(np.bincount(rank))].tolist()
        parts = []
        for a, b in itertools.pairwise(bounds):
            sel = by_round[a:b]
            parts.append(self._arrive(rows[sel], rr[sel], t[sel], cont[sel]))
        return StreamUpdates.concatenate(parts)

    def flush(self, participants: ArrayLike | None = None) -> StreamUpdates:
        """Classify the beats still waiting for look-ahead and start a new segment.

        Call at the end of a stream or when a dropout or reconnection is known: the waiting beats
        are classified with the later beats there are (``lookahead_beats`` on their updates says
        how many), and the next beat of each flushed participant starts a new segment (its dRR is
        0, it is never compared with the beat before the gap). Windows keep their beats: a gap
        shows up as missing beats.

        Parameters
        ----------
        participants : array_like of int, optional
            Whom to flush; default everyone.

        Returns
        -------
        StreamUpdates

        Examples
        --------
        >>> eng = MultiStreamEngine(1)
        >>> len(eng.push([0, 0, 0], [800.0, 810.0, 790.0], [0.8, 1.61, 2.4]))
        1
        >>> eng.flush().lookahead_beats.tolist()  # beat 1 saw one later beat, beat 2 none
        [1, 0]
        """
        if participants is None:
            rows = np.arange(self._n, dtype=np.int64)
        else:
            rows = np.unique(np.asarray(participants, dtype=np.int64).reshape(-1))
            self._check_rows(rows)
        parts = []
        while True:
            sel = rows[self._pending[rows] > 0]
            if sel.size == 0:
                break
            parts.append(self._finalize(sel, self._pending[sel] - 1))
        self._seg[rows] = 0
        return StreamUpdates.concatenate(parts)

    # ------------------------------------------------------------------ steps
    @staticmethod
    def _contact_codes(contact: ArrayLike | None, n: int) -> NDArray[np.int8]:
        if contact is None:
            return np.full(n, CONTACT_UNKNOWN, dtype=np.int8)
        c = np.asarray(contact)
        if c.ndim == 0:
            return np.full(n, 1 if bool(c) else 0, dtype=np.int8)
        if c.shape != (n,):
            raise InvalidRRError(f"contact must be one value or one per beat ({n}), got {c.shape}")
        if c.dtype == np.bool_:
            return c.astype(np.int8)
        return np.where(c.astype(np.int64) < 0, CONTACT_UNKNOWN, c != 0).astype(np.int8)

    def _arrive(
        self,
        rows: NDArray[np.int64],
        rr: NDArray[np.float64],
        t: NDArray[np.float64],
        contact: NDArray[np.int8],
    ) -> StreamUpdates:
        """One beat for each of ``rows`` (distinct participants)."""
        if rows.shape[0] <= self._scalar_max_rows:
            records = [
                self._arrive_one(*args)
                for args in zip(
                    rows.tolist(), rr.tolist(), t.tolist(), contact.tolist(), strict=True
                )
            ]
            return _build([r for r in records if r is not None])
        if np.any(t < self._last_t[rows]):
            bad = int(np.argmax(t < self._last_t[rows]))
            raise InvalidRRError(
                f"beat times must not go back: participant {rows[bad]} got {t[bad]!r} s after "
                f"{self._last_t[rows[bad]]!r} s",
                index=bad,
                value=float(t[bad]),
            )
        arrived = self._arrived[rows]
        seg = self._seg[rows]
        pos = arrived % self._D
        prev = (arrived - 1) % self._D
        drr = np.where(seg > 0, rr - self._d_rr[rows, prev], 0.0)
        self._d_rr[rows, pos] = rr
        self._d_t[rows, pos] = t
        self._d_drr[rows, pos] = drr
        self._d_contact[rows, pos] = contact
        self._abs_drr[rows, arrived % self._W] = np.abs(drr)
        self._arrived[rows] = arrived + 1
        self._seg[rows] = seg + 1
        self._last_t[rows] = t
        pending = self._pending[rows] + 1
        self._pending[rows] = pending
        ready = pending > self._L
        if ready.all():
            return self._finalize(rows, np.full(rows.shape[0], self._L, dtype=np.int64))
        if not ready.any():
            return _EMPTY
        sel = rows[ready]
        return self._finalize(sel, np.full(sel.shape[0], self._L, dtype=np.int64))

    def _finalize(self, rows: NDArray[np.int64], ahead: NDArray[np.int64]) -> StreamUpdates:
        """Classify, correct and measure the oldest waiting beat of each of ``rows``.

        ``ahead`` is the number of later beats available (``lookahead_beats`` in steady state).
        """
        if rows.shape[0] <= self._scalar_max_rows:
            return _build(
                [
                    self._finalize_one(r, a)
                    for r, a in zip(rows.tolist(), ahead.tolist(), strict=True)
                ]
            )
        cfg = self.config
        D = self._D
        m = rows.shape[0]
        arrived = self._arrived[rows]
        newest = arrived - 1
        k = newest - ahead
        pk = k % D
        rr_k = self._d_rr[rows, pk]
        t_k = self._d_t[rows, pk]

        # median RR of the last min(arrived, M) beats, up to the newest
        M = self._M
        back = np.arange(M)
        cols = (newest[:, None] - back[None, :]) % D
        window = self._d_rr[rows[:, None], cols]
        n_med = np.minimum(arrived, M)
        if int(n_med.min()) < M:
            window = np.where(back[None, :] < n_med[:, None], window, np.inf)
        window.sort(axis=1)
        r = np.arange(m)
        med = 0.5 * (window[r, (n_med - 1) // 2] + window[r, n_med // 2])

        # thresholds: alpha * quartile deviation over the trailing windows
        n_d = np.minimum(arrived, self._W)
        abs_drr = self._abs_drr[rows]  # a copy, sorted in place
        abs_drr.sort(axis=1)
        th1 = np.maximum(
            cfg.alpha * _quartile_deviation(abs_drr, n_d),
            cfg.threshold_floor_fraction * med,
        )
        mrr = rr_k - med
        mrr = np.where(mrr < 0.0, 2.0 * mrr, mrr)
        n_mrr = self._n_mrr[rows]
        self._abs_mrr[rows, n_mrr % self._W] = np.abs(mrr)
        self._n_mrr[rows] = n_mrr + 1
        abs_mrr = self._abs_mrr[rows]
        abs_mrr.sort(axis=1)
        th2 = np.maximum(
            cfg.alpha * _quartile_deviation(abs_mrr, np.minimum(n_mrr + 1, self._W)),
            cfg.threshold_floor_fraction * med,
        )

        # normalised dRR around k; look-ahead not available counts as 0
        d_prev = self._d_drr[rows, (k - 1) % D] / th1
        d_k = self._d_drr[rows, pk] / th1
        d_n1 = np.where(ahead >= 1, self._d_drr[rows, (k + 1) % D], 0.0) / th1
        d_n2 = np.where(ahead >= 2, self._d_drr[rows, (k + 2) % D], 0.0) / th1
        m_k = mrr / th2
        s12 = np.where(d_k > 0, np.maximum(d_prev, d_n1), np.minimum(d_prev, d_n1))
        s22 = np.where(d_k >= 0, np.minimum(d_n1, d_n2), np.maximum(d_n1, d_n2))
        adaptive = arrived >= MIN_ADAPTIVE_BEATS
        ectopic = adaptive & (
            ((d_k > 1) & (s12 < -cfg.c1 * d_k - cfg.c2))
            | ((d_k < -1) & (s12 > -cfg.c1 * d_k + cfg.c2))
        )
        confirmed = np.abs(m_k) > _MRRS_CONFIRM
        big = np.abs(m_k) > _MRRS_LIMIT
        long_ = adaptive & ~ectopic & (((d_k > 1) & (s22 < -1) & confirmed) | (big & (mrr > 0)))
        short = adaptive & ~ectopic & (((d_k < -1) & (s22 > 1) & confirmed) | (big & (mrr < 0)))
        n_int = np.maximum(np.rint(rr_k / med), 1.0)
        missed = (long_ & (n_int >= 2.0) & (np.abs(rr_k / n_int - med) < th2)) | (
            rr_k > PLAUSIBLE_RR_MAX_MS
        )
        rr_next = self._d_rr[rows, (k + 1) % D]
        extra = ~missed & (
            (short & (ahead >= 1) & (np.abs(rr_k + rr_next - med) < th2))
            | (~ectopic & (rr_k < PLAUSIBLE_RR_MIN_MS))
        )
        cls = np.where(short, _SHORT, np.where(long_, _LONG, _NORMAL))
        cls = np.where(ectopic, _ECTOPIC, cls)
        cls = np.where(missed, _MISSED, cls)
        cls = np.where(extra, _EXTRA, cls).astype(np.uint8)
        artifact = cls != _NORMAL
        rr_c = np.where(artifact, med, rr_k)

        # missing beats before k: the time gap not covered by RR_k
        t_prev = self._d_t[rows, (k - 1) % D]
        gap_ms = (t_k - t_prev) * _MS_PER_S - rr_k
        missing = np.where(k > 0, np.floor(np.maximum(gap_ms, 0.0) / med + 0.5), 0.0).astype(
            np.int64
        )
        contact = self._d_contact[rows, pk]
        bad = artifact | (contact == 0)
        self._pending[rows] -= 1

        return self._measure(
            rows,
            k,
            t_k,
            rr_k,
            rr_c,
            cls,
            artifact,
            bad,
            missing,
            contact,
            ahead,
            self._d_t[rows, newest % D] - t_k,
        )

    def _measure(
        self,
        rows: NDArray[np.int64],
        k: NDArray[np.int64],
        t_k: NDArray[np.float64],
        rr_k: NDArray[np.float64],
        rr_c: NDArray[np.float64],
        cls: NDArray[np.uint8],
        artifact: NDArray[np.bool_],
        bad: NDArray[np.bool_],
        missing: NDArray[np.int64],
        contact: NDArray[np.int8],
        ahead: NDArray[np.int64],
        delay: NDArray[np.float64],
    ) -> StreamUpdates:
        """Enter one corrected beat per row into the metric ring and read the windows."""
        cfg = self.config
        C = self._C
        final = self._final[rows]
        # make room: the slot of beat final - C must have left every window
        for head_name in ("_hr_head", "_rm_head"):
            while True:
                head = getattr(self, head_name)[rows]
                full = final - head >= C
                if not full.any():
                    break
                self._expire(head_name, rows[full], head[full], final[full])
        slot = final % C
        self._m_t[rows, slot] = t_k
        self._m_rr[rows, slot] = rr_c
        self._m_art[rows, slot] = artifact
        self._m_bad[rows, slot] = bad
        self._m_miss[rows, slot] = missing
        has_prev = final > self._rm_head[rows]
        step = rr_c - self._m_rr[rows, (final - 1) % C]
        self._add("_rm_sq", "_rm_cmp", rows, np.where(has_prev, step * step, 0.0))
        self._rm_art[rows] += artifact
        self._rm_bad[rows] += bad
        self._rm_miss[rows] += missing
        self._add("_hr_sum", "_hr_cmp", rows, _MS_PER_MIN / rr_c)
        final = final + 1
        self._final[rows] = final
        for head_name, width in (("_hr_head", cfg.hr_window_s), ("_rm_head", cfg.rmssd_window_s)):
            limit = t_k - width
            while True:
                head = getattr(self, head_name)[rows]
                old = self._m_t[rows, head % C] <= limit
                if not old.any():
                    break
                self._expire(head_name, rows[old], head[old], final[old])
        due = final % cfg.resync_every_beats == 0
        if due.any():
            self._resync(rows[due])

        n_hr = final - self._hr_head[rows]
        n_rm = final - self._rm_head[rows]
        nan = np.nan
        valid_hr = n_hr >= cfg.min_beats_hr
        mean_hr = np.where(valid_hr, (self._hr_sum[rows] + self._hr_cmp[rows]) / n_hr, nan)
        rm_pairs = np.maximum(n_rm - 1, 1)
        rmssd = np.sqrt(np.maximum(self._rm_sq[rows] + self._rm_cmp[rows], 0.0) / rm_pairs)
        valid_rm = (n_rm >= cfg.min_beats_rmssd) & (rmssd > MIN_VALID_RMSSD_MS)
        rmssd = np.where(valid_rm, rmssd, nan)
        ln_rmssd = np.log(rmssd)  # NaN stays NaN, valid RMSSD is > 0
        art_frac = self._rm_art[rows] / n_rm
        miss = self._rm_miss[rows]
        quality = np.clip((n_rm - self._rm_bad[rows]) / (n_rm + miss), 0.0, 1.0)
        valid = valid_hr & valid_rm & (art_frac <= cfg.max_artifact_fraction)
        n = rows.shape[0]
        coh = np.full(n, nan)
        breath = np.full(n, nan)
        fresh = np.zeros(n, dtype=np.bool_)
        self._coherence(rows, final, t_k, coh, breath, fresh)
        return StreamUpdates(
            participant=rows,
            beat_index=k,
            time_s=t_k,
            rr_ms=rr_k,
            rr_corrected_ms=rr_c,
            hr_bpm=_MS_PER_MIN / rr_c,
            artifact=cls,
            lookahead_beats=ahead.astype(np.uint8),
            delay_s=delay,
            contact=contact,
            mean_hr_bpm=mean_hr,
            n_hr=n_hr.astype(np.int32),
            valid_hr=valid_hr,
            rmssd_ms=rmssd,
            ln_rmssd=ln_rmssd,
            n_rmssd=n_rm.astype(np.int32),
            valid_rmssd=valid_rm,
            artifact_fraction=art_frac,
            missing_beats=miss.astype(np.int32),
            quality=quality,
            valid=valid,
            coherence_ratio=coh,
            breathing_rate_bpm=breath,
            coherence_fresh=fresh,
        )

    # ------------------------------------------------------- scalar path (one participant)
    # The same arithmetic as _arrive/_finalize/_measure, operation for operation, on Python floats,
    # for rounds with few participants (live use: one beat per notification). Tested equal.
    def _arrive_one(self, row: int, rr: float, t: float, contact: int) -> _Record | None:
        last_t = float(self._last_t[row])
        if t < last_t:
            raise InvalidRRError(
                f"beat times must not go back: participant {row} got {t!r} s after {last_t!r} s",
                value=t,
            )
        D = self._D
        arrived = int(self._arrived[row])
        d_rr = self._d_rr[row]
        drr = rr - float(d_rr[(arrived - 1) % D]) if self._seg[row] > 0 else 0.0
        pos = arrived % D
        d_rr[pos] = rr
        self._d_t[row, pos] = t
        self._d_drr[row, pos] = drr
        self._d_contact[row, pos] = contact
        self._abs_drr[row, arrived % self._W] = abs(drr)
        self._arrived[row] = arrived + 1
        self._seg[row] += 1
        self._last_t[row] = t
        pending = int(self._pending[row]) + 1
        self._pending[row] = pending
        if pending > self._L:
            return self._finalize_one(row, self._L)
        return None

    def _finalize_one(self, row: int, ahead: int) -> _Record:
        cfg = self.config
        D = self._D
        arrived = int(self._arrived[row])
        newest = arrived - 1
        k = newest - ahead
        pk = k % D
        d_rr = self._d_rr[row].tolist()
        d_drr = self._d_drr[row].tolist()
        d_t = self._d_t[row]
        rr_k = d_rr[pk]
        t_k = float(d_t[pk])

        n_med = min(arrived, self._M)
        window = sorted(d_rr[(newest - j) % D] for j in range(n_med))
        med = 0.5 * (window[(n_med - 1) // 2] + window[n_med // 2])

        th1 = max(
            cfg.alpha
            * _quartile_deviation_one(sorted(self._abs_drr[row].tolist()), min(arrived, self._W)),
            cfg.threshold_floor_fraction * med,
        )
        mrr = rr_k - med
        if mrr < 0.0:
            mrr = 2.0 * mrr
        n_mrr = int(self._n_mrr[row])
        abs_mrr = self._abs_mrr[row]
        abs_mrr[n_mrr % self._W] = abs(mrr)
        self._n_mrr[row] = n_mrr + 1
        th2 = max(
            cfg.alpha * _quartile_deviation_one(sorted(abs_mrr.tolist()), min(n_mrr + 1, self._W)),
            cfg.threshold_floor_fraction * med,
        )

        d_prev = d_drr[(k - 1) % D] / th1
        d_k = d_drr[pk] / th1
        d_n1 = (d_drr[(k + 1) % D] if ahead >= 1 else 0.0) / th1
        d_n2 = (d_drr[(k + 2) % D] if ahead >= 2 else 0.0) / th1
        m_k = mrr / th2
        s12 = max(d_prev, d_n1) if d_k > 0 else min(d_prev, d_n1)
        s22 = min(d_n1, d_n2) if d_k >= 0 else max(d_n1, d_n2)
        adaptive = arrived >= MIN_ADAPTIVE_BEATS
        ectopic = adaptive and (
            (d_k > 1 and s12 < -cfg.c1 * d_k - cfg.c2)
            or (d_k < -1 and s12 > -cfg.c1 * d_k + cfg.c2)
        )
        confirmed = abs(m_k) > _MRRS_CONFIRM
        big = abs(m_k) > _MRRS_LIMIT
        long_ = (adaptive and not ectopic) and (
            (d_k > 1 and s22 < -1 and confirmed) or (big and mrr > 0)
        )
        short = (adaptive and not ectopic) and (
            (d_k < -1 and s22 > 1 and confirmed) or (big and mrr < 0)
        )
        n_int = max(float(round(rr_k / med)), 1.0)
        missed = (long_ and n_int >= 2.0 and abs(rr_k / n_int - med) < th2) or (
            rr_k > PLAUSIBLE_RR_MAX_MS
        )
        extra = not missed and (
            (short and ahead >= 1 and abs(rr_k + d_rr[(k + 1) % D] - med) < th2)
            or (not ectopic and rr_k < PLAUSIBLE_RR_MIN_MS)
        )
        cls = _SHORT if short else (_LONG if long_ else _NORMAL)
        if ectopic:
            cls = _ECTOPIC
        if missed:
            cls = _MISSED
        if extra:
            cls = _EXTRA
        artifact = cls != _NORMAL
        rr_c = med if artifact else rr_k

        missing = 0
        if k > 0:
            gap_ms = (t_k - float(d_t[(k - 1) % D])) * _MS_PER_S - rr_k
            missing = math.floor(max(gap_ms, 0.0) / med + 0.5)
        contact = int(self._d_contact[row, pk])
        self._pending[row] -= 1
        delay = float(d_t[newest % D]) - t_k
        return self._measure_one(
            row,
            k,
            t_k,
            rr_k,
            rr_c,
            cls,
            artifact,
            artifact or contact == 0,
            missing,
            contact,
            ahead,
            delay,
        )

    def _measure_one(
        self,
        row: int,
        k: int,
        t_k: float,
        rr_k: float,
        rr_c: float,
        cls: int,
        artifact: bool,
        bad: bool,
        missing: int,
        contact: int,
        ahead: int,
        delay: float,
    ) -> _Record:
        cfg = self.config
        C = self._C
        m_rr = self._m_rr[row]
        m_t = self._m_t[row]
        final = int(self._final[row])
        hr_head = int(self._hr_head[row])
        rm_head = int(self._rm_head[row])
        hr_sum = float(self._hr_sum[row])
        hr_cmp = float(self._hr_cmp[row])
        rm_sq = float(self._rm_sq[row])
        rm_cmp = float(self._rm_cmp[row])
        rm_art = int(self._rm_art[row])
        rm_bad = int(self._rm_bad[row])
        rm_miss = int(self._rm_miss[row])
        m_art = self._m_art[row]
        m_bad = self._m_bad[row]
        m_miss = self._m_miss[row]
        # make room
        while final - hr_head >= C:
            hr_sum, hr_cmp = _neumaier(hr_sum, hr_cmp, -(_MS_PER_MIN / float(m_rr[hr_head % C])))
            hr_head += 1
        while final - rm_head >= C:
            step = float(m_rr[(rm_head + 1) % C]) - float(m_rr[rm_head % C])
            rm_sq, rm_cmp = _neumaier(rm_sq, rm_cmp, -(step * step if rm_head + 1 < final else 0.0))
            h = rm_head % C
            rm_art -= int(m_art[h])
            rm_bad -= int(m_bad[h])
            rm_miss -= int(m_miss[h])
            rm_head += 1
        slot = final % C
        m_t[slot] = t_k
        m_rr[slot] = rr_c
        m_art[slot] = artifact
        m_bad[slot] = bad
        m_miss[slot] = missing
        if final > rm_head:
            step = rr_c - float(m_rr[(final - 1) % C])
            rm_sq, rm_cmp = _neumaier(rm_sq, rm_cmp, step * step)
        rm_art += artifact
        rm_bad += bad
        rm_miss += missing
        hr_sum, hr_cmp = _neumaier(hr_sum, hr_cmp, _MS_PER_MIN / rr_c)
        final += 1
        limit = t_k - cfg.hr_window_s
        while m_t[hr_head % C] <= limit:
            hr_sum, hr_cmp = _neumaier(hr_sum, hr_cmp, -(_MS_PER_MIN / float(m_rr[hr_head % C])))
            hr_head += 1
        limit = t_k - cfg.rmssd_window_s
        while m_t[rm_head % C] <= limit:
            h = rm_head % C
            step = float(m_rr[(rm_head + 1) % C]) - float(m_rr[h])
            rm_sq, rm_cmp = _neumaier(rm_sq, rm_cmp, -(step * step if rm_head + 1 < final else 0.0))
            rm_art -= int(m_art[h])
            rm_bad -= int(m_bad[h])
            rm_miss -= int(m_miss[h])
            rm_head += 1
        self._final[row] = final
        self._hr_head[row] = hr_head
        self._rm_head[row] = rm_head
        self._rm_art[row] = rm_art
        self._rm_bad[row] = rm_bad
        self._rm_miss[row] = rm_miss
        self._hr_sum[row] = hr_sum
        self._hr_cmp[row] = hr_cmp
        self._rm_sq[row] = rm_sq
        self._rm_cmp[row] = rm_cmp
        if final % cfg.resync_every_beats == 0:
            self._resync(np.array([row]))
            hr_sum, hr_cmp = float(self._hr_sum[row]), 0.0
            rm_sq, rm_cmp = float(self._rm_sq[row]), 0.0

        n_hr = final - hr_head
        n_rm = final - rm_head
        valid_hr = n_hr >= cfg.min_beats_hr
        mean_hr = (hr_sum + hr_cmp) / n_hr if valid_hr else math.nan
        rmssd = math.sqrt(max(rm_sq + rm_cmp, 0.0) / max(n_rm - 1, 1))
        valid_rm = n_rm >= cfg.min_beats_rmssd and rmssd > MIN_VALID_RMSSD_MS
        if not valid_rm:
            rmssd = math.nan
        art_frac = rm_art / n_rm
        quality = min(max((n_rm - rm_bad) / (n_rm + rm_miss), 0.0), 1.0)
        valid = valid_hr and valid_rm and art_frac <= cfg.max_artifact_fraction
        coh, breath, fresh = self._coherence_one(row, final, t_k)
        # in the order of UPDATE_FIELDS; ln_rmssd is filled in by _build (np.log, as the array path)
        return (
            row, k, t_k, rr_k, rr_c, _MS_PER_MIN / rr_c, cls, ahead, delay, contact, mean_hr, n_hr,
            valid_hr, rmssd, math.nan, n_rm, valid_rm, art_frac, rm_miss, quality, valid, coh,
            breath, fresh,
        )  # fmt: skip

    def _add(self, sum_name: str, cmp_name: str, rows: NDArray[np.int64], x: Any) -> None:
        """Neumaier-compensated ``sum += x`` for ``rows`` (Neumaier 1974)."""
        total = getattr(self, sum_name)
        s = total[rows]
        new = s + x
        getattr(self, cmp_name)[rows] += np.where(
            np.abs(s) >= np.abs(x), (s - new) + x, (x - new) + s
        )
        total[rows] = new

    def _expire(
        self,
        head_name: str,
        rows: NDArray[np.int64],
        head: NDArray[np.int64],
        final: NDArray[np.int64],
    ) -> None:
        """Remove the oldest beat of a window (``final`` = one past the newest beat in the ring)."""
        C = self._C
        h = head % C
        if head_name == "_hr_head":
            self._add("_hr_sum", "_hr_cmp", rows, -(_MS_PER_MIN / self._m_rr[rows, h]))
        else:
            step = self._m_rr[rows, (head + 1) % C] - self._m_rr[rows, h]
            self._add("_rm_sq", "_rm_cmp", rows, -np.where(head + 1 < final, step * step, 0.0))
            self._rm_art[rows] -= self._m_art[rows, h]
            self._rm_bad[rows] -= self._m_bad[rows, h]
            self._rm_miss[rows] -= self._m_miss[rows, h]
        getattr(self, head_name)[rows] = head + 1

    def _resync(self, rows: NDArray[np.int64]) -> None:
        """Recompute the floating-point running sums of ``rows`` exactly from the ring."""
        C = self._C
        final = self._final[rows]
        offs = np.arange(C)
        for head_name in ("_hr_head", "_rm_head"):
            head = getattr(self, head_name)[rows]
            count = final - head
            idx = (head[:, None] + offs[None, :]) % C
            vals = np.take_along_axis(self._m_rr[rows], idx, axis=1)
            inside = offs[None, :] < count[:, None]
            if head_name == "_hr_head":
                self._hr_sum[rows] = np.where(inside, _MS_PER_MIN / vals, 0.0).sum(axis=1)
                self._hr_cmp[rows] = 0.0
            else:
                d = np.diff(vals, axis=1)
                pair = offs[None, 1:] < count[:, None]
                self._rm_sq[rows] = np.where(pair, d * d, 0.0).sum(axis=1)
                self._rm_cmp[rows] = 0.0

    def _coherence(
        self,
        rows: NDArray[np.int64],
        final: NDArray[np.int64],
        t_k: NDArray[np.float64],
        coh: NDArray[np.float64],
        breath: NDArray[np.float64],
        fresh: NDArray[np.bool_],
    ) -> None:
        """Refresh the coherence of the rows whose refresh time has come (one spectrum each)."""
        every = self._coh_every[rows]
        on = ~np.isnan(every)
        if not on.any():
            return
        due = self._coh_due[rows]
        for i in np.flatnonzero(on & (np.isneginf(due) | (t_k >= due))).tolist():
            coh[i], breath[i], fresh[i] = self._coherence_one(int(rows[i]), int(final[i]), t_k[i])

    def _coherence_one(self, row: int, final: int, t_k: float) -> tuple[float, float, bool]:
        """Coherence ratio and breathing rate of one participant if due, else (NaN, NaN, False).

        The first refresh is due ``coherence_every_s`` after the participant's first beat, then
        every ``coherence_every_s`` of beat time (on the first beat at or after the due time).
        """
        every = float(self._coh_every[row])
        if math.isnan(every):
            return math.nan, math.nan, False
        due = float(self._coh_due[row])
        if due == -math.inf:
            self._coh_due[row] = t_k + every
            return math.nan, math.nan, False
        if t_k < due:
            return math.nan, math.nan, False
        self._coh_due[row] = t_k + every
        window_s = self.config.coherence_window_s
        try:
            result = coherence_ratio(self._window_rr(row, window_s, final), window_s=window_s)
        except InsufficientDataError:
            return math.nan, math.nan, False
        # a low-confidence breathing rate is not a number to show (hrv.coherence: Mayer waves)
        shown = result.breathing_confidence >= BREATHING_MIN_CONFIDENCE
        return result.ratio, result.breathing_rate_bpm if shown else math.nan, True

    def window_rr(self, participant: int, window_s: float) -> NDArray[np.float64]:
        """Corrected RR of the classified beats of the last ``window_s`` seconds, ms (a copy).

        The window ends at the newest classified beat: beats with ``t > t_newest - window_s``
        (at most ``ring_capacity`` beats). The coherence refresh uses exactly this window.

        Examples
        --------
        >>> s = HRVStream()
        >>> _ = s.push([800.0, 900.0, 1000.0, 1100.0], [0.8, 1.7, 2.7, 3.8])
        >>> s.engine.window_rr(0, 2.0).tolist()  # beats 0 and 1 are classified so far
        [800.0, 900.0]
        """
        self._check_rows(np.array([participant]))
        return self._window_rr(participant, window_s, int(self._final[participant]))

    def _window_rr(self, participant: int, window_s: float, final: int) -> NDArray[np.float64]:
        C = self._C
        count = min(final, C)
        if count == 0:
            return np.empty(0)
        idx = (np.arange(final - count, final)) % C
        t = self._m_t[participant, idx]
        keep = t > t[-1] - window_s
        out: NDArray[np.float64] = self._m_rr[participant, idx][keep]
        return out


class HRVStream:
    """Streaming HRV for one participant (a :class:`MultiStreamEngine` with one row).

    Parameters
    ----------
    config : StreamConfig, optional
        See :class:`StreamConfig`.

    Examples
    --------
    >>> s = HRVStream()
    >>> up = s.push([800.0, 820.0, 790.0, 810.0], [0.8, 1.62, 2.41, 3.22], contact=True)
    >>> up.beat_index.tolist()  # beats 0 and 1; beats 2 and 3 wait for look-ahead
    [0, 1]
    >>> up = s.flush()
    >>> up.beat_index.tolist(), up.lookahead_beats.tolist()
    ([2, 3], [1, 0])
    >>> round(float(up.mean_hr_bpm[-1]), 3)  # (75 + 73.171 + 75.949 + 74.074) / 4
    74.549
    """

    def __init__(self, config: StreamConfig | None = None) -> None:
        self.engine = MultiStreamEngine(1, config)
        self._rows = np.zeros(64, dtype=np.int64)

    @property
    def config(self) -> StreamConfig:
        """The engine's configuration."""
        return self.engine.config

    def push(
        self,
        rr_ms: ArrayLike,
        beat_times_s: ArrayLike,
        contact: bool | ArrayLike | None = None,
        *,
        gap_before: bool = False,
    ) -> StreamUpdates:
        """Feed a batch of beats; return the updates of the beats now classified.

        Parameters
        ----------
        rr_ms : array_like of float
            RR intervals, ms.
        beat_times_s : array_like of float
            Beat times, s, non-decreasing.
        contact : bool or array_like of bool, optional
            Sensor contact (one value for the batch or one per beat); None if not reported.
        gap_before : bool
            True if the beats were re-anchored after a dropout (``BeatBatch.gap_before`` of
            :mod:`sensor.types`): the waiting beats are flushed first and a new segment starts.

        Returns
        -------
        StreamUpdates
        """
        rr = np.atleast_1d(rr_ms)  # validated by the engine
        n = rr.shape[0]
        if n > self._rows.shape[0]:
            self._rows = np.zeros(2 * n, dtype=np.int64)
        rows = self._rows[:n]
        if not gap_before:
            return self.engine.push(rows, rr, beat_times_s, contact)
        flushed = self.engine.flush()
        return StreamUpdates.concatenate(
            [flushed, self.engine.push(rows, rr, beat_times_s, contact)]
        )

    def flush(self) -> StreamUpdates:
        """Classify the waiting beats (end of stream or dropout); the next beat starts a segment."""
        return self.engine.flush()
