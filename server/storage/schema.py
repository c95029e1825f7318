"""The database schema, in SQLAlchemy Core (no ORM).

One :data:`metadata` holds every table. The Alembic migrations in :mod:`server.storage.migrations`
create and upgrade it; a test checks that autogenerate finds no difference between the two, so a
change here needs a new migration (``alembic -c server/storage/alembic.ini revision
--autogenerate -m "..."``).

Conventions
-----------
* Every time is a ``DOUBLE PRECISION`` number of seconds (column names end in ``_s``): Unix epoch
  for live sessions, the recording's clock for replays; RR intervals are float64 milliseconds.
  Float64 keeps microsecond resolution on epoch times until the year 2255.
* Surrogate ids are integers that are never reused (``AUTOINCREMENT`` on SQLite, sequences on
  PostgreSQL), so that the audit log keeps pointing at the right object after deletions.
* Constraint and index names follow :data:`NAMING_CONVENTION`, so migrations can refer to them
  on both backends (SQLite's batch mode needs names).
* ``beats`` is append-only; its primary key ``(session_id, participant_id, device, seq)`` makes a
  retried insert idempotent (``INSERT ... ON CONFLICT DO NOTHING``: the first write wins, raw data
  is never overwritten).
* No table holds a person's name; participants have pseudonymous codes. Alliance scores hold item
  numbers and scores, never the (licensed) item wording.
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa

from server.storage.records import (
    CONSENT_PURPOSES,
    CUE_RESPONSES,
    INSTRUMENTS,
    ON_REVOKE_ACTIONS,
    PHASE_ACTIONS,
    ROLES,
    SESSION_STATUSES,
    SOURCE_KINDS,
)

__all__ = [
    "NAMING_CONVENTION",
    "alliance_scores",
    "audit_log",
    "beats",
    "clinicians",
    "cluster",
    "consents",
    "cues",
    "device_events",
    "join_links",
    "markers",
    "metadata",
    "participants",
    "phase_events",
    "session_leases",
    "session_participants",
    "sessions",
]

NAMING_CONVENTION: Final[dict[str, str]] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata: Final = sa.MetaData(naming_convention=NAMING_CONVENTION)

#: 64-bit ids for the tables that grow with every beat-level event; plain INTEGER on SQLite so the
#: column is the rowid alias (SQLite autoincrements only ``INTEGER PRIMARY KEY``).
_BigId: Final = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_CODE_LEN: Final[int] = 64


def _in(column: str, values: tuple[str, ...]) -> str:
    """SQL text of ``column IN ('a', 'b')`` for a CHECK constraint (values are our own literals)."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


def _time(name: str, *, nullable: bool = False, comment: str | None = None) -> sa.Column[float]:
    return sa.Column(name, sa.Double(), nullable=nullable, comment=comment)


clinicians: Final = sa.Table(
    "clinicians",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("username", sa.String(_CODE_LEN), nullable=False, unique=True),
    sa.Column(
        "password_hash", sa.String(255), nullable=True, comment="argon2/bcrypt hash in PHC format"
    ),
    _time("created_at_s"),
    sqlite_autoincrement=True,
)

