"""Consents per purpose, their revocation, and the erasure (delete or de-identify) it triggers.

Revoking ``storage`` erases the stored data in the same transaction as the revocation; the
beats path (:mod:`server.storage.beats`) reads the consent rows ``FOR SHARE`` so that a
concurrent revocation is either seen by a write or erases what it wrote.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any, Final

import sqlalchemy as sa

from server.storage import schema as t
from server.storage.base import (
    SYSTEM_ACTOR,
    StoreBase,
    check_choice,
    check_text,
    new_row_id,
)
from server.storage.records import (
    CONSENT_PURPOSES,
    ON_REVOKE_ACTIONS,
    Consent,
    ConsentPurpose,
    ErasureReport,
    OnRevoke,
    Revocation,
)

__all__ = ["ConsentsMixin"]

_log = logging.getLogger(__name__)
_DEIDENTIFIED_DEVICE: Final[str] = "device-{}"


class ConsentsMixin(StoreBase):
    """Consents and erasure of :class:`~server.storage.store.Store`."""

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
        check_choice("purpose", purpose, CONSENT_PURPOSES)
        check_choice("on_revoke", on_revoke, ON_REVOKE_ACTIONS)
        check_text("consent version", version, 32)
        check_text("recorded_by", recorded_by, 64, optional=True)
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
            cid = new_row_id(result)
            self._audit(
                conn,
                now,
                recorded_by or SYSTEM_ACTOR,
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
        check_choice("purpose", purpose, CONSENT_PURPOSES)
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
        actor: str = SYSTEM_ACTOR,
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
        check_choice("purpose", purpose, CONSENT_PURPOSES)
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
        actor: str = SYSTEM_ACTOR,
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
        check_choice("action", action, ON_REVOKE_ACTIONS)
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
            anonymous_id = new_row_id(
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
