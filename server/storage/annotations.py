"""What happens in a session besides beats: phase events, markers (with undo, retraction and
correction, the rows kept) and the cues shown to the therapist with their responses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from server.storage import schema as t
from server.storage.base import (
    StoreBase,
    check_choice,
    check_text,
    new_row_id,
)
from server.storage.errors import (
    InvalidRecordError,
    RecordNotFoundError,
    StateConflictError,
)
from server.storage.records import (
    CUE_RESPONSES,
    PHASE_ACTIONS,
    Cue,
    CueResponse,
    Marker,
    PhaseAction,
    PhaseEvent,
)

__all__ = ["AnnotationsMixin"]


class AnnotationsMixin(StoreBase):
    """Phase events, markers and cues of :class:`~server.storage.store.Store`."""

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
        check_choice("action", action, PHASE_ACTIONS)
        check_text("phase_name", phase_name, 64)
        check_text("actor", actor, 64, optional=True)
        if action == "extend" and (extend_s is None or not extend_s > 0):
            raise InvalidRecordError(f"an extension needs extend_s > 0 seconds, got {extend_s!r}")
        now = self._at(at_s)
        with self._derived_write(session_id) as conn:
            self._require(conn, t.sessions, "session", session_id)
            eid = new_row_id(
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
        check_text("marker type", marker_type, 32)
        check_text("actor", actor, 64, optional=True)
        now = self._at(at_s)
        with self._write() as conn:
            self._require(conn, t.sessions, "session", session_id)
            if participant_id is not None:
                self._require(conn, t.participants, "participant", participant_id)
            mid = new_row_id(
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
        check_text("actor", actor, 64)
        check_text("reason", reason, 2000, optional=True)
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
        check_text("marker type", marker_type, 32)
        now = self._at(at_s)
        m = t.markers
        with self._write() as conn:
            row = self._retract_row(conn, session_id, marker_id, "correct", actor, reason, now)
            new_id = new_row_id(
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
        check_text("rule", rule, 64)
        check_text("text", text, 10_000)
        now = self._at(at_s)
        with self._derived_write(session_id) as conn:
            self._require(conn, t.sessions, "session", session_id)
            if participant_id is not None:
                self._require(conn, t.participants, "participant", participant_id)
            cid = new_row_id(
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
        check_choice("response", response, CUE_RESPONSES)
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
