"""Sessions: planning with their participants and devices, and the life cycle planned -> live ->
stopped (or interrupted, when the server that ran it died).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from server.storage import schema as t
from server.storage.base import (
    SYSTEM_ACTOR,
    StoreBase,
    check_choice,
    check_text,
    new_row_id,
)
from server.storage.errors import (
    StateConflictError,
)
from server.storage.records import (
    SOURCE_KINDS,
    Session,
    SessionParticipant,
    SessionStatus,
    SourceKind,
)

__all__ = ["DeviceAssignment", "SessionsMixin"]

_log = logging.getLogger(__name__)


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


class SessionsMixin(StoreBase):
    """Sessions of :class:`~server.storage.store.Store`."""

    # ------------------------------------------------------------------ sessions

    def create_session(
        self,
        phase_template: Any,
        *,
        clinician_id: int | None = None,
        label: str | None = None,
        planned_start_s: float | None = None,
        participants: Sequence[DeviceAssignment] = (),
        actor: str = SYSTEM_ACTOR,
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
        check_text("label", label, 200, optional=True)
        now = self._at(at_s)
        for a in participants:
            check_choice("source_kind", a.source_kind, SOURCE_KINDS)
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
            sid = new_row_id(result)
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
        check_choice("source_kind", assignment.source_kind, SOURCE_KINDS)
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

    def live_session_ids(self) -> list[int]:
        """Ids of every session stored as ``live``, ascending (all of them, not a page)."""
        s = t.sessions
        with self._read() as conn:
            rows = conn.execute(sa.select(s.c.id).where(s.c.status == "live").order_by(s.c.id))
            return [int(i) for i in rows.scalars()]

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
        *,
        derived: bool = False,
    ) -> Session:
        write = self._derived_write(session_id) if derived else self._write()
        with write as conn:
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
        self, session_id: int, *, actor: str = SYSTEM_ACTOR, at_s: float | None = None
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
        self, session_id: int, *, actor: str = SYSTEM_ACTOR, at_s: float | None = None
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
            derived=True,  # only the process that runs the session may stop it
        )

    def mark_interrupted_sessions(
        self, *, at_s: float | None = None, only: Sequence[int] | None = None
    ) -> list[int]:
        """Mark every session still ``live`` (or those of ``only``) as ``interrupted``.

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
        Alone on SQLite, call it once at start-up without ``only``. With several server processes
        on one PostgreSQL database, name the sessions whose lease has expired
        (:mod:`server.cluster`): a session another process runs is never touched.
        """
        now = self._at(at_s)
        s, b = t.sessions, t.beats
        with self._write() as conn:
            ids = [
                int(i)
                for i in conn.execute(
                    sa.select(s.c.id)
                    .where(s.c.status == "live", *([] if only is None else [s.c.id.in_(only)]))
                    .order_by(s.c.id)
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
                self._audit(conn, now, SYSTEM_ACTOR, "session.interrupted", "session", sid)
        _log.warning("sessions left live by a previous run marked interrupted: %s", ids)
        return ids
