"""Beat classification of Lipponen & Tarvainen (2019): parameters, beat classes, kernels.

The rules behind :func:`hrv.artifacts.detect_artifacts`: the published parameters (``ALPHA``,
the 91-beat threshold window, the 11-beat median, the ectopic boundary ``C1``, ``C2``), the
:class:`BeatClass` of a beat, and the small private kernels (``_drr``, ``_rolling_quantiles``,
``_quartile_deviation_threshold``, ``_rolling_median``, ``_edge_detrended_median``, ``_mrr``,
``_subspaces``, ``_resolve_merges``, ``_classify``) whose contracts are written in their
docstrings, so that a causal (streaming) variant can reuse them with trailing windows and a few
beats of look-ahead. Nothing here loops over beats in Python.

References
----------
.. [1] Lipponen JA, Tarvainen MP. A robust algorithm for heart rate variability time series
   artefact correction using novel beat classification. J Med Eng Technol. 2019;43(3):173-181.
   doi:10.1080/03091902.2019.1640306
"""

from __future__ import annotations

import enum
from typing import Final

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from hrv.validate import PLAUSIBLE_RR_MAX_MS, PLAUSIBLE_RR_MIN_MS

__all__ = [
    "ALPHA",
    "C1",
    "C2",
    "MEDIAN_BEATS",
    "MIN_ADAPTIVE_BEATS",
    "MIN_THRESHOLD_FRACTION",
    "MRRS_CONFIRM",
    "WINDOW_BEATS",
    "BeatClass",
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
