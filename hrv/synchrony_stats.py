"""Correlation and surrogate kernels of the synchrony analyses (:mod:`hrv.synchrony`).

Fisher z, lagged blocks of the two series, Pearson r for every window and lag, peak picking
(Boker et al. 2002), and the surrogate comparisons: circular shifts within a session and
permutations of pseudo dyads across sessions, with permutation p-values that are never zero
(Phipson & Smyth 2010; surrogate logic after Moulder et al. 2018 and Bernieri et al. 1988).

References
----------
Boker SM, Xu M, Rotondo JL, King K. Windowed cross-correlation and peak picking for the analysis
of variability in the association between behavioral time series. Psychol Methods
2002;7(3):338-355.
Phipson B, Smyth GK. Permutation p-values should never be zero. Stat Appl Genet Mol Biol 2010;9:39.
Moulder RG, Boker SM, Ramseyer F, Tschacher W. Determining synchrony between behavioral time
series: an application of surrogate data generation for establishing falsifiable null-hypotheses.
Psychol Methods 2018;23(4):757-773.
Bernieri FJ, Reznick JS, Rosenthal R. Synchrony, pseudosynchrony, and dissynchrony: measuring the
entrainment process in mother-infant interactions. J Pers Soc Psychol 1988;54(2):243-253.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hrv.errors import InsufficientDataError
from hrv.synchrony_types import (
    _R_CLIP,
    PeakRule,
    SurrogateComparison,
    SynchronyParameterError,
)

__all__ = [
    "fisher_z",
]


# ------------------------------------------------------------------------------------ kernels


def fisher_z(r: ArrayLike) -> NDArray[np.float64]:
    """Fisher's z transform of correlations, ``atanh(r)`` with ``|r|`` clipped below 1.

    Parameters
    ----------
    r : array_like
        Pearson correlations in [-1, 1] (NaN passes through).

    Returns
    -------
    numpy.ndarray
        :math:`z = \\tfrac12 \\ln\\frac{1+r}{1-r}`, |r| clipped to ``1 - 1e-7`` (z <= 8.4).

    References
    ----------
    Fisher RA. On the probable error of a coefficient of correlation deduced from a small
    sample. Metron 1921;1:3-32.

    Examples
    --------
    >>> round(float(fisher_z(0.5)), 6)
    0.549306
    """
    return np.arctanh(np.clip(np.asarray(r, dtype=np.float64), -_R_CLIP, _R_CLIP))


def _pair_series(
    patient: ArrayLike, therapist: ArrayLike, fs_hz: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = np.asarray(patient, dtype=np.float64)
    y = np.asarray(therapist, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise SynchronyParameterError(
            "patient and therapist must be 1-D series on one grid (same length), got shapes "
            f"{x.shape} and {y.shape}"
        )
    if not fs_hz > 0:
        raise SynchronyParameterError(f"fs_hz must be > 0 Hz, got {fs_hz!r}")
    return x, y


def _samples(value_s: float, fs_hz: float, name: str, minimum: int) -> int:
    n = round(value_s * fs_hz)
    if n < minimum:
        raise SynchronyParameterError(
            f"{name} = {value_s!r} s is {n} samples at {fs_hz:g} Hz; at least {minimum} needed"
        )
    return n


def _lagged_blocks(
    v: NDArray[np.float64],
    starts: NDArray[np.int64],
    lags: NDArray[np.int64],
    lengths: NDArray[np.int64],
    follower: bool,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Standardised lagged windows of one series, shape (n_lags, n_windows, max length).

    For lag tau the leader's (patient's) window starts at ``start + max(-tau, 0)`` and the
    follower's at ``start + max(tau, 0)``; window l holds ``lengths[l]`` samples, centred and
    scaled to unit norm, zero-padded to the longest length, so that the dot product of a
    leader block with a follower block is Pearson's r. Returns the blocks and their validity
    (no missing sample, non-zero variance).
    """
    width = int(lengths.max())
    offset = np.maximum(lags, 0) if follower else np.maximum(-lags, 0)
    pos = np.arange(width)
    inside = pos[None, :] < lengths[:, None]  # (n_lags, width)
    idx = starts[None, :, None] + offset[:, None, None] + pos[None, None, :]
    idx = np.minimum(idx, v.shape[0] - 1)
    block = v[idx]
    mask = np.broadcast_to(inside[:, None, :], block.shape)
    missing = np.any(np.isnan(block) & mask, axis=2)
    block = np.where(mask & ~np.isnan(block), block, 0.0)
    mean = block.sum(axis=2) / lengths[:, None]
    block = np.where(mask, block - mean[..., None], 0.0)
    norm = np.sqrt(np.einsum("lwk,lwk->lw", block, block))
    # Relative floor: a constant window leaves only rounding error after centring.
    scale = np.sqrt(lengths[:, None]) * np.maximum(np.abs(mean), 1.0) * 1e-12
    ok = ~missing & (norm > scale)
    block = block / np.where(ok, norm, 1.0)[..., None]
    return block, ok


