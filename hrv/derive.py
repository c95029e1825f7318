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

The input and output types live in :mod:`hrv.derive_types`, the readings of step 4 (with
:func:`per_beat` and :func:`dyad_synchrony`) in :mod:`hrv.derive_stats`; both are re-exported
here.

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

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from hrv.arousal import ArousalConfig, ArousalSeries, replay_arousal
from hrv.artifacts import BeatClass, correct_artifacts, detect_artifacts
from hrv.derive_stats import (
    SYNCHRONY_SMOOTH_S,
    DyadSynchrony,
    IntervalStats,
    PerBeat,
    dyad_synchrony,
    interval_stats,
    per_beat,
)
from hrv.derive_types import (
    _MS_PER_S,
    DROPOUT_RR_MS,
    IRREGULAR_CHANGE,
    IRREGULAR_PCT_LIMIT,
    LF_HF_MIN_DURATION_S,
    SEGMENT_GAP_TOLERANCE_S,
    BeatFate,
    CorrectedKind,
    Derivation,
    DerivationError,
    StoredBeats,
)
from hrv.stream import HRVStream, StreamConfig, StreamUpdates
from hrv.validate import LONGEST_BEAT_S, corrupt_rr_mask

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
