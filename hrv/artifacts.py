"""Artifact detection and correction of RR series (Lipponen & Tarvainen 2019), vectorized.

Every beat is classified as normal, ectopic, long, short, missed or extra from two adaptive,
robust time series (the successive differences dRR and the deviation from an 11-beat median mRR,
each normalised by a 91-beat quartile-deviation threshold), then corrected: an extra detection is
merged with its neighbour, a missed beat is split into equal parts, and ectopic, long and short
beats are replaced by cubic-spline interpolation.

The maths lives in small private kernels (``_drr``, ``_rolling_quantiles``,
``_quartile_deviation_threshold``, ``_rolling_median``, ``_edge_detrended_median``, ``_mrr``,
``_subspaces``, ``_resolve_merges``, ``_classify``) whose contracts are written in their
docstrings, so that a causal (streaming) variant can reuse
them with trailing windows and a few beats of look-ahead. Nothing here loops over beats in Python.

References
----------
.. [1] Lipponen JA, Tarvainen MP. A robust algorithm for heart rate variability time series
   artefact correction using novel beat classification. J Med Eng Technol. 2019;43(3):173-181.
   doi:10.1080/03091902.2019.1640306
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from hrv.errors import InsufficientDataError, InvalidRRError
from hrv.spline import not_a_knot_spline
from hrv.validate import PLAUSIBLE_RR_MAX_MS, PLAUSIBLE_RR_MIN_MS, validate_rr

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

#: Threshold scale: Th = ALPHA * quartile deviation (dimensionless) [1]_.
ALPHA: Final[float] = 5.2
#: Width of the centred window of the quartile-deviation thresholds Th1, Th2, beats [1]_.
WINDOW_BEATS: Final[int] = 91
#: Width of the centred median filter giving medRR, beats [1]_.
MEDIAN_BEATS: Final[int] = 11
#: Slope of the ectopic decision boundary in the (S11, S12) plane (dimensionless) [1]_.
C1: Final[float] = 0.13
#: Intercept of the ectopic decision boundary in the (S11, S12) plane (dimensionless) [1]_.
C2: Final[float] = 0.17
#: Floor of Th1 and Th2 as a fraction of the local median RR (2 %, i.e. 16 ms at 75 bpm). Where
#: the quartile deviation collapses (a perfectly regular stretch, a noiseless smooth curve whose
#: mRR is exactly 0) a deviation of a few ms must not become an artifact, nor a division by 0.
#: Beat-to-beat changes under 2 % of RR are within normal sinus rhythm at any heart rate.
MIN_THRESHOLD_FRACTION: Final[float] = 0.02
#: Th >= this factor times Q3(|x|): see :func:`_quartile_deviation_threshold`.
_Q3_FLOOR_FACTOR: Final[float] = 1.5
#: Below this many beats the adaptive (statistical) criteria are not applied; only the
#: physiological-plausibility rules flag beats (see :func:`detect_artifacts`).
MIN_ADAPTIVE_BEATS: Final[int] = 5
#: Limit of |mRRs| above which a beat is long or short whatever dRR says [1]_.
_MRRS_LIMIT: Final[float] = 3.0
#: A beat flagged long/short by the dRR rules (S11, S22) must also lie this far from medRR,
#: |mRRs| > 1, i.e. by more than Th2 (dimensionless): see :func:`_classify`.
MRRS_CONFIRM: Final[float] = 1.0
#: The hit beat of an ectopic pair deviates from medRR, in the direction opposite to its
#: partner, by at least this fraction of the partner's deviation (compensation).
_ECTOPIC_COMPENSATION: Final[float] = 0.25
#: Rows of the sliding-window matrix sorted at once (bounds memory to ~12 MB per call).
_BLOCK_ROWS: Final[int] = 16_384
#: Conflict-resolution passes between overlapping merge candidates (chains are 2-3 long).
_MERGE_PASSES: Final[int] = 4


class BeatClass(enum.IntEnum):
    """Class of one RR interval (beat).

    ``MISSED`` is a long interval that spans several true beats (a detection was missed) and
    ``EXTRA`` a short interval produced by a spurious detection (both intervals on either side of
    the spurious detection are labelled ``EXTRA``). ``ECTOPIC`` labels both intervals of the
    short-long (or long-short) pair around a misplaced or premature beat.
    """

    NORMAL = 0
    ECTOPIC = 1
    LONG = 2
    SHORT = 3
    MISSED = 4
    EXTRA = 5


_INTERPOLATED_CLASSES: Final[tuple[int, ...]] = (
    int(BeatClass.ECTOPIC),
    int(BeatClass.LONG),
    int(BeatClass.SHORT),
)


# ---------------------------------------------------------------------------------------------
# Kernels (private, reusable by a causal variant)
# ---------------------------------------------------------------------------------------------


def _drr(rr_ext: NDArray[np.float64]) -> NDArray[np.float64]:
    """Successive differences dRR(j) = RR(j) - RR(j-1), ms.

    Contract: ``rr_ext`` holds the beats to classify with context on both sides; the result has
    one value less, ``out[k] = rr_ext[k + 1] - rr_ext[k]``, i.e. the dRR of beat ``k + 1`` of
    ``rr_ext``. :func:`detect_artifacts` passes the series padded with two copies of the edge
    local median on each side, so ``out`` covers beats -1 .. n+1 of the series (see
    :func:`_extend_with_median`); a streaming caller passes real past beats and its look-ahead.
    """
    return np.diff(rr_ext)


def _window_starts(n: int, window: int, offset: int) -> NDArray[np.intp]:
    """Start index, for each of ``n`` positions, of a ``window``-long window clamped into [0, n)."""
    return np.clip(np.arange(n, dtype=np.intp) - offset, 0, n - window)


def _rolling_quantiles(
    x: NDArray[np.float64], window: int, quantiles: tuple[float, ...], offset: int
) -> NDArray[np.float64]:
    """Quantiles of ``x`` over a sliding window, one row per quantile, shape (len(quantiles), n).

    Contract: the window of position ``j`` is ``x[s : s + w]`` with ``w = min(window, n)`` and
    ``s = clip(j - offset, 0, n - w)``: ``offset = window // 2`` gives the centred window of [1]_,
    ``offset = window - 1 - lookahead`` a trailing window with ``lookahead`` beats ahead. Near the
    ends the window is shifted inwards so that it always holds ``w`` values (never fewer). The
    quantile is the linear interpolation between order statistics (numpy's default "linear"
    method, as pandas ``rolling().quantile``). Vectorized with a strided view sorted row-wise,
    in blocks of :data:`_BLOCK_ROWS` windows to bound memory.
    """
    n = x.shape[0]
    w = min(window, n)
    positions = [q * (w - 1) for q in quantiles]
    lows = [int(np.floor(p)) for p in positions]
    highs = [min(lo + 1, w - 1) for lo in lows]
    view = sliding_window_view(x, w)
    n_windows = view.shape[0]
    per_window = np.empty((len(quantiles), n_windows), dtype=np.float64)
    for start in range(0, n_windows, _BLOCK_ROWS):  # blocks of windows, not beats
        # A full row sort (vectorised SIMD sort) beats a multi-kth np.partition ~5x here.
        block = np.sort(view[start : start + _BLOCK_ROWS], axis=1)
        for i, (p, lo, hi) in enumerate(zip(positions, lows, highs, strict=True)):
            frac = p - lo
            per_window[i, start : start + block.shape[0]] = block[:, lo] + frac * (
                block[:, hi] - block[:, lo]
            )
    return per_window[:, _window_starts(n, w, offset)]


def _quartile_deviation_threshold(
    x: NDArray[np.float64],
    alpha: float,
    window: int,
    offset: int,
    floor_ms: NDArray[np.float64] | float,
) -> NDArray[np.float64]:
    """Adaptive threshold Th = alpha * QD(|x|) over a sliding window, ms, floored.

    Contract: ``x`` is dRR (giving Th1) or mRR (giving Th2) in ms; QD = (Q3 - Q1) / 2 of ``|x|``
    over the window described in :func:`_rolling_quantiles` (same ``window``/``offset``).

    Two floors keep it meaningful where the quartile deviation collapses: at least
    ``1.5 * Q3(|x|)`` (when |x| takes only one or two values, as in a strictly periodic or
    coarsely quantised series, Q1 = Q3 and QD = 0 although every beat differs by Q3; for any
    smooth spread, Gaussian, Laplacian or sinusoidal, alpha * QD is already larger, so the
    paper's threshold is unchanged) and at least ``floor_ms`` (scalar or one value per
    position; :func:`detect_artifacts` passes ``MIN_THRESHOLD_FRACTION * medRR``). With a
    positive floor the result is always finite and positive.
    """
    q = _rolling_quantiles(np.abs(x), window, (0.25, 0.75), offset)
    qd = 0.5 * (q[1] - q[0])
    th: NDArray[np.float64] = np.maximum(np.maximum(alpha * qd, _Q3_FLOOR_FACTOR * q[1]), floor_ms)
    return th


def _rolling_median(rr: NDArray[np.float64], window: int, offset: int) -> NDArray[np.float64]:
    """Sliding median medRR, ms, over the window described in :func:`_rolling_quantiles`."""
    med: NDArray[np.float64] = _rolling_quantiles(rr, window, (0.5,), offset)[0]
    return med


def _theil_sen_slope(block: NDArray[np.float64]) -> NDArray[np.float64]:
    """Theil-Sen slope (median of all pairwise slopes) of each row of ``block``, ms/beat."""
    w = block.shape[1]
    i, j = np.triu_indices(w, 1)
    slopes = (block[:, j] - block[:, i]) / (j - i).astype(np.float64)
    out: NDArray[np.float64] = np.median(slopes, axis=1)
    return out


def _edge_detrended_median(rr: NDArray[np.float64], window: int) -> NDArray[np.float64]:
    """Centred sliding median, ms, whose clamped edge windows follow the local trend.

    Contract: as :func:`_rolling_median` with the centred window (``offset = window // 2``),
    except at the ends where the window is shifted inwards: there a linear trend would bias
    the median (beat 0 would be compared with beat 5), so the median of the clamped window is
    moved along the window's Theil-Sen slope to the beat's position::

        medRR(j) = median(window) + slope * (j - centre of window)

    Exact for a linear trend; robust to artifacts inside the window (Theil-Sen breaks down
    only above 29 % outliers); clipped to the range of the window, so always positive.
    """
    n = rr.shape[0]
    w = min(window, n)
    med = _rolling_median(rr, window, window // 2)
    if w < 3:
        return med
    half = window // 2
    ends: list[tuple[NDArray[np.intp], int]] = []
    head = np.arange(0, min(half, n), dtype=np.intp)
    tail = np.arange(max(n - (window - 1 - half), 0), n, dtype=np.intp)
    if n <= w:
        ends.append((np.arange(n, dtype=np.intp), 0))
    else:
        ends.extend(((head, 0), (tail, n - w)))
    starts = np.array([s0 for _, s0 in ends], dtype=np.intp)
    blocks = sliding_window_view(rr, w)[starts]
    slopes = _theil_sen_slope(blocks)
    out = med.copy()
    for (pos, s0), slope, block in zip(ends, slopes, blocks, strict=True):  # two ends, not beats
        moved = med[pos] + slope * (pos - (s0 + 0.5 * (w - 1)))
        out[pos] = np.clip(moved, block.min(), block.max())
    return out


def _mrr(rr: NDArray[np.float64], medrr: NDArray[np.float64]) -> NDArray[np.float64]:
    """Deviation from the local median, ms: mRR = RR - medRR, doubled where negative [1]_.

    Doubling the negative side makes a short beat (bounded below by 0) as visible as a long one.
    """
    mrr = rr - medrr
    return np.where(mrr < 0.0, 2.0 * mrr, mrr)


def _extend_with_median(
    rr: NDArray[np.float64], medrr: NDArray[np.float64], before: int = 1, after: int = 2
) -> NDArray[np.float64]:
    """Pad ``rr`` with ``before`` copies of medRR(0) and ``after`` copies of medRR(n-1), ms.

    Edge rule of :func:`detect_artifacts`: a beat outside the record is assumed equal to the
    local median at that end, a neutral value. (Reflecting the series instead would turn a long
    second beat into a fake long-short-long "ectopic" pattern.) With ``before = 1``,
    ``_drr`` of the extended series starts with dRR(0) = RR(0) - medRR(0); one more leading copy
    gives dRR(-1) = 0.
    """
    return np.concatenate((np.full(before, medrr[0]), rr, np.full(after, medrr[-1])))


def _subspaces(
    drrs_ext: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Subspaces S11, S12, S22 of [1]_ from normalised differences dRRs = dRR / Th1.

    Contract: ``drrs_ext`` has ``n + 3`` values: ``drrs_ext[k]`` is dRRs of beat ``k - 1``, i.e.
    one beat of context before the ``n`` beats to classify and two after. Returns, each of length
    ``n``::

        S11(j) = dRRs(j)
        S12(j) = max(dRRs(j-1), dRRs(j+1))  if dRRs(j) > 0,  else min(...)
        S22(j) = min(dRRs(j+1), dRRs(j+2))  if dRRs(j) >= 0, else max(...)
    """
    n = drrs_ext.shape[0] - 3
    s11 = drrs_ext[1 : n + 1]
    prev = drrs_ext[0:n]
    next1 = drrs_ext[2 : n + 2]
    next2 = drrs_ext[3 : n + 3]
    s12 = np.where(s11 > 0.0, np.maximum(prev, next1), np.minimum(prev, next1))
    s22 = np.where(s11 >= 0.0, np.minimum(next1, next2), np.maximum(next1, next2))
    return s11, s12, s22


def _resolve_merges(candidate: NDArray[np.bool_], error: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Choose non-overlapping merges among candidate pairs (p, p+1), best fit first.

    ``candidate[p]`` proposes merging beats p and p+1; ``error[p]`` is how far the merged
    interval is from medRR. Adjacent candidates share a beat; in each of a fixed handful of
    passes every candidate whose error is a strict local minimum among its neighbours wins and
    blocks its neighbours. Candidates still in conflict afterwards are dropped.
    """
    m = candidate.shape[0]
    cand = candidate.copy()
    chosen = np.zeros(m, dtype=np.bool_)
    inf = np.inf
    for _ in range(_MERGE_PASSES):
        err = np.where(cand, error, inf)
        left = np.concatenate(([inf], err[:-1]))
        right = np.concatenate((err[1:], [inf]))
        win = cand & (err < left) & (err <= right)
        chosen |= win
        blocked = win.copy()
        blocked[1:] |= win[:-1]
        blocked[:-1] |= win[1:]
        cand &= ~blocked
        if not cand.any():
            break
    return chosen


def _classify(
    rr: NDArray[np.float64],
    rr_next: NDArray[np.float64],
    rr_prev: NDArray[np.float64],
    s11: NDArray[np.float64],
    s12: NDArray[np.float64],
    s22: NDArray[np.float64],
    next2_abs: NDArray[np.float64],
    mrr: NDArray[np.float64],
    mrrs: NDArray[np.float64],
    medrr: NDArray[np.float64],
    th2: NDArray[np.float64],
    *,
    c1: float,
    c2: float,
    mrrs_confirm: float = MRRS_CONFIRM,
    adaptive: bool = True,
) -> tuple[NDArray[np.int8], NDArray[np.bool_]]:
    """Classify beats given the subspaces, mRR and thresholds (decision rules of [1]_).

    Contract: every argument has one value per beat to classify. ``rr_next``/``rr_prev`` are
    RR(j+1) and RR(j-1) (the edge median outside the record), ``next2_abs`` is |dRRs(j+2)|
    (for the next-beat check), ``mrr`` is in ms (negative side doubled), ``mrrs = mrr / th2``.

    Rules, in order of precedence (a later line overrides an earlier one):

    1. long = (S11 > 1 and S22 < -1 and |mRRs| > mrrs_confirm) or (|mRRs| > 3 and mRR > 0);
       short likewise with the signs reversed. Next-beat check: if beat j is long/short and
       |dRRs(j+1)| < |dRRs(j+2)|, beat j+1 is long/short too if |mRRs(j+1)| > mrrs_confirm (the
       sign of its mRR decides which): this catches the second beat of a run of two, whose own
       dRR is small.
    2. ectopic: (S11 > 1 and S12 < -c1 S11 - c2) or (S11 < -1 and S12 > -c1 S11 + c2) at beat j
       (the paper's boundary), confirmed as a compensatory pair with beat j-1: dRRs(j-1) beyond
       -1 on the side opposite to S11, and RR - medRR of opposite signs on the two beats, beat
       j's at least 25 % of beat j-1's. Both beats are then ECTOPIC.
    3. missed: a long beat with k = round(RR / medRR) >= 2 and |RR / k - medRR| < Th2 (the paper
       tests k = 2; k > 2 covers a dropout of several beats).
    4. extra: a short beat j with |RR(j) + RR(j+1) - medRR(j)| < Th2(j) (the paper's test) or
       |RR(j-1) + RR(j) - medRR(j)| < Th2(j) (spurious detection just before a true beat);
       overlapping merges are resolved by :func:`_resolve_merges`; a run of >= 3 short beats
       whose sum is within Th2 of medRR (several spurious detections in one beat) merges as a
       whole. Every beat of a merge is EXTRA.
    5. Plausibility, always applied: RR > PLAUSIBLE_RR_MAX_MS is MISSED (split into
       max(2, k) parts); RR < PLAUSIBLE_RR_MIN_MS that is not already EXTRA becomes EXTRA,
       merged with the neighbour giving the interval closest to medRR, unless it belongs to an
       ectopic pair, in which case it is SHORT (interpolated with its partner).

    With ``adaptive=False`` only rule 5 is applied.

    Returns the classes and ``merge_next``: True where beat j is to be merged with beat j+1
    (chains of True merge three or more beats).

    Unlike NeuroKit2 (which skips every beat with |dRRs| <= 1) every beat is tested against every
    rule, so an outlier visible only in mRR is found; unlike systole the next-beat check runs.

    The two confirmations (``mrrs_confirm`` in rule 1, the pair check in rule 2) are additions
    to the paper: on the synthetic series of :mod:`hrv.synthetic` they (with the threshold
    floors of :func:`_quartile_deviation_threshold`) cut false positives
    from ~0.13 % to ~0.01 % of normal beats without losing any injected artifact. The
    dRR rules alone fire on a lone noisy swing of a smooth RSA wave (|dRRs| just above 1 with a
    beat still within Th2 of its median), and the ectopic boundary alone fires on the normal
    beat that follows a lone short or long beat.
    """
    n = rr.shape[0]
    classes = np.zeros(n, dtype=np.int8)
    ectopic = np.zeros(n, dtype=np.bool_)
    long_ = np.zeros(n, dtype=np.bool_)
    short = np.zeros(n, dtype=np.bool_)
    if adaptive:
        confirmed = np.abs(mrrs) > mrrs_confirm
        eq3 = (s11 > 1.0) & (s22 < -1.0) & confirmed
        eq5 = (s11 < -1.0) & (s22 > 1.0) & confirmed
        eq4 = np.abs(mrrs) > _MRRS_LIMIT
        long_ = eq3 | (eq4 & (mrr > 0.0) & ~eq5)
        short = eq5 | (eq4 & (mrr < 0.0) & ~eq3)
        # Next-beat check (beat j flagged -> beat j+1 if |dRRs(j+1)| < |dRRs(j+2)|).
        nxt = np.zeros(n, dtype=np.bool_)
        nxt[1:] = (long_ | short)[:-1] & (np.abs(s11[1:]) < next2_abs[:-1])
        nxt &= confirmed
        long_ |= nxt & (mrr > 0.0) & ~short
        short |= nxt & (mrr <= 0.0) & ~long_
        hit = ((s11 > 1.0) & (s12 < -c1 * s11 - c2)) | ((s11 < -1.0) & (s12 > -c1 * s11 + c2))
        # The pair (j-1, j): the partner must have jumped the other way by more than Th1, and
        # the two deviations from medRR must have opposite signs, the hit beat's at least
        # _ECTOPIC_COMPENSATION of its partner's (a compensatory pair, not a lone long/short
        # beat followed by a normal one).
        sgn = np.sign(s11)
        e = rr - medrr
        prev_drrs = np.concatenate(([0.0], s11[:-1]))
        prev_e = np.concatenate(([0.0], e[:-1]))
        pair = (
            hit
            & (sgn * prev_drrs < -1.0)
            & (-sgn * prev_e > 0.0)
            & (sgn * e > _ECTOPIC_COMPENSATION * np.abs(prev_e))
        )
        pair[0] = False
        ectopic = pair.copy()
        ectopic[:-1] |= pair[1:]

    k = np.rint(rr / medrr)
    missed = long_ & (k >= 2.0) & (np.abs(rr / np.maximum(k, 1.0) - medrr) < th2)
    missed |= rr > PLAUSIBLE_RR_MAX_MS

    too_short = rr < PLAUSIBLE_RR_MIN_MS
    shortish = short | too_short
    merge_next = np.zeros(n, dtype=np.bool_)

    # Runs of >= 3 consecutive short beats that together make one interval (a burst of
    # spurious detections inside one beat) merge as a whole.
    run_start = shortish & ~np.concatenate(([False], shortish[:-1]))
    run_id = np.cumsum(run_start) * shortish  # 1, 2, ... per run; 0 outside runs
    in_run = np.zeros(n, dtype=np.bool_)
    if run_start.any():
        first = np.flatnonzero(run_start)
        length = np.bincount(run_id, minlength=first.shape[0] + 1)[1:]
        total = np.bincount(run_id, weights=rr, minlength=first.shape[0] + 1)[1:]
        whole = (length >= 3) & (np.abs(total - medrr[first]) < th2[first])
        in_run = shortish & whole[np.maximum(run_id - 1, 0)]
        merge_next[:-1] |= in_run[:-1] & in_run[1:] & (run_id[:-1] == run_id[1:])

    # Pair candidates: pair p merges beats p and p+1 (length n - 1).
    err_next = np.abs(rr + rr_next - medrr)
    err_prev = np.abs(rr_prev + rr - medrr)
    fit_next = short & (err_next < th2)
    fit_prev = short & (err_prev < th2)
    cand = fit_next[:-1] | fit_prev[1:]
    pair_err = np.minimum(err_next[:-1], err_prev[1:])
    blocked = missed | in_run
    chosen = _resolve_merges(cand & ~blocked[:-1] & ~blocked[1:], pair_err)
    merge_next[:-1] |= chosen
    in_merge = merge_next | np.concatenate(([False], merge_next[:-1]))
    # Forced merges of implausibly short beats that are neither merged nor in an ectopic pair:
    # with the neighbour that is itself short if only one is, else with the one giving the
    # interval closest to medRR.
    forced = too_short & ~in_merge & ~ectopic & ~missed
    if forced.any() and n >= 2:
        prev_short = np.concatenate(([False], shortish[:-1]))
        next_short = np.concatenate((shortish[1:], [False]))
        go_next = np.where(prev_short != next_short, next_short, err_next <= err_prev)
        go_next[0] = True
        go_next[-1] = False
        fcand = np.zeros(n - 1, dtype=np.bool_)
        fcand |= (forced & go_next)[:-1]
        fcand |= (forced & ~go_next)[1:]
        free = ~in_merge & ~missed
        fcand &= free[:-1] & free[1:]
        merge_next[:-1] |= _resolve_merges(fcand, pair_err)
        in_merge = merge_next | np.concatenate(([False], merge_next[:-1]))

    classes[long_] = BeatClass.LONG
    classes[short] = BeatClass.SHORT
    classes[ectopic] = BeatClass.ECTOPIC
    classes[missed] = BeatClass.MISSED
    classes[in_merge] = BeatClass.EXTRA
    # An implausibly short beat left over (ectopic pair, or a merge that could not be placed).
    classes[too_short & ~in_merge] = BeatClass.SHORT
    return classes, merge_next


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
