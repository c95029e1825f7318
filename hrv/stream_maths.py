"""Per-beat maths of the streaming engine (:mod:`hrv.stream`), in two forms of one arithmetic.

:class:`StreamMaths` adds to :class:`hrv.stream_state.StreamState` the steps of one beat: arrival
(dRR), the causal artifact detector (Lipponen & Tarvainen 2019, trailing windows: see the Notes of
:class:`hrv.stream.MultiStreamEngine`), the correction, and the trailing-window metrics (Task
Force 1996). Each step exists as array code, one operation over every participant of a round, and
as a scalar twin on Python floats doing the same operations in the same order (tested bit for bit
equal). The twin is kept for a measured reason: one beat of one participant, the live case, costs
about 48 us on the scalar path and about 270 us on the array path (~150 small numpy calls), and a
one-participant replay of 3,600 beats 0.08 s against 1.0 s (``benchmarks/engine.py`` machine).

References
----------
.. [1] Lipponen JA, Tarvainen MP (2019). A robust algorithm for heart rate variability time series
   artefact correction using novel beat classification. Journal of Medical Engineering &
   Technology 43(3), 173-181. doi:10.1080/03091902.2019.1640306
.. [2] Task Force of the ESC and NASPE (1996). Heart rate variability: standards of measurement,
   physiological interpretation and clinical use. Circulation 93(5), 1043-1065.
.. [3] Neumaier A (1974). Rundungsfehleranalyse einiger Verfahren zur Summation endlicher Summen.
   ZAMM 54(1), 39-51 (compensated summation).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hrv.artifacts import (
    MIN_ADAPTIVE_BEATS,
    BeatClass,
)
from hrv.errors import InvalidRRError
from hrv.stream_config import (
    _EMPTY,
    _MS_PER_MIN,
    _MS_PER_S,
    CONTACT_UNKNOWN,
    MIN_VALID_RMSSD_MS,
    StreamUpdates,
    _build,
    _Record,
)
from hrv.stream_state import StreamState
from hrv.validate import PLAUSIBLE_RR_MAX_MS, PLAUSIBLE_RR_MIN_MS

__all__ = ["StreamMaths"]

# Beat classes as plain ints (stored as uint8 in the updates).
_NORMAL: Final[int] = int(BeatClass.NORMAL)
_ECTOPIC: Final[int] = int(BeatClass.ECTOPIC)
_LONG: Final[int] = int(BeatClass.LONG)
_SHORT: Final[int] = int(BeatClass.SHORT)
_MISSED: Final[int] = int(BeatClass.MISSED)
_EXTRA: Final[int] = int(BeatClass.EXTRA)
#: |mRRs| above which a beat is long or short whatever dRR says (Lipponen & Tarvainen 2019).
_MRRS_LIMIT: Final[float] = 3.0
#: A beat flagged long/short by the dRR rules must also lie more than Th2 from medRR (|mRRs| > 1),
#: the confirmation rule of :mod:`hrv.artifacts`.
_MRRS_CONFIRM: Final[float] = 1.0


def _quartile_deviation(
    sorted_rows: NDArray[np.float64], count: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Quartile deviation ``(Q3 - Q1) / 2`` of the first ``count`` values of each sorted row.

    Quantiles by linear interpolation between order statistics (numpy's and pandas' default, as
    the rolling quantiles of the batch detector), position ``q * (count - 1)``.
    """
    rows = np.arange(sorted_rows.shape[0])
    span = (count - 1).astype(np.float64)
    out = np.zeros(sorted_rows.shape[0])
    for sign, q in ((-1.0, 0.25), (1.0, 0.75)):
        pos = q * span
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, count - 1)
        frac = pos - lo
        a = sorted_rows[rows, lo]
        b = sorted_rows[rows, hi]
        out += sign * (a + frac * (b - a))
    return 0.5 * out


