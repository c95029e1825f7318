"""Replay a recording as a live :class:`~sensor.types.BeatSource` (real time, faster, or at once).

Any file :func:`sensor.files.read_rr_file` reads can be replayed. Beats are delivered in batches
of about one second (the cadence of a strap's notifications). A Sintonia beats CSV is replayed
batch for batch as it was recorded (one batch per recorded host receipt time, every participant
of the file interleaved in time order unless one is chosen), with its raw values, sequence
numbers and contact states; other formats get batches of the beats that end in each second.

Time line: beat times come from the file when it has them (Kubios, HRV Logger, two-column text,
Sintonia beats), from its receipt times through :class:`~sensor.timing.BeatClock` (Polar Sensor
Logger: a dropout there is a gap), else from the cumulative sum of the RR values from 0. Host
times are on the recording's own clock (as :class:`~sensor.types.BeatBatch` documents for
replay), or shifted so that the recording starts at ``start_time_s`` if that is given (e.g.
``time.time()`` to replay an old file as if it were live).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from hrv.errors import ParameterError
from hrv.validate import CORRUPT_RR_MAX_MS, corrupt_rr_mask
from sensor.files import RRRecording, read_beats_file, read_rr_file
from sensor.quality import split_corrupt
from sensor.timing import BeatClock
from sensor.types import BeatBatch, DeviceEvent, SourceItem

__all__ = ["DEFAULT_BATCH_S", "GAP_THRESHOLD_S", "ReplaySource", "replay_batches"]

logger = logging.getLogger(__name__)

#: Length of the batches replayed from formats without recorded receipt times, s.
DEFAULT_BATCH_S: Final[float] = 1.0
#: Beat times advancing this much (s) more than the RR between them mark a gap (re-anchor).
GAP_THRESHOLD_S: Final[float] = 3.0
_MS_PER_S: Final[float] = 1000.0


@dataclass(frozen=True)
class _Track:
    participant: str
    device: str
    rec: RRRecording
    times_s: NDArray[np.float64]


def _corrupt(rec: RRRecording) -> NDArray[np.bool_]:
    """True where the recording's value is no RR interval (:func:`hrv.validate.corrupt_rr_mask`)
    or its own time is not a number."""
    bad = corrupt_rr_mask(np.asarray(rec.rr_ms, dtype=np.float64))
    if rec.times_s is not None and rec.times_s.shape == rec.rr_ms.shape:
        bad |= ~np.isfinite(rec.times_s)
    return bad


def _beat_times(rec: RRRecording) -> NDArray[np.float64]:
    """The recording's beat times (end of each RR), s; cumulative RR from 0 if it has none.

    A corrupt value (see :func:`_corrupt`) gets a NaN time and adds nothing to the sum.
    """
    bad = _corrupt(rec)
    if rec.times_s is not None and rec.times_s.shape == rec.rr_ms.shape:
        times = np.asarray(rec.times_s, dtype=np.float64)
    elif rec.host_times_s is not None and rec.host_times_s.shape == rec.rr_ms.shape:
        times = _placed_at_receipt(rec.host_times_s, np.where(bad, 0.0, rec.rr_ms))
    else:
        times = np.cumsum(np.where(bad, 0.0, rec.rr_ms)) / _MS_PER_S
    return np.where(bad, np.nan, times) if bad.any() else times


def _placed_at_receipt(
    host_s: NDArray[np.float64], rr_ms: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Beat times from receipt times (Polar Sensor Logger): each run of RR values sharing a
    receipt time is one packet placed by :class:`sensor.timing.BeatClock`, as a strap's would be,
    so a dropout in the receipt times re-anchors the time line (a gap)."""
    times = np.empty(rr_ms.shape, dtype=np.float64)
    bounds = np.concatenate(([0], np.flatnonzero(np.diff(host_s) != 0) + 1, [rr_ms.size]))
    clock = BeatClock(gap_threshold_s=GAP_THRESHOLD_S)
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        times[lo:hi] = clock.place(float(host_s[lo]), rr_ms[lo:hi]).beat_times_s
    return times


def _note_corrupt(rec: RRRecording, bad: NDArray[np.bool_]) -> None:
    """Log one note per corrupt value: file and 1-based line (never the line's text)."""
    for i in np.flatnonzero(bad).tolist():
        where = f"line {int(rec.lines[i])}" if rec.lines is not None else f"value {i + 1}"
        logger.warning(
            "%s %s: not an RR interval (zero, negative, not finite or above %.0f ms); "
            "recorded as an invalid_rr event, replay goes on",
            rec.path,
            where,
            CORRUPT_RR_MAX_MS,
        )


