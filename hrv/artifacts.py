"""Artifact detection and correction of RR series (Lipponen & Tarvainen 2019), vectorized.

Every beat is classified as normal, ectopic, long, short, missed or extra from two adaptive,
robust time series (the successive differences dRR and the deviation from an 11-beat median mRR,
each normalised by a 91-beat quartile-deviation threshold), then corrected: an extra detection is
merged with its neighbour, a missed beat is split into equal parts, and ectopic, long and short
beats are replaced by cubic-spline interpolation.

The classification maths (the published parameters, :class:`BeatClass` and the private kernels
``_drr``, ``_rolling_quantiles``, ``_quartile_deviation_threshold``, ``_rolling_median``,
``_edge_detrended_median``, ``_mrr``, ``_subspaces``, ``_resolve_merges``, ``_classify``) lives in
:mod:`hrv.artifact_rules` and is re-exported here; this module runs it over a whole series and
corrects. Nothing here loops over beats in Python.

References
----------
.. [1] Lipponen JA, Tarvainen MP. A robust algorithm for heart rate variability time series
   artefact correction using novel beat classification. J Med Eng Technol. 2019;43(3):173-181.
   doi:10.1080/03091902.2019.1640306
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hrv.artifact_rules import (
    ALPHA,
    C1,
    C2,
    MEDIAN_BEATS,
    MIN_ADAPTIVE_BEATS,
    MIN_THRESHOLD_FRACTION,
    WINDOW_BEATS,
    BeatClass,
    _edge_detrended_median,
    _extend_with_median,
    _mrr,
)
from hrv.artifact_rules import MRRS_CONFIRM as MRRS_CONFIRM
from hrv.artifact_rules import _classify as _classify
from hrv.artifact_rules import _drr as _drr
from hrv.artifact_rules import _quartile_deviation_threshold as _quartile_deviation_threshold
from hrv.artifact_rules import _rolling_median as _rolling_median
from hrv.artifact_rules import _rolling_quantiles as _rolling_quantiles
from hrv.artifact_rules import _subspaces as _subspaces
from hrv.errors import InsufficientDataError, InvalidRRError
from hrv.spline import not_a_knot_spline
from hrv.validate import validate_rr

__all__ = [
    "ALPHA",
    "C1",
    "C2",
    "MEDIAN_BEATS",
    "MIN_ADAPTIVE_BEATS",
    "MIN_THRESHOLD_FRACTION",
    "WINDOW_BEATS",
    "ArtifactCorrection",
    "ArtifactDetection",
    "BeatClass",
    "correct_artifacts",
    "detect_artifacts",
]


_INTERPOLATED_CLASSES: Final[tuple[int, ...]] = (
    int(BeatClass.ECTOPIC),
    int(BeatClass.LONG),
    int(BeatClass.SHORT),
)


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArtifactDetection:
    """Result of :func:`detect_artifacts`; every array has one value per input beat.

    Attributes
    ----------
    classes : numpy.ndarray of int8
        :class:`BeatClass` value of each beat.
    drr : numpy.ndarray
        dRR(j) = RR(j) - RR(j-1), ms (dRR(0) = RR(0) - medRR(0)).
    th1 : numpy.ndarray
        Threshold Th1 = alpha * QD(|dRR|) over the 91-beat window, ms.
    mrr : numpy.ndarray
        mRR = RR - medRR, ms, negative values doubled.
    th2 : numpy.ndarray
        Threshold Th2 = alpha * QD(|mRR|) over the 91-beat window, ms.
    medrr : numpy.ndarray
        11-beat median medRR, ms.
    merge_next : numpy.ndarray of bool
        True where beat j and beat j+1 are the two sides of a spurious detection and merge
        (a chain of True merges three or more beats); every such beat is EXTRA.
    """

    classes: NDArray[np.int8]
    drr: NDArray[np.float64]
    th1: NDArray[np.float64]
    mrr: NDArray[np.float64]
    th2: NDArray[np.float64]
    medrr: NDArray[np.float64]
    merge_next: NDArray[np.bool_]

    @property
    def drrs(self) -> NDArray[np.float64]:
        """Normalised differences dRRs = dRR / Th1 (dimensionless)."""
        return self.drr / self.th1

    @property
    def mrrs(self) -> NDArray[np.float64]:
        """Normalised median deviations mRRs = mRR / Th2 (dimensionless)."""
        return self.mrr / self.th2

    @property
    def is_artifact(self) -> NDArray[np.bool_]:
        """Boolean mask, True where the beat is not NORMAL."""
        return np.asarray(self.classes != BeatClass.NORMAL, dtype=np.bool_)

    @property
    def n_artifacts(self) -> int:
        """Number of beats not classified NORMAL."""
        return int(np.count_nonzero(self.is_artifact))

    @property
    def artifact_fraction(self) -> float:
        """Fraction (0-1) of beats not classified NORMAL (0.0 for an empty series)."""
        n = self.classes.shape[0]
        return self.n_artifacts / n if n else 0.0

    def by_type(self) -> dict[str, int]:
        """Number of beats of each class, keyed by lowercase class name (``"normal"`` included)."""
        counts = np.bincount(self.classes.astype(np.intp), minlength=len(BeatClass))
        return {c.name.lower(): int(counts[c]) for c in BeatClass}


@dataclass(frozen=True)
class ArtifactCorrection:
    """Result of :func:`correct_artifacts`.

    Attributes
    ----------
    rr : numpy.ndarray
        Corrected RR series, ms (a new array; its length changes with merges and splits).
    classes : numpy.ndarray of int8
        :class:`BeatClass` of each *input* beat (as detected).
    source_index : numpy.ndarray of intp
        For each corrected beat, the index of the input beat it derives from; a merged beat maps
        to the first of the merged inputs; the first part of a split beat maps to the split
        input and the inserted parts are -1.
    n_merged : int
        Number of spurious detections removed by merges (a merge of m beats counts m - 1).
    n_split : int
        Number of missed beats split.
    n_inserted : int
        Number of beats inserted by the splits.
    n_interpolated : int
        Number of beats replaced by interpolation (ectopic, long, short).
    """

    rr: NDArray[np.float64]
    classes: NDArray[np.int8]
    source_index: NDArray[np.intp]
    n_merged: int
    n_split: int
    n_inserted: int
    n_interpolated: int


def detect_artifacts(
    rr: ArrayLike,
    *,
    alpha: float = ALPHA,
    window_beats: int = WINDOW_BEATS,
    median_beats: int = MEDIAN_BEATS,
    c1: float = C1,
    c2: float = C2,
) -> ArtifactDetection:
    """Classify each RR interval as normal, ectopic, long, short, missed or extra.

    Parameters
    ----------
    rr : array_like
        RR intervals, ms. Passed through :func:`hrv.validate.validate_rr` (never modified).
    alpha : float, optional
        Threshold scale (default 5.2 [1]_).
    window_beats : int, optional
        Width of the centred quartile-deviation window, beats (default 91 [1]_).
    median_beats : int, optional
        Width of the centred median filter, beats (default 11 [1]_).
    c1, c2 : float, optional
        Slope and intercept of the ectopic decision boundary (defaults 0.13, 0.17 [1]_).

    Returns
    -------
    ArtifactDetection
        Classes (one per input beat, :class:`BeatClass` values), dRR, Th1, mRR, Th2, medRR.

    Raises
    ------
    InvalidRRError
        For corrupt input (non-finite, non-positive, not 1-D) or invalid parameters.
    InsufficientDataError
        For an empty series.

    Notes
    -----
    Following [1]_, with RR in ms and j the beat index::

        dRR(j)  = RR(j) - RR(j-1)
        Th1(j)  = alpha * QD(|dRR|) over the 91 beats centred on j,  QD = (Q3 - Q1) / 2
        dRRs(j) = dRR(j) / Th1(j)
        medRR(j)= median of RR over the 11 beats centred on j
        mRR(j)  = RR(j) - medRR(j), doubled where negative
        Th2(j)  = alpha * QD(|mRR|) over 91 beats,   mRRs(j) = mRR(j) / Th2(j)

    and the decision rules of :func:`_classify` (ectopic boundary in (S11, S12), long/short in
    (S11, S22) or |mRRs| > 3, missed/extra from medRR and Th2).

    Edges: the 91- and 11-beat windows are shifted inwards near the ends so that they always hold
    the full number of beats (all of them when the series is shorter); near the ends medRR is
    moved along the Theil-Sen slope of its window, so that a heart rate rising or falling at
    the start of a record is not mistaken for an artifact; beats outside the record are taken
    equal to the local median at that end (dRR(0) = RR(0) - medRR(0)), so the first and last
    beats are classified like the others. Thresholds are floored at
    :data:`MIN_THRESHOLD_FRACTION` of medRR and 1.5 Q3 (see
    :func:`_quartile_deviation_threshold`).

    Plausibility: whatever the adaptive thresholds say, RR > ``PLAUSIBLE_RR_MAX_MS`` is MISSED
    (a dropout gap) and RR < ``PLAUSIBLE_RR_MIN_MS`` is EXTRA (a double detection) or, inside an
    ectopic pair, SHORT. Series shorter than :data:`MIN_ADAPTIVE_BEATS` beats get only these
    plausibility rules (every other beat is NORMAL): quartile deviations of 1-4 values mean
    nothing.

    Deliberate differences from public implementations: NeuroKit2 skips beats with |dRRs| <= 1
    before testing |mRRs| > 3, so outliers visible only in mRR are missed; here every beat is
    tested. systole's next-beat check never runs (``np.bool_ is True`` is always False); here it
    runs. Additions to the paper (see :func:`_classify`): a beat flagged by the dRR rules must
    also deviate from medRR by more than Th2, and an ectopic decision needs a compensatory
    partner beat, both to cut false positives; missed beats spanning k > 2 true beats are
    recognised (the paper tests k = 2 only), and an extra detection just before a true beat is
    merged with its predecessor.

    References
    ----------
    .. [1] Lipponen JA, Tarvainen MP. A robust algorithm for heart rate variability time series
       artefact correction using novel beat classification. J Med Eng Technol.
       2019;43(3):173-181. doi:10.1080/03091902.2019.1640306

    Examples
    --------
    >>> import numpy as np
    >>> rr = 800.0 + 20.0 * np.sin(np.arange(200) * 1.3)
    >>> rr[100] = 1600.0  # a missed detection: two beats in one interval
    >>> det = detect_artifacts(rr)
    >>> BeatClass(int(det.classes[100])).name, det.n_artifacts
    ('MISSED', 1)
    """
    x = validate_rr(rr)
    n = x.shape[0]
    if n == 0:
        raise InsufficientDataError("artifact detection", needed=1, got=0)
    if not (np.isfinite(alpha) and alpha > 0.0):
        raise InvalidRRError(f"alpha must be a finite positive number, got {alpha!r}")
    for name, value in (("window_beats", window_beats), ("median_beats", median_beats)):
        if int(value) != value or value < 1:
            raise InvalidRRError(
                f"{name} must be a positive integer number of beats, got {value!r}"
            )
    window_beats, median_beats = int(window_beats), int(median_beats)

    medrr = _edge_detrended_median(x, median_beats)
    rr_ext = _extend_with_median(x, medrr, before=2, after=2)
    drr_ext = _drr(rr_ext)  # beats -1 .. n+1
    drr = drr_ext[1 : n + 1]
    floor = MIN_THRESHOLD_FRACTION * medrr
    th1 = _quartile_deviation_threshold(drr, alpha, window_beats, window_beats // 2, floor)
    th1_ext = np.concatenate((th1[:1], th1, th1[-1:], th1[-1:]))
    drrs_ext = drr_ext / th1_ext
    s11, s12, s22 = _subspaces(drrs_ext)
    mrr = _mrr(x, medrr)
    th2 = _quartile_deviation_threshold(mrr, alpha, window_beats, window_beats // 2, floor)
    classes, merge_next = _classify(
        x,
        rr_ext[3 : n + 3],
        rr_ext[1 : n + 1],
        s11,
        s12,
        s22,
        np.abs(drrs_ext[3 : n + 3]),
        mrr,
        mrr / th2,
        medrr,
        th2,
        c1=c1,
        c2=c2,
        adaptive=n >= MIN_ADAPTIVE_BEATS,
    )
    return ArtifactDetection(
        classes=classes,
        drr=drr,
        th1=th1,
        mrr=mrr,
        th2=th2,
        medrr=medrr,
        merge_next=merge_next,
    )


def correct_artifacts(
    rr: ArrayLike, detection: ArtifactDetection | None = None
) -> ArtifactCorrection:
    """Correct the artifacts of an RR series: merge extra, split missed, interpolate the rest.

    Parameters
    ----------
    rr : array_like
        RR intervals, ms. Never modified (validated into a new array).
    detection : ArtifactDetection, optional
        Output of :func:`detect_artifacts` for the same ``rr``; computed when omitted.

    Returns
    -------
    ArtifactCorrection
        The corrected series, the input classes, the mapping from corrected to input beats and
        counts of each correction.

    Raises
    ------
    InvalidRRError
        For corrupt input, or a ``detection`` whose length differs from ``rr``.

    Notes
    -----
    - EXTRA beats j .. j+m-1 joined by ``detection.merge_next``: one interval, their sum (the
      spurious detections are dropped); usually m = 2.
    - MISSED beat j: k = max(2, round(RR(j) / medRR(j))) equal parts RR(j) / k.
    - ECTOPIC, LONG, SHORT beats: not-a-knot cubic spline (``hrv.spline``) through the
      NORMAL beats of the merged/split series, with the beat number as abscissa, evaluated at
      the flagged beats; beyond the first/last normal beat the nearest normal value is used,
      and results are clipped to the range of the normal beats (no overshoot into implausible
      values). With fewer than 4 normal beats, linear interpolation; with none, medRR.

    Merges and splits preserve the total duration exactly; interpolation does not (an ectopic
    short-long pair almost does).

    References
    ----------
    .. [1] Lipponen JA, Tarvainen MP. J Med Eng Technol. 2019;43(3):173-181.

    Examples
    --------
    >>> out = correct_artifacts([800, 810, 790, 805, 1600, 800, 795, 810, 800, 790])
    >>> out.rr[4:6].tolist(), out.source_index[4:6].tolist(), out.n_split
    ([800.0, 800.0], [4, -1], 1)
    """
    x = validate_rr(rr)
    det = detect_artifacts(x) if detection is None else detection
    n = x.shape[0]
    if det.classes.shape[0] != n:
        raise InvalidRRError(
            f"detection describes {det.classes.shape[0]} beats but rr has {n}; "
            "pass the detection computed on this rr"
        )
    cls = det.classes
    idx = np.arange(n, dtype=np.intp)

    # Merge groups: beat j joins beat j+1 where merge_next[j]; each group keeps its first beat.
    merge_next = det.merge_next & np.concatenate((np.ones(n - 1, dtype=np.bool_), [False]))
    group_start = ~np.concatenate(([False], merge_next[:-1]))
    starts = np.flatnonzero(group_start)
    missed = cls == BeatClass.MISSED
    k = np.maximum(np.rint(x / det.medrr), 2.0).astype(np.intp)
    counts = group_start.astype(np.intp)
    counts[missed] = k[missed]
    values = x.copy()
    values[starts] = np.add.reduceat(x, starts)
    values[missed] = x[missed] / k[missed]
    out = np.repeat(values, counts)
    src = np.repeat(idx, counts)
    inserted = np.zeros(out.shape[0], dtype=np.bool_)
    inserted[1:] = src[1:] == src[:-1]
    source_index = np.where(inserted, -1, src).astype(np.intp)

    cls_out = cls[src]
    to_fix = np.isin(cls_out, _INTERPOLATED_CLASSES)
    # An EXTRA beat outside any merge (cannot come from detect_artifacts) is interpolated.
    merged = merge_next | ~group_start
    to_fix |= ((cls == BeatClass.EXTRA) & ~merged)[src]
    if to_fix.any():
        knots = (cls_out == BeatClass.NORMAL) & ~inserted
        out[to_fix] = _interpolate(out, knots, to_fix, det.medrr[src])

    return ArtifactCorrection(
        rr=out,
        classes=cls.copy(),
        source_index=source_index,
        n_merged=int(np.count_nonzero(merge_next)),
        n_split=int(np.count_nonzero(missed)),
        n_inserted=int(np.sum(counts[missed] - 1)),
        n_interpolated=int(np.count_nonzero(to_fix)),
    )


def _interpolate(
    y: NDArray[np.float64],
    knots: NDArray[np.bool_],
    query: NDArray[np.bool_],
    fallback: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Values at ``query`` positions from the ``knots`` positions of ``y`` (beat index abscissa).

    Cubic spline (not-a-knot) with >= 4 knots, linear with 2-3, the ``fallback`` (medRR) with
    fewer; query positions outside the knot range take the nearest knot value; results are
    clipped to [min, max] of the knot values.
    """
    kx = np.flatnonzero(knots).astype(np.float64)
    qx = np.flatnonzero(query).astype(np.float64)
    if kx.shape[0] < 2:
        return fallback[query]
    ky = y[knots]
    qc = np.clip(qx, kx[0], kx[-1])
    vals = not_a_knot_spline(kx, ky, qc) if kx.shape[0] >= 4 else np.interp(qc, kx, ky)
    return np.clip(vals, ky.min(), ky.max())