participants: Final = sa.Table(
    "participants",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column(
        "code",
        sa.String(_CODE_LEN),
        nullable=False,
        unique=True,
        comment="pseudonymous code, unique in this database (one database per clinic)",
    ),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column(
        "clinician_id",
        sa.Integer(),
        sa.ForeignKey("clinicians.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
    ),
    _time("created_at_s"),
    _time("deidentified_at_s", nullable=True, comment="set on anonymous de-identified records"),
    sa.CheckConstraint(_in("role", ROLES), name="role"),
    sqlite_autoincrement=True,
)

sessions: Final = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column(
        "clinician_id",
        sa.Integer(),
        sa.ForeignKey("clinicians.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
    ),
    sa.Column("label", sa.String(200), nullable=True, comment="free label; never a person's name"),
    sa.Column("phase_template", sa.JSON(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    _time("created_at_s"),
    _time("planned_start_s", nullable=True),
    _time("started_at_s", nullable=True),
    _time("stopped_at_s", nullable=True),
    sa.Column(
        "simulated",
        sa.Boolean(),
        nullable=False,
        server_default=sa.false(),
        comment="beats from the simulator (the demo): kept out of research outputs by default",
    ),
    sa.CheckConstraint(_in("status", SESSION_STATUSES), name="status"),
    sa.Index(None, "status"),
    sqlite_autoincrement=True,
)

session_participants: Final = sa.Table(
    "session_participants",
    metadata,
    sa.Column(
        "session_id",
        sa.Integer(),
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "participant_id",
        sa.Integer(),
        sa.ForeignKey("participants.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
    sa.Column("source_kind", sa.String(16), nullable=False),
    sa.Column("address", sa.Text(), nullable=True),
    _time("assigned_at_s"),
    sa.CheckConstraint(_in("source_kind", SOURCE_KINDS), name="source_kind"),
)

consents: Final = sa.Table(
    "consents",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column(
        "participant_id",
        sa.Integer(),
        sa.ForeignKey("participants.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "session_id",
        sa.Integer(),
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=True,
        comment="NULL: the consent holds for every session",
    ),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("version", sa.String(32), nullable=False, comment="version of the consent text"),
    _time("granted_at_s"),
    _time("revoked_at_s", nullable=True),
    sa.Column("on_revoke", sa.String(16), nullable=False),
    sa.Column("recorded_by", sa.String(_CODE_LEN), nullable=True),
    sa.CheckConstraint(_in("purpose", CONSENT_PURPOSES), name="purpose"),
    sa.CheckConstraint(_in("on_revoke", ON_REVOKE_ACTIONS), name="on_revoke"),
    sa.CheckConstraint(
        "revoked_at_s IS NULL OR revoked_at_s >= granted_at_s", name="revoked_after_granted"
    ),
    sa.Index(None, "participant_id", "purpose"),
    sa.Index(None, "session_id"),
    sqlite_autoincrement=True,
)

phase_events: Final = sa.Table(
    "phase_events",
    metadata,
    sa.Column("id", _BigId, primary_key=True),
    sa.Column(
        "session_id",
        sa.Integer(),
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    _time("time_s"),
    sa.Column("phase_index", sa.Integer(), nullable=False),
    sa.Column("phase_name", sa.String(_CODE_LEN), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("extend_s", sa.Double(), nullable=True),
    sa.Column("actor", sa.String(_CODE_LEN), nullable=True),
    sa.CheckConstraint(_in("action", PHASE_ACTIONS), name="action"),
    sa.Index(None, "session_id", "time_s"),
    sqlite_autoincrement=True,
)

markers: Final = sa.Table(
    "markers",
    metadata,
    sa.Column("id", _BigId, primary_key=True),
    sa.Column(
        "session_id",
        sa.Integer(),
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "participant_id",
        sa.Integer(),
        sa.ForeignKey("participants.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
        comment="whom the observation is about, if anyone",
    ),
    _time("time_s"),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("actor", sa.String(_CODE_LEN), nullable=True),
    _time(
        "retracted_at_s",
        nullable=True,
        comment="when the marker was undone or retracted (the row stays, for the audit)",
    ),
    sa.Column("retracted_by", sa.String(_CODE_LEN), nullable=True),
    sa.Column("retraction_reason", sa.Text(), nullable=True),
    sa.Column(
        "replaces_id",
        _BigId,
        nullable=True,
        comment="the retracted marker this one corrects, if any",
    ),
    sa.Index(None, "session_id", "time_s"),
    sqlite_autoincrement=True,
)

cues: Final = sa.Table(
    "cues",
    metadata,
    sa.Column("id", _BigId, primary_key=True),
    sa.Column(
        "session_id",
        sa.Integer(),
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "participant_id",
        sa.Integer(),
        sa.ForeignKey("participants.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    sa.Column("rule", sa.String(_CODE_LEN), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("reason", sa.JSON(), nullable=False),
    _time("shown_at_s"),
    sa.Column("response", sa.String(16), nullable=True),
    _time("responded_at_s", nullable=True),
    sa.CheckConstraint(f"response IS NULL OR {_in('response', CUE_RESPONSES)}", name="response"),
    sa.CheckConstraint("(response IS NULL) = (responded_at_s IS NULL)", name="response_has_time"),
    sa.Index(None, "session_id", "shown_at_s"),
    sqlite_autoincrement=True,
)

beats: Final = sa.Table(
    "beats",
    metadata,
    sa.Column(
        "session_id",
        sa.Integer(),
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "participant_id",
        sa.Integer(),
        sa.ForeignKey("participants.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("device", sa.Text(), primary_key=True),
    sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("rr_ms", sa.Double(), nullable=False),
    sa.Column("rr_raw", sa.Integer(), nullable=True, comment="as received (1/1024 s for BLE)"),
    _time("host_time_s", comment="host receipt time of the notification"),
    _time("beat_time_s", comment="reconstructed time of the beat (end of the RR interval)"),
    sa.Column("contact", sa.Boolean(), nullable=True),
    sa.Column("hr_bpm", sa.Integer(), nullable=True, comment="HR reported by the device"),
    sa.Column("gap_before", sa.Boolean(), nullable=False),
    sa.CheckConstraint("rr_ms > 0", name="rr_positive"),
    sa.CheckConstraint("seq >= 0", name="seq_nonnegative"),
    sa.Index(None, "session_id", "participant_id", "beat_time_s"),
    sa.Index(None, "session_id", "beat_time_s"),
)

device_events: Final = sa.Table(
    "device_events",
    metadata,
    sa.Column("id", _BigId, primary_key=True),
    sa.Column(
        "session_id",
        sa.Integer(),
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "participant_id",
        sa.Integer(),
        sa.ForeignKey("participants.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    sa.Column("device", sa.Text(), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    _time("time_s"),
    sa.Column("value", sa.Double(), nullable=True),
    sa.Column("detail", sa.JSON(), nullable=False),
    sa.Index(None, "session_id", "time_s"),
    sqlite_autoincrement=True,
)

alliance_scores: Final = sa.Table(
    "alliance_scores",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column(
        "session_id",
        sa.Integer(),
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "participant_id",
        sa.Integer(),
        sa.ForeignKey("participants.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
        comment="who answered",
    ),
    sa.Column("instrument", sa.String(16), nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("item", sa.SmallInteger(), nullable=False, comment="1-based item number"),
    sa.Column("score", sa.Double(), nullable=False),
    _time("recorded_at_s"),
    sa.CheckConstraint(_in("instrument", INSTRUMENTS), name="instrument"),
    sa.CheckConstraint(
        "(instrument <> 'SRS' OR (item BETWEEN 1 AND 4 AND score BETWEEN 0 AND 10))"
        " AND (instrument <> 'WAI-SR' OR (item BETWEEN 1 AND 12 AND score BETWEEN 1 AND 5))",
        name="item_score_range",
    ),
    sa.UniqueConstraint("session_id", "participant_id", "instrument", "item"),
    sqlite_autoincrement=True,
)

audit_log: Final = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", _BigId, primary_key=True),
    _time("time_s"),
    sa.Column("actor", sa.String(_CODE_LEN), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("object_type", sa.String(32), nullable=False),
    sa.Column("object_id", sa.String(64), nullable=True),
    sa.Column("detail", sa.JSON(), nullable=False),
    sa.Index(None, "time_s"),
    sa.Index(None, "object_type", "object_id"),
    sqlite_autoincrement=True,
)

_CLOCK_OFFSET: Final = "server clock minus device clock, s (ping/pong minimum filter)"
_CLOCK_UNCERTAINTY: Final = "bound of the offset error, s: min round trip + |drift| * span"

join_links: Final = sa.Table(
    "join_links",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column(
        "session_id",
        sa.Integer(),
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column(
        "participant_id",
        sa.Integer(),
        sa.ForeignKey("participants.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column(
        "token_sha256",
        sa.String(64),
        nullable=False,
        unique=True,
        comment="hex SHA-256 of the join token (the token itself is never stored)",
    ),
    _time("created_at_s"),
    _time("expires_at_s"),
    _time("revoked_at_s", nullable=True),
    sa.Column("created_by", sa.String(_CODE_LEN), nullable=False),
    # issue 15: the remote device clock against the server's, last estimate (migration 0007)
    sa.Column("clock_offset_s", sa.Double(), nullable=True, comment=_CLOCK_OFFSET),
    sa.Column("clock_drift_ppm", sa.Double(), nullable=True),
    sa.Column("clock_uncertainty_s", sa.Double(), nullable=True, comment=_CLOCK_UNCERTAINTY),
    sa.Column("clock_min_rtt_s", sa.Double(), nullable=True),
    sa.Column("clock_samples", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("clock_span_s", sa.Double(), nullable=True),
    _time("clock_updated_at_s", nullable=True),
    sqlite_autoincrement=True,
)

session_leases: Final = sa.Table(
    "session_leases",
    metadata,
    sa.Column(
        "session_id",
        sa.Integer(),
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column(
        "owner",
        sa.String(128),
        nullable=False,
        comment="id of the server process that computes the live session",
    ),
    sa.Column(
        "epoch",
        sa.BigInteger(),
        nullable=False,
        comment="fencing token: grows at every takeover, never reset",
    ),
    _time("expires_at_s", comment="database clock, s since the epoch; 0 once released"),
)

cluster: Final = sa.Table(
    "cluster",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column(
        "name",
        sa.String(32),
        nullable=False,
        comment="random id of this database's cluster: the broker channels' namespace",
    ),
)
