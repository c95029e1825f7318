"""The single validation step at the entry of the HRV pipeline."""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hrv.errors import InsufficientDataError, InvalidRRError

__all__ = [
    "CORRUPT_RR_MAX_MS",
    "LONGEST_BEAT_S",
    "PLAUSIBLE_RR_MAX_MS",
    "PLAUSIBLE_RR_MIN_MS",
    "corrupt_rr_mask",
    "require_beats",
    "validate_rr",
]

#: Shortest physiologically plausible RR interval, ms (240 bpm). Shorter values are artifacts.
PLAUSIBLE_RR_MIN_MS: Final[float] = 250.0
#: Longest physiologically plausible RR interval, ms (24 bpm). Longer values are artifacts.
PLAUSIBLE_RR_MAX_MS: Final[float] = 2500.0
#: Longest interval one beat stands for, s (:data:`PLAUSIBLE_RR_MAX_MS`, 24 bpm): the one limit
#: used wherever a state is held, a trace drawn or contact judged from one beat to the next.
LONGEST_BEAT_S: Final[float] = PLAUSIBLE_RR_MAX_MS / 1000.0
#: Values above this (one hour, ms) are not an interval between two heart beats nor a recording
#: gap that any time line can hold: they are corrupt (e.g. ``1e308`` overflows every sum of
#: squares, ``1e10`` asks the 4 Hz spectrum for 40 million samples). A BLE strap cannot send more
#: than 65535/1024 s = 64 s; a file's dropout of minutes stays below it and is an artifact.
CORRUPT_RR_MAX_MS: Final[float] = 3_600_000.0


def corrupt_rr_mask(rr: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Which RR values are corrupt: not finite, not positive, or above :data:`CORRUPT_RR_MAX_MS`.

    The rule of :func:`validate_rr`, element-wise, for callers that keep the valid values of a
    batch and record the corrupt ones (the storage write path, file replay and import).

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals, float64 ms, one-dimensional.

    Returns
    -------
    numpy.ndarray
        Boolean, True where the value is corrupt.

    Examples
    --------
    >>> corrupt_rr_mask(np.array([0.0, 870.0, np.nan, -5.0, 1e308, 4000.0])).tolist()
    [True, False, True, True, True, False]
    """
    with np.errstate(invalid="ignore"):
        return ~np.isfinite(rr) | (rr <= 0.0) | (rr > CORRUPT_RR_MAX_MS)


def validate_rr(rr: ArrayLike) -> NDArray[np.float64]:
    """Check RR intervals once, at the entry of the pipeline, and return them as float64 ms.

    Parameters
    ----------
    rr : array_like
        RR intervals in milliseconds, one-dimensional.

    Returns
    -------
    numpy.ndarray
        A new contiguous float64 array (the input is never modified nor aliased).

    Raises
    ------
    InvalidRRError
        If the input is not one-dimensional or not numeric, or holds a corrupt value (not finite,
        not positive, or above :data:`CORRUPT_RR_MAX_MS`, see :func:`corrupt_rr_mask`); the
        message names the first offending index and value.

    Notes
    -----
    Only corrupt data is rejected. Values outside the plausible range
    [:data:`PLAUSIBLE_RR_MIN_MS`, :data:`PLAUSIBLE_RR_MAX_MS`] are kept: they are artifacts (a
    dropout gap, a double detection) that :func:`hrv.artifacts.detect_artifacts` flags and corrects,
    so that one bad beat never rejects a whole real recording.

    Examples
    --------
    >>> validate_rr([800, 810.5, 4000])
    array([ 800. ,  810.5, 4000. ])
    """
    try:
        arr = np.array(rr, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise InvalidRRError(
            f"RR intervals must be numbers in ms; could not convert: {exc}"
        ) from exc
    if arr.ndim != 1:
        raise InvalidRRError(
            f"RR intervals must be a 1-D sequence, got an array of shape {arr.shape}"
        )
    bad = corrupt_rr_mask(arr)
    if bad.any():
        i = int(np.argmax(bad))
        raise InvalidRRError(
            f"RR interval at index {i} is {float(arr[i])!r}; expected a finite positive number "
            f"of ms up to {CORRUPT_RR_MAX_MS:.0f}",
            index=i,
            value=float(arr[i]),
        )
    return arr


def require_beats(rr: NDArray[np.float64], needed: int, metric: str) -> None:
    """Raise :class:`InsufficientDataError` if ``rr`` has fewer than ``needed`` values."""
    if rr.shape[0] < needed:
        raise InsufficientDataError(metric, needed=needed, got=int(rr.shape[0]))
