"""One derivation from stored beats to every number computed after a session.

Stored beats are raw: what a strap or a file delivered (beat times, RR as received, re-anchor
flags, contact). Everything shown or exported after a session (review, report, CSV/EDF+/research
exports, cohort table, the API's derived series, the alliance trend, the live page's view of a
finished session) is computed from them here, and only here, so the same session gives the same
numbers everywhere and no series a strap can produce breaks them.

Steps (:func:`derive`):

1. **Usable beats and segments.** A stored value that is not a finite positive RR (legacy data,
   a corrupt row) is *unusable*: kept in the raw arrays, excluded from everything computed. The
   usable beats are cut into gap-free *segments* at every re-anchor (``gap_before``: dropout,
   reconnect, privacy pause), wherever the beat times jump by more than the RR explains
   (:data:`SEGMENT_GAP_TOLERANCE_S`), where times go back, and around an RR longer than
   :data:`DROPOUT_RR_MS` (a dropout reported as one interval; it is *removed*, not split into
   dozens of invented beats).
2. **Artifact correction per segment**: Lipponen & Tarvainen (2019) detection and correction
   (:func:`hrv.artifacts.detect_artifacts`, :func:`hrv.artifacts.correct_artifacts`), never
   across a gap. The result is the *corrected series* with an explicit map to the raw beats:
   every corrected beat knows the range of raw beats it comes from and how (kept, interpolated,
   merged, split part); every raw beat knows its class, its fate and the corrected beats that
   end at it.
3. **Per-beat trace** (optional, :attr:`Derivation.trace`): the live engine
   (:class:`hrv.stream.HRVStream`) replayed over the usable beats, segment by segment, and the
   arousal tracker replayed over its output (:func:`hrv.arousal.replay_arousal`), so that the
   review shows what the therapist saw (live equals batch by construction).
4. **Interval statistics** (:func:`interval_stats`): beats, mean HR, RMSSD, ln RMSSD, artifact
   percentage and LF/HF of any set of time intervals (phases, whole sessions, windows around a
   marker), always on the corrected series selected *by time*, never by raw indices.

References
----------
.. [1] Lipponen JA, Tarvainen MP (2019). A robust algorithm for heart rate variability time series
   artefact correction using novel beat classification. J Med Eng Technol 43(3), 173-181.
.. [2] Task Force of the ESC and NASPE (1996). Heart rate variability: standards of measurement,
   physiological interpretation and clinical use. Circulation 93(5), 1043-1065.
.. [3] Malik M, Farrell T, Cripps T, Camm AJ (1989). Heart rate variability in relation to
   prognosis after myocardial infarction: selection of optimal processing techniques. European
   Heart Journal 10(12), 1060-1074 (successive changes over 20 % as ectopic).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hrv import synchrony as _sync
from hrv import time_domain as _td
from hrv.arousal import ArousalConfig, ArousalSeries, replay_arousal
from hrv.artifacts import BeatClass, correct_artifacts, detect_artifacts
from hrv.errors import InsufficientDataError, SintoniaError
from hrv.frequency import frequency_domain
from hrv.stream import HRVStream, StreamConfig, StreamUpdates
from hrv.validate import LONGEST_BEAT_S, PLAUSIBLE_RR_MAX_MS, corrupt_rr_mask

__all__ = [
    "DROPOUT_RR_MS",
    "IRREGULAR_CHANGE",
    "IRREGULAR_PCT_LIMIT",
    "LF_HF_MIN_DURATION_S",
    "LONGEST_BEAT_S",
    "SEGMENT_GAP_TOLERANCE_S",
    "SYNCHRONY_SMOOTH_S",
    "BeatFate",
    "CorrectedKind",
    "Derivation",
    "DerivationError",
    "DyadSynchrony",
    "IntervalStats",
    "PerBeat",
    "StoredBeats",
    "derive",
    "dyad_synchrony",
    "interval_stats",
    "per_beat",
]

#: An RR longer than this, ms, is a dropout reported as one interval (a strap off the skin, a
#: file with a pause): it ends a segment and is removed instead of being split into parts.
DROPOUT_RR_MS: Final[float] = 2.0 * PLAUSIBLE_RR_MAX_MS
#: Beat times that jump further than the RR explains by more than this, s, start a new segment
#: (a gap whose re-anchor flag was not stored, as in imported files with timestamps).
SEGMENT_GAP_TOLERANCE_S: Final[float] = 1.0
#: A successive change of more than this fraction of the previous interval is not sinus rhythm
#: (Malik et al. 1989's 20 % criterion for ectopic beats).
IRREGULAR_CHANGE: Final[float] = 0.2
#: Above this share of such changes after correction, %, an interval's rhythm is too irregular for
#: HRV to describe autonomic regulation (flagged wherever its numbers are shown).
IRREGULAR_PCT_LIMIT: Final[float] = 10.0
#: Shortest gap-free stretch of corrected beats for LF/HF, s (Task Force 1996: at least 2 min for
#: short-term spectral analysis).
LF_HF_MIN_DURATION_S: Final[float] = 120.0
_MS_PER_S: Final[float] = 1000.0


class DerivationError(SintoniaError, ValueError):
    """Inputs of a derivation that do not fit together (says what was expected)."""


class BeatFate(enum.IntEnum):
    """What became of a stored beat in the corrected series."""

    #: Kept as it is (a normal beat).
    KEPT = 0
    #: Replaced by an interpolated value (ectopic, long, short).
    INTERPOLATED = 1
    #: Merged with neighbours into one interval (extra detections).
    MERGED = 2
    #: Split into equal parts (a missed beat).
    SPLIT = 3
    #: Not in the corrected series: unusable value, or a dropout-long interval.
    REMOVED = 4


class CorrectedKind(enum.IntEnum):
    """How a corrected beat came about."""

    NORMAL = 0
    INTERPOLATED = 1
    MERGED = 2
    SPLIT_PART = 3


@dataclass(frozen=True, eq=False, slots=True)
class StoredBeats:
    """One person's stored beats, in beat-time order (the input of :func:`derive`).

    Attributes
    ----------
    time_s : numpy.ndarray
        Beat times (end of each interval), s, on any clock (session-relative or epoch).
    rr_ms : numpy.ndarray
        RR as stored, ms (any value: unusable ones are handled, not rejected).
    gap_before : numpy.ndarray of bool
        The beat times were re-anchored before this beat.
    contact : numpy.ndarray of int8
        1 contact, 0 no contact, -1 not reported.
    """

    time_s: NDArray[np.float64]
    rr_ms: NDArray[np.float64]
    gap_before: NDArray[np.bool_]
    contact: NDArray[np.int8]

    @classmethod
    def from_arrays(
        cls,
        time_s: ArrayLike,
        rr_ms: ArrayLike,
        gap_before: ArrayLike | None = None,
        contact: ArrayLike | None = None,
    ) -> StoredBeats:
        """Build from array-likes; missing flags default to no gaps and contact unknown.

        Raises
        ------
        DerivationError
            If the arrays are not 1-D of one length.
        """
        t = np.asarray(time_s, dtype=np.float64).reshape(-1)
        rr = np.asarray(rr_ms, dtype=np.float64).reshape(-1)
        n = t.shape[0]
        g = (
            np.zeros(n, dtype=np.bool_)
            if gap_before is None
            else np.asarray(gap_before, dtype=np.bool_).reshape(-1)
        )
        c = (
            np.full(n, -1, dtype=np.int8)
            if contact is None
            else np.asarray(contact, dtype=np.int8).reshape(-1)
        )
        if not (rr.shape[0] == g.shape[0] == c.shape[0] == n):
            raise DerivationError(
                "time_s, rr_ms, gap_before and contact must have one value per beat, got "
                f"{n}, {rr.shape[0]}, {g.shape[0]} and {c.shape[0]}"
            )
        return cls(t, rr, g, c)

    def __len__(self) -> int:
        return int(self.time_s.shape[0])


@dataclass(frozen=True, eq=False, slots=True)
class Derivation:
    """Everything derived from one person's stored beats (see the module docstring).

    Raw side (length n, the stored beats, in the order given):

    Attributes
    ----------
    beats : StoredBeats
        The input, unchanged.
    usable : numpy.ndarray of bool
        RR that is not corrupt (:func:`hrv.validate.corrupt_rr_mask`: finite, positive, at
        most an hour) with a finite time.
    segment : numpy.ndarray of int64
        Gap-free segment of each raw beat (-1 for removed beats).
    classes : numpy.ndarray of int8
        :class:`hrv.artifacts.BeatClass` of each raw beat (unusable and dropout beats: MISSED).
    fate : numpy.ndarray of int8
        :class:`BeatFate` of each raw beat.
    first_corrected, n_corrected : numpy.ndarray of int64
        The corrected beats that *end at* raw beat j are ``first_corrected[j] ..
        first_corrected[j] + n_corrected[j] - 1``; ``n_corrected`` is 0 for a beat merged into
        a later one or removed, k for a missed beat split into k.
    rr_corrected_ms : numpy.ndarray
        Mean of the corrected intervals ending at each raw beat, ms (NaN where none does).

    Corrected side (length m):

    c_rr_ms : numpy.ndarray
        Corrected RR, ms.
    c_time_s : numpy.ndarray
        Time of the end of each corrected interval, s, non-decreasing (raw times kept exactly
        for kept and interpolated beats).
    c_segment : numpy.ndarray of int64
        Segment of each corrected beat.
    c_raw_first, c_raw_last : numpy.ndarray of int64
        The raw beats each corrected beat comes from (inclusive range).
    c_kind : numpy.ndarray of int8
        :class:`CorrectedKind`.
    c_artifact : numpy.ndarray of bool
        The corrected beat comes from a raw beat that was not normal.

    trace : StreamUpdates or None
        The live engine's per-beat output over the usable beats (one entry per usable raw beat,
        in order; see :attr:`trace_index`), when :func:`derive` was asked for it.
    trace_index : numpy.ndarray of int64
        Raw index of each entry of ``trace``.
    arousal : ArousalSeries or None
        The arousal tracker replayed over ``trace``.
    """

    beats: StoredBeats
    usable: NDArray[np.bool_]
    segment: NDArray[np.int64]
    classes: NDArray[np.int8]
    fate: NDArray[np.int8]
    first_corrected: NDArray[np.int64]
    n_corrected: NDArray[np.int64]
    rr_corrected_ms: NDArray[np.float64]
    c_rr_ms: NDArray[np.float64]
    c_time_s: NDArray[np.float64]
    c_segment: NDArray[np.int64]
    c_raw_first: NDArray[np.int64]
    c_raw_last: NDArray[np.int64]
    c_kind: NDArray[np.int8]
    c_artifact: NDArray[np.bool_]
    trace: StreamUpdates | None
    trace_index: NDArray[np.int64]
    arousal: ArousalSeries | None

    def __len__(self) -> int:
        return len(self.beats)

    @property
    def is_artifact(self) -> NDArray[np.bool_]:
        """Raw beats that are artifacts (not normal) or unusable."""
        return np.asarray((self.classes != BeatClass.NORMAL) | ~self.usable, dtype=np.bool_)

    @property
    def n_segments(self) -> int:
        """Number of gap-free segments."""
        return int(self.segment.max()) + 1 if self.segment.size and self.segment.max() >= 0 else 0

    def by_type(self) -> dict[str, int]:
        """Raw beats per artifact class (lowercase names, ``"normal"`` included), plus
        ``"unusable"`` for stored values that are not RR intervals."""
        out = {c.name.lower(): 0 for c in BeatClass}
        usable = self.usable
        counts = np.bincount(self.classes[usable].astype(np.intp), minlength=len(BeatClass))
        for c in BeatClass:
            out[c.name.lower()] = int(counts[int(c)])
        out["unusable"] = int(np.count_nonzero(~usable))
        return out

    def per_raw(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """Spread a per-trace-entry array to one value per raw beat (NaN for unusable ones)."""
        out = np.full(len(self), np.nan)
        out[self.trace_index] = values
        return out


def _segments(b: StoredBeats, usable: NDArray[np.bool_]) -> tuple[NDArray[np.int64], int]:
    """Segment id of each raw beat (-1 where removed) and the number of segments."""
    n = len(b)
    dropout = usable & (b.rr_ms > DROPOUT_RR_MS)
    keep = usable & ~dropout
    idx = np.flatnonzero(keep)
    seg = np.full(n, -1, dtype=np.int64)
    if idx.size == 0:
        return seg, 0
    t = b.time_s[idx]
    rr = b.rr_ms[idx]
    new = np.zeros(idx.size, dtype=np.bool_)
    new[0] = True
    # a gap flag on a beat, or on a removed beat just before it, starts a segment
    flag = np.asarray(b.gap_before, dtype=np.bool_)
    flagged_or_removed = flag | ~keep
    prior = np.concatenate(([0], np.cumsum(flagged_or_removed.astype(np.int64))))
    # any flagged or removed beat in (idx[k-1], idx[k]] starts a new segment at idx[k]
    new[1:] = (prior[idx[1:] + 1] - prior[idx[:-1] + 1]) > 0
    dt = np.diff(t)
    new[1:] |= dt - rr[1:] / _MS_PER_S > SEGMENT_GAP_TOLERANCE_S
    new[1:] |= dt < 0
    seg[idx] = np.cumsum(new) - 1
    return seg, int(np.count_nonzero(new))


def derive(
    beats: StoredBeats,
    *,
    trace: bool = True,
    arousal: bool = True,
    session_start_s: float = 0.0,
    participant: str = "participant",
    stream_config: StreamConfig | None = None,
    arousal_config: ArousalConfig | None = None,
) -> Derivation:
    """Derive the corrected series, the raw/corrected map, the trace and the arousal replay.

    Parameters
    ----------
    beats : StoredBeats
        One person's stored beats in beat-time order.
    trace : bool
        Replay the live engine (per-beat mean HR, RMSSD, quality; vectorised).
    arousal : bool
        Also replay the arousal tracker (a loop over beats, about 10 us each; needs ``trace``).
    session_start_s : float
        Session start on the beats' clock, s: the arousal baseline is the first minutes after it.
    participant : str
        Label for the arousal tracker.
    stream_config, arousal_config : optional
        Engine and tracker settings (defaults as live).

    Returns
    -------
    Derivation

    Notes
    -----
    Corrected beat times: a group of corrected beats coming from raw beats ``j .. e`` of one
    segment (one beat; a merge of extra detections ``j .. e``; the ``k`` equal parts of a
    missed beat ``j = e``) ends where raw beat ``e`` ends, so part ``p`` (0-based) of a group of
    ``k`` corrected beats ends at :math:`t^c = t_e - (k - 1 - p)\\,RR^c / 1000`. Kept and
    interpolated beats keep their stored time exactly; times are made non-decreasing.

    Never raises on any stored series: unusable values are removed and counted; a segment of
    one beat is kept as it is.

    Examples
    --------
    >>> rr = np.array([800.0, 810, 790, 805, 150, 650, 800, 795, 810, 800, 790])
    >>> d = derive(StoredBeats.from_arrays(np.cumsum(rr) / 1000, rr), trace=False)
    >>> int(d.c_rr_ms.size), [BeatFate(int(f)).name for f in d.fate[4:6]]
    (10, ['MERGED', 'MERGED'])
    """
    b = beats
    n = len(b)
    t_all = b.time_s
    usable = ~corrupt_rr_mask(b.rr_ms) & np.isfinite(t_all)
    seg, n_seg = _segments(b, usable)
    classes = np.full(n, int(BeatClass.MISSED), dtype=np.int8)
    fate = np.full(n, int(BeatFate.REMOVED), dtype=np.int8)
    c_rr: list[NDArray[np.float64]] = []
    c_t: list[NDArray[np.float64]] = []
    c_seg: list[NDArray[np.int64]] = []
    c_first: list[NDArray[np.int64]] = []
    c_last: list[NDArray[np.int64]] = []
    c_kind: list[NDArray[np.int8]] = []
    c_art: list[NDArray[np.bool_]] = []
    members = np.flatnonzero(seg >= 0)
    if members.size:
        seg_m = seg[members]
        cuts = np.flatnonzero(np.diff(seg_m)) + 1
        bounds = np.concatenate(([0], cuts, [members.size]))
        for s, (a, e) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)):
            raw = members[a:e]  # raw indices of this segment (contiguous among kept beats)
            rr = b.rr_ms[raw]
            t = t_all[raw]
            det = detect_artifacts(rr)
            corr = correct_artifacts(rr, det)
            src = corr.source_index
            k_in = raw.size
            head = src >= 0
            group = np.cumsum(head) - 1
            heads = src[head]
            end_of_group = np.append(heads[1:] - 1, k_in - 1)
            first_pos = np.flatnonzero(head)
            size = np.diff(np.append(first_pos, src.shape[0]))
            part = np.arange(src.shape[0]) - first_pos[group]
            g_first = heads[group]
            g_end = end_of_group[group]
            tc = t[g_end] - (size[group] - 1 - part) * corr.rr / _MS_PER_S
            cls = det.classes
            classes[raw] = cls
            merged_in = np.zeros(k_in, dtype=np.bool_)
            multi = g_end > g_first
            for lo, hi in zip(g_first[multi].tolist(), g_end[multi].tolist(), strict=True):
                merged_in[lo : hi + 1] = True
            f = np.full(k_in, int(BeatFate.KEPT), dtype=np.int8)
            f[cls != BeatClass.NORMAL] = int(BeatFate.INTERPOLATED)
            f[cls == BeatClass.MISSED] = int(BeatFate.SPLIT)
            f[merged_in] = int(BeatFate.MERGED)
            fate[raw] = f
            kind = np.full(src.shape[0], int(CorrectedKind.NORMAL), dtype=np.int8)
            kind[cls[g_first] != BeatClass.NORMAL] = int(CorrectedKind.INTERPOLATED)
            kind[size[group] > 1] = int(CorrectedKind.SPLIT_PART)
            kind[g_end > g_first] = int(CorrectedKind.MERGED)
            c_rr.append(corr.rr)
            c_t.append(tc)
            c_seg.append(np.full(src.shape[0], s, dtype=np.int64))
            c_first.append(raw[g_first].astype(np.int64))
            c_last.append(raw[g_end].astype(np.int64))
            c_kind.append(kind)
            c_art.append(np.asarray(cls[g_first] != BeatClass.NORMAL, dtype=np.bool_))
    assert n_seg == len(c_rr)

    def cat(parts: Sequence[NDArray[np.generic]], dtype: type[np.generic]) -> NDArray[np.generic]:
        return np.concatenate(parts).astype(dtype) if parts else np.empty(0, dtype=dtype)

    rr_c = np.asarray(cat(c_rr, np.float64), dtype=np.float64)
    t_c = np.asarray(cat(c_t, np.float64), dtype=np.float64)
    if t_c.size:
        t_c = np.maximum.accumulate(t_c)
    raw_last = np.asarray(cat(c_last, np.int64), dtype=np.int64)
    n_corr = np.bincount(raw_last, minlength=n).astype(np.int64) if n else np.zeros(0, np.int64)
    first_corr = np.full(n, -1, dtype=np.int64)
    if raw_last.size:
        starts = np.flatnonzero(np.r_[True, raw_last[1:] != raw_last[:-1]])
        first_corr[raw_last[starts]] = starts
    sums = np.bincount(raw_last, weights=rr_c, minlength=n) if n else np.zeros(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rr_corr_raw = np.where(n_corr > 0, sums / np.maximum(n_corr, 1), np.nan)

    updates: StreamUpdates | None = None
    series: ArousalSeries | None = None
    trace_index = np.flatnonzero(usable).astype(np.int64)
    if trace:
        updates = _replay_engine(b, trace_index, seg, stream_config)
        if arousal:
            series = replay_arousal(
                updates.time_s,
                updates.mean_hr_bpm,
                updates.ln_rmssd,
                updates.quality,
                updates.valid,
                participant=participant,
                session_start_s=session_start_s,
                config=arousal_config,
            )
    return Derivation(
        beats=b,
        usable=usable,
        segment=seg,
        classes=classes,
        fate=fate,
        first_corrected=first_corr,
        n_corrected=n_corr,
        rr_corrected_ms=rr_corr_raw,
        c_rr_ms=rr_c,
        c_time_s=t_c,
        c_segment=np.asarray(cat(c_seg, np.int64), dtype=np.int64),
        c_raw_first=np.asarray(cat(c_first, np.int64), dtype=np.int64),
        c_raw_last=raw_last,
        c_kind=np.asarray(cat(c_kind, np.int8), dtype=np.int8),
        c_artifact=np.asarray(cat(c_art, np.bool_), dtype=np.bool_),
        trace=updates,
        trace_index=trace_index,
        arousal=series,
    )


def _replay_engine(
    b: StoredBeats,
    usable_idx: NDArray[np.int64],
    seg: NDArray[np.int64],
    config: StreamConfig | None,
) -> StreamUpdates:
    """The live engine over the usable beats, re-anchored where a segment starts or a removed
    beat lies between two usable ones (as the live hub does after a dropout)."""
    if usable_idx.size == 0:
        return StreamUpdates.concatenate([])
    rr = b.rr_ms[usable_idx]
    t = np.maximum.accumulate(b.time_s[usable_idx])
    contact = b.contact[usable_idx]
    s = seg[usable_idx]
    cut = np.zeros(usable_idx.size, dtype=np.bool_)
    cut[1:] = (s[1:] != s[:-1]) | (np.diff(usable_idx) > 1)
    cut |= np.asarray(b.gap_before[usable_idx], dtype=np.bool_)
    cut[0] = False
    bounds = np.concatenate(([0], np.flatnonzero(cut), [usable_idx.size]))
    st = HRVStream(config)
    parts: list[StreamUpdates] = []
    for a, e in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if e > a:
            parts.append(st.push(rr[a:e], t[a:e], contact[a:e], gap_before=a > 0))
    parts.append(st.flush())
    return StreamUpdates.concatenate(parts)


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
