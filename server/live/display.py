"""Display buffers of the live path: per-beat display values and the recent history.

A :class:`Chunk` holds the display values of consecutive beats of one participant as parallel
arrays (what one ``beats`` message carries for them, :class:`server.messages.ParticipantBeats`);
a :class:`Ring` keeps a participant's recent chunks for late joiners (the ``history`` message) and
for the co-regulation reading. Pure data structures: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["Chunk", "Ring", "finite", "nan_to_none"]


def nan_to_none(values: NDArray[np.float64]) -> list[float | None]:
    """The values as a list, NaN as None (JSON has no NaN).

    Examples
    --------
    >>> nan_to_none(np.array([1.0, np.nan]))
    [1.0, None]
    """
    return [None if math.isnan(v) else v for v in values.tolist()]


def finite(value: float) -> float | None:
    """``value`` if finite, else None.

    Examples
    --------
    >>> finite(2.0), finite(math.inf)
    (2.0, None)
    """
    return value if math.isfinite(value) else None


@dataclass(slots=True)
class Chunk:
    """Display values of consecutive beats of one participant (parallel arrays, times rising)."""

    time_s: NDArray[np.float64]
    rr_ms: NDArray[np.float64]
    hr_bpm: NDArray[np.float64]
    mean_hr_bpm: NDArray[np.float64]
    rmssd_ms: NDArray[np.float64]
    arousal_index: NDArray[np.float64]
    arousal_state: list[str]
    confidence: NDArray[np.float64]
    quality: NDArray[np.float64]
    artifact: NDArray[np.bool_]

    @staticmethod
    def join(chunks: list[Chunk]) -> Chunk:
        """The chunks end to end (the one chunk itself when there is one)."""
        if len(chunks) == 1:
            return chunks[0]

        def cat(name: str) -> Any:
            return np.concatenate([getattr(c, name) for c in chunks])

        return Chunk(
            time_s=cat("time_s"),
            rr_ms=cat("rr_ms"),
            hr_bpm=cat("hr_bpm"),
            mean_hr_bpm=cat("mean_hr_bpm"),
            rmssd_ms=cat("rmssd_ms"),
            arousal_index=cat("arousal_index"),
            arousal_state=[s for c in chunks for s in c.arousal_state],
            confidence=cat("confidence"),
            quality=cat("quality"),
            artifact=cat("artifact"),
        )

    def _slice(self, sl: slice) -> Chunk:
        return Chunk(
            self.time_s[sl],
            self.rr_ms[sl],
            self.hr_bpm[sl],
            self.mean_hr_bpm[sl],
            self.rmssd_ms[sl],
            self.arousal_index[sl],
            self.arousal_state[sl],
            self.confidence[sl],
            self.quality[sl],
            self.artifact[sl],
        )

    def since(self, t0_s: float) -> Chunk:
        """The beats at or after ``t0_s`` (possibly none)."""
        k = int(np.searchsorted(self.time_s, t0_s, side="left"))
        return self if k == 0 else self._slice(slice(k, None))

    def until(self, t1_s: float) -> Chunk | None:
        """The beats at or before ``t1_s``; None if there are none."""
        k = int(np.searchsorted(self.time_s, t1_s, side="right"))
        if k == 0:
            return None
        return self if k == self.time_s.size else self._slice(slice(0, k))


class Ring:
    """The recent display values of one participant (for late joiners and synchrony)."""

    def __init__(self) -> None:
        self._chunks: deque[Chunk] = deque()

    def add(self, chunk: Chunk, keep_from_s: float) -> None:
        """Append ``chunk`` and drop the chunks that end before ``keep_from_s``."""
        self._chunks.append(chunk)
        while self._chunks and float(self._chunks[0].time_s[-1]) < keep_from_s:
            self._chunks.popleft()

    def clear(self) -> None:
        """Forget everything (a participant hidden for good)."""
        self._chunks.clear()

    def since(self, t0_s: float) -> Chunk | None:
        """The beats at or after ``t0_s`` as one chunk; None if there are none."""
        chunks = [c for c in self._chunks if float(c.time_s[-1]) >= t0_s]
        if not chunks:
            return None
        out = Chunk.join(chunks).since(t0_s)
        return out if out.time_s.size else None
