"""Beats and device events: the lossless, idempotent, consent-checked write path and paged reads.

Consent is enforced where data is written: :meth:`BeatsMixin.append_beat_batches` and
:meth:`BeatsMixin.add_device_events` store nothing for a participant without an active
``storage`` consent at the time of writing (the refused beats are counted, never silently
lost), and the consent rows are read ``FOR SHARE`` on PostgreSQL (SQLite serialises writers)
so that a concurrent revocation either happens before the write (nothing is written) or waits
for it and then erases it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import sqlalchemy as sa

from hrv.validate import validate_rr
from sensor.quality import split_corrupt
from sensor.types import BeatBatch, DeviceEvent
from server.storage import schema as t
from server.storage.base import (
    StoreBase,
    check_text,
    check_time,
)
from server.storage.errors import (
    InvalidRecordError,
    RecordNotFoundError,
)
from server.storage.records import (
    CONTACT_UNKNOWN,
    RR_RAW_MISSING,
    BeatCursor,
    BeatPage,
    DeviceEventRecord,
)

__all__ = ["DEFAULT_BEAT_PAGE_SIZE", "MAX_BEAT_PAGE_SIZE", "AppendResult", "BeatsMixin"]

_log = logging.getLogger(__name__)

DEFAULT_BEAT_PAGE_SIZE: Final[int] = 10_000
MAX_BEAT_PAGE_SIZE: Final[int] = 100_000
#: Rows per INSERT ... VALUES statement when a batch is large (well under SQLite's 32766
#: bound-parameter limit with 11 columns).
_INSERT_CHUNK_ROWS: Final[int] = 2_000


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append of beats did.

    Attributes
    ----------
    inserted : int
        New rows written.
    duplicates : int
        Rows already present (a retried write), left unchanged.
    refused : int
        Rows not written because the participant had no active ``storage`` consent.
    invalid : int
        Corrupt values (:func:`hrv.validate.corrupt_rr_mask`) set aside from the batches: each
        is recorded in an ``"invalid_rr"`` device event instead of a beat row.
    """

    inserted: int = 0
    duplicates: int = 0
    refused: int = 0
    invalid: int = 0

    def __add__(self, other: AppendResult) -> AppendResult:
        return AppendResult(
            self.inserted + other.inserted,
            self.duplicates + other.duplicates,
            self.refused + other.refused,
            self.invalid + other.invalid,
        )


