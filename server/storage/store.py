"""The one gateway to the database: typed methods, each one transaction.

:class:`Store` wraps a SQLAlchemy :class:`~sqlalchemy.engine.Engine` (SQLite or PostgreSQL, see
:mod:`server.storage.settings`). Every public method runs in its own transaction: it either
completes or leaves nothing behind (an exception rolls everything back). Methods are synchronous
and thread-safe (each call takes its own pooled connection); from asyncio, call them through
``asyncio.to_thread`` or a FastAPI ``def`` endpoint. Live beats go through
:class:`server.storage.writer.BeatWriter`, which calls :meth:`Store.append_beat_batches`.

Consent is enforced where data is written: :meth:`Store.append_beat_batches` and
:meth:`Store.add_device_events` store nothing for a participant without an active ``storage``
consent at the time of writing (the refused beats are counted, never silently lost), and the
consent rows are read ``FOR SHARE`` on PostgreSQL (SQLite serialises writers) so that a concurrent
revocation either happens before the write (nothing is written) or waits for it and then erases it.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Engine

from hrv.validate import validate_rr
from sensor.quality import split_corrupt
from sensor.types import BeatBatch, DeviceEvent
from server.storage import schema as t
from server.storage.errors import (
    DuplicateRecordError,
    InvalidRecordError,
    RecordNotFoundError,
    StateConflictError,
)
from server.storage.migrate import upgrade_to_head
from server.storage.records import (
    CONSENT_PURPOSES,
    CONTACT_UNKNOWN,
    CUE_RESPONSES,
    INSTRUMENTS,
    ON_REVOKE_ACTIONS,
    PHASE_ACTIONS,
    ROLES,
    RR_RAW_MISSING,
    SOURCE_KINDS,
    AllianceScore,
    AuditEntry,
    BeatCursor,
    BeatPage,
    Clinician,
    Consent,
    ConsentPurpose,
    Cue,
    CueResponse,
    DeviceEventRecord,
    ErasureReport,
    Instrument,
    Marker,
    OnRevoke,
    Participant,
    PhaseAction,
    PhaseEvent,
    Revocation,
    Role,
    Session,
    SessionParticipant,
    SessionStatus,
    SourceKind,
)
from server.storage.settings import StorageSettings, make_engine

__all__ = [
    "ALLIANCE_ITEM_RANGES",
    "DEFAULT_BEAT_PAGE_SIZE",
    "MAX_BEAT_PAGE_SIZE",
    "AppendResult",
    "DeviceAssignment",
    "Store",
]

_log = logging.getLogger(__name__)

DEFAULT_BEAT_PAGE_SIZE: Final[int] = 10_000
MAX_BEAT_PAGE_SIZE: Final[int] = 100_000
#: Per instrument: number of items and the (min, max) item score. SRS: Duncan et al. (2003),
#: four visual-analogue items of 0-10 cm. WAI-SR: Hatcher & Gillaspy (2006), twelve items rated 1-5.
ALLIANCE_ITEM_RANGES: Final[Mapping[str, tuple[int, float, float]]] = {
    "SRS": (4, 0.0, 10.0),
    "WAI-SR": (12, 1.0, 5.0),
}
_SYSTEM: Final[str] = "system"
_DEIDENTIFIED_DEVICE: Final[str] = "device-{}"
#: Rows per INSERT ... VALUES statement when a batch is large (well under SQLite's 32766
#: bound-parameter limit with 11 columns).
_INSERT_CHUNK_ROWS: Final[int] = 2_000


@dataclass(frozen=True, slots=True)
class DeviceAssignment:
    """Where one participant's beats come from in a session.

    Attributes
    ----------
    participant_id : int
    source_kind : {"ble", "simulator", "file", "lsl"}
    address : str or None
        BLE address, simulator spec, file path or LSL stream name.
    """

    participant_id: int
    source_kind: SourceKind
    address: str | None = None


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


def _check_choice(kind: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidRecordError(f"{kind} must be one of {', '.join(allowed)}, got {value!r}")


def _check_text(name: str, value: str | None, max_len: int, *, optional: bool = False) -> None:
    """Strings must fit their column (PostgreSQL enforces VARCHAR lengths, SQLite does not)."""
    if value is None and optional:
        return
    if not isinstance(value, str) or not 1 <= len(value) <= max_len:
        raise InvalidRecordError(
            f"{name} must be a string of 1-{max_len} characters, got {value!r}"
        )


def _check_time(name: str, value: float) -> float:
    if not math.isfinite(value):
        raise InvalidRecordError(f"{name} must be a finite time in seconds, got {value!r}")
    return float(value)


class Store:
    """Typed access to the Sintonia database.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
        From :func:`server.storage.settings.make_engine` (it sets up SQLite's pragmas).
    clock : callable, optional
        Returns the current time in seconds (Unix epoch); ``time.time`` by default. Used for
        every ``at_s`` left out.

    Examples
    --------
    >>> store = Store.open("sqlite://")  # in memory; a real install uses Store.open()
    >>> p = store.create_participant("P-001", "patient")
    >>> _ = store.grant_consent(p.id, "storage", "v1")
    >>> store.has_consent(p.id, "storage")
    True
    >>> store.close()
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._writer_engine = engine.execution_options(sqlite_begin="IMMEDIATE")
        self._clock = clock
        self._dialect = engine.dialect.name

    # ------------------------------------------------------------------ life cycle

    @classmethod
    def open(
        cls,
        target: StorageSettings | str | None = None,
        *,
        migrate: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> Store:
        """Connect to the configured database and (by default) upgrade its schema to the newest.

        Parameters
        ----------
        target : StorageSettings or str, optional
            Settings or a database URL; by default :meth:`StorageSettings.from_env`.
        migrate : bool
            Run :func:`server.storage.migrate.upgrade_to_head` first.
        clock : callable, optional
            As in :class:`Store`.

        Returns
        -------
        Store
        """
        engine = make_engine(target)
        if _is_memory(engine):
            # One shared connection, or each pooled connection would see its own empty database.
            engine.dispose()
            engine = make_engine(
                target, poolclass=sa.StaticPool, connect_args={"check_same_thread": False}
            )
        if migrate:
            upgrade_to_head(engine)
        return cls(engine, clock=clock)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tests and tools; application code uses the methods)."""
        return self._engine

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._dialect

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> float:
        """The store's clock, seconds."""
        return self._clock()

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self._writer_engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self._engine.begin() as conn:
            yield conn

    def _at(self, at_s: float | None, name: str = "at_s") -> float:
        return self._clock() if at_s is None else _check_time(name, at_s)

    def _insert_ignore(self, table: sa.Table) -> Any:
        insert = pg_dialect.insert if self._dialect == "postgresql" else sqlite_dialect.insert
        return insert(table).on_conflict_do_nothing()

    @staticmethod
    def _require(conn: sa.Connection, table: sa.Table, kind: str, key: int) -> sa.Row[Any]:
        row = conn.execute(sa.select(table).where(table.c.id == key)).first()
        if row is None:
            raise RecordNotFoundError(kind, key)
        return row

    @staticmethod
    def _audit(
        conn: sa.Connection,
        at_s: float,
        actor: str,
        action: str,
        object_type: str,
        object_id: object,
        detail: Mapping[str, Any] | None = None,
    ) -> int:
        _check_text("actor", actor, 64)
        _check_text("action", action, 64)
        _check_text("object_type", object_type, 32)
        _check_text("object_id", None if object_id is None else str(object_id), 64, optional=True)
        result = conn.execute(
            sa.insert(t.audit_log).values(
                time_s=at_s,
                actor=actor,
                action=action,
                object_type=object_type,
                object_id=None if object_id is None else str(object_id),
                detail=dict(detail or {}),
            )
        )
        return _new_id(result)

    # ------------------------------------------------------------------ clinicians

    def create_clinician(
        self, username: str, password_hash: str | None = None, *, at_s: float | None = None
    ) -> Clinician:
        """Create a clinician account; ``password_hash`` is an argon2/bcrypt PHC string.

        Raises
        ------
        DuplicateRecordError
            If the username is taken.
        """
        _check_text("username", username, 64)
        _check_text("password_hash", password_hash, 255, optional=True)
        now = self._at(at_s)
        taken_msg = f"clinician username {username!r} is already taken"
        with _unique_violation_as(taken_msg), self._write() as conn:
            taken = conn.execute(
                sa.select(t.clinicians.c.id).where(t.clinicians.c.username == username)
            ).first()
            if taken is not None:
                raise DuplicateRecordError(taken_msg)
            result = conn.execute(
                sa.insert(t.clinicians).values(
                    username=username, password_hash=password_hash, created_at_s=now
                )
            )
            cid = _new_id(result)
            self._audit(conn, now, _SYSTEM, "clinician.create", "clinician", cid)
        return Clinician(cid, username, password_hash, now)

    def set_clinician_password(
        self, clinician_id: int, password_hash: str, *, actor: str, at_s: float | None = None
    ) -> float:
        """Replace a clinician's password hash; audited ``clinician.password_change``.

        Returns
        -------
        float
            The time of the change, s (login tokens issued before it no longer count).
        """
        _check_text("password_hash", password_hash, 255)
        now = self._at(at_s)
        with self._write() as conn:
            self._require(conn, t.clinicians, "clinician", clinician_id)
            conn.execute(
                sa.update(t.clinicians)
                .where(t.clinicians.c.id == clinician_id)
                .values(password_hash=password_hash)
            )
            self._audit(conn, now, actor, "clinician.password_change", "clinician", clinician_id)
        return now

    def last_audit_time(
        self, object_type: str, object_id: object, actions: Sequence[str]
    ) -> float | None:
        """When one of ``actions`` was last logged about an object (None if never), s."""
        a = t.audit_log
        query = sa.select(sa.func.max(a.c.time_s)).where(
            a.c.object_type == object_type,
            a.c.object_id == str(object_id),
            a.c.action.in_(list(actions)),
        )
        with self._read() as conn:
            value = conn.execute(query).scalar()
        return None if value is None else float(value)

    def get_clinician(self, username: str) -> Clinician:
        """The clinician with this username; raises :class:`RecordNotFoundError`."""
        with self._read() as conn:
            row = conn.execute(
                sa.select(t.clinicians).where(t.clinicians.c.username == username)
            ).first()
        if row is None:
            raise RecordNotFoundError("clinician", username)
        return Clinician(**row._mapping)

    # ------------------------------------------------------------------ participants

    def create_participant(
        self,
        code: str,
        role: Role,
        *,
        clinician_id: int | None = None,
        actor: str = _SYSTEM,
        at_s: float | None = None,
    ) -> Participant:
        """Register a participant under a pseudonymous code (no name is ever needed).

        Raises
        ------
        DuplicateRecordError
            If the code is taken.
        InvalidRecordError
            For an empty code or an unknown role.
        """
        _check_choice("role", role, ROLES)
        _check_text("participant code", code, 64)
        now = self._at(at_s)
        taken_msg = f"participant code {code!r} is already taken"
        with _unique_violation_as(taken_msg), self._write() as conn:
            if clinician_id is not None:
                self._require(conn, t.clinicians, "clinician", clinician_id)
            taken = conn.execute(
                sa.select(t.participants.c.id).where(t.participants.c.code == code)
            ).first()
            if taken is not None:
                raise DuplicateRecordError(taken_msg)
            result = conn.execute(
                sa.insert(t.participants).values(
                    code=code, role=role, clinician_id=clinician_id, created_at_s=now
                )
            )
            pid = _new_id(result)
            self._audit(conn, now, actor, "participant.create", "participant", pid)
        return Participant(pid, code, role, clinician_id, now)

    def get_participant(self, participant_id: int) -> Participant:
        """The participant with this id; raises :class:`RecordNotFoundError`."""
        with self._read() as conn:
            row = self._require(conn, t.participants, "participant", participant_id)
        return Participant(**row._mapping)

    def get_participant_by_code(self, code: str) -> Participant:
        """The participant with this pseudonymous code; raises :class:`RecordNotFoundError`."""
        with self._read() as conn:
            row = conn.execute(
                sa.select(t.participants).where(t.participants.c.code == code)
            ).first()
        if row is None:
            raise RecordNotFoundError("participant", code)
        return Participant(**row._mapping)

    def list_participants(
        self,
        *,
        clinician_id: int | None = None,
        session_id: int | None = None,
        include_deidentified: bool = False,
    ) -> list[Participant]:
        """Participants, by id; optionally only a clinician's, or only those in a session."""
        query = sa.select(t.participants).order_by(t.participants.c.id)
        if clinician_id is not None:
            query = query.where(t.participants.c.clinician_id == clinician_id)
        if session_id is not None:
            query = query.join(
                t.session_participants,
                t.session_participants.c.participant_id == t.participants.c.id,
            ).where(t.session_participants.c.session_id == session_id)
        if not include_deidentified:
            query = query.where(t.participants.c.deidentified_at_s.is_(None))
        with self._read() as conn:
            return [Participant(**r._mapping) for r in conn.execute(query)]

    # ------------------------------------------------------------------ sessions

    def create_session(
        self,
        phase_template: Any,
        *,
        clinician_id: int | None = None,
        label: str | None = None,
        planned_start_s: float | None = None,
        participants: Sequence[DeviceAssignment] = (),
        actor: str = _SYSTEM,
        at_s: float | None = None,
        simulated: bool = False,
    ) -> Session:
        """Plan a session from a phase template (any JSON value) with its participants.

        ``simulated`` flags a session of simulated people; it is set anyway when any participant
        is assigned the simulator, here or later by :meth:`assign_device`. A simulated session
        stays out of research outputs unless they are asked to include it.

        Raises
        ------
        RecordNotFoundError
            If the clinician or a participant does not exist (nothing is created).
        """
        _check_text("label", label, 200, optional=True)
        now = self._at(at_s)
        for a in participants:
            _check_choice("source_kind", a.source_kind, SOURCE_KINDS)
        simulated = bool(simulated) or any(a.source_kind == "simulator" for a in participants)
        with self._write() as conn:
            if clinician_id is not None:
                self._require(conn, t.clinicians, "clinician", clinician_id)
            result = conn.execute(
                sa.insert(t.sessions).values(
                    clinician_id=clinician_id,
                    label=label,
                    phase_template=phase_template,
                    status="planned",
                    created_at_s=now,
                    planned_start_s=planned_start_s,
                    simulated=bool(simulated),
                )
            )
            sid = _new_id(result)
            for a in participants:
                self._assign(conn, sid, a, now)
            self._audit(conn, now, actor, "session.create", "session", sid)
        return Session(
            sid,
            clinician_id,
            label,
            phase_template,
            "planned",
            now,
            planned_start_s,
            None,
            None,
            bool(simulated),
        )

    def _assign(
        self, conn: sa.Connection, session_id: int, a: DeviceAssignment, now: float
    ) -> None:
        self._require(conn, t.participants, "participant", a.participant_id)
        if a.source_kind == "simulator":  # once simulated beats may be in it, always flagged
            conn.execute(
                sa.update(t.sessions).where(t.sessions.c.id == session_id).values(simulated=True)
            )
        sp = t.session_participants
        updated = conn.execute(
            sa.update(sp)
            .where(sp.c.session_id == session_id, sp.c.participant_id == a.participant_id)
            .values(source_kind=a.source_kind, address=a.address, assigned_at_s=now)
        )
        if updated.rowcount == 0:
            conn.execute(
                sa.insert(sp).values(
                    session_id=session_id,
                    participant_id=a.participant_id,
                    source_kind=a.source_kind,
                    address=a.address,
                    assigned_at_s=now,
                )
            )

    def assign_device(
        self, session_id: int, assignment: DeviceAssignment, *, at_s: float | None = None
    ) -> SessionParticipant:
        """Add a participant to a session, or change where that participant's beats come from."""
        _check_choice("source_kind", assignment.source_kind, SOURCE_KINDS)
        now = self._at(at_s)
        with self._write() as conn:
            self._require(conn, t.sessions, "session", session_id)
            self._assign(conn, session_id, assignment, now)
        return SessionParticipant(
            session_id, assignment.participant_id, assignment.source_kind, assignment.address, now
        )

    def session_participants(self, session_id: int) -> list[SessionParticipant]:
        """Who takes part in a session, by participant id."""
        sp = t.session_participants
        with self._read() as conn:
            self._require(conn, t.sessions, "session", session_id)
            rows = conn.execute(
                sa.select(sp).where(sp.c.session_id == session_id).order_by(sp.c.participant_id)
            )
            return [SessionParticipant(**r._mapping) for r in rows]

    def get_session(self, session_id: int) -> Session:
        """The session with this id; raises :class:`RecordNotFoundError`."""
        with self._read() as conn:
            row = self._require(conn, t.sessions, "session", session_id)
        return Session(**row._mapping)

    def list_sessions(
        self,
        *,
        clinician_id: int | None = None,
        status: SessionStatus | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Session]:
        """Sessions, newest first, paged with ``limit``/``offset``."""
        query = sa.select(t.sessions).order_by(t.sessions.c.id.desc()).limit(limit).offset(offset)
        if clinician_id is not None:
            query = query.where(t.sessions.c.clinician_id == clinician_id)
        if status is not None:
            query = query.where(t.sessions.c.status == status)
        with self._read() as conn:
            return [Session(**r._mapping) for r in conn.execute(query)]

    def _transition(
        self,
        session_id: int,
        allowed: tuple[str, ...],
        values: Mapping[str, Any],
        action: str,
        actor: str,
        now: float,
    ) -> Session:
        with self._write() as conn:
            row = self._require(conn, t.sessions, "session", session_id)
            if row.status not in allowed:
                raise StateConflictError(
                    f"cannot {action.split('.')[1]} session {session_id}",
                    expected=" or ".join(allowed),
                    actual=row.status,
                )
            conn.execute(
                sa.update(t.sessions).where(t.sessions.c.id == session_id).values(**values)
            )
            self._audit(conn, now, actor, action, "session", session_id, {"from": row.status})
            row = self._require(conn, t.sessions, "session", session_id)
        return Session(**row._mapping)

    def start_session(
        self, session_id: int, *, actor: str = _SYSTEM, at_s: float | None = None
    ) -> Session:
        """Make a planned (or interrupted, to resume it) session live.

        Raises
        ------
        StateConflictError
            If the session is live or stopped.
        """
        now = self._at(at_s)
        # A resumed session keeps its first start time (in the same transaction as the check).
        started = sa.func.coalesce(t.sessions.c.started_at_s, now)
        return self._transition(
            session_id,
            ("planned", "interrupted"),
            {"status": "live", "started_at_s": started, "stopped_at_s": None},
            "session.start",
            actor,
            now,
        )

    def stop_session(
        self, session_id: int, *, actor: str = _SYSTEM, at_s: float | None = None
    ) -> Session:
        """Stop a live session. Raises :class:`StateConflictError` if it is not live."""
        now = self._at(at_s)
        return self._transition(
            session_id,
            ("live",),
            {"status": "stopped", "stopped_at_s": now},
            "session.stop",
            actor,
            now,
        )

    def mark_interrupted_sessions(self, *, at_s: float | None = None) -> list[int]:
        """Mark every session still ``live`` as ``interrupted``: call once at server start-up.

        A session is left ``live`` in the database only when the server that ran it died (a
        clean shutdown stops its sessions). Its ``stopped_at_s`` becomes the host time of the
        last beat received (or its start time when it has no beat), so the review shows where
        the recording ended. Each change is written to the audit log.

        Returns
        -------
        list of int
            The ids of the sessions marked, ascending.

        Notes
        -----
        With several server processes on one PostgreSQL database, only a process that knows no
        other process is running sessions may call this (the schema has no per-process lease).
        """
        now = self._at(at_s)
        s, b = t.sessions, t.beats
        with self._write() as conn:
            ids = [
                int(i)
                for i in conn.execute(
                    sa.select(s.c.id).where(s.c.status == "live").order_by(s.c.id)
                ).scalars()
            ]
            if not ids:
                return []
            last_beat = (
                sa.select(sa.func.max(b.c.host_time_s))
                .where(b.c.session_id == s.c.id)
                .scalar_subquery()
            )
            conn.execute(
                sa.update(s)
                .where(s.c.id.in_(ids))
                .values(
                    status="interrupted", stopped_at_s=sa.func.coalesce(last_beat, s.c.started_at_s)
                )
            )
            for sid in ids:
                self._audit(conn, now, _SYSTEM, "session.interrupted", "session", sid)
        _log.warning("sessions left live by a previous run marked interrupted: %s", ids)
        return ids

    # ------------------------------------------------------------------ consents

    def grant_consent(
        self,
        participant_id: int,
        purpose: ConsentPurpose,
        version: str,
        *,
        session_id: int | None = None,
        on_revoke: OnRevoke = "delete",
        recorded_by: str | None = None,
        at_s: float | None = None,
    ) -> Consent:
        """Record a consent for one purpose, for one session or (``session_id=None``) for all.

        Parameters
        ----------
        participant_id : int
        purpose : {"live_display", "storage", "review", "research_export", "synchrony"}
        version : str
            Version of the consent text the person agreed to.
        session_id : int, optional
            Limit the consent to one session.
        on_revoke : {"delete", "deidentify"}
            What happens to stored data when a ``storage`` consent is revoked.
        recorded_by : str, optional
            Who recorded it (clinician username, ``"demo"``); also the audit actor.
        at_s : float, optional
            Time of the consent, s; now by default.
        """
        _check_choice("purpose", purpose, CONSENT_PURPOSES)
        _check_choice("on_revoke", on_revoke, ON_REVOKE_ACTIONS)
        _check_text("consent version", version, 32)
        _check_text("recorded_by", recorded_by, 64, optional=True)
        now = self._at(at_s)
        with self._write() as conn:
            self._require(conn, t.participants, "participant", participant_id)
            if session_id is not None:
                self._require(conn, t.sessions, "session", session_id)
            result = conn.execute(
                sa.insert(t.consents).values(
                    participant_id=participant_id,
                    session_id=session_id,
                    purpose=purpose,
                    version=version,
                    granted_at_s=now,
                    on_revoke=on_revoke,
                    recorded_by=recorded_by,
                )
            )
            cid = _new_id(result)
            self._audit(
                conn,
                now,
                recorded_by or _SYSTEM,
                "consent.grant",
                "consent",
                cid,
                {
                    "participant_id": participant_id,
                    "purpose": purpose,
                    "session_id": session_id,
                    "version": version,
                },
            )
        return Consent(
            cid, participant_id, session_id, purpose, version, now, None, on_revoke, recorded_by
        )

    @staticmethod
    def _active_consent_clause(
        participant_id: Any, purpose: str, session_id: int | None, at_s: float
    ) -> sa.ColumnElement[bool]:
        c = t.consents
        scope: sa.ColumnElement[bool] = c.c.session_id.is_(None)
        if session_id is not None:
            scope = sa.or_(scope, c.c.session_id == session_id)
        return sa.and_(
            c.c.participant_id == participant_id,
            c.c.purpose == purpose,
            scope,
            c.c.granted_at_s <= at_s,
            sa.or_(c.c.revoked_at_s.is_(None), c.c.revoked_at_s > at_s),
        )

    def has_consent(
        self,
        participant_id: int,
        purpose: ConsentPurpose,
        *,
        session_id: int | None = None,
        at_s: float | None = None,
    ) -> bool:
        """Whether the participant has an active consent for ``purpose`` at ``at_s`` (now).

        A consent counts if it is global or for ``session_id``, was granted at or before
        ``at_s`` and not revoked at or before it.
        """
        _check_choice("purpose", purpose, CONSENT_PURPOSES)
        now = self._at(at_s)
        query = sa.select(sa.literal(1)).where(
            self._active_consent_clause(participant_id, purpose, session_id, now)
        )
        with self._read() as conn:
            return conn.execute(query.limit(1)).first() is not None

    def active_purposes(
        self, participant_id: int, *, session_id: int | None = None, at_s: float | None = None
    ) -> frozenset[str]:
        """Every purpose the participant consents to at ``at_s`` (now), for the live hub."""
        now = self._at(at_s)
        c = t.consents
        scope: sa.ColumnElement[bool] = c.c.session_id.is_(None)
        if session_id is not None:
            scope = sa.or_(scope, c.c.session_id == session_id)
        query = (
            sa.select(c.c.purpose)
            .distinct()
            .where(
                c.c.participant_id == participant_id,
                scope,
                c.c.granted_at_s <= now,
                sa.or_(c.c.revoked_at_s.is_(None), c.c.revoked_at_s > now),
            )
        )
        with self._read() as conn:
            return frozenset(conn.execute(query).scalars())

    def list_consents(self, participant_id: int) -> list[Consent]:
        """Every consent record of a participant (active and revoked), oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(t.consents)
                .where(t.consents.c.participant_id == participant_id)
                .order_by(t.consents.c.id)
            )
            return [Consent(**r._mapping) for r in rows]

    def revoke_consent(
        self,
        participant_id: int,
        purpose: ConsentPurpose,
        *,
        session_id: int | None = None,
        actor: str = _SYSTEM,
        at_s: float | None = None,
    ) -> Revocation:
        """Revoke the participant's active consents for ``purpose``, and apply what they say.

        Revokes the global consents and, when ``session_id`` is given, that session's. Revoking
        ``storage`` erases the stored data in the same transaction, with the most protective
        action among the revoked records (``delete`` over ``deidentify``): of that session for a
        session consent, of every session for a global one.

        Returns
        -------
        Revocation
            The revoked consents (empty if none was active) and the erasure report.
        """
        _check_choice("purpose", purpose, CONSENT_PURPOSES)
        now = self._at(at_s)
        c = t.consents
        with self._write() as conn:
            self._require(conn, t.participants, "participant", participant_id)
            scope: sa.ColumnElement[bool] = c.c.session_id.is_(None)
            if session_id is not None:
                scope = sa.or_(scope, c.c.session_id == session_id)
            where = sa.and_(
                c.c.participant_id == participant_id,
                c.c.purpose == purpose,
                scope,
                c.c.revoked_at_s.is_(None),
                c.c.granted_at_s <= now,
            )
            rows = [Consent(**r._mapping) for r in conn.execute(sa.select(c).where(where))]
            if not rows:
                return Revocation((), None)
            conn.execute(
                sa.update(c).where(c.c.id.in_([r.id for r in rows])).values(revoked_at_s=now)
            )
            revoked = tuple(
                Consent(
                    r.id,
                    r.participant_id,
                    r.session_id,
                    r.purpose,
                    r.version,
                    r.granted_at_s,
                    now,
                    r.on_revoke,
                    r.recorded_by,
                )
                for r in rows
            )
            for r in revoked:
                self._audit(
                    conn,
                    now,
                    actor,
                    "consent.revoke",
                    "consent",
                    r.id,
                    {"participant_id": participant_id, "purpose": purpose},
                )
            erasure = None
            if purpose == "storage":
                action: OnRevoke = (
                    "delete" if any(r.on_revoke == "delete" for r in revoked) else "deidentify"
                )
                scope_session = None if any(r.session_id is None for r in revoked) else session_id
                erasure = self._erase(conn, participant_id, action, scope_session, actor, now)
        return Revocation(revoked, erasure)

    # ------------------------------------------------------------------ erasure

    def erase_participant_data(
        self,
        participant_id: int,
        action: OnRevoke,
        *,
        session_id: int | None = None,
        actor: str = _SYSTEM,
        at_s: float | None = None,
    ) -> ErasureReport:
        """Delete or de-identify a participant's stored session data, in one transaction.

        ``delete`` removes the participant's beats, device events, alliance scores, the markers
        and cues about the person and the device assignments. ``deidentify`` instead moves them to
        a new anonymous participant (random code, same role, ``deidentified_at_s`` set) with
        device addresses replaced by ``device-1``, ``device-2``, ..., marker notes and device-event
        details removed; nothing links it back. The participant record, its consent records and
        the audit log are kept (they prove what was agreed and done).

        Parameters
        ----------
        participant_id : int
        action : {"delete", "deidentify"}
        session_id : int, optional
            Only this session's data; every session by default.
        actor : str
            Who asked (audit log).
        at_s : float, optional

        Returns
        -------
        ErasureReport
            Rows deleted or de-identified per table.
        """
        _check_choice("action", action, ON_REVOKE_ACTIONS)
        now = self._at(at_s)
        with self._write() as conn:
            self._require(conn, t.participants, "participant", participant_id)
            if session_id is not None:
                self._require(conn, t.sessions, "session", session_id)
            return self._erase(conn, participant_id, action, session_id, actor, now)

    def _erase(
        self,
        conn: sa.Connection,
        participant_id: int,
        action: OnRevoke,
        session_id: int | None,
        actor: str,
        now: float,
    ) -> ErasureReport:
        tables = (
            t.beats,
            t.device_events,
            t.alliance_scores,
            t.markers,
            t.cues,
            t.session_participants,
        )

        def scope(table: sa.Table) -> sa.ColumnElement[bool]:
            clause = table.c.participant_id == participant_id
            if session_id is not None:
                clause = sa.and_(clause, table.c.session_id == session_id)
            return clause

        rows: dict[str, int] = {}
        anonymous_id: int | None = None
        if action == "delete":
            for table in tables:
                rows[table.name] = int(conn.execute(sa.delete(table).where(scope(table))).rowcount)
        else:
            role = conn.execute(
                sa.select(t.participants.c.role).where(t.participants.c.id == participant_id)
            ).scalar_one()
            anonymous_id = _new_id(
                conn.execute(
                    sa.insert(t.participants).values(
                        code=f"anon-{secrets.token_hex(8)}",
                        role=role,
                        clinician_id=None,
                        created_at_s=now,
                        deidentified_at_s=now,
                    )
                )
            )
            devices = sorted(
                set(conn.execute(sa.select(t.beats.c.device).where(scope(t.beats))).scalars())
                | set(
                    conn.execute(
                        sa.select(t.device_events.c.device).where(scope(t.device_events))
                    ).scalars()
                )
            )
            alias = {d: _DEIDENTIFIED_DEVICE.format(i + 1) for i, d in enumerate(devices)}
            n_beats = n_events = 0
            for device, new_name in alias.items():
                n_beats += conn.execute(
                    sa.update(t.beats)
                    .where(scope(t.beats), t.beats.c.device == device)
                    .values(participant_id=anonymous_id, device=new_name)
                ).rowcount
                n_events += conn.execute(
                    sa.update(t.device_events)
                    .where(scope(t.device_events), t.device_events.c.device == device)
                    .values(participant_id=anonymous_id, device=new_name, detail={})
                ).rowcount
            rows["beats"], rows["device_events"] = int(n_beats), int(n_events)
            updates: dict[sa.Table, dict[str, Any]] = {
                t.alliance_scores: {},
                t.markers: {"note": None, "retraction_reason": None},
                t.cues: {},
                t.session_participants: {"address": None},
            }
            for table, extra in updates.items():
                rows[table.name] = int(
                    conn.execute(
                        sa.update(table)
                        .where(scope(table))
                        .values(participant_id=anonymous_id, **extra)
                    ).rowcount
                )
        report = ErasureReport(participant_id, action, session_id, rows, anonymous_id)
        self._audit(
            conn,
            now,
            actor,
            f"participant.{action}",
            "participant",
            participant_id,
            {"session_id": session_id, "rows": rows},
        )
        _log.info("participant %s data %sd: %s", participant_id, action, rows)
        return report

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
            _check_time("host_time_s", e.host_time_s)
            _check_text("device event kind", e.kind, 32)
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

    # ------------------------------------------------------------------ phases, markers, cues

    def record_phase_event(
        self,
        session_id: int,
        phase_index: int,
        phase_name: str,
        action: PhaseAction,
        *,
        extend_s: float | None = None,
        actor: str | None = None,
        at_s: float | None = None,
    ) -> PhaseEvent:
        """Record entering a phase, extending it by ``extend_s`` seconds, or ending the session."""
        _check_choice("action", action, PHASE_ACTIONS)
        _check_text("phase_name", phase_name, 64)
        _check_text("actor", actor, 64, optional=True)
        if action == "extend" and (extend_s is None or not extend_s > 0):
            raise InvalidRecordError(f"an extension needs extend_s > 0 seconds, got {extend_s!r}")
        now = self._at(at_s)
        with self._write() as conn:
            self._require(conn, t.sessions, "session", session_id)
            eid = _new_id(
                conn.execute(
                    sa.insert(t.phase_events).values(
                        session_id=session_id,
                        time_s=now,
                        phase_index=phase_index,
                        phase_name=phase_name,
                        action=action,
                        extend_s=extend_s,
                        actor=actor,
                    )
                )
            )
        return PhaseEvent(eid, session_id, now, phase_index, phase_name, action, extend_s, actor)

    def list_phase_events(self, session_id: int) -> list[PhaseEvent]:
        """A session's phase events in time order."""
        p = t.phase_events
        with self._read() as conn:
            rows = conn.execute(
                sa.select(p).where(p.c.session_id == session_id).order_by(p.c.time_s, p.c.id)
            )
            return [PhaseEvent(**r._mapping) for r in rows]

    def add_marker(
        self,
        session_id: int,
        marker_type: str,
        *,
        note: str | None = None,
        participant_id: int | None = None,
        actor: str | None = None,
        at_s: float | None = None,
    ) -> Marker:
        """Record an observation (``marker_type`` e.g. ``"rupture"``, ``"silence"``, ``"note"``)."""
        _check_text("marker type", marker_type, 32)
        _check_text("actor", actor, 64, optional=True)
        now = self._at(at_s)
        with self._write() as conn:
            self._require(conn, t.sessions, "session", session_id)
            if participant_id is not None:
                self._require(conn, t.participants, "participant", participant_id)
            mid = _new_id(
                conn.execute(
                    sa.insert(t.markers).values(
                        session_id=session_id,
                        participant_id=participant_id,
                        time_s=now,
                        type=marker_type,
                        note=note,
                        actor=actor,
                    )
                )
            )
        return Marker(mid, session_id, participant_id, now, marker_type, note, actor)

    def list_markers(self, session_id: int, *, include_retracted: bool = False) -> list[Marker]:
        """A session's markers in time order.

        Undone and retracted markers stay stored but are left out unless ``include_retracted``
        (the API's list and the audit show them, marked; the review and exports do not count
        them).
        """
        m = t.markers
        query = sa.select(m).where(m.c.session_id == session_id)
        if not include_retracted:
            query = query.where(m.c.retracted_at_s.is_(None))
        with self._read() as conn:
            rows = conn.execute(query.order_by(m.c.time_s, m.c.id))
            return [Marker(**r._mapping) for r in rows]

    def get_marker(self, session_id: int, marker_id: int) -> Marker:
        """One marker of a session, retracted or not.

        Raises
        ------
        RecordNotFoundError
            No such marker in this session.
        """
        m = t.markers
        with self._read() as conn:
            row = conn.execute(
                sa.select(m).where((m.c.id == marker_id) & (m.c.session_id == session_id))
            ).first()
        if row is None:
            raise RecordNotFoundError("marker", marker_id)
        return Marker(**row._mapping)

    @staticmethod
    def _retract_row(
        conn: sa.Connection,
        session_id: int,
        marker_id: int,
        verb: str,
        actor: str,
        reason: str | None,
        now: float,
    ) -> sa.Row[Any]:
        """Mark a standing marker of the session retracted; its row as it was before."""
        m = t.markers
        row = conn.execute(
            sa.select(m).where((m.c.id == marker_id) & (m.c.session_id == session_id))
        ).first()
        if row is None:
            raise RecordNotFoundError("marker", marker_id)
        if row.retracted_at_s is not None:
            raise StateConflictError(
                f"cannot {verb} marker {marker_id}", expected="standing", actual="retracted"
            )
        conn.execute(
            sa.update(m)
            .where(m.c.id == marker_id)
            .values(retracted_at_s=now, retracted_by=actor, retraction_reason=reason)
        )
        return row

    def retract_marker(
        self,
        session_id: int,
        marker_id: int,
        *,
        actor: str,
        reason: str | None = None,
        action: str = "marker.retract",
        at_s: float | None = None,
    ) -> Marker:
        """Withdraw a marker (an undo at once, or a retraction later); the row stays.

        The marker is marked retracted (time, actor, reason) and the audit log gets ``action``
        (``marker.undo`` or ``marker.retract``) with the marker's type, time and note length.

        Raises
        ------
        RecordNotFoundError
            No such marker in this session.
        StateConflictError
            The marker was already retracted.
        """
        _check_text("actor", actor, 64)
        _check_text("reason", reason, 2000, optional=True)
        now = self._at(at_s)
        m = t.markers
        with self._write() as conn:
            row = self._retract_row(conn, session_id, marker_id, "retract", actor, reason, now)
            self._audit(
                conn,
                now,
                actor,
                action,
                "marker",
                marker_id,
                {
                    "session_id": session_id,
                    "type": row.type,
                    "marker_time_s": row.time_s,
                    "reason": reason,
                },
            )
            out = conn.execute(sa.select(m).where(m.c.id == marker_id)).one()
        return Marker(**out._mapping)

    def correct_marker(
        self,
        session_id: int,
        marker_id: int,
        marker_type: str,
        *,
        actor: str,
        note: str | None = None,
        reason: str | None = None,
        at_s: float | None = None,
    ) -> tuple[Marker, Marker]:
        """Replace a marker by a corrected one at the same session time; both stay stored.

        Returns
        -------
        (retracted, correction) : tuple of Marker
            The original, now retracted, and the new marker (``replaces_id`` = the original).

        Raises
        ------
        RecordNotFoundError, StateConflictError
            As :meth:`retract_marker`.
        """
        _check_text("marker type", marker_type, 32)
        now = self._at(at_s)
        m = t.markers
        with self._write() as conn:
            row = self._retract_row(conn, session_id, marker_id, "correct", actor, reason, now)
            new_id = _new_id(
                conn.execute(
                    sa.insert(t.markers).values(
                        session_id=session_id,
                        participant_id=row.participant_id,
                        time_s=row.time_s,
                        type=marker_type,
                        note=note,
                        actor=actor,
                        replaces_id=marker_id,
                    )
                )
            )
            self._audit(
                conn,
                now,
                actor,
                "marker.correct",
                "marker",
                marker_id,
                {
                    "session_id": session_id,
                    "type": row.type,
                    "new_type": marker_type,
                    "correction_id": new_id,
                    "marker_time_s": row.time_s,
                    "reason": reason,
                },
            )
            old = conn.execute(sa.select(m).where(m.c.id == marker_id)).one()
            new = conn.execute(sa.select(m).where(m.c.id == new_id)).one()
        return Marker(**old._mapping), Marker(**new._mapping)

    def add_cue(
        self,
        session_id: int,
        rule: str,
        text: str,
        reason: Mapping[str, Any],
        *,
        participant_id: int | None = None,
        at_s: float | None = None,
    ) -> Cue:
        """Record a cue shown to the therapist, with the rule and the reason (JSON) behind it."""
        _check_text("rule", rule, 64)
        _check_text("text", text, 10_000)
        now = self._at(at_s)
        with self._write() as conn:
            self._require(conn, t.sessions, "session", session_id)
            if participant_id is not None:
                self._require(conn, t.participants, "participant", participant_id)
            cid = _new_id(
                conn.execute(
                    sa.insert(t.cues).values(
                        session_id=session_id,
                        participant_id=participant_id,
                        rule=rule,
                        text=text,
                        reason=dict(reason),
                        shown_at_s=now,
                    )
                )
            )
        return Cue(cid, session_id, participant_id, rule, text, dict(reason), now, None, None)

    def respond_to_cue(
        self, cue_id: int, response: CueResponse, *, at_s: float | None = None
    ) -> Cue:
        """Record the therapist's response to a cue (once).

        Raises
        ------
        RecordNotFoundError
            Unknown cue.
        StateConflictError
            The cue already has a response.
        """
        _check_choice("response", response, CUE_RESPONSES)
        now = self._at(at_s)
        c = t.cues
        with self._write() as conn:
            row = self._require(conn, c, "cue", cue_id)
            if row.response is not None:
                raise StateConflictError(
                    f"cue {cue_id} was already answered",
                    expected="no response",
                    actual=row.response,
                )
            conn.execute(
                sa.update(c).where(c.c.id == cue_id).values(response=response, responded_at_s=now)
            )
            row = self._require(conn, c, "cue", cue_id)
        return Cue(**row._mapping)

    def list_cues(self, session_id: int) -> list[Cue]:
        """A session's cues in the order shown."""
        c = t.cues
        with self._read() as conn:
            rows = conn.execute(
                sa.select(c).where(c.c.session_id == session_id).order_by(c.c.shown_at_s, c.c.id)
            )
            return [Cue(**r._mapping) for r in rows]

    # ------------------------------------------------------------------ alliance scores

    def record_alliance_scores(
        self,
        session_id: int,
        participant_id: int,
        instrument: Instrument,
        version: str,
        scores: Mapping[int, float],
        *,
        at_s: float | None = None,
    ) -> list[AllianceScore]:
        """Record (or replace) one participant's item scores on one instrument for a session.

        Parameters
        ----------
        session_id, participant_id : int
        instrument : {"SRS", "WAI-SR"}
            Session Rating Scale (4 items, 0-10) or Working Alliance Inventory short revised
            (12 items, 1-5).
        version : str
            Version of the form the clinic uses.
        scores : mapping of int to float
            1-based item number to score; items may be missing (not answered).

        References
        ----------
        .. [1] Duncan, B. L. et al. (2003). The Session Rating Scale. Journal of Brief Therapy,
           3(1), 3-12.
        .. [2] Hatcher, R. L., & Gillaspy, J. A. (2006). Development and validation of a revised
           short version of the Working Alliance Inventory. Psychotherapy Research, 16(1), 12-25.
        """
        _check_choice("instrument", instrument, INSTRUMENTS)
        _check_text("version", version, 32)
        n_items, lo, hi = ALLIANCE_ITEM_RANGES[instrument]
        if not scores:
            raise InvalidRecordError("scores must hold at least one item, got none")
        for item, score in scores.items():
            if not 1 <= item <= n_items:
                raise InvalidRecordError(f"{instrument} items are 1-{n_items}, got item {item}")
            if not (math.isfinite(score) and lo <= score <= hi):
                raise InvalidRecordError(
                    f"{instrument} item {item} score must be in [{lo:g}, {hi:g}], got {score!r}"
                )
        now = self._at(at_s)
        a = t.alliance_scores
        with self._write() as conn:
            self._require(conn, t.sessions, "session", session_id)
            self._require(conn, t.participants, "participant", participant_id)
            conn.execute(
                sa.delete(a).where(
                    a.c.session_id == session_id,
                    a.c.participant_id == participant_id,
                    a.c.instrument == instrument,
                )
            )
            conn.execute(
                sa.insert(a),
                [
                    {
                        "session_id": session_id,
                        "participant_id": participant_id,
                        "instrument": instrument,
                        "version": version,
                        "item": item,
                        "score": float(score),
                        "recorded_at_s": now,
                    }
                    for item, score in sorted(scores.items())
                ],
            )
            rows = conn.execute(
                sa.select(a)
                .where(
                    a.c.session_id == session_id,
                    a.c.participant_id == participant_id,
                    a.c.instrument == instrument,
                )
                .order_by(a.c.item)
            )
            return [AllianceScore(**r._mapping) for r in rows]

    def list_alliance_scores(
        self,
        *,
        session_id: int | None = None,
        participant_id: int | None = None,
        instrument: Instrument | None = None,
    ) -> list[AllianceScore]:
        """Alliance scores by session, participant, instrument and item."""
        a = t.alliance_scores
        query = sa.select(a).order_by(a.c.session_id, a.c.participant_id, a.c.instrument, a.c.item)
        if session_id is not None:
            query = query.where(a.c.session_id == session_id)
        if participant_id is not None:
            query = query.where(a.c.participant_id == participant_id)
        if instrument is not None:
            query = query.where(a.c.instrument == instrument)
        with self._read() as conn:
            return [AllianceScore(**r._mapping) for r in conn.execute(query)]

    # ------------------------------------------------------------------ audit

    def audit(
        self,
        actor: str,
        action: str,
        object_type: str,
        object_id: object = None,
        detail: Mapping[str, Any] | None = None,
        *,
        at_s: float | None = None,
    ) -> AuditEntry:
        """Append an entry to the audit log (views and exports; the store logs its own writes)."""
        now = self._at(at_s)
        with self._write() as conn:
            aid = self._audit(conn, now, actor, action, object_type, object_id, detail)
        return AuditEntry(
            aid,
            now,
            actor,
            action,
            object_type,
            None if object_id is None else str(object_id),
            dict(detail or {}),
        )

    def list_audit(
        self,
        *,
        object_type: str | None = None,
        object_id: object = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[AuditEntry]:
        """Audit entries in the order written, after ``after_id``, at most ``limit``."""
        a = t.audit_log
        query = sa.select(a).where(a.c.id > after_id).order_by(a.c.id).limit(limit)
        if object_type is not None:
            query = query.where(a.c.object_type == object_type)
        if object_id is not None:
            query = query.where(a.c.object_id == str(object_id))
        with self._read() as conn:
            return [AuditEntry(**r._mapping) for r in conn.execute(query)]


@contextmanager
def _unique_violation_as(message: str) -> Iterator[None]:
    """Turn the unique-constraint violation of a concurrent insert into DuplicateRecordError.

    The check before the insert covers the common case; on PostgreSQL two transactions can both
    pass it, and then the constraint decides.
    """
    try:
        yield
    except sa.exc.IntegrityError as exc:
        raise DuplicateRecordError(message) from exc


def _new_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None, "an INSERT of one row returns its primary key"
    return int(key[0])


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


def _is_memory(engine: Engine) -> bool:
    """True for an in-memory SQLite database (which needs a single shared connection)."""
    url = engine.url
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