def _neumaier(s: float, c: float, x: float) -> tuple[float, float]:
    """Scalar twin of :meth:`MultiStreamEngine._add`: compensated ``s += x``, returns (s, c)."""
    new = s + x
    c += (s - new) + x if abs(s) >= abs(x) else (x - new) + s
    return new, c


def _quartile_deviation_one(sorted_values: list[float], count: int) -> float:
    """Scalar twin of :func:`_quartile_deviation` (same operations, same order)."""
    span = float(count - 1)
    out = 0.0
    for sign, q in ((-1.0, 0.25), (1.0, 0.75)):
        pos = q * span
        lo = math.floor(pos)
        hi = min(lo + 1, count - 1)
        frac = pos - lo
        a = sorted_values[lo]
        b = sorted_values[hi]
        out += sign * (a + frac * (b - a))
    return 0.5 * out


class StreamMaths(StreamState):
    """The per-beat steps of :class:`hrv.stream.MultiStreamEngine` (array code and scalar twin).

    A round of beats with more than ``_scalar_max_rows`` participants runs the array methods
    (:meth:`_arrive`, :meth:`_finalize`, :meth:`_measure`), smaller rounds their scalar twins
    (``*_one``).
    """

    @staticmethod
    def _contact_codes(contact: ArrayLike | None, n: int) -> NDArray[np.int8]:
        if contact is None:
            return np.full(n, CONTACT_UNKNOWN, dtype=np.int8)
        c = np.asarray(contact)
        if c.ndim == 0:
            return np.full(n, 1 if bool(c) else 0, dtype=np.int8)
        if c.shape != (n,):
            raise InvalidRRError(f"contact must be one value or one per beat ({n}), got {c.shape}")
        if c.dtype == np.bool_:
            return c.astype(np.int8)
        return np.where(c.astype(np.int64) < 0, CONTACT_UNKNOWN, c != 0).astype(np.int8)

    def _arrive(
        self,
        rows: NDArray[np.int64],
        rr: NDArray[np.float64],
        t: NDArray[np.float64],
        contact: NDArray[np.int8],
    ) -> StreamUpdates:
        """One beat for each of ``rows`` (distinct participants)."""
        if rows.shape[0] <= self._scalar_max_rows:
            records = [
                self._arrive_one(*args)
                for args in zip(
                    rows.tolist(), rr.tolist(), t.tolist(), contact.tolist(), strict=True
                )
            ]
            return _build([r for r in records if r is not None])
        if np.any(t < self._last_t[rows]):
            bad = int(np.argmax(t < self._last_t[rows]))
            raise InvalidRRError(
                f"beat times must not go back: participant {rows[bad]} got {t[bad]!r} s after "
                f"{self._last_t[rows[bad]]!r} s",
                index=bad,
                value=float(t[bad]),
            )
        arrived = self._arrived[rows]
        seg = self._seg[rows]
        pos = arrived % self._D
        prev = (arrived - 1) % self._D
        drr = np.where(seg > 0, rr - self._d_rr[rows, prev], 0.0)
        self._d_rr[rows, pos] = rr
        self._d_t[rows, pos] = t
        self._d_drr[rows, pos] = drr
        self._d_contact[rows, pos] = contact
        self._abs_drr[rows, arrived % self._W] = np.abs(drr)
        self._arrived[rows] = arrived + 1
        self._seg[rows] = seg + 1
        self._last_t[rows] = t
        pending = self._pending[rows] + 1
        self._pending[rows] = pending
        ready = pending > self._L
        if ready.all():
            return self._finalize(rows, np.full(rows.shape[0], self._L, dtype=np.int64))
        if not ready.any():
            return _EMPTY
        sel = rows[ready]
        return self._finalize(sel, np.full(sel.shape[0], self._L, dtype=np.int64))

    def _finalize(self, rows: NDArray[np.int64], ahead: NDArray[np.int64]) -> StreamUpdates:
        """Classify, correct and measure the oldest waiting beat of each of ``rows``.

        ``ahead`` is the number of later beats available (``lookahead_beats`` in steady state).
        """
        if rows.shape[0] <= self._scalar_max_rows:
            return _build(
                [
                    self._finalize_one(r, a)
                    for r, a in zip(rows.tolist(), ahead.tolist(), strict=True)
                ]
            )
        cfg = self.config
        D = self._D
        m = rows.shape[0]
        arrived = self._arrived[rows]
        newest = arrived - 1
        k = newest - ahead
        pk = k % D
        rr_k = self._d_rr[rows, pk]
        t_k = self._d_t[rows, pk]

        # median RR of the last min(arrived, M) beats, up to the newest
        M = self._M
        back = np.arange(M)
        cols = (newest[:, None] - back[None, :]) % D
        window = self._d_rr[rows[:, None], cols]
        n_med = np.minimum(arrived, M)
        if int(n_med.min()) < M:
            window = np.where(back[None, :] < n_med[:, None], window, np.inf)
        window.sort(axis=1)
        r = np.arange(m)
        med = 0.5 * (window[r, (n_med - 1) // 2] + window[r, n_med // 2])

        # thresholds: alpha * quartile deviation over the trailing windows
        n_d = np.minimum(arrived, self._W)
        abs_drr = self._abs_drr[rows]  # a copy, sorted in place
        abs_drr.sort(axis=1)
        th1 = np.maximum(
            cfg.alpha * _quartile_deviation(abs_drr, n_d),
            cfg.threshold_floor_fraction * med,
        )
        mrr = rr_k - med
        mrr = np.where(mrr < 0.0, 2.0 * mrr, mrr)
        n_mrr = self._n_mrr[rows]
        self._abs_mrr[rows, n_mrr % self._W] = np.abs(mrr)
        self._n_mrr[rows] = n_mrr + 1
        abs_mrr = self._abs_mrr[rows]
        abs_mrr.sort(axis=1)
        th2 = np.maximum(
            cfg.alpha * _quartile_deviation(abs_mrr, np.minimum(n_mrr + 1, self._W)),
            cfg.threshold_floor_fraction * med,
        )

        # normalised dRR around k; look-ahead not available counts as 0
        d_prev = self._d_drr[rows, (k - 1) % D] / th1
        d_k = self._d_drr[rows, pk] / th1
        d_n1 = np.where(ahead >= 1, self._d_drr[rows, (k + 1) % D], 0.0) / th1
        d_n2 = np.where(ahead >= 2, self._d_drr[rows, (k + 2) % D], 0.0) / th1
        m_k = mrr / th2
        s12 = np.where(d_k > 0, np.maximum(d_prev, d_n1), np.minimum(d_prev, d_n1))
        s22 = np.where(d_k >= 0, np.minimum(d_n1, d_n2), np.maximum(d_n1, d_n2))
        adaptive = arrived >= MIN_ADAPTIVE_BEATS
        ectopic = adaptive & (
            ((d_k > 1) & (s12 < -cfg.c1 * d_k - cfg.c2))
            | ((d_k < -1) & (s12 > -cfg.c1 * d_k + cfg.c2))
        )
        confirmed = np.abs(m_k) > _MRRS_CONFIRM
        big = np.abs(m_k) > _MRRS_LIMIT
        long_ = adaptive & ~ectopic & (((d_k > 1) & (s22 < -1) & confirmed) | (big & (mrr > 0)))
        short = adaptive & ~ectopic & (((d_k < -1) & (s22 > 1) & confirmed) | (big & (mrr < 0)))
        n_int = np.maximum(np.rint(rr_k / med), 1.0)
        missed = (long_ & (n_int >= 2.0) & (np.abs(rr_k / n_int - med) < th2)) | (
            rr_k > PLAUSIBLE_RR_MAX_MS
        )
        rr_next = self._d_rr[rows, (k + 1) % D]
        extra = ~missed & (
            (short & (ahead >= 1) & (np.abs(rr_k + rr_next - med) < th2))
            | (~ectopic & (rr_k < PLAUSIBLE_RR_MIN_MS))
        )
        cls = np.where(short, _SHORT, np.where(long_, _LONG, _NORMAL))
        cls = np.where(ectopic, _ECTOPIC, cls)
        cls = np.where(missed, _MISSED, cls)
        cls = np.where(extra, _EXTRA, cls).astype(np.uint8)
        artifact = cls != _NORMAL
        rr_c = np.where(artifact, med, rr_k)

        # missing beats before k: the time gap not covered by RR_k
        t_prev = self._d_t[rows, (k - 1) % D]
        gap_ms = (t_k - t_prev) * _MS_PER_S - rr_k
        missing = np.where(k > 0, np.floor(np.maximum(gap_ms, 0.0) / med + 0.5), 0.0).astype(
            np.int64
        )
        contact = self._d_contact[rows, pk]
        bad = artifact | (contact == 0)
        self._pending[rows] -= 1

        return self._measure(
            rows,
            k,
            t_k,
            rr_k,
            rr_c,
            cls,
            artifact,
            bad,
            missing,
            contact,
            ahead,
            self._d_t[rows, newest % D] - t_k,
        )

    def _measure(
        self,
        rows: NDArray[np.int64],
        k: NDArray[np.int64],
        t_k: NDArray[np.float64],
        rr_k: NDArray[np.float64],
        rr_c: NDArray[np.float64],
        cls: NDArray[np.uint8],
        artifact: NDArray[np.bool_],
        bad: NDArray[np.bool_],
        missing: NDArray[np.int64],
        contact: NDArray[np.int8],
        ahead: NDArray[np.int64],
        delay: NDArray[np.float64],
    ) -> StreamUpdates:
        """Enter one corrected beat per row into the metric ring and read the windows."""
        cfg = self.config
        C = self._C
        final = self._final[rows]
        # make room: the slot of beat final - C must have left every window
        for head_name in ("_hr_head", "_rm_head"):
            while True:
                head = getattr(self, head_name)[rows]
                full = final - head >= C
                if not full.any():
                    break
                self._expire(head_name, rows[full], head[full], final[full])
        slot = final % C
        self._m_t[rows, slot] = t_k
        self._m_rr[rows, slot] = rr_c
        self._m_art[rows, slot] = artifact
        self._m_bad[rows, slot] = bad
        self._m_miss[rows, slot] = missing
        has_prev = final > self._rm_head[rows]
        step = rr_c - self._m_rr[rows, (final - 1) % C]
        self._add("_rm_sq", "_rm_cmp", rows, np.where(has_prev, step * step, 0.0))
        self._rm_art[rows] += artifact
        self._rm_bad[rows] += bad
        self._rm_miss[rows] += missing
        self._add("_hr_sum", "_hr_cmp", rows, _MS_PER_MIN / rr_c)
        final = final + 1
        self._final[rows] = final
        for head_name, width in (("_hr_head", cfg.hr_window_s), ("_rm_head", cfg.rmssd_window_s)):
            limit = t_k - width
            while True:
                head = getattr(self, head_name)[rows]
                old = self._m_t[rows, head % C] <= limit
                if not old.any():
                    break
                self._expire(head_name, rows[old], head[old], final[old])
        due = final % cfg.resync_every_beats == 0
        if due.any():
            self._resync(rows[due])

        n_hr = final - self._hr_head[rows]
        n_rm = final - self._rm_head[rows]
        nan = np.nan
        valid_hr = n_hr >= cfg.min_beats_hr
        mean_hr = np.where(valid_hr, (self._hr_sum[rows] + self._hr_cmp[rows]) / n_hr, nan)
        rm_pairs = np.maximum(n_rm - 1, 1)
        rmssd = np.sqrt(np.maximum(self._rm_sq[rows] + self._rm_cmp[rows], 0.0) / rm_pairs)
        valid_rm = (n_rm >= cfg.min_beats_rmssd) & (rmssd > MIN_VALID_RMSSD_MS)
        rmssd = np.where(valid_rm, rmssd, nan)
        ln_rmssd = np.log(rmssd)  # NaN stays NaN, valid RMSSD is > 0
        art_frac = self._rm_art[rows] / n_rm
        miss = self._rm_miss[rows]
        quality = np.clip((n_rm - self._rm_bad[rows]) / (n_rm + miss), 0.0, 1.0)
        valid = valid_hr & valid_rm & (art_frac <= cfg.max_artifact_fraction)
        n = rows.shape[0]
        coh = np.full(n, nan)
        breath = np.full(n, nan)
        fresh = np.zeros(n, dtype=np.bool_)
        self._coherence(rows, final, t_k, coh, breath, fresh)
        return StreamUpdates(
            participant=rows,
            beat_index=k,
            time_s=t_k,
            rr_ms=rr_k,
            rr_corrected_ms=rr_c,
            hr_bpm=_MS_PER_MIN / rr_c,
            artifact=cls,
            lookahead_beats=ahead.astype(np.uint8),
            delay_s=delay,
            contact=contact,
            mean_hr_bpm=mean_hr,
            n_hr=n_hr.astype(np.int32),
            valid_hr=valid_hr,
            rmssd_ms=rmssd,
            ln_rmssd=ln_rmssd,
            n_rmssd=n_rm.astype(np.int32),
            valid_rmssd=valid_rm,
            artifact_fraction=art_frac,
            missing_beats=miss.astype(np.int32),
            quality=quality,
            valid=valid,
            coherence_ratio=coh,
            breathing_rate_bpm=breath,
            coherence_fresh=fresh,
        )

    # ------------------------------------------------------- scalar path (one participant)
    # The same arithmetic as _arrive/_finalize/_measure, operation for operation, on Python floats,
    # for rounds with few participants (live use: one beat per notification). Tested equal.
    def _arrive_one(self, row: int, rr: float, t: float, contact: int) -> _Record | None:
        last_t = float(self._last_t[row])
        if t < last_t:
            raise InvalidRRError(
                f"beat times must not go back: participant {row} got {t!r} s after {last_t!r} s",
                value=t,
            )
        D = self._D
        arrived = int(self._arrived[row])
        d_rr = self._d_rr[row]
        drr = rr - float(d_rr[(arrived - 1) % D]) if self._seg[row] > 0 else 0.0
        pos = arrived % D
        d_rr[pos] = rr
        self._d_t[row, pos] = t
        self._d_drr[row, pos] = drr
        self._d_contact[row, pos] = contact
        self._abs_drr[row, arrived % self._W] = abs(drr)
        self._arrived[row] = arrived + 1
        self._seg[row] += 1
        self._last_t[row] = t
        pending = int(self._pending[row]) + 1
        self._pending[row] = pending
        if pending > self._L:
            return self._finalize_one(row, self._L)
        return None

    def _finalize_one(self, row: int, ahead: int) -> _Record:
        cfg = self.config
        D = self._D
        arrived = int(self._arrived[row])
        newest = arrived - 1
        k = newest - ahead
        pk = k % D
        d_rr = self._d_rr[row].tolist()
        d_drr = self._d_drr[row].tolist()
        d_t = self._d_t[row]
        rr_k = d_rr[pk]
        t_k = float(d_t[pk])

        n_med = min(arrived, self._M)
        window = sorted(d_rr[(newest - j) % D] for j in range(n_med))
        med = 0.5 * (window[(n_med - 1) // 2] + window[n_med // 2])

        th1 = max(
            cfg.alpha
            * _quartile_deviation_one(sorted(self._abs_drr[row].tolist()), min(arrived, self._W)),
            cfg.threshold_floor_fraction * med,
        )
        mrr = rr_k - med
        if mrr < 0.0:
            mrr = 2.0 * mrr
        n_mrr = int(self._n_mrr[row])
        abs_mrr = self._abs_mrr[row]
        abs_mrr[n_mrr % self._W] = abs(mrr)
        self._n_mrr[row] = n_mrr + 1
        th2 = max(
            cfg.alpha * _quartile_deviation_one(sorted(abs_mrr.tolist()), min(n_mrr + 1, self._W)),
            cfg.threshold_floor_fraction * med,
        )

        d_prev = d_drr[(k - 1) % D] / th1
        d_k = d_drr[pk] / th1
        d_n1 = (d_drr[(k + 1) % D] if ahead >= 1 else 0.0) / th1
        d_n2 = (d_drr[(k + 2) % D] if ahead >= 2 else 0.0) / th1
        m_k = mrr / th2
        s12 = max(d_prev, d_n1) if d_k > 0 else min(d_prev, d_n1)
        s22 = min(d_n1, d_n2) if d_k >= 0 else max(d_n1, d_n2)
        adaptive = arrived >= MIN_ADAPTIVE_BEATS
        ectopic = adaptive and (
            (d_k > 1 and s12 < -cfg.c1 * d_k - cfg.c2)
            or (d_k < -1 and s12 > -cfg.c1 * d_k + cfg.c2)
        )
        confirmed = abs(m_k) > _MRRS_CONFIRM
        big = abs(m_k) > _MRRS_LIMIT
        long_ = (adaptive and not ectopic) and (
            (d_k > 1 and s22 < -1 and confirmed) or (big and mrr > 0)
        )
        short = (adaptive and not ectopic) and (
            (d_k < -1 and s22 > 1 and confirmed) or (big and mrr < 0)
        )
        n_int = max(float(round(rr_k / med)), 1.0)
        missed = (long_ and n_int >= 2.0 and abs(rr_k / n_int - med) < th2) or (
            rr_k > PLAUSIBLE_RR_MAX_MS
        )
        extra = not missed and (
            (short and ahead >= 1 and abs(rr_k + d_rr[(k + 1) % D] - med) < th2)
            or (not ectopic and rr_k < PLAUSIBLE_RR_MIN_MS)
        )
        cls = _SHORT if short else (_LONG if long_ else _NORMAL)
        if ectopic:
            cls = _ECTOPIC
        if missed:
            cls = _MISSED
        if extra:
            cls = _EXTRA
        artifact = cls != _NORMAL
        rr_c = med if artifact else rr_k

        missing = 0
        if k > 0:
            gap_ms = (t_k - float(d_t[(k - 1) % D])) * _MS_PER_S - rr_k
            missing = math.floor(max(gap_ms, 0.0) / med + 0.5)
        contact = int(self._d_contact[row, pk])
        self._pending[row] -= 1
        delay = float(d_t[newest % D]) - t_k
        return self._measure_one(
            row,
            k,
            t_k,
            rr_k,
            rr_c,
            cls,
            artifact,
            artifact or contact == 0,
            missing,
            contact,
            ahead,
            delay,
        )

    def _measure_one(
        self,
        row: int,
        k: int,
        t_k: float,
        rr_k: float,
        rr_c: float,
        cls: int,
        artifact: bool,
        bad: bool,
        missing: int,
        contact: int,
        ahead: int,
        delay: float,
    ) -> _Record:
        cfg = self.config
        C = self._C
        m_rr = self._m_rr[row]
        m_t = self._m_t[row]
        final = int(self._final[row])
        hr_head = int(self._hr_head[row])
        rm_head = int(self._rm_head[row])
        hr_sum = float(self._hr_sum[row])
        hr_cmp = float(self._hr_cmp[row])
        rm_sq = float(self._rm_sq[row])
        rm_cmp = float(self._rm_cmp[row])
        rm_art = int(self._rm_art[row])
        rm_bad = int(self._rm_bad[row])
        rm_miss = int(self._rm_miss[row])
        m_art = self._m_art[row]
        m_bad = self._m_bad[row]
        m_miss = self._m_miss[row]
        # make room
        while final - hr_head >= C:
            hr_sum, hr_cmp = _neumaier(hr_sum, hr_cmp, -(_MS_PER_MIN / float(m_rr[hr_head % C])))
            hr_head += 1
        while final - rm_head >= C:
            step = float(m_rr[(rm_head + 1) % C]) - float(m_rr[rm_head % C])
            rm_sq, rm_cmp = _neumaier(rm_sq, rm_cmp, -(step * step if rm_head + 1 < final else 0.0))
            h = rm_head % C
            rm_art -= int(m_art[h])
            rm_bad -= int(m_bad[h])
            rm_miss -= int(m_miss[h])
            rm_head += 1
        slot = final % C
        m_t[slot] = t_k
        m_rr[slot] = rr_c
        m_art[slot] = artifact
        m_bad[slot] = bad
        m_miss[slot] = missing
        if final > rm_head:
            step = rr_c - float(m_rr[(final - 1) % C])
            rm_sq, rm_cmp = _neumaier(rm_sq, rm_cmp, step * step)
        rm_art += artifact
        rm_bad += bad
        rm_miss += missing
        hr_sum, hr_cmp = _neumaier(hr_sum, hr_cmp, _MS_PER_MIN / rr_c)
        final += 1
        limit = t_k - cfg.hr_window_s
        while m_t[hr_head % C] <= limit:
            hr_sum, hr_cmp = _neumaier(hr_sum, hr_cmp, -(_MS_PER_MIN / float(m_rr[hr_head % C])))
            hr_head += 1
        limit = t_k - cfg.rmssd_window_s
        while m_t[rm_head % C] <= limit:
            h = rm_head % C
            step = float(m_rr[(rm_head + 1) % C]) - float(m_rr[h])
            rm_sq, rm_cmp = _neumaier(rm_sq, rm_cmp, -(step * step if rm_head + 1 < final else 0.0))
            rm_art -= int(m_art[h])
            rm_bad -= int(m_bad[h])
            rm_miss -= int(m_miss[h])
            rm_head += 1
        self._final[row] = final
        self._hr_head[row] = hr_head
        self._rm_head[row] = rm_head
        self._rm_art[row] = rm_art
        self._rm_bad[row] = rm_bad
        self._rm_miss[row] = rm_miss
        self._hr_sum[row] = hr_sum
        self._hr_cmp[row] = hr_cmp
        self._rm_sq[row] = rm_sq
        self._rm_cmp[row] = rm_cmp
        if final % cfg.resync_every_beats == 0:
            self._resync(np.array([row]))
            hr_sum, hr_cmp = float(self._hr_sum[row]), 0.0
            rm_sq, rm_cmp = float(self._rm_sq[row]), 0.0

        n_hr = final - hr_head
        n_rm = final - rm_head
        valid_hr = n_hr >= cfg.min_beats_hr
        mean_hr = (hr_sum + hr_cmp) / n_hr if valid_hr else math.nan
        rmssd = math.sqrt(max(rm_sq + rm_cmp, 0.0) / max(n_rm - 1, 1))
        valid_rm = n_rm >= cfg.min_beats_rmssd and rmssd > MIN_VALID_RMSSD_MS
        if not valid_rm:
            rmssd = math.nan
        art_frac = rm_art / n_rm
        quality = min(max((n_rm - rm_bad) / (n_rm + rm_miss), 0.0), 1.0)
        valid = valid_hr and valid_rm and art_frac <= cfg.max_artifact_fraction
        coh, breath, fresh = self._coherence_one(row, final, t_k)
        # in the order of UPDATE_FIELDS; ln_rmssd is filled in by _build (np.log, as the array path)
        return (
            row, k, t_k, rr_k, rr_c, _MS_PER_MIN / rr_c, cls, ahead, delay, contact, mean_hr, n_hr,
            valid_hr, rmssd, math.nan, n_rm, valid_rm, art_frac, rm_miss, quality, valid, coh,
            breath, fresh,
        )  # fmt: skip
