"""Numbers read from a derivation (:mod:`hrv.derive`): interval statistics, per-beat table, dyad.

* :func:`interval_stats`: beats, mean HR, RMSSD, ln RMSSD, artifact percentage, the share of
  irregular successive changes and LF/HF of any set of time intervals (phases, whole sessions,
  windows around a marker), always on the corrected series selected *by time*, never by raw
  indices;
* :func:`per_beat`: one row per stored beat (what the exports write);
* :func:`dyad_synchrony`: the synchrony of a therapist-patient pair on the shared grid
  (:mod:`hrv.synchrony`).

References
----------
.. [1] Task Force of the ESC and NASPE (1996). Heart rate variability: standards of measurement,
   physiological interpretation and clinical use. Circulation 93(5), 1043-1065.
.. [2] Malik M, Farrell T, Cripps T, Camm AJ (1989). Heart rate variability in relation to
   prognosis after myocardial infarction: selection of optimal processing techniques. European
   Heart Journal 10(12), 1060-1074 (successive changes over 20 % as ectopic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hrv import synchrony as _sync
from hrv import time_domain as _td
from hrv.derive_types import (
    _MS_PER_S,
    IRREGULAR_CHANGE,
    LF_HF_MIN_DURATION_S,
    Derivation,
    DerivationError,
)
from hrv.errors import InsufficientDataError, SintoniaError
from hrv.frequency import frequency_domain

__all__ = [
    "SYNCHRONY_SMOOTH_S",
    "DyadSynchrony",
    "IntervalStats",
    "PerBeat",
    "dyad_synchrony",
    "interval_stats",
    "per_beat",
]


@dataclass(frozen=True, eq=False, slots=True)
class IntervalStats:
    """HRV of a set of time intervals of one derivation (arrays, one entry per interval).

    Attributes
    ----------
    start_s, end_s : numpy.ndarray
        The intervals ``[start, end)``, s.
    n_beats : numpy.ndarray of int64
        Stored beats ending in the interval (usable or not).
    n_corrected : numpy.ndarray of int64
        Corrected beats ending in the interval.
    mean_hr_bpm : numpy.ndarray
        :func:`hrv.time_domain.mean_hr` of the corrected beats, bpm (NaN with fewer than 2).
    rmssd_ms, ln_rmssd : numpy.ndarray
        RMSSD over the successive differences of corrected beats that lie in the interval and in
        one segment (never across a gap), ms, and its natural log (NaN with fewer than 2
        differences).
    artifact_pct : numpy.ndarray
        Stored beats of the interval that are artifacts or unusable, % (NaN without beats).
    lf_hf : numpy.ndarray
        Welch LF/HF of the longest gap-free stretch of corrected beats in the interval when it
        lasts at least ``lf_hf_min_s``, else NaN.
    irregular_pct : numpy.ndarray
        Successive corrected intervals (inside one segment) that differ by more than
        :data:`IRREGULAR_CHANGE` of the first, % (NaN with fewer than 2 pairs): what correction
        left of ectopy. Above :data:`IRREGULAR_PCT_LIMIT` the rhythm is too irregular for HRV
        to describe autonomic regulation (frequent ectopic beats the detector cannot tell from
        the rhythm itself, as in bigeminy).
    """

    start_s: NDArray[np.float64]
    end_s: NDArray[np.float64]
    n_beats: NDArray[np.int64]
    n_corrected: NDArray[np.int64]
    mean_hr_bpm: NDArray[np.float64]
    rmssd_ms: NDArray[np.float64]
    ln_rmssd: NDArray[np.float64]
    artifact_pct: NDArray[np.float64]
    lf_hf: NDArray[np.float64]
    irregular_pct: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.start_s.shape[0])

    def row(self, i: int) -> dict[str, float | int | None]:
        """Interval ``i`` as a dict of plain Python values (None for NaN)."""

        def f(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {
            "n_beats": int(self.n_beats[i]),
            "n_corrected": int(self.n_corrected[i]),
            "mean_hr_bpm": f(self.mean_hr_bpm[i]),
            "rmssd_ms": f(self.rmssd_ms[i]),
            "ln_rmssd": f(self.ln_rmssd[i]),
            "artifact_pct": f(self.artifact_pct[i]),
            "lf_hf": f(self.lf_hf[i]),
            "irregular_pct": f(self.irregular_pct[i]),
        }


def interval_stats(
    d: Derivation,
    start_s: ArrayLike,
    end_s: ArrayLike,
    *,
    lf_hf: bool = True,
    lf_hf_min_s: float = LF_HF_MIN_DURATION_S,
) -> IntervalStats:
    """HRV of each interval ``[start_s[i], end_s[i])`` of a derivation.

    Parameters
    ----------
    d : Derivation
    start_s, end_s : array_like
        Interval bounds on the derivation's clock, s (equal lengths).
    lf_hf : bool
        Compute LF/HF (one Welch spectrum per long-enough interval, about 2 ms each).
    lf_hf_min_s : float
        Shortest gap-free stretch for LF/HF, s.

    Returns
    -------
    IntervalStats

    Notes
    -----
    A beat belongs to the interval in which it *ends* (``start <= t < end``), for stored and
    corrected beats alike. With corrected beats :math:`RR^c_k` of the interval:

    - mean HR: :func:`hrv.time_domain.mean_hr` (one definition for the whole project);
    - RMSSD :math:`= \\sqrt{\\sum_{k \\in P} (RR^c_{k+1} - RR^c_k)^2 / |P|}` over the set P of
      successive pairs inside the interval and inside one segment (Task Force 1996), from prefix
      sums (no loop over beats);
    - artifact % of the stored beats (what the strap delivered), so that one extra detection
      counts once even though it vanishes from the corrected series.

    Examples
    --------
    >>> from hrv.derive import StoredBeats, derive
    >>> rr = np.full(300, 1000.0); rr[::2] = 1040.0
    >>> d = derive(StoredBeats.from_arrays(np.cumsum(rr) / 1000, rr), trace=False)
    >>> s = interval_stats(d, [0.0], [400.0], lf_hf=False)
    >>> round(float(s.rmssd_ms[0]), 6), float(s.artifact_pct[0])
    (40.0, 0.0)
    """
    a = np.atleast_1d(np.asarray(start_s, dtype=np.float64))
    e = np.atleast_1d(np.asarray(end_s, dtype=np.float64))
    if a.shape != e.shape or a.ndim != 1:
        raise DerivationError(
            f"start_s and end_s must be 1-D of one length, got {a.shape} and {e.shape}"
        )
    q = a.shape[0]
    order = np.argsort(d.beats.time_s, kind="stable")  # the store's order already: a no-op
    rt = d.beats.time_s[order]
    lo_s = np.searchsorted(rt, a, side="left")
    hi_s = np.searchsorted(rt, e, side="left")
    n_s = (hi_s - lo_s).astype(np.int64)
    bad = np.concatenate(([0], np.cumsum(d.is_artifact[order].astype(np.int64))))
    n_bad = bad[hi_s] - bad[lo_s]
    ct = d.c_time_s
    rr = d.c_rr_ms
    lo = np.searchsorted(ct, a, side="left")
    hi = np.searchsorted(ct, e, side="left")
    n_c = (hi - lo).astype(np.int64)
    same = np.zeros(max(rr.size - 1, 0), dtype=np.bool_)
    d2 = np.zeros(max(rr.size - 1, 0))
    if rr.size > 1:
        same = d.c_segment[1:] == d.c_segment[:-1]
        d2 = np.where(same, np.diff(rr) ** 2, 0.0)
    p_d2 = np.concatenate(([0.0], np.cumsum(d2)))
    jumps = np.zeros(max(rr.size - 1, 0), dtype=np.int64)
    if rr.size > 1:
        jumps = (same & (np.abs(np.diff(rr)) > IRREGULAR_CHANGE * rr[:-1])).astype(np.int64)
    p_jumps = np.concatenate(([0], np.cumsum(jumps)))
    p_pairs = np.concatenate(([0], np.cumsum(same.astype(np.int64))))
    # pairs (k, k+1) with lo <= k and k + 1 < hi: indices lo .. hi-2 of the pair arrays
    last = p_pairs.size - 1
    base = np.minimum(lo, last)
    top = np.minimum(np.maximum(hi - 1, lo), last)
    pairs = p_pairs[top] - p_pairs[base]
    sum_d2 = p_d2[top] - p_d2[base]
    with np.errstate(divide="ignore", invalid="ignore"):
        rmssd = np.where(pairs >= 2, np.sqrt(sum_d2 / np.maximum(pairs, 1)), np.nan)
        ln = np.where(rmssd > 0, np.log(rmssd), np.nan)
        art = np.where(n_s > 0, 100.0 * n_bad / np.maximum(n_s, 1), np.nan)
        n_jumps = p_jumps[top] - p_jumps[base]
        irregular = np.where(pairs >= 2, 100.0 * n_jumps / np.maximum(pairs, 1), np.nan)
    mean_hr = np.full(q, np.nan)
    lfhf = np.full(q, np.nan)
    for i in range(q):  # a handful of intervals per person; the beats inside are sliced
        x = rr[lo[i] : hi[i]]
        if x.size >= 2:
            mean_hr[i] = _td.mean_hr(x)
        if lf_hf and x.size >= 2:
            lfhf[i] = _longest_run_lf_hf(x, d.c_segment[lo[i] : hi[i]], lf_hf_min_s)
    return IntervalStats(
        start_s=a,
        end_s=e,
        n_beats=n_s.astype(np.int64),
        n_corrected=n_c,
        mean_hr_bpm=mean_hr,
        rmssd_ms=np.asarray(rmssd, dtype=np.float64),
        ln_rmssd=np.asarray(ln, dtype=np.float64),
        artifact_pct=np.asarray(art, dtype=np.float64),
        lf_hf=lfhf,
        irregular_pct=np.asarray(irregular, dtype=np.float64),
    )


def _longest_run_lf_hf(rr: NDArray[np.float64], seg: NDArray[np.int64], min_s: float) -> float:
    """Welch LF/HF of the longest one-segment run of ``rr`` if it lasts ``min_s``, else NaN."""
    starts = np.r_[0, np.flatnonzero(seg[1:] != seg[:-1]) + 1]
    ends = np.r_[starts[1:], seg.size]
    dur = np.add.reduceat(rr, starts) / _MS_PER_S
    k = int(np.argmax(dur))
    if dur[k] < min_s:
        return math.nan
    try:
        value = float(frequency_domain(rr[starts[k] : ends[k]]).lf_hf)
    except InsufficientDataError:
        return math.nan
    return value if math.isfinite(value) else math.nan


@dataclass(frozen=True, eq=False, slots=True)
class PerBeat:
    """Derived values for every stored beat (same length as the input), for the exports.

    Attributes
    ----------
    artifact : numpy.ndarray of int8
        :class:`hrv.artifacts.BeatClass` of the beat in the batch correction (unusable and
        dropout-long values: MISSED).
    fate : numpy.ndarray of int8
        :class:`BeatFate`.
    rr_corrected_ms : numpy.ndarray
        Mean of the corrected intervals ending at this beat, ms (NaN where none does).
    n_corrected : numpy.ndarray of int64
        Corrected intervals ending at this beat: 1, 0 (merged into a later one, or removed) or
        k (a missed beat split into k).
    mean_hr_bpm, rmssd_ms, ln_rmssd, artifact_fraction, quality : numpy.ndarray
        The live engine's trailing-window values at this beat (10 s mean HR, 60 s RMSSD; NaN
        where not valid or the beat is unusable).
    valid : numpy.ndarray of bool
    arousal_index, arousal_confidence : numpy.ndarray
        NaN where not replayed or calibrating.
    arousal_state : numpy.ndarray of int8
        Index into :data:`hrv.arousal.STATE_CODES` (0, calibrating, where not replayed).
    """

    artifact: NDArray[np.int8]
    fate: NDArray[np.int8]
    rr_corrected_ms: NDArray[np.float64]
    n_corrected: NDArray[np.int64]
    mean_hr_bpm: NDArray[np.float64]
    rmssd_ms: NDArray[np.float64]
    ln_rmssd: NDArray[np.float64]
    artifact_fraction: NDArray[np.float64]
    quality: NDArray[np.float64]
    valid: NDArray[np.bool_]
    arousal_index: NDArray[np.float64]
    arousal_confidence: NDArray[np.float64]
    arousal_state: NDArray[np.int8]

    def __len__(self) -> int:
        return int(self.artifact.shape[0])


def per_beat(d: Derivation) -> PerBeat:
    """One row of derived values per stored beat (needs a derivation with its trace).

    Raises
    ------
    DerivationError
        If ``d`` was derived without ``trace``.
    """
    if d.trace is None:
        raise DerivationError("per_beat needs a derivation with its trace (derive(trace=True))")
    up = d.trace
    n = len(d)
    valid = np.zeros(n, dtype=np.bool_)
    valid[d.trace_index] = up.valid
    state = np.zeros(n, dtype=np.int8)
    a_index = np.full(n, np.nan)
    a_conf = np.full(n, np.nan)
    if d.arousal is not None:
        state[d.trace_index] = d.arousal.state
        a_index[d.trace_index] = d.arousal.index
        a_conf[d.trace_index] = d.arousal.confidence
    return PerBeat(
        artifact=d.classes.copy(),
        fate=d.fate.copy(),
        rr_corrected_ms=d.rr_corrected_ms,
        n_corrected=d.n_corrected,
        mean_hr_bpm=d.per_raw(np.where(up.valid_hr, up.mean_hr_bpm, np.nan)),
        rmssd_ms=d.per_raw(np.where(up.valid_rmssd, up.rmssd_ms, np.nan)),
        ln_rmssd=d.per_raw(np.where(up.valid_rmssd, up.ln_rmssd, np.nan)),
        artifact_fraction=d.per_raw(up.artifact_fraction),
        quality=d.per_raw(up.quality),
        valid=valid,
        arousal_index=a_index,
        arousal_confidence=a_conf,
        arousal_state=state,
    )


#: Centred moving average of the heart-rate grid before synchrony, s: removes each person's own
#: respiratory sinus arrhythmia and 0.1 Hz Mayer waves, keeps the slower arousal-related changes.
SYNCHRONY_SMOOTH_S: Final[float] = 10.0


@dataclass(frozen=True, eq=False, slots=True)
class DyadSynchrony:
    """Therapist-patient heart-rate synchrony of one session (the one definition).

    Attributes
    ----------
    grid : DyadGrid
        Both corrected heart rates on a 4 Hz grid smoothed over :data:`SYNCHRONY_SMOOTH_S`, gaps
        masked (:func:`hrv.synchrony.dyad_grid`).
    whole : SegmentSynchrony or None
        SUSY segment synchrony (30 s segments, +/-5 s lags) of the whole session against every
        pseudo pairing of segments: the session's one synchrony number (None when too short).
    phases : tuple of (SegmentSynchrony or None)
        The same per interval asked for (None when the interval is too short or too broken).
    phase_notes : tuple of (str or None)
        Why an interval has none.
    wlcc : WindowedCrossCorrelation or None
        Windowed lagged cross-correlation (60 s windows, +/-5 s, 30 s steps) of the whole
        session, for the dominant lag and who leads.
    """

    grid: _sync.DyadGrid
    whole: _sync.SegmentSynchrony | None
    phases: tuple[_sync.SegmentSynchrony | None, ...]
    phase_notes: tuple[str | None, ...]
    wlcc: _sync.WindowedCrossCorrelation | None


def dyad_synchrony(
    patient: Derivation,
    therapist: Derivation,
    start_s: ArrayLike = (),
    end_s: ArrayLike = (),
    *,
    whole: bool = True,
    wlcc: bool = True,
) -> DyadSynchrony:
    """Heart-rate synchrony of a dyad from both derivations (review, cohort, alliance trend).

    Parameters
    ----------
    patient, therapist : Derivation
        On one clock (session-relative).
    start_s, end_s : array_like
        Intervals (phases) for which segment synchrony is wanted, s.
    whole : bool
        Compute the whole-session segment synchrony (all pseudo pairings of an hour's 120
        segments: the costliest part).
    wlcc : bool
        Also compute the windowed lagged cross-correlation.

    Returns
    -------
    DyadSynchrony

    Raises
    ------
    InsufficientDataError
        When either person has fewer than 3 corrected beats.

    References
    ----------
    .. [1] Tschacher W, Meier D (2020). Physiological synchrony in psychotherapy sessions.
       Psychotherapy Research 30(5), 558-573 (SUSY).
    .. [2] Boker SM, Xu M, Rotondo JL, King K (2002). Windowed cross-correlation and peak
       picking for the analysis of variability in the association between behavioral time
       series. Psychological Methods 7(3), 338-355.
    """
    if min(patient.c_rr_ms.size, therapist.c_rr_ms.size) < 3:
        raise InsufficientDataError(
            "synchrony", needed=3, got=int(min(patient.c_rr_ms.size, therapist.c_rr_ms.size))
        )
    grid = _sync.dyad_grid(
        patient.c_rr_ms,
        therapist.c_rr_ms,
        patient_beat_times_s=patient.c_time_s,
        therapist_beat_times_s=therapist.c_time_s,
        signal="hr",
        smooth_s=SYNCHRONY_SMOOTH_S,
    )
    a = np.atleast_1d(np.asarray(start_s, dtype=np.float64))
    e = np.atleast_1d(np.asarray(end_s, dtype=np.float64))
    phases: list[_sync.SegmentSynchrony | None] = []
    notes: list[str | None] = []
    for lo, hi in zip(a.tolist(), e.tolist(), strict=True):
        sel = (grid.time_s >= lo) & (grid.time_s < hi)
        try:
            phases.append(
                _sync.segment_synchrony(grid.patient[sel], grid.therapist[sel], fs_hz=grid.fs_hz)
            )
            notes.append(None)
        except SintoniaError as exc:
            phases.append(None)
            notes.append(str(exc))
    session: _sync.SegmentSynchrony | None = None
    if whole:
        try:
            session = _sync.segment_synchrony(grid.patient, grid.therapist, fs_hz=grid.fs_hz)
        except SintoniaError:
            session = None
    w: _sync.WindowedCrossCorrelation | None = None
    if wlcc:
        try:
            w = _sync.windowed_cross_correlation(grid.patient, grid.therapist, fs_hz=grid.fs_hz)
        except SintoniaError:
            w = None
    return DyadSynchrony(grid, session, tuple(phases), tuple(notes), w)
