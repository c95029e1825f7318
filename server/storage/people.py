"""Clinicians (accounts) and participants (pseudonymous codes): the people a session involves."""

from __future__ import annotations

import sqlalchemy as sa

from server.storage import schema as t
from server.storage.base import (
    SYSTEM_ACTOR,
    StoreBase,
    check_choice,
    check_text,
    new_row_id,
    unique_violation_as,
)
from server.storage.errors import (
    DuplicateRecordError,
    RecordNotFoundError,
)
from server.storage.records import (
    ROLES,
    Clinician,
    Participant,
    Role,
)

__all__ = ["PeopleMixin"]


class PeopleMixin(StoreBase):
    """Clinician accounts and participants of :class:`~server.storage.store.Store`."""

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
        check_text("username", username, 64)
        check_text("password_hash", password_hash, 255, optional=True)
        now = self._at(at_s)
        taken_msg = f"clinician username {username!r} is already taken"
        with unique_violation_as(taken_msg), self._write() as conn:
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
            cid = new_row_id(result)
            self._audit(conn, now, SYSTEM_ACTOR, "clinician.create", "clinician", cid)
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
        check_text("password_hash", password_hash, 255)
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
        actor: str = SYSTEM_ACTOR,
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
        check_choice("role", role, ROLES)
        check_text("participant code", code, 64)
        now = self._at(at_s)
        taken_msg = f"participant code {code!r} is already taken"
        with unique_violation_as(taken_msg), self._write() as conn:
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
            pid = new_row_id(result)
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