def _gaps(times_s: NDArray[np.float64], rr_ms: NDArray[np.float64]) -> NDArray[np.bool_]:
    """True at beat k when the time since beat k-1 exceeds RR_k by more than the threshold."""
    out = np.zeros(times_s.shape, dtype=bool)
    if times_s.size > 1:
        out[1:] = np.diff(times_s) - rr_ms[1:] / _MS_PER_S > GAP_THRESHOLD_S
    return out


def replay_batches(
    rec: RRRecording,
    participant: str,
    device: str,
    *,
    batch_s: float = DEFAULT_BATCH_S,
    offset_s: float = 0.0,
) -> Iterator[BeatBatch]:
    """Cut a recording into the beat batches a live source would have delivered.

    Parameters
    ----------
    rec : RRRecording
        The recording (one participant).
    participant, device : str
        Labels of the batches.
    batch_s : float
        Batch length, s, for recordings without receipt times.
    offset_s : float
        Added to every time (beat and host), s.

    Yields
    ------
    BeatBatch
        In time order; ``host_time_s`` is the recorded receipt time (Sintonia beats) or the
        time of the batch's last beat; ``gap_before`` on the first batch and after a gap.
        A corrupt value (0, negative, NaN, infinite, above
        :data:`hrv.validate.CORRUPT_RR_MAX_MS`) stays in its batch with a NaN beat time, for
        :func:`sensor.quality.split_corrupt` to record; each is logged with its file line, the
        next valid beat starts a new time line (``gap_before``) and the replay goes on.

    Notes
    -----
    Batch :math:`j` holds the beats with :math:`\\lfloor (t_k - t_0) / b \\rfloor = j` (``b`` =
    ``batch_s``; :math:`t_0` the start of the first RR), or the beats sharing one recorded host
    time. Empty seconds yield no batch.

    Examples
    --------
    >>> import numpy as np
    >>> from sensor.files import RRRecording
    >>> rec = RRRecording(np.array([600.0, 600.0, 600.0]), None, "ms", "plain", "x")
    >>> [b.rr_ms.tolist() for b in replay_batches(rec, "p", "file:x")]
    [[600.0], [600.0, 600.0]]
    """
    if not batch_s > 0:
        raise ParameterError(f"batch_s must be > 0 s, got {batch_s!r}")
    n = len(rec)
    if n == 0:
        return
    rr = rec.rr_ms
    bad = _corrupt(rec)
    times = _beat_times(rec)
    if bad.any():
        _note_corrupt(rec, bad)
        # a corrupt value's beat is placed at the previous valid beat (for batching only; its
        # time stays NaN in the batch) and the next valid beat starts a new time line
        good = np.flatnonzero(~bad)
        first_t = float(times[good[0]]) if good.size else 0.0
        last = np.maximum.accumulate(np.where(~bad, np.arange(n), -1))
        placed = np.where(last >= 0, times[np.maximum(last, 0)], first_t)
        valid_rr = np.where(bad, 0.0, rr)
        gap = np.zeros(n, dtype=bool)
        if good.size > 1:
            gap[good[1:]] = _gaps(times[good], rr[good])[1:] | (np.diff(good) > 1)
    else:
        placed, valid_rr = times, rr
        gap = _gaps(times, rr)
    if rec.host_times_s is not None and rec.format == "sintonia-beats":
        host = rec.host_times_s
        change = np.flatnonzero(np.diff(host) != 0) + 1
    else:
        start = float(placed[0]) - float(valid_rr[0]) / _MS_PER_S
        slot = np.floor((placed - start) / batch_s).astype(np.int64)
        change = np.flatnonzero(np.diff(slot) != 0) + 1
        host = placed
    # a gap always starts a new batch
    bounds = np.union1d(np.union1d(change, np.flatnonzero(gap)), [0, n])
    raw = rec.rr_raw
    contact = rec.contact
    seq0 = rec.seq
    beat_counter = 0
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        raw_part: tuple[int, ...] | None = None
        if raw is not None and np.all(raw[lo:hi] >= 0):
            raw_part = tuple(int(v) for v in raw[lo:hi])
        c: bool | None = None
        if contact is not None and contact[hi - 1] >= 0:
            c = bool(contact[hi - 1])
        yield BeatBatch(
            participant=participant,
            device=device,
            rr_ms=rr[lo:hi].copy(),
            rr_raw=raw_part,
            host_time_s=float(host[hi - 1]) + offset_s,
            beat_times_s=times[lo:hi] + offset_s,
            contact=c,
            heart_rate_bpm=None,
            seq=int(seq0[lo]) if seq0 is not None else beat_counter,
            gap_before=bool(lo == 0 or gap[lo]),
        )
        beat_counter += hi - lo


