"""The single validation step at the entry of the HRV pipeline."""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hrv.errors import InsufficientDataError, InvalidRRError

__all__ = [
    "CORRUPT_RR_MAX_MS",
    "PLAUSIBLE_RR_MAX_MS",
    "PLAUSIBLE_RR_MIN_MS",
    "require_beats",
    "validate_rr",
]

#: Shortest physiologically plausible RR interval, ms (240 bpm). Shorter values are artifacts.
PLAUSIBLE_RR_MIN_MS: Final[float] = 250.0
#: Longest physiologically plausible RR interval, ms (24 bpm). Longer values are artifacts.
PLAUSIBLE_RR_MAX_MS: Final[float] = 2500.0
#: Above this an "RR interval" is corrupt data, not an artifact, ms (10 minutes; a strap's RR
#: field cannot exceed 64 s, 65535/1024 s).
CORRUPT_RR_MAX_MS: Final[float] = 600_000.0


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
        If the input is not one-dimensional or not numeric, or holds a non-finite or non-positive
        value, or one above :data:`CORRUPT_RR_MAX_MS`; the message names the first offending
        index and value.

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
    bad = ~np.isfinite(arr) | (arr <= 0.0) | (arr > CORRUPT_RR_MAX_MS)
    if bad.any():
        i = int(np.argmax(bad))
        raise InvalidRRError(
            f"RR interval at index {i} is {float(arr[i])!r}; expected a finite positive number "
            f"of ms, at most {CORRUPT_RR_MAX_MS:.0f}",
            index=i,
            value=float(arr[i]),
        )
    return arr


def require_beats(rr: NDArray[np.float64], needed: int, metric: str) -> None:
    """Raise :class:`InsufficientDataError` if ``rr`` has fewer than ``needed`` values."""
    if rr.shape[0] < needed:
        raise InsufficientDataError(metric, needed=needed, got=int(rr.shape[0]))