class BeatsMixin(StoreBase):
    """Beats and device events of :class:`~server.storage.store.Store`."""

    # ------------------------------------------------------------------ beats

    def append_beats(self, session_id: int, participant_id: int, batch: BeatBatch) -> AppendResult:
        """Store one batch of beats (idempotent: a retried batch is not stored twice).

        See :meth:`append_beat_batches`.
        """
        return self.append_beat_batches([(session_id, participant_id, batch)])

    def append_beat_batches(
        self, items: Sequence[tuple[int, int, BeatBatch]], *, at_s: float | None = None
    ) -> AppendResult:
        """Store many batches of beats in one transaction.

        Each beat becomes one row keyed by ``(session, participant, device, seq + i)``;
        ``INSERT ... ON CONFLICT DO NOTHING`` makes a retry harmless (the first write wins; raw
        data is never overwritten). Beats of a participant without an active ``storage``
        consent (at ``at_s``, now by default) are refused and counted, not stored.

        Parameters
        ----------
        items : sequence of (session_id, participant_id, BeatBatch)
        at_s : float, optional
            Time at which consent is checked.

        Returns
        -------
        AppendResult

        Raises
        ------
        RecordNotFoundError
            If a session or participant does not exist (nothing is stored).
        InvalidRecordError
            If a batch is malformed (times and RR of different lengths, a negative seq).

        Notes
        -----
        A corrupt value in a batch (0, negative, NaN, infinite, above
        :data:`hrv.validate.CORRUPT_RR_MAX_MS`) does not cost the batch its valid beats: they
        are stored (with their own sequence numbers, the next one marked ``gap_before``) and the
        corrupt values go, in the same transaction, into one ``"invalid_rr"`` row of
        ``device_events`` per batch (:func:`sensor.quality.split_corrupt`), counted in
        :attr:`AppendResult.invalid`.
        """
        result, _ = self.append_live(items, (), at_s=at_s)
        return result

    def append_live(
        self,
        beats: Sequence[tuple[int, int, BeatBatch]],
        events: Sequence[tuple[int, int | None, DeviceEvent]],
        *,
        at_s: float | None = None,
    ) -> tuple[AppendResult, int]:
        """Store beats and device events of the live path in one transaction.

        As :meth:`append_beat_batches` followed by :meth:`add_device_event_batches`, but
        atomically, so that :class:`~server.storage.writer.BeatWriter` can retry a failed group
        without storing an event twice.

        Returns
        -------
        (AppendResult, int)
            The beats' result and the number of device events stored.
        """
        prepared: list[tuple[int, int, list[dict[str, Any]]]] = []
        corrupt: list[tuple[int, int | None, DeviceEvent]] = []
        for s, p, b in beats:
            kept, event = split_corrupt(b)
            if event is not None:
                corrupt.append((s, p, event))
            prepared.extend((s, p, self._beat_rows(s, p, k)) for k in kept)
        for *_, e in [*events, *corrupt]:
            check_time("host_time_s", e.host_time_s)
            check_text("device event kind", e.kind, 32)
        if not events and not corrupt and not any(r for *_, r in prepared):
            return AppendResult(), 0
        with self._write() as conn:
            # the consent check's time is read inside the transaction, so that a revocation
            # committed before this write took its lock is always seen (no beat lands after an
            # erasure)
            now = self._at(at_s)
            result = self._append_beats(conn, prepared, now)
            fresh = self._unrecorded_invalid(conn, corrupt, now)
            n_events = self._add_events(conn, [*events, *fresh], now)
        invalid = sum(int(e.value or 0) for *_, e in fresh)
        if invalid:
            result = result + AppendResult(invalid=invalid)
            _log.warning("%d corrupt RR values set aside as invalid_rr events", invalid)
        if result.refused:
            _log.warning("%d beats refused: no active storage consent", result.refused)
        return result, n_events

    def _unrecorded_invalid(
        self,
        conn: sa.Connection,
        corrupt: Sequence[tuple[int, int | None, DeviceEvent]],
        now: float,
    ) -> list[tuple[int, int | None, DeviceEvent]]:
        """The ``invalid_rr`` events to store: of consenting participants, and not stored yet
        (a retried batch records its corrupt values once, as its beats are stored once)."""
        if not corrupt:
            return []
        pairs = {(s, p) for s, p, _ in corrupt if p is not None}
        allowed = self._storage_allowed(conn, pairs, now)
        d = t.device_events
        out = []
        for s, p, e in corrupt:
            if (s, p) not in allowed:
                continue
            stored = conn.execute(
                sa.select(d.c.detail).where(
                    d.c.session_id == s,
                    d.c.participant_id == p,
                    d.c.device == e.device,
                    d.c.kind == e.kind,
                    d.c.time_s == e.host_time_s,
                )
            ).scalars()
            if not any(x.get("seq") == e.detail["seq"] for x in stored if isinstance(x, dict)):
                out.append((s, p, e))
        return out

    def _append_beats(
        self,
        conn: sa.Connection,
        prepared: Sequence[tuple[int, int, list[dict[str, Any]]]],
        now: float,
    ) -> AppendResult:
        total = sum(len(r) for *_, r in prepared)
        if total == 0:
            return AppendResult()
        allowed = self._storage_allowed(conn, {(s, p) for s, p, _ in prepared}, now)
        rows: list[dict[str, Any]] = []
        refused = 0
        for s, p, r in prepared:
            if (s, p) in allowed:
                rows.extend(r)
            else:
                refused += len(r)
        inserted = 0
        # RETURNING counts the rows really inserted on both backends (executemany's rowcount
        # is not reliable with psycopg) and lets SQLAlchemy batch the rows into multi-row
        # INSERT ... VALUES statements ("insertmanyvalues").
        statement = self._insert_ignore(t.beats).returning(t.beats.c.seq)
        for start in range(0, len(rows), _INSERT_CHUNK_ROWS):
            chunk = rows[start : start + _INSERT_CHUNK_ROWS]
            inserted += len(conn.execute(statement, chunk).all())
        return AppendResult(inserted, total - refused - inserted, refused)

    def _storage_allowed(
        self, conn: sa.Connection, pairs: set[tuple[int, int]], now: float
    ) -> set[tuple[int, int]]:
        """The (session, participant) pairs with storage consent, rows locked FOR SHARE."""
        sessions = {s for s, _ in pairs}
        participants_ = {p for _, p in pairs}
        found_s = set(
            conn.execute(sa.select(t.sessions.c.id).where(t.sessions.c.id.in_(sessions))).scalars()
        )
        if missing_s := sorted(sessions - found_s):
            raise RecordNotFoundError("session", missing_s[0])
        found_p = set(
            conn.execute(
                sa.select(t.participants.c.id).where(t.participants.c.id.in_(participants_))
            ).scalars()
        )
        if missing_p := sorted(participants_ - found_p):
            raise RecordNotFoundError("participant", missing_p[0])
        c = t.consents
        query = (
            sa.select(c.c.participant_id, c.c.session_id)
            .where(
                c.c.participant_id.in_(participants_),
                c.c.purpose == "storage",
                c.c.granted_at_s <= now,
                sa.or_(c.c.revoked_at_s.is_(None), c.c.revoked_at_s > now),
                sa.or_(c.c.session_id.is_(None), c.c.session_id.in_(sessions)),
            )
            .with_for_update(read=True)
        )
        grants = conn.execute(query).all()
        return {
            (s, p)
            for s, p in pairs
            if any(gp == p and (gs is None or gs == s) for gp, gs in grants)
        }

    @staticmethod
    def _beat_rows(session_id: int, participant_id: int, batch: BeatBatch) -> list[dict[str, Any]]:
        rr = validate_rr(batch.rr_ms)
        n = rr.shape[0]
        times = np.asarray(batch.beat_times_s, dtype=np.float64)
        if times.shape != (n,):
            raise InvalidRecordError(
                f"beat_times_s must have one time per RR ({n}), got shape {times.shape}"
            )
        if not np.isfinite(times).all() or not math.isfinite(batch.host_time_s):
            raise InvalidRecordError("beat and host times must be finite seconds")
        if batch.rr_raw is not None and len(batch.rr_raw) != n:
            raise InvalidRecordError(
                f"rr_raw must have one value per RR ({n}), got {len(batch.rr_raw)}"
            )
        if batch.seq < 0:
            raise InvalidRecordError(f"seq must be >= 0, got {batch.seq}")
        raw: Sequence[int | None] = batch.rr_raw if batch.rr_raw is not None else [None] * n
        gap = [False] * n
        if n and batch.gap_before:
            gap[0] = True
        common = {
            "session_id": session_id,
            "participant_id": participant_id,
            "device": batch.device,
            "host_time_s": float(batch.host_time_s),
            "contact": batch.contact,
            "hr_bpm": batch.heart_rate_bpm,
        }
        return [
            {
                **common,
                "seq": batch.seq + i,
                "rr_ms": r,
                "rr_raw": w,
                "beat_time_s": bt,
                "gap_before": g,
            }
            for i, (r, w, bt, g) in enumerate(
                zip(rr.tolist(), raw, times.tolist(), gap, strict=True)
            )
        ]

    def read_beats(
        self,
        session_id: int,
        *,
        participant_id: int | None = None,
        start_s: float | None = None,
        end_s: float | None = None,
        after: BeatCursor | None = None,
        limit: int = DEFAULT_BEAT_PAGE_SIZE,
    ) -> BeatPage:
        """A page of a session's beats ordered by beat time (keyset paging).

        Parameters
        ----------
        session_id : int
        participant_id : int, optional
            Only this participant's beats.
        start_s, end_s : float, optional
            Beat-time window ``[start_s, end_s)``, s.
        after : BeatCursor, optional
            ``next_cursor`` of the previous page.
        limit : int
            Page size, 1 to :data:`MAX_BEAT_PAGE_SIZE`.

        Returns
        -------
        BeatPage
            Parallel arrays; ``next_cursor`` is None on the last page.
        """
        if not 1 <= limit <= MAX_BEAT_PAGE_SIZE:
            raise InvalidRecordError(f"limit must be 1-{MAX_BEAT_PAGE_SIZE}, got {limit}")
        b = t.beats
        key = (b.c.beat_time_s, b.c.participant_id, b.c.device, b.c.seq)
        query = sa.select(
            b.c.participant_id,
            b.c.device,
            b.c.seq,
            b.c.rr_ms,
            b.c.rr_raw,
            b.c.host_time_s,
            b.c.beat_time_s,
            b.c.contact,
            b.c.gap_before,
        ).where(b.c.session_id == session_id)
        if participant_id is not None:
            query = query.where(b.c.participant_id == participant_id)
        if start_s is not None:
            query = query.where(b.c.beat_time_s >= start_s)
        if end_s is not None:
            query = query.where(b.c.beat_time_s < end_s)
        if after is not None:
            query = query.where(
                sa.tuple_(*key)
                > sa.tuple_(
                    sa.literal(after.beat_time_s, sa.Double()),
                    sa.literal(after.participant_id),
                    sa.literal(after.device),
                    sa.literal(after.seq, sa.BigInteger()),
                )
            )
        query = query.order_by(*key).limit(limit + 1)
        with self._read() as conn:
            self._require(conn, t.sessions, "session", session_id)
            rows = conn.execute(query).all()
        more = len(rows) > limit
        rows = rows[:limit]
        cols = list(zip(*rows, strict=True)) if rows else [()] * 9
        contact = np.array(
            [CONTACT_UNKNOWN if c is None else int(c) for c in cols[7]], dtype=np.int8
        )
        raw = np.array([RR_RAW_MISSING if w is None else w for w in cols[4]], dtype=np.int64)
        page = BeatPage(
            participant_id=np.array(cols[0], dtype=np.int64),
            device=np.array(cols[1], dtype=np.str_),
            seq=np.array(cols[2], dtype=np.int64),
            rr_ms=np.array(cols[3], dtype=np.float64),
            rr_raw=raw,
            host_time_s=np.array(cols[5], dtype=np.float64),
            beat_time_s=np.array(cols[6], dtype=np.float64),
            contact=contact,
            gap_before=np.array(cols[8], dtype=np.bool_),
            next_cursor=None,
        )
        if more:
            last = rows[-1]
            page = _with_cursor(
                page, BeatCursor(float(last[6]), int(last[0]), str(last[1]), int(last[2]))
            )
        return page

    def read_all_beats(self, session_id: int, *, participant_id: int | None = None) -> BeatPage:
        """Every stored beat of a session (of one participant), in beat-time order.

        For review, reports and exports: :meth:`read_beats` pages of
        :data:`MAX_BEAT_PAGE_SIZE` concatenated (one hour of a dyad is about 9,000 beats).
        The result's ``next_cursor`` is None.
        """
        pages = [
            self.read_beats(session_id, participant_id=participant_id, limit=MAX_BEAT_PAGE_SIZE)
        ]
        while (cursor := pages[-1].next_cursor) is not None:
            pages.append(
                self.read_beats(
                    session_id,
                    participant_id=participant_id,
                    after=cursor,
                    limit=MAX_BEAT_PAGE_SIZE,
                )
            )
        if len(pages) == 1:
            return pages[0]

        def cat(field: str) -> Any:
            return np.concatenate([getattr(pg, field) for pg in pages])

        return BeatPage(
            participant_id=cat("participant_id"),
            device=cat("device"),
            seq=cat("seq"),
            rr_ms=cat("rr_ms"),
            rr_raw=cat("rr_raw"),
            host_time_s=cat("host_time_s"),
            beat_time_s=cat("beat_time_s"),
            contact=cat("contact"),
            gap_before=cat("gap_before"),
            next_cursor=None,
        )

    def count_beats(self, session_id: int, *, participant_id: int | None = None) -> int:
        """Number of stored beats of a session (of one participant)."""
        b = t.beats
        query = sa.select(sa.func.count()).select_from(b).where(b.c.session_id == session_id)
        if participant_id is not None:
            query = query.where(b.c.participant_id == participant_id)
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    # ------------------------------------------------------------------ device events

    def add_device_events(
        self,
        session_id: int,
        participant_id: int | None,
        events: Sequence[DeviceEvent],
        *,
        at_s: float | None = None,
    ) -> int:
        """Store device events; returns how many were stored.

        Events of a participant without an active ``storage`` consent are not stored (0 is
        returned); events with ``participant_id=None`` (a device not yet assigned) are stored.
        """
        return self.add_device_event_batches(
            [(session_id, participant_id, e) for e in events], at_s=at_s
        )

    def add_device_event_batches(
        self,
        items: Sequence[tuple[int, int | None, DeviceEvent]],
        *,
        at_s: float | None = None,
    ) -> int:
        """Store ``(session_id, participant_id, event)`` triples in one transaction."""
        return self.append_live((), items, at_s=at_s)[1]

    def _add_events(
        self,
        conn: sa.Connection,
        items: Sequence[tuple[int, int | None, DeviceEvent]],
        now: float,
    ) -> int:
        if not items:
            return 0
        pairs = {(s, p) for s, p, _ in items if p is not None}
        allowed = self._storage_allowed(conn, pairs, now) if pairs else set()
        rows = [
            {
                "session_id": s,
                "participant_id": p,
                "device": e.device,
                "kind": e.kind,
                "time_s": e.host_time_s,
                "value": e.value,
                "detail": dict(e.detail),
            }
            for s, p, e in items
            if p is None or (s, p) in allowed
        ]
        for s in sorted({s for s, p, _ in items if p is None}):
            self._require(conn, t.sessions, "session", s)
        if rows:
            conn.execute(sa.insert(t.device_events), rows)
        return len(rows)

    def list_device_events(
        self, session_id: int, *, participant_id: int | None = None
    ) -> list[DeviceEventRecord]:
        """A session's device events in time order."""
        d = t.device_events
        query = sa.select(d).where(d.c.session_id == session_id).order_by(d.c.time_s, d.c.id)
        if participant_id is not None:
            query = query.where(d.c.participant_id == participant_id)
        with self._read() as conn:
            return [DeviceEventRecord(**r._mapping) for r in conn.execute(query)]


def _with_cursor(page: BeatPage, cursor: BeatCursor) -> BeatPage:
    return BeatPage(
        page.participant_id,
        page.device,
        page.seq,
        page.rr_ms,
        page.rr_raw,
        page.host_time_s,
        page.beat_time_s,
        page.contact,
        page.gap_before,
        cursor,
    )