def _is_beats_file(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.readline().startswith(b"# sintonia-beats")
    except OSError:
        return False  # read_rr_file reports it


class ReplaySource:
    """A :class:`~sensor.types.BeatSource` replaying a file or an :class:`RRRecording`.

    Parameters
    ----------
    recording : str, path-like or RRRecording
        What to replay.
    participant : str, optional
        For a Sintonia beats file: whose beats (None: every participant, interleaved). For other
        recordings: the label of the beats (default: the recording's participant, else
        ``"patient"``).
    speed : float or None
        1.0 real time, 20.0 twenty times faster, None as fast as possible.
    start_time_s : float, optional
        Shift host and beat times so the recording starts (the start of its first RR) at this
        time, s. Default: the recording's own clock.
    batch_s : float
        Batch length for recordings without receipt times, s.
    clock, sleep : callable
        Wall clock (s) and awaitable sleep, injected by tests.

    Examples
    --------
    >>> import asyncio, numpy as np
    >>> from sensor.files import RRRecording
    >>> rec = RRRecording(np.full(10, 500.0), None, "ms", "plain", "x")
    >>> async def count():
    ...     return sum([len(b) async for b in ReplaySource(rec, speed=None)
    ...                 if isinstance(b, BeatBatch)])
    >>> asyncio.run(count())
    10
    """

    def __init__(
        self,
        recording: str | os.PathLike[str] | RRRecording,
        participant: str | None = None,
        *,
        speed: float | None = 1.0,
        start_time_s: float | None = None,
        batch_s: float = DEFAULT_BATCH_S,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if speed is not None and not speed > 0:
            raise ParameterError(f"speed must be > 0 or None (as fast as possible), got {speed!r}")
        self.speed = speed
        self._start_time_s = start_time_s
        self._batch_s = batch_s
        self._clock = clock
        self._sleep = sleep
        self._closed = False
        self.tracks: list[_Track] = []
        if isinstance(recording, RRRecording):
            recs = {recording.participant or participant or "patient": recording}
        else:
            if _is_beats_file(Path(recording)):
                recs = read_beats_file(recording)
                if participant is not None:
                    recs = {participant: read_rr_file(recording, participant=participant)}
            else:
                recs = {"": read_rr_file(recording)}
        for key, rec in recs.items():
            who = participant or rec.participant or key or "patient"
            device = rec.device or f"file:{Path(rec.path).name}"
            self.tracks.append(_Track(who, device, rec, _beat_times(rec)))

    def __aiter__(self) -> AsyncIterator[SourceItem]:
        return self._run()

    async def aclose(self) -> None:
        """Stop the replay (the iterator ends at its next step)."""
        self._closed = True

    def _is_closed(self) -> bool:
        return self._closed

    def _offset(self) -> float:
        if self._start_time_s is None:
            return 0.0
        starts = []
        for t in self.tracks:
            ok = np.flatnonzero(np.isfinite(t.times_s))  # corrupt values have no time
            if ok.size:
                starts.append(float(t.times_s[ok[0]]) - float(t.rec.rr_ms[ok[0]]) / _MS_PER_S)
        return self._start_time_s - min(starts) if starts else 0.0

    async def _run(self) -> AsyncIterator[SourceItem]:
        offset = self._offset()
        batches = [
            b
            for t in self.tracks
            for b in replay_batches(
                t.rec, t.participant, t.device, batch_s=self._batch_s, offset_s=offset
            )
        ]
        batches.sort(key=lambda b: b.host_time_s)  # stable: per-track order is kept
        items: list[SourceItem] = []
        for raw_batch in batches:  # corrupt values -> one invalid_rr event, valid beats kept
            kept, corrupt = split_corrupt(raw_batch)
            items.extend(([corrupt] if corrupt is not None else []) + list(kept))
        starts = [
            float(b.beat_times_s[0]) - float(b.rr_ms[0]) / _MS_PER_S
            for b in items
            if isinstance(b, BeatBatch) and len(b)
        ]
        if not items:
            return
        first_host = min(starts) if starts else min(i.host_time_s for i in items)
        for t in self.tracks:
            yield DeviceEvent(
                t.participant,
                t.device,
                "connected",
                first_host,
                detail={"file": t.rec.path, "format": t.rec.format},
            )
        wall0 = self._clock()
        for b in items:
            if self._is_closed():
                return
            if self.speed is not None:
                delay = wall0 + (b.host_time_s - first_host) / self.speed - self._clock()
                if delay > 0 and math.isfinite(delay):
                    await self._sleep(delay)
                    if self._is_closed():
                        return
            else:
                await asyncio.sleep(0)
            yield b
