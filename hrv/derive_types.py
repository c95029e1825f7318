"""Inputs, outputs and constants of the derivation (:mod:`hrv.derive`).

:class:`StoredBeats` (one person's stored beats, the input), :class:`Derivation` (the corrected
series with its map to the raw beats, the optional live trace and arousal), the enums of a raw
beat's fate and a corrected beat's kind, and the thresholds that cut segments and flag irregular
rhythm (Malik et al. 1989; Task Force 1996 for the 2-minute LF/HF minimum).

References
----------
.. [1] Task Force of the ESC and NASPE (1996). Heart rate variability: standards of measurement,
   physiological interpretation and clinical use. Circulation 93(5), 1043-1065.
.. [2] Malik M, Farrell T, Cripps T, Camm AJ (1989). Heart rate variability in relation to
   prognosis after myocardial infarction: selection of optimal processing techniques. European
   Heart Journal 10(12), 1060-1074 (successive changes over 20 % as ectopic).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hrv.arousal import ArousalSeries
from hrv.artifacts import BeatClass
from hrv.errors import SintoniaError
from hrv.stream import StreamUpdates
from hrv.validate import PLAUSIBLE_RR_MAX_MS

__all__ = [
    "DROPOUT_RR_MS",
    "IRREGULAR_CHANGE",
    "IRREGULAR_PCT_LIMIT",
    "LF_HF_MIN_DURATION_S",
    "SEGMENT_GAP_TOLERANCE_S",
    "BeatFate",
    "CorrectedKind",
    "Derivation",
    "DerivationError",
    "StoredBeats",
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
