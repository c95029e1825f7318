"""The durable beat writer of the live path: raw beats are stored before anything is computed.

Contract
--------
The live hub hands every item that comes out of a source to :meth:`BeatWriter.submit` *first*,
and only then feeds it to the streaming engine:

1. ``submit(session_id, participant_id, item)`` puts the item (a :class:`~sensor.types.BeatBatch`
   or a :class:`~sensor.types.DeviceEvent`) in the writer's in-memory queue and returns at once
   with a *ticket*, an integer that grows by one per call in the order of the calls. It never
   blocks and never fails for lack of room: the queue is unbounded (see Backpressure). The return
   is an acknowledgement of enqueue order only, not of durability.
2. A writer thread takes what is queued, waits at most ``linger_s`` (default 0.1 s) for more, and
   writes the whole group in one transaction (group commit): a beat is committed within
   ``linger_s`` plus the time of one write after it was submitted, far under the one-second bound
   of the durability requirement, while the number of commits stays at most about
   ``1 / linger_s`` per second whatever the number of straps.
3. :attr:`BeatWriter.durable_ticket` is the highest ticket whose item is committed;
   :meth:`BeatWriter.wait_durable` (and :meth:`BeatWriter.wait_durable_async`) wait for a ticket.
   The live path does not wait: a ``kill -9`` loses only what was submitted in the last
   ``linger_s`` + one write, which the durability test checks with a real process.
4. Writes are idempotent (beats are keyed by session, participant, device and sequence number),
   so a group that failed on a transient database error (connection lost, lock timeout) is
   retried, with back-off up to 1 s, until it is written: nothing is dropped. A corrupt RR value
   (0, negative, NaN, infinite, 1e308) does not fail its batch: the store keeps the batch's valid
   beats and records the corrupt values in an ``invalid_rr`` device event, counted in
   :attr:`WriterStats.invalid_values`. A group that fails on its data (an unknown session, a
   malformed batch) is split and retried item by item; an item
   that still fails is kept in :attr:`BeatWriter.rejected` and logged as an error. Items of a
   participant without an active ``storage`` consent are refused by the store, counted in
   :attr:`WriterStats.refused_beats`, and not written (consent, not loss).
5. :meth:`BeatWriter.close` writes everything submitted before it and stops the thread.

Backpressure
------------
None is applied to the caller, deliberately: a beat source cannot be paused (a strap keeps
sending), so blocking the caller would only move the loss elsewhere. If the database is
unavailable, items accumulate in memory at roughly 200 bytes per beat (two straps: about 2 MB a
session hour) and :attr:`WriterStats.pending_items` grows; the hub should show a warning when it
does not shrink. Memory, not beats, is what runs out, and only after days.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa

from hrv.errors import ParameterError, SintoniaError
from sensor.types import BeatBatch, DeviceEvent
from server.storage.errors import StorageError
from server.storage.store import AppendResult, Store

__all__ = [
    "DEFAULT_LINGER_S",
    "MAX_COMMIT_INTERVAL_S",
    "BeatWriter",
    "RejectedItem",
    "WriterStats",
]

_log = logging.getLogger(__name__)

#: How long the writer waits for more items before committing a group, s.
DEFAULT_LINGER_S: Final[float] = 0.1
#: Upper bound of ``linger_s``: committed at least once a second (the durability requirement).
MAX_COMMIT_INTERVAL_S: Final[float] = 1.0
#: Items per transaction at most (bounds the transaction size after a backlog).
_MAX_GROUP_ITEMS: Final[int] = 5_000
_RETRY_FIRST_S: Final[float] = 0.05
_RETRY_MAX_S: Final[float] = 1.0

_Item = tuple[int, int, int | None, BeatBatch | DeviceEvent]  # (ticket, session, participant, x)
_STOP: Final = object()


@dataclass(frozen=True, slots=True)
class RejectedItem:
    """An item the database refused for what it contains (kept, never silently dropped)."""

    ticket: int
    session_id: int
    participant_id: int | None
    item: BeatBatch | DeviceEvent
    error: str


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters of a :class:`BeatWriter` (a consistent snapshot)."""

    submitted_items: int
    pending_items: int
    written_beats: int
    duplicate_beats: int
    refused_beats: int
    written_events: int
    commits: int
    transient_errors: int
    rejected_items: int
    invalid_values: int = 0


