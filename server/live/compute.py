"""The live path's computation: one vectorised streaming engine for every live participant.

Every participant of every live session has a *row* of one shared
:class:`hrv.stream.MultiStreamEngine`; a round of beats (whatever all sessions queued since the
last round) goes to the engine in a single push, one array operation however many sessions are
live. :class:`LiveCompute` owns the engine, hands out and takes back rows, splits a round at the
re-anchored batches (a batch after a gap flushes its row's look-ahead first, so that the flush
comes after the beats before the gap), retries a refused round batch by batch (the beats are
stored all the same, upstream), and counts. :func:`by_row` splits the per-beat updates per row.
Synchronous and free of I/O: the hub (:mod:`server.live.hub`) calls it from its compute task.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np

from hrv.errors import SintoniaError
from hrv.stream import MultiStreamEngine, StreamConfig, StreamUpdates
from sensor.types import BeatBatch

__all__ = ["LiveCompute", "by_row", "split_at_gaps"]

_log = logging.getLogger(__name__)

#: A batch on its way to the engine: (engine row, batch).
RowBatch = tuple[int, BeatBatch]


def split_at_gaps(batches: Sequence[RowBatch]) -> list[list[RowBatch]]:
    """Consecutive groups in which no row's re-anchored batch follows another of its batches
    (so that the flush before a gap comes after the beats before it).

    Examples
    --------
    >>> def b(gap: bool) -> BeatBatch:
    ...     one = np.array([800.0])
    ...     return BeatBatch("p", "d", one, None, 1.0, one / 1000.0, gap_before=gap)
    >>> [len(g) for g in split_at_gaps([(0, b(False)), (1, b(False)), (0, b(True))])]
    [2, 1]
    """
    groups: list[list[RowBatch]] = [[]]
    seen: set[int] = set()
    for row, batch in batches:
        if batch.gap_before and row in seen:
            groups.append([])
            seen = set()
        groups[-1].append((row, batch))
        seen.add(row)
    return groups


def by_row(up: StreamUpdates) -> Iterator[tuple[int, StreamUpdates]]:
    """The updates of each row (rows ascending, each row's updates in their order)."""
    if len(up) == 0:
        return
    order = np.argsort(up.participant, kind="stable")
    rows_sorted = up.participant[order]
    bounds = np.flatnonzero(np.r_[True, rows_sorted[1:] != rows_sorted[:-1], True])
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        yield int(rows_sorted[a]), up.select(order[a:b])


class LiveCompute:
    """The shared engine of the live sessions, its rows and its counters.

    Parameters
    ----------
    stream_config : StreamConfig, optional
        Engine parameters.

    Attributes
    ----------
    engine : MultiStreamEngine
    computed : int
        Beats fed to the engine.
    errors : int
        Batches (or rounds) the engine refused.
    rounds : int
        Engine pushes.

    Examples
    --------
    >>> c = LiveCompute()
    >>> row = c.take_row()
    >>> rr = np.full(10, 800.0)
    >>> batch = BeatBatch("p", "d", rr, None, 8.0, np.cumsum(rr) / 1000.0)
    >>> ups = c.round([(row, batch)])
    >>> c.computed, c.rounds, sum(len(u) for u in ups) <= 10
    (10, 1, True)
    """

    def __init__(self, stream_config: StreamConfig | None = None) -> None:
        self.engine = MultiStreamEngine(0, stream_config)
        self._free_rows: list[int] = []
        self.computed = 0
        self.errors = 0
        self.rounds = 0

    # ------------------------------------------------------------------ rows
    def take_row(self) -> int:
        """A row for a new participant (a released one first)."""
        if self._free_rows:
            return self._free_rows.pop()
        return self.engine.add_participant()

    def release_row(self, row: int) -> None:
        """Reset a row and give it back (its participant's session stopped)."""
        self.engine.reset(row)
        self.engine.set_coherence(row, None)
        self._free_rows.append(row)

    def set_coherence(self, rows: Sequence[int], every_s: float | None) -> None:
        """Compute coherence every ``every_s`` s of beat time on ``rows`` (None: off)."""
        for row in rows:
            if self.engine.coherence_period(row) != every_s:
                self.engine.set_coherence(row, every_s)

    # ------------------------------------------------------------------ rounds
    def round(self, batches: Sequence[RowBatch]) -> list[StreamUpdates]:
        """Push a round of batches in as few engine pushes as the gaps allow.

        Returns the updates in order (a flush before a gap, then the push it precedes).
        """
        out: list[StreamUpdates] = []
        if not batches:
            return out
        for group in split_at_gaps(batches):
            gaps = [row for row, b in group if b.gap_before and self.engine.pending(row) > 0]
            if gaps:
                out.append(self.engine.flush(gaps))
            out.append(self._push_guarded(group))
        return out

    def flush(self, rows: Sequence[int]) -> StreamUpdates:
        """Classify the beats of ``rows`` still waiting for look-ahead."""
        return self.engine.flush(sorted(rows))

    def pending(self, row: int) -> int:
        """Beats of ``row`` waiting for look-ahead."""
        return self.engine.pending(row)

    def _push_guarded(self, batches: list[RowBatch]) -> StreamUpdates:
        try:
            return self._push(batches)
        except (SintoniaError, ValueError) as exc:
            self.errors += 1
            _log.warning(
                "engine refused a round of %d batches (%s); retrying one by one", len(batches), exc
            )
        parts = []
        for row, b in batches:
            try:
                parts.append(self._push([(row, b)]))
            except (SintoniaError, ValueError) as one:
                self.errors += 1
                _log.warning(
                    "engine refused %d beats of row %d (stored all the same): %s", len(b), row, one
                )
        return StreamUpdates.concatenate(parts)

    def _push(self, batches: list[RowBatch]) -> StreamUpdates:
        rows = np.concatenate([np.full(len(b), row, dtype=np.int64) for row, b in batches])
        rr = np.concatenate([b.rr_ms for _, b in batches])
        times = np.concatenate([b.beat_times_s for _, b in batches])
        contact = np.concatenate(
            [
                np.full(len(b), -1 if b.contact is None else int(b.contact), dtype=np.int8)
                for _, b in batches
            ]
        )
        self.rounds += 1
        self.computed += int(rr.shape[0])
        return self.engine.push(rows, rr, times, contact)