def _cross_r(
    a: NDArray[np.float64], ok_a: NDArray[np.bool_], b: NDArray[np.float64], ok_b: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """r for every window pair: shape (n_lags, n_a, n_b), NaN where either is invalid."""
    r: NDArray[np.float64] = np.clip(np.matmul(a, b.transpose(0, 2, 1)), -1.0, 1.0)
    r[~(ok_a[:, :, None] & ok_b[:, None, :])] = np.nan
    return r


def _paired_r(
    a: NDArray[np.float64], ok_a: NDArray[np.bool_], b: NDArray[np.float64], ok_b: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """r of window i with window i only: shape (n_lags, n_windows)."""
    r: NDArray[np.float64] = np.clip(np.einsum("lwk,lwk->lw", a, b), -1.0, 1.0)
    r[~(ok_a & ok_b)] = np.nan
    return r


def _pick_peak(
    r: NDArray[np.float64], lags: NDArray[np.int64], rule: PeakRule
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.bool_]]:
    """Peak over axis 0 (lags): its r, its lag index, and whether there is one.

    ``max``: the largest r; ``max_abs``: the largest |r| (sign kept); ``boker``: the local
    maximum of r (interior lag, r not below either neighbour) nearest lag 0, the larger r on a
    tie (Boker et al. 2002). A column with a NaN has no peak.
    """
    finite = np.all(np.isfinite(r), axis=0)
    filled = np.where(np.isfinite(r), r, -np.inf)
    if rule == "max":
        idx = np.argmax(filled, axis=0)
        has = finite
    elif rule == "max_abs":
        idx = np.argmax(np.where(np.isfinite(r), np.abs(r), -np.inf), axis=0)
        has = finite
    elif rule == "boker":
        local = np.zeros(r.shape, dtype=bool)
        if r.shape[0] >= 3:
            local[1:-1] = (filled[1:-1] >= filled[:-2]) & (filled[1:-1] >= filled[2:])
        # Nearest lag 0 first, then the larger r: a lexicographic key on (|lag|, -r).
        dist = np.abs(lags).astype(np.float64)
        span = float(dist.max()) + 1.0
        key = np.where(
            local, dist.reshape((-1,) + (1,) * (r.ndim - 1)) - filled / (4 * span), np.inf
        )
        idx = np.argmin(key, axis=0)
        has = finite & np.any(local, axis=0)
    else:
        raise SynchronyParameterError(f"peak must be 'max', 'max_abs' or 'boker', got {rule!r}")
    peak = np.take_along_axis(r, idx[None, ...], axis=0)[0]
    peak = np.where(has, peak, np.nan)
    return peak, idx.astype(np.int64), has


def _percentile_p(observed: float, null: NDArray[np.float64]) -> tuple[float, float]:
    below = np.count_nonzero(null < observed)
    ties = np.count_nonzero(null == observed)
    percentile = 100.0 * (below + 0.5 * ties) / null.shape[0]
    p = (1.0 + np.count_nonzero(null >= observed)) / (1.0 + null.shape[0])
    return float(percentile), float(p)


def _comparison(
    method: str,
    statistic: str,
    observed: float,
    pseudo_units: NDArray[np.float64],
    null: NDArray[np.float64],
) -> SurrogateComparison:
    mean = float(pseudo_units.mean())
    sd = float(pseudo_units.std(ddof=1)) if pseudo_units.shape[0] > 1 else math.nan
    es = (observed - mean) / sd if sd > 0 else math.nan
    percentile, p = _percentile_p(observed, null)
    return SurrogateComparison(
        method=method,
        statistic=statistic,
        observed=float(observed),
        surrogate_mean=mean,
        surrogate_sd=sd,
        effect_size=float(es),
        percentile=percentile,
        p_value=p,
        n_surrogates=int(null.shape[0]),
    )


def _session_permutation_comparison(
    method: str,
    statistic: str,
    m: NDArray[np.float64],
    n_permutations: int,
    rng: np.random.Generator,
) -> SurrogateComparison:
    """Mean of the real pairs (diagonal of ``m``) against random re-pairings of the sessions.

    The effect size is against all off-diagonal (pseudo) pairs. The p-value is a permutation
    test: the mean of ``m[i, pi(i)]`` for uniformly random permutations ``pi`` of all sessions
    (Phipson & Smyth 2010). The permutations keep their fixed points on purpose: excluding them
    (derangements only) lowers the null mean by about ``(diagonal mean - overall mean)/(n - 1)``
    exactly when the real pairs are high by chance, which makes the test liberal (measured with
    10 sessions per test at alpha 0.05: 14 % false positives with derangements on simulated
    sessions sharing a rise-and-fall, 9 % with full permutations; 4-5 % with full permutations
    on synthetic independent AR(1) sessions, with or without a shared trend).
    """
    keep = np.isfinite(np.diag(m))
    m = m[np.ix_(keep, keep)]
    n = m.shape[0]
    if n < 3:
        raise InsufficientDataError(f"{method} surrogates", needed=3, got=n, unit="valid units")
    observed = float(np.mean(np.diag(m)))
    off = m[~np.eye(n, dtype=bool)]
    off = off[np.isfinite(off)]
    pi = np.argsort(rng.random((n_permutations, n)), axis=1)
    null = np.nanmean(m[np.arange(n)[None, :], pi], axis=1)
    return _comparison(method, statistic, observed, off, null)


def _shift_comparison(
    method: str, statistic: str, m: NDArray[np.float64], min_shift: int
) -> SurrogateComparison:
    """Real pairs (diagonal of ``m``) against circular shifts of the partner's units.

    Shift k pairs unit i of the patient with unit ``(i + k) mod n`` of the therapist, for
    ``min_shift <= k <= n - min_shift``; the null statistic of a shift is its mean over the
    valid pairs. A shift keeps the order of the units, hence their serial dependence, so under
    independence of the two people every shift is distributed like the real pairing. The effect
    size is against all the pairs these shifts visit.
    """
    n = m.shape[0]
    diag = np.diag(m)
    shifts = np.arange(min_shift, n - min_shift + 1)
    if shifts.shape[0] < 1 or not np.any(np.isfinite(diag)):
        raise InsufficientDataError(
            f"{method} surrogates", needed=2 * min_shift + 1, got=n, unit="valid units"
        )
    idx = np.arange(n)
    vals = m[idx[None, :], (idx[None, :] + shifts[:, None]) % n]  # (n_shifts, n)
    usable = np.any(np.isfinite(vals), axis=1)
    units = vals[np.isfinite(vals)]
    if units.shape[0] < 2:
        raise InsufficientDataError(
            f"{method} surrogates", needed=2, got=int(units.shape[0]), unit="valid pseudo pairs"
        )
    null = np.nanmean(vals[usable], axis=1)
    observed = float(np.mean(diag[np.isfinite(diag)]))
    return _comparison(method, statistic, observed, units, null)
