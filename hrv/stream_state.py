"""State of the streaming engine (:mod:`hrv.stream`): 2-D ring buffers and running sums.

:class:`StreamState` allocates, per participant (one row each), the detector's ring of raw beats,
the two rings of absolute ``dRR`` and ``mRR`` for the thresholds, and the ring of corrected beats
with the running sums of the trailing windows. It keeps those sums compensated (Neumaier 1974),
removes beats leaving a window, re-synchronises the sums exactly from the ring, and refreshes the
coherence ratio over the newest window. The per-beat maths live in :mod:`hrv.stream_maths`; the
public engine is :class:`hrv.stream.MultiStreamEngine`.

References
----------
.. [1] Neumaier A (1974). Rundungsfehleranalyse einiger Verfahren zur Summation endlicher Summen.
   ZAMM 54(1), 39-51 (compensated summation).
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from hrv.coherence import BREATHING_MIN_CONFIDENCE, coherence_ratio
from hrv.errors import InsufficientDataError
from hrv.stream_config import _MS_PER_MIN, StreamConfig, StreamConfigError

__all__ = ["StreamState"]


class StreamState:
    """Ring buffers and running sums of :class:`hrv.stream.MultiStreamEngine` (see its Notes).

    Holds the state of ``n_participants`` rows as 2-D arrays ``[participant, slot]``; memory does
    not depend on the length of the session. Not used on its own: the engine adds the per-beat
    maths (:class:`hrv.stream_maths.StreamMaths`) and the public calls.
    """

    def __init__(self, n_participants: int = 1, config: StreamConfig | None = None) -> None:
        if n_participants < 0:
            raise StreamConfigError(f"n_participants must be >= 0, got {n_participants}")
        self.config = config if config is not None else StreamConfig()
        c = self.config
        self._L = c.lookahead_beats
        self._D = max(c.median_window_beats, self._L + 2)
        self._M = c.median_window_beats
        self._W = c.threshold_window_beats
        self._C = c.ring_capacity
        self._n = 0
        c_every = self.config.coherence_every_s
        self._coh_default = math.nan if c_every is None else float(c_every)
        self._alloc(n_participants)
        #: Rounds with at most this many participants take the scalar path (same arithmetic, in
        #: the same order, as the array path; a round of one beat costs tens of microseconds
        #: instead of the fixed overhead of ~150 small numpy calls).
        self._scalar_max_rows = 4

    # ------------------------------------------------------------------ state
    _PER_ROW: Final[dict[str, tuple[str, int, float]]] = {
        # name: (dtype, slots (0 = scalar per participant; -1..-4 = D, W, W, C), initial value)
        "_arrived": ("i8", 0, 0),  # beats received, all segments
        "_seg": ("i8", 0, 0),  # beats received in the current segment
        "_pending": ("i8", 0, 0),  # received, not yet classified
        "_last_t": ("f8", 0, -np.inf),  # time of the newest beat received
        "_d_rr": ("f8", -1, 0.0),
        "_d_t": ("f8", -1, 0.0),
        "_d_drr": ("f8", -1, 0.0),
        "_d_contact": ("i1", -1, -1),
        "_abs_drr": ("f8", -2, np.inf),
        "_abs_mrr": ("f8", -3, np.inf),
        "_n_mrr": ("i8", 0, 0),
        "_m_t": ("f8", -4, 0.0),
        "_m_rr": ("f8", -4, 0.0),
        "_m_art": ("i1", -4, 0),
        "_m_bad": ("i1", -4, 0),
        "_m_miss": ("i4", -4, 0),
        "_final": ("i8", 0, 0),  # beats classified (next absolute index in the metric ring)
        "_hr_head": ("i8", 0, 0),
        "_hr_sum": ("f8", 0, 0.0),  # Neumaier sum and its compensation term
        "_hr_cmp": ("f8", 0, 0.0),
        "_rm_head": ("i8", 0, 0),
        "_rm_sq": ("f8", 0, 0.0),
        "_rm_cmp": ("f8", 0, 0.0),
        "_rm_art": ("i8", 0, 0),
        "_rm_bad": ("i8", 0, 0),
        "_rm_miss": ("i8", 0, 0),
        "_coh_due": ("f8", 0, -np.inf),
        "_coh_every": ("f8", 0, np.nan),  # coherence period, s; NaN = off (default from config)
        "_mark": ("i8", 0, 0),  # scratch: detects a participant repeated within a push
    }

    _arrived: NDArray[np.int64]
    _seg: NDArray[np.int64]
    _pending: NDArray[np.int64]
    _last_t: NDArray[np.float64]
    _d_rr: NDArray[np.float64]
    _d_t: NDArray[np.float64]
    _d_drr: NDArray[np.float64]
    _d_contact: NDArray[np.int8]
    _abs_drr: NDArray[np.float64]
    _abs_mrr: NDArray[np.float64]
    _n_mrr: NDArray[np.int64]
    _m_t: NDArray[np.float64]
    _m_rr: NDArray[np.float64]
    _m_art: NDArray[np.int8]
    _m_bad: NDArray[np.int8]
    _m_miss: NDArray[np.int32]
    _final: NDArray[np.int64]
    _hr_head: NDArray[np.int64]
    _hr_sum: NDArray[np.float64]
    _hr_cmp: NDArray[np.float64]
    _rm_head: NDArray[np.int64]
    _rm_sq: NDArray[np.float64]
    _rm_cmp: NDArray[np.float64]
    _rm_art: NDArray[np.int64]
    _rm_bad: NDArray[np.int64]
    _rm_miss: NDArray[np.int64]
    _coh_due: NDArray[np.float64]
    _coh_every: NDArray[np.float64]
    _mark: NDArray[np.int64]

    def _slots(self, code: int) -> int:
        return {-1: self._D, -2: self._W, -3: self._W, -4: self._C}[code]

    def _alloc(self, n: int) -> None:
        for name, (dtype, code, init) in self._PER_ROW.items():
            shape = (n,) if code == 0 else (n, self._slots(code))
            setattr(self, name, np.full(shape, init, dtype=dtype))
        self._n = n
        self._coh_every[:] = self._coh_default

    def _check_rows(self, rows: NDArray[np.int64]) -> None:
        if rows.size and (int(rows.min()) < 0 or int(rows.max()) >= self._n):
            raise StreamConfigError(
                f"participant indices must be in [0, {self._n}), got {rows.min()}..{rows.max()}"
            )

    def _add(self, sum_name: str, cmp_name: str, rows: NDArray[np.int64], x: Any) -> None:
        """Neumaier-compensated ``sum += x`` for ``rows`` (Neumaier 1974)."""
        total = getattr(self, sum_name)
        s = total[rows]
        new = s + x
        getattr(self, cmp_name)[rows] += np.where(
            np.abs(s) >= np.abs(x), (s - new) + x, (x - new) + s
        )
        total[rows] = new

    def _expire(
        self,
        head_name: str,
        rows: NDArray[np.int64],
        head: NDArray[np.int64],
        final: NDArray[np.int64],
    ) -> None:
        """Remove the oldest beat of a window (``final`` = one past the newest beat in the ring)."""
        C = self._C
        h = head % C
        if head_name == "_hr_head":
            self._add("_hr_sum", "_hr_cmp", rows, -(_MS_PER_MIN / self._m_rr[rows, h]))
        else:
            step = self._m_rr[rows, (head + 1) % C] - self._m_rr[rows, h]
            self._add("_rm_sq", "_rm_cmp", rows, -np.where(head + 1 < final, step * step, 0.0))
            self._rm_art[rows] -= self._m_art[rows, h]
            self._rm_bad[rows] -= self._m_bad[rows, h]
            self._rm_miss[rows] -= self._m_miss[rows, h]
        getattr(self, head_name)[rows] = head + 1

    def _resync(self, rows: NDArray[np.int64]) -> None:
        """Recompute the floating-point running sums of ``rows`` exactly from the ring."""
        C = self._C
        final = self._final[rows]
        offs = np.arange(C)
        for head_name in ("_hr_head", "_rm_head"):
            head = getattr(self, head_name)[rows]
            count = final - head
            idx = (head[:, None] + offs[None, :]) % C
            vals = np.take_along_axis(self._m_rr[rows], idx, axis=1)
            inside = offs[None, :] < count[:, None]
            if head_name == "_hr_head":
                # divide only inside the window: before the ring is full (a ``resync_every_beats``
                # below its capacity) the other slots are still 0.0; 0.0 outside, as before
                inv = np.divide(_MS_PER_MIN, vals, out=np.zeros_like(vals), where=inside)
                self._hr_sum[rows] = inv.sum(axis=1)
                self._hr_cmp[rows] = 0.0
            else:
                d = np.diff(vals, axis=1)
                pair = offs[None, 1:] < count[:, None]
                self._rm_sq[rows] = np.where(pair, d * d, 0.0).sum(axis=1)
                self._rm_cmp[rows] = 0.0

    def _coherence(
        self,
        rows: NDArray[np.int64],
        final: NDArray[np.int64],
        t_k: NDArray[np.float64],
        coh: NDArray[np.float64],
        breath: NDArray[np.float64],
        fresh: NDArray[np.bool_],
    ) -> None:
        """Refresh the coherence of the rows whose refresh time has come (one spectrum each)."""
        every = self._coh_every[rows]
        on = ~np.isnan(every)
        if not on.any():
            return
        due = self._coh_due[rows]
        for i in np.flatnonzero(on & (np.isneginf(due) | (t_k >= due))).tolist():
            coh[i], breath[i], fresh[i] = self._coherence_one(int(rows[i]), int(final[i]), t_k[i])

    def _coherence_one(self, row: int, final: int, t_k: float) -> tuple[float, float, bool]:
        """Coherence ratio and breathing rate of one participant if due, else (NaN, NaN, False).

        The first refresh is due ``coherence_every_s`` after the participant's first beat, then
        every ``coherence_every_s`` of beat time (on the first beat at or after the due time).
        """
        every = float(self._coh_every[row])
        if math.isnan(every):
            return math.nan, math.nan, False
        due = float(self._coh_due[row])
        if due == -math.inf:
            self._coh_due[row] = t_k + every
            return math.nan, math.nan, False
        if t_k < due:
            return math.nan, math.nan, False
        self._coh_due[row] = t_k + every
        window_s = self.config.coherence_window_s
        try:
            result = coherence_ratio(self._window_rr(row, window_s, final), window_s=window_s)
        except InsufficientDataError:
            return math.nan, math.nan, False
        # a low-confidence breathing rate is not a number to show (hrv.coherence: Mayer waves)
        shown = result.breathing_confidence >= BREATHING_MIN_CONFIDENCE
        return result.ratio, result.breathing_rate_bpm if shown else math.nan, True

    def _window_rr(self, participant: int, window_s: float, final: int) -> NDArray[np.float64]:
        C = self._C
        count = min(final, C)
        if count == 0:
            return np.empty(0)
        idx = (np.arange(final - count, final)) % C
        t = self._m_t[participant, idx]
        keep = t > t[-1] - window_s
        out: NDArray[np.float64] = self._m_rr[participant, idx][keep]
        return out
