"""The streaming (per-beat) HRV engine: ring buffers, a causal artifact detector, live metrics.

One :class:`MultiStreamEngine` holds the state of many participants in 2-D ring buffers
``[participant, slot]`` and updates every participant that received a beat with one array
operation per step; :class:`HRVStream` is the same engine for one participant. Memory per
participant is fixed by the configuration (the longest window and the detector's windows), never
by the length of the session.

Per beat, in order of arrival:

1. **Causal artifact detection** (Lipponen & Tarvainen 2019, trailing windows): the beat is
   classified once ``lookahead_beats`` (default 2) later beats have arrived, so the update of beat
   k leaves the engine with beat k + 2 (``lookahead_beats`` and ``delay_s`` say so on each update).
   :meth:`MultiStreamEngine.flush` classifies the beats still waiting, with whatever look-ahead
   there is, at the end of a stream or at a dropout.
2. **Correction**: a beat classified as an artifact is replaced, for the metrics only, by the
   trailing median RR of the detector; the raw RR is never changed and is reported next to it.
3. **Trailing-window metrics** on the corrected beats, time-based windows on beat times: mean HR
   over 10 s, RMSSD and ln RMSSD over 60 s, the artifact fraction, the beats estimated missing,
   a signal quality 0-1, sensor contact; compensated running sums updated in O(1) per beat and
   re-synchronised exactly from the ring every ``resync_every_beats`` beats, so they do not drift.
4. Optionally, per participant (paced breathing), every 5 s of beat time the coherence ratio and
   breathing rate over the last 64 s of corrected beats (:func:`hrv.coherence.coherence_ratio`).

The engine is split by concern: :mod:`hrv.stream_config` (configuration and the update type),
:mod:`hrv.stream_state` (ring buffers, running sums), :mod:`hrv.stream_maths` (the per-beat
detector and metrics, array code and its scalar twin); this module holds the public calls.

Live equals batch: for every beat, ``rmssd_ms``, ``ln_rmssd`` and ``mean_hr_bpm`` equal
:func:`hrv.time_domain.rmssd`, :func:`hrv.time_domain.ln_rmssd` and
:func:`hrv.time_domain.mean_hr` applied to the same window of the same corrected beats (tested to
1e-9, with hypothesis, random batch splits and injected artifacts).

References
----------
.. [1] Lipponen JA, Tarvainen MP (2019). A robust algorithm for heart rate variability time series
   artefact correction using novel beat classification. Journal of Medical Engineering &
   Technology 43(3), 173-181. doi:10.1080/03091902.2019.1640306
.. [2] Task Force of the ESC and NASPE (1996). Heart rate variability: standards of measurement,
   physiological interpretation and clinical use. Circulation 93(5), 1043-1065.
.. [3] Munoz ML, et al. (2015). Validity of (ultra-)short recordings for heart rate variability
   measurements. PLoS ONE 10(9), e0138921 (RMSSD from 10 s onwards).
.. [4] Neumaier A (1974). Rundungsfehleranalyse einiger Verfahren zur Summation endlicher Summen.
   ZAMM 54(1), 39-51 (compensated summation).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from hrv.errors import InvalidRRError
from hrv.stream_config import (
    _EMPTY,
    MIN_VALID_RMSSD_MS,
    UPDATE_FIELDS,
    StreamConfig,
    StreamConfigError,
    StreamUpdates,
    _build,
)
from hrv.stream_config import CONTACT_UNKNOWN as CONTACT_UNKNOWN
from hrv.stream_maths import StreamMaths
from hrv.validate import validate_rr

__all__ = [
    "MIN_VALID_RMSSD_MS",
    "UPDATE_FIELDS",
    "HRVStream",
    "MultiStreamEngine",
    "StreamConfig",
    "StreamConfigError",
    "StreamUpdates",
]


class MultiStreamEngine(StreamMaths):
    """Streaming HRV for many participants at once, one array operation per step.

    Parameters
    ----------
    n_participants : int
        Participants (rows) to allocate; :meth:`add_participant` adds more.
    config : StreamConfig, optional
        Windows and detector parameters (see :class:`StreamConfig`).

    Notes
    -----
    **State.** Per participant: a detector ring of the last ``max(median_window, L + 2)`` raw
    beats (RR, time, dRR, contact), two rings of the last ``threshold_window_beats`` absolute
    ``dRR`` and ``mRR`` values, and a ring of ``ring_capacity`` corrected beats (time, RR,
    artifact, bad, missing) with running sums for each trailing window. All are 2-D arrays
    ``[participant, slot]``; memory does not grow with the session.

    **Causal detector** (Lipponen & Tarvainen 2019 with trailing windows). When beat j arrives,
    beat k = j - L is classified (L = ``lookahead_beats``) from

    * ``dRR_i = RR_i - RR_{i-1}`` (0 for the first beat of a segment);
    * ``medRR`` = median of the last 11 RR up to j; ``mRR_k = RR_k - medRR`` (doubled if < 0);
    * ``Th1 = max(alpha QD(|dRR|), 0.02 medRR)`` over the last 91 beats up to j, with
      QD = (Q3 - Q1) / 2; ``Th2`` likewise from ``|mRR|`` over the last 91 classified beats;
    * ``d_i = dRR_i / Th1``, ``m = mRR_k / Th2``;
      ``S12 = max(d_{k-1}, d_{k+1})`` if ``d_k > 0`` else ``min``;
      ``S22 = min(d_{k+1}, d_{k+2})`` if ``d_k >= 0`` else ``max``;
    * ectopic: ``d_k > 1 and S12 < -c1 d_k - c2`` or ``d_k < -1 and S12 > -c1 d_k + c2``;
    * long: ``d_k > 1 and S22 < -1 and |m| > 1``, or ``|m| > 3 and mRR > 0``; short: the mirror;
    * missed: long with ``n = round(RR_k / medRR) >= 2`` and ``|RR_k / n - medRR| < Th2``, or
      ``RR_k > 2500 ms``; extra: short with ``|RR_k + RR_{k+1} - medRR| < Th2``, or
      ``RR_k < 250 ms`` (not ectopic);
    * adaptive rules only once 5 beats have been received (as
      :func:`hrv.artifacts.detect_artifacts`); RR outside 250-2500 ms is always an artifact.

    Deliberate differences from the batch detector :func:`hrv.artifacts.detect_artifacts`
    (centred windows, pair and merge resolution, spline correction): windows trail (they end at
    the newest beat, or at k for ``mRR``); the four ``dRR`` around k share ``Th1`` of beat k; only
    the beat being classified is labelled (an ectopic pair's partner, already emitted, is not
    relabelled); look-ahead not yet available (at a flush) counts as ``dRR = 0`` and an unknown
    next RR never makes an extra beat; every artifact is replaced by ``medRR`` (one corrected
    value per beat: a missed beat is not split and an extra one not merged, so the beat count
    of a window can be off by one around such an event).

    **Metrics.** On the corrected beats, for the window ``(t_k - W, t_k]`` (at most
    ``ring_capacity`` beats): running sums of ``60000 / RR``, of squared successive differences
    inside the window, and of artifact, bad and missing counts are updated when a beat enters or
    leaves (the float sums compensated, Neumaier 1974, so that a large term leaving the window
    leaves no rounding residue), and recomputed exactly from the ring every
    ``resync_every_beats`` beats: bounded rounding, no drift (tested over 100,000 beats).
    Missing beats of beat k: ``max(0, round(gap / medRR))`` with
    ``gap = 1000 (t_k - t_{k-1}) - RR_k`` (ms); quality ``(n - n_bad) / (n + n_missing)``.

    **Two code paths, one arithmetic.** Rounds with at most a few participants run a scalar
    twin of the array code (the same operations in the same order, tested bit for bit equal);
    a single beat then costs tens of microseconds instead of ~150 small numpy calls (measured
    in :mod:`hrv.stream_maths`: about 48 us against 270 us per live beat).

    **Steps.** A push is processed in rounds: round r takes the r-th beat of every participant
    that has one; a round is a handful of array operations over those participants (the update
    of one participant is a recurrence in time, so a participant's own beats are sequential).

    Examples
    --------
    >>> eng = MultiStreamEngine(2)
    >>> up = eng.push([0, 1, 0, 1, 0, 1], [800, 900, 810, 905, 790, 910],
    ...               [0.8, 0.9, 1.61, 1.805, 2.4, 2.715])
    >>> up.participant.tolist(), up.beat_index.tolist()  # beat 0 leaves with beat 2
    ([0, 1], [0, 0])
    >>> len(eng.flush())  # beats 1 and 2 of both participants
    4
    """

    @property
    def n_participants(self) -> int:
        """Participants (rows) allocated."""
        return self._n

    def add_participant(self) -> int:
        """Add one participant with an empty state and return its index.

        Arrays grow by doubling, so adding participants one by one is amortised O(1).

        Examples
        --------
        >>> eng = MultiStreamEngine(0)
        >>> eng.add_participant(), eng.add_participant(), eng.n_participants
        (0, 1, 2)
        """
        index = self._n
        for name, (dtype, _code, init) in self._PER_ROW.items():
            old: NDArray[Any] = getattr(self, name)
            if old.shape[0] <= index:
                shape = (max(2 * old.shape[0], 4), *old.shape[1:])
                new = np.full(shape, init, dtype=dtype)
                new[: old.shape[0]] = old
                setattr(self, name, new)
            else:
                getattr(self, name)[index] = init
        self._coh_every[index] = self._coh_default
        self._n = index + 1
        return index

    def reset(self, participant: int) -> None:
        """Forget everything about one participant (e.g. a new session in the same slot)."""
        self._check_rows(np.array([participant]))
        for name, (_dtype, _code, init) in self._PER_ROW.items():
            getattr(self, name)[participant] = init
        self._coh_every[participant] = self._coh_default

    def set_coherence(self, participant: int, every_s: float | None = 5.0) -> None:
        """Turn the paced-breathing coherence of one participant on (every ``every_s``) or off.

        The first value comes ``every_s`` seconds of beat time after the next beat, then one
        every ``every_s`` (see :class:`StreamUpdates` ``coherence_fresh``).

        Parameters
        ----------
        participant : int
            Participant index.
        every_s : float or None
            Refresh period, s of beat time (default 5); None turns it off.

        Examples
        --------
        >>> eng = MultiStreamEngine(2)
        >>> eng.set_coherence(1, 5.0)
        >>> eng.coherence_period(1), eng.coherence_period(0)
        (5.0, None)
        """
        self._check_rows(np.array([participant]))
        if every_s is not None and not (math.isfinite(every_s) and every_s > 0):
            raise StreamConfigError(f"every_s must be a positive number or None, got {every_s!r}")
        self._coh_every[participant] = np.nan if every_s is None else every_s
        self._coh_due[participant] = -np.inf

    def coherence_period(self, participant: int) -> float | None:
        """The coherence refresh period of a participant, s, or None when it is off."""
        self._check_rows(np.array([participant]))
        every = float(self._coh_every[participant])
        return None if math.isnan(every) else every

    def pending(self, participant: int) -> int:
        """Beats of ``participant`` received, not yet classified (at most ``lookahead_beats``)."""
        self._check_rows(np.array([participant]))
        return int(self._pending[participant])

    def time_since_last_beat(self, now_s: float) -> NDArray[np.float64]:
        """Seconds from each participant's newest beat to ``now_s`` (inf before the first beat).

        A dropout produces no beats and so no updates; the caller (which owns the clock) polls
        this, and past a limit (e.g. 2.5 s, the longest plausible RR) shows the participant as
        missing and calls :meth:`flush` for them.

        Parameters
        ----------
        now_s : float
            Current time on the clock of the beat times, s.

        Returns
        -------
        numpy.ndarray of float64
            One value per participant, s.

        Examples
        --------
        >>> eng = MultiStreamEngine(2)
        >>> _ = eng.push([0], [800.0], [10.0])
        >>> eng.time_since_last_beat(12.5).tolist()
        [2.5, inf]
        """
        out: NDArray[np.float64] = now_s - self._last_t[: self._n]
        return out

    # ------------------------------------------------------------------ API
    def push(
        self,
        participant: ArrayLike,
        rr_ms: ArrayLike,
        beat_times_s: ArrayLike,
        contact: ArrayLike | None = None,
    ) -> StreamUpdates:
        """Feed beats of any participants; return the updates of the beats now classified.

        Parameters
        ----------
        participant : array_like of int
            Participant index of each beat.
        rr_ms : array_like of float
            RR interval of each beat, ms (finite, positive).
        beat_times_s : array_like of float
            Time of each beat (end of its RR interval), s; non-decreasing per participant.
        contact : array_like of bool, optional
            Sensor contact of each beat (or one value for all); None if not reported.

        Returns
        -------
        StreamUpdates
            One entry per beat classified by this push (each participant's beat k comes out when
            its beat k + ``lookahead_beats`` arrives).

        Raises
        ------
        InvalidRRError
            For corrupt RR, mismatched lengths or beat times going back.
        StreamConfigError
            For a participant index out of range.

        Examples
        --------
        >>> eng = MultiStreamEngine(3)
        >>> for i in range(3):  # beats of participants 0 and 2 arrive together
        ...     up = eng.push([0, 2], [1000.0, 750.0], [i + 1.0, 0.75 * (i + 1)])
        >>> up.participant.tolist(), up.beat_index.tolist(), up.hr_bpm.tolist()
        ([0, 2], [0, 0], [60.0, 80.0])
        """
        rr = validate_rr(rr_ms)
        rows = np.asarray(participant, dtype=np.int64).reshape(-1)
        t = np.asarray(beat_times_s, dtype=np.float64).reshape(-1)
        if rows.shape != rr.shape or t.shape != rr.shape:
            raise InvalidRRError(
                "participant, rr_ms and beat_times_s must have one value per beat: got "
                f"{rows.shape[0]}, {rr.shape[0]} and {t.shape[0]}"
            )
        if not np.all(np.isfinite(t)):
            raise InvalidRRError("beat times must be finite numbers of seconds")
        cont = self._contact_codes(contact, rr.shape[0])
        self._check_rows(rows)
        n = rows.shape[0]
        if n == 0:
            return _EMPTY
        if n > 1 and rows.min() == rows.max():  # one participant's beats (a replay, a batch)
            row = int(rows[0])
            records = [
                self._arrive_one(row, *args)
                for args in zip(rr.tolist(), t.tolist(), cont.tolist(), strict=True)
            ]
            return _build([r for r in records if r is not None])
        order_n = np.arange(n)
        self._mark[rows] = order_n  # a repeated participant keeps only its last position
        if n == 1 or bool((self._mark[rows] == order_n).all()):
            return self._arrive(rows, rr, t, cont)
        # several beats per participant: round r takes each participant's r-th beat of the push
        order = np.argsort(rows, kind="stable")
        srows = rows[order]
        first = np.r_[True, srows[1:] != srows[:-1]]
        group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n) - group_start
        by_round = np.argsort(rank, kind="stable")  # round r: beats by_round[bounds[r]:bounds[r+1]]
        bounds = np.r_[0, np.cumsum(np.bincount(rank))].tolist()
        parts = []
        for a, b in itertools.pairwise(bounds):
            sel = by_round[a:b]
            parts.append(self._arrive(rows[sel], rr[sel], t[sel], cont[sel]))
        return StreamUpdates.concatenate(parts)

    def flush(self, participants: ArrayLike | None = None) -> StreamUpdates:
        """Classify the beats still waiting for look-ahead and start a new segment.

        Call at the end of a stream or when a dropout or reconnection is known: the waiting beats
        are classified with the later beats there are (``lookahead_beats`` on their updates says
        how many), and the next beat of each flushed participant starts a new segment (its dRR is
        0, it is never compared with the beat before the gap). Windows keep their beats: a gap
        shows up as missing beats.

        Parameters
        ----------
        participants : array_like of int, optional
            Whom to flush; default everyone.

        Returns
        -------
        StreamUpdates

        Examples
        --------
        >>> eng = MultiStreamEngine(1)
        >>> len(eng.push([0, 0, 0], [800.0, 810.0, 790.0], [0.8, 1.61, 2.4]))
        1
        >>> eng.flush().lookahead_beats.tolist()  # beat 1 saw one later beat, beat 2 none
        [1, 0]
        """
        if participants is None:
            rows = np.arange(self._n, dtype=np.int64)
        else:
            rows = np.unique(np.asarray(participants, dtype=np.int64).reshape(-1))
            self._check_rows(rows)
        parts = []
        while True:
            sel = rows[self._pending[rows] > 0]
            if sel.size == 0:
                break
            parts.append(self._finalize(sel, self._pending[sel] - 1))
        self._seg[rows] = 0
        return StreamUpdates.concatenate(parts)

    # ------------------------------------------------------------------ steps
    def window_rr(self, participant: int, window_s: float) -> NDArray[np.float64]:
        """Corrected RR of the classified beats of the last ``window_s`` seconds, ms (a copy).

        The window ends at the newest classified beat: beats with ``t > t_newest - window_s``
        (at most ``ring_capacity`` beats). The coherence refresh uses exactly this window.

        Examples
        --------
        >>> s = HRVStream()
        >>> _ = s.push([800.0, 900.0, 1000.0, 1100.0], [0.8, 1.7, 2.7, 3.8])
        >>> s.engine.window_rr(0, 2.0).tolist()  # beats 0 and 1 are classified so far
        [800.0, 900.0]
        """
        self._check_rows(np.array([participant]))
        return self._window_rr(participant, window_s, int(self._final[participant]))


class HRVStream:
    """Streaming HRV for one participant (a :class:`MultiStreamEngine` with one row).

    Parameters
    ----------
    config : StreamConfig, optional
        See :class:`StreamConfig`.

    Examples
    --------
    >>> s = HRVStream()
    >>> up = s.push([800.0, 820.0, 790.0, 810.0], [0.8, 1.62, 2.41, 3.22], contact=True)
    >>> up.beat_index.tolist()  # beats 0 and 1; beats 2 and 3 wait for look-ahead
    [0, 1]
    >>> up = s.flush()
    >>> up.beat_index.tolist(), up.lookahead_beats.tolist()
    ([2, 3], [1, 0])
    >>> round(float(up.mean_hr_bpm[-1]), 3)  # (75 + 73.171 + 75.949 + 74.074) / 4
    74.549
    """

    def __init__(self, config: StreamConfig | None = None) -> None:
        self.engine = MultiStreamEngine(1, config)
        self._rows = np.zeros(64, dtype=np.int64)

    @property
    def config(self) -> StreamConfig:
        """The engine's configuration."""
        return self.engine.config

    def push(
        self,
        rr_ms: ArrayLike,
        beat_times_s: ArrayLike,
        contact: bool | ArrayLike | None = None,
        *,
        gap_before: bool = False,
    ) -> StreamUpdates:
        """Feed a batch of beats; return the updates of the beats now classified.

        Parameters
        ----------
        rr_ms : array_like of float
            RR intervals, ms.
        beat_times_s : array_like of float
            Beat times, s, non-decreasing.
        contact : bool or array_like of bool, optional
            Sensor contact (one value for the batch or one per beat); None if not reported.
        gap_before : bool
            True if the beats were re-anchored after a dropout (``BeatBatch.gap_before`` of
            :mod:`sensor.types`): the waiting beats are flushed first and a new segment starts.

        Returns
        -------
        StreamUpdates
        """
        rr = np.atleast_1d(rr_ms)  # validated by the engine
        n = rr.shape[0]
        if n > self._rows.shape[0]:
            self._rows = np.zeros(2 * n, dtype=np.int64)
        rows = self._rows[:n]
        if not gap_before:
            return self.engine.push(rows, rr, beat_times_s, contact)
        flushed = self.engine.flush()
        return StreamUpdates.concatenate(
            [flushed, self.engine.push(rows, rr, beat_times_s, contact)]
        )

    def flush(self) -> StreamUpdates:
        """Classify the waiting beats (end of stream or dropout); the next beat starts a segment."""
        return self.engine.flush()