class BeatWriter:
    """Write raw beats and device events to the store in group commits from a background thread.

    Parameters
    ----------
    store : Store
        Where to write.
    linger_s : float
        Longest wait for more items before a commit, s; in ``(0, MAX_COMMIT_INTERVAL_S]``.
    name : str
        Name of the writer thread (shown in logs and debuggers).

    Notes
    -----
    See the module documentation for the contract. Thread-safe: ``submit`` may be called from
    any thread, including an asyncio event loop (it does not block).

    Examples
    --------
    >>> import numpy as np
    >>> from sensor.types import BeatBatch
    >>> store = Store.open("sqlite://")
    >>> p = store.create_participant("P1", "patient")
    >>> s = store.create_session({"phases": []})
    >>> _ = store.grant_consent(p.id, "storage", "v1")
    >>> with BeatWriter(store) as writer:
    ...     ticket = writer.submit(s.id, p.id, BeatBatch(
    ...         "P1", "sim", np.array([800.0]), None, 10.0, np.array([10.0])))
    ...     writer.wait_durable(ticket, timeout=5.0)
    True
    >>> store.count_beats(s.id)
    1
    """

    def __init__(
        self,
        store: Store,
        *,
        linger_s: float = DEFAULT_LINGER_S,
        name: str = "sintonia-beat-writer",
    ) -> None:
        if not 0.0 < linger_s <= MAX_COMMIT_INTERVAL_S:
            raise ParameterError(
                f"linger_s must be in (0, {MAX_COMMIT_INTERVAL_S}] s, got {linger_s!r}"
            )
        self._store = store
        self._linger_s = float(linger_s)
        self._queue: queue.SimpleQueue[_Item | object] = queue.SimpleQueue()
        self._submit_lock = threading.Lock()
        self._durable = threading.Condition()
        self._next_ticket = 0
        self._durable_ticket = -1
        self._closed = False
        self._append = AppendResult()
        self._written_events = 0
        self._commits = 0
        self._transient_errors = 0
        self.rejected: list[RejectedItem] = []
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ producer side

    def submit(
        self, session_id: int, participant_id: int | None, item: BeatBatch | DeviceEvent
    ) -> int:
        """Queue a batch of beats (or a device event) for writing; returns its ticket at once.

        Parameters
        ----------
        session_id : int
        participant_id : int or None
            None only for device events of a device not assigned to anyone yet.
        item : BeatBatch or DeviceEvent

        Returns
        -------
        int
            The ticket: 0 for the first call, then one more per call, in call order.

        Raises
        ------
        StorageError
            If the writer is closed.
        """
        if participant_id is None and isinstance(item, BeatBatch):
            raise ParameterError("beats need a participant_id, got None")
        with self._submit_lock:
            if self._closed:
                raise StorageError("the beat writer is closed; nothing more can be submitted")
            ticket = self._next_ticket
            self._next_ticket += 1
            self._queue.put((ticket, session_id, participant_id, item))
        return ticket

    @property
    def durable_ticket(self) -> int:
        """Highest ticket whose item is committed (or rejected); -1 before the first."""
        with self._durable:
            return self._durable_ticket

    def wait_durable(self, ticket: int | None = None, timeout: float | None = None) -> bool:
        """Block until ``ticket`` (by default the last submitted) is committed.

        Returns
        -------
        bool
            True if it is, False on timeout.
        """
        if ticket is None:
            with self._submit_lock:
                ticket = self._next_ticket - 1
        with self._durable:
            return self._durable.wait_for(lambda: self._durable_ticket >= ticket, timeout)

    async def wait_durable_async(
        self, ticket: int | None = None, timeout: float | None = None
    ) -> bool:
        """:meth:`wait_durable` for asyncio callers (waits in a worker thread)."""
        return await asyncio.to_thread(self.wait_durable, ticket, timeout)

    @property
    def stats(self) -> WriterStats:
        """A snapshot of the writer's counters."""
        with self._submit_lock:
            submitted = self._next_ticket
        with self._durable:
            return WriterStats(
                submitted_items=submitted,
                pending_items=submitted - 1 - self._durable_ticket,
                written_beats=self._append.inserted,
                duplicate_beats=self._append.duplicates,
                refused_beats=self._append.refused,
                written_events=self._written_events,
                commits=self._commits,
                transient_errors=self._transient_errors,
                rejected_items=len(self.rejected),
                invalid_values=self._append.invalid,
            )

    def close(self, timeout: float | None = 30.0) -> None:
        """Write everything submitted so far, then stop the writer thread.

        Raises
        ------
        StorageError
            If the queue could not be written within ``timeout`` seconds (the database is
            unavailable); the items stay queued and the thread keeps retrying.
        """
        with self._submit_lock:
            if not self._closed:
                self._closed = True
                self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            pending = self.stats.pending_items
            raise StorageError(
                f"beat writer could not write {pending} queued items within {timeout} s"
            )

    def __enter__(self) -> BeatWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                break
            group: list[_Item] = [first]  # type: ignore[list-item]
            deadline = time.monotonic() + self._linger_s
            while len(group) < _MAX_GROUP_ITEMS:
                remaining = deadline - time.monotonic()
                try:
                    nxt = (
                        self._queue.get(timeout=remaining)
                        if remaining > 0
                        else (self._queue.get_nowait())
                    )
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                group.append(nxt)  # type: ignore[arg-type]
            self._write(group)
            with self._durable:
                self._durable_ticket = group[-1][0]
                self._durable.notify_all()

    def _write(self, group: Sequence[_Item]) -> None:
        delay = _RETRY_FIRST_S
        while True:
            try:
                self._write_once(group)
                return
            except (SintoniaError, sa.exc.IntegrityError, sa.exc.DataError) as exc:
                if len(group) == 1:
                    ticket, session_id, participant_id, item = group[0]
                    _log.error("beat writer rejected item %d: %s", ticket, exc)
                    with self._durable:
                        self.rejected.append(
                            RejectedItem(ticket, session_id, participant_id, item, str(exc))
                        )
                    return
                for one in group:
                    self._write([one])
                return
            except sa.exc.SQLAlchemyError as exc:
                with self._durable:
                    self._transient_errors += 1
                _log.warning("beat writer: database error, retrying in %.2f s: %s", delay, exc)
                time.sleep(delay)
                delay = min(2.0 * delay, _RETRY_MAX_S)

    def _write_once(self, group: Sequence[_Item]) -> None:
        beats = [(s, p, x) for _, s, p, x in group if isinstance(x, BeatBatch) and p is not None]
        events = [(s, p, x) for _, s, p, x in group if isinstance(x, DeviceEvent)]
        result, n_events = self._store.append_live(beats, events)
        with self._durable:
            self._append = self._append + result
            self._written_events += n_events
            self._commits += 1
