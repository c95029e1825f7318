"""Initial schema: clinicians, participants, sessions, consents, events, beats, audit log.

Self-contained on purpose (it does not import :mod:`server.storage.schema`): a migration describes
the schema as it was at its revision, whatever the current code says. CHECK constraints are
written out here because autogenerate does not compare them.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("time_s", sa.Double(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_audit_log_object_type_object_id"),
        "audit_log",
        ["object_type", "object_id"],
        unique=False,
    )
    op.create_index(op.f("ix_audit_log_time_s"), "audit_log", ["time_s"], unique=False)
    op.create_table(
        "clinicians",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column(
            "password_hash",
            sa.String(length=255),
            nullable=True,
            comment="argon2/bcrypt hash in PHC format",
        ),
        sa.Column("created_at_s", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinicians")),
        sa.UniqueConstraint("username", name=op.f("uq_clinicians_username")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "participants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "code",
            sa.String(length=64),
            nullable=False,
            comment="pseudonymous code, unique in this database (one database per clinic)",
        ),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("clinician_id", sa.Integer(), nullable=True),
        sa.Column("created_at_s", sa.Double(), nullable=False),
        sa.Column(
            "deidentified_at_s",
            sa.Double(),
            nullable=True,
            comment="set on anonymous de-identified records",
        ),
        sa.CheckConstraint("role IN ('patient', 'therapist')", name=op.f("ck_participants_role")),
        sa.ForeignKeyConstraint(
            ["clinician_id"],
            ["clinicians.id"],
            name=op.f("fk_participants_clinician_id_clinicians"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_participants")),
        sa.UniqueConstraint("code", name=op.f("uq_participants_code")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_participants_clinician_id"), "participants", ["clinician_id"], unique=False
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinician_id", sa.Integer(), nullable=True),
        sa.Column(
            "label",
            sa.String(length=200),
            nullable=True,
            comment="free label; never a person's name",
        ),
        sa.Column("phase_template", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at_s", sa.Double(), nullable=False),
        sa.Column("planned_start_s", sa.Double(), nullable=True),
        sa.Column("started_at_s", sa.Double(), nullable=True),
        sa.Column("stopped_at_s", sa.Double(), nullable=True),
        sa.CheckConstraint(
            "status IN ('planned', 'live', 'stopped', 'interrupted')",
            name=op.f("ck_sessions_status"),
        ),
        sa.ForeignKeyConstraint(
            ["clinician_id"],
            ["clinicians.id"],
            name=op.f("fk_sessions_clinician_id_clinicians"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_sessions_clinician_id"), "sessions", ["clinician_id"], unique=False)
    op.create_index(op.f("ix_sessions_status"), "sessions", ["status"], unique=False)
    op.create_table(
        "alliance_scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False, comment="who answered"),
        sa.Column("instrument", sa.String(length=16), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("item", sa.SmallInteger(), nullable=False, comment="1-based item number"),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("recorded_at_s", sa.Double(), nullable=False),
        sa.CheckConstraint(
            "(instrument <> 'SRS' OR (item BETWEEN 1 AND 4 AND score BETWEEN 0 AND 10))"
            " AND (instrument <> 'WAI-SR' OR (item BETWEEN 1 AND 12 AND score BETWEEN 1 AND 5))",
            name=op.f("ck_alliance_scores_item_score_range"),
        ),
        sa.CheckConstraint(
            "instrument IN ('SRS', 'WAI-SR')", name=op.f("ck_alliance_scores_instrument")
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_alliance_scores_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_alliance_scores_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alliance_scores")),
        sa.UniqueConstraint(
            "session_id",
            "participant_id",
            "instrument",
            "item",
            name=op.f("uq_alliance_scores_session_id_participant_id_instrument_item"),
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_alliance_scores_participant_id"),
        "alliance_scores",
        ["participant_id"],
        unique=False,
    )
    op.create_table(
        "beats",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("device", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("rr_ms", sa.Double(), nullable=False),
        sa.Column("rr_raw", sa.Integer(), nullable=True, comment="as received (1/1024 s for BLE)"),
        sa.Column(
            "host_time_s",
            sa.Double(),
            nullable=False,
            comment="host receipt time of the notification",
        ),
        sa.Column(
            "beat_time_s",
            sa.Double(),
            nullable=False,
            comment="reconstructed time of the beat (end of the RR interval)",
        ),
        sa.Column("contact", sa.Boolean(), nullable=True),
        sa.Column("hr_bpm", sa.Integer(), nullable=True, comment="HR reported by the device"),
        sa.Column("gap_before", sa.Boolean(), nullable=False),
        sa.CheckConstraint("rr_ms > 0", name=op.f("ck_beats_rr_positive")),
        sa.CheckConstraint("seq >= 0", name=op.f("ck_beats_seq_nonnegative")),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_beats_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_beats_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "session_id", "participant_id", "device", "seq", name=op.f("pk_beats")
        ),
    )
    op.create_index(
        op.f("ix_beats_session_id_beat_time_s"),
        "beats",
        ["session_id", "beat_time_s"],
        unique=False,
    )
    op.create_index(
        op.f("ix_beats_session_id_participant_id_beat_time_s"),
        "beats",
        ["session_id", "participant_id", "beat_time_s"],
        unique=False,
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column(
            "session_id",
            sa.Integer(),
            nullable=True,
            comment="NULL: the consent holds for every session",
        ),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column(
            "version", sa.String(length=32), nullable=False, comment="version of the consent text"
        ),
        sa.Column("granted_at_s", sa.Double(), nullable=False),
        sa.Column("revoked_at_s", sa.Double(), nullable=True),
        sa.Column("on_revoke", sa.String(length=16), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "on_revoke IN ('delete', 'deidentify')", name=op.f("ck_consents_on_revoke")
        ),
        sa.CheckConstraint(
            "purpose IN ('live_display', 'storage', 'review', 'research_export', 'synchrony')",
            name=op.f("ck_consents_purpose"),
        ),
        sa.CheckConstraint(
            "revoked_at_s IS NULL OR revoked_at_s >= granted_at_s",
            name=op.f("ck_consents_revoked_after_granted"),
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_consents_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_consents_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_consents_participant_id_purpose"),
        "consents",
        ["participant_id", "purpose"],
        unique=False,
    )
    op.create_index(op.f("ix_consents_session_id"), "consents", ["session_id"], unique=False)
    op.create_table(
        "cues",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=True),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("reason", sa.JSON(), nullable=False),
        sa.Column("shown_at_s", sa.Double(), nullable=False),
        sa.Column("response", sa.String(length=16), nullable=True),
        sa.Column("responded_at_s", sa.Double(), nullable=True),
        sa.CheckConstraint(
            "response IS NULL OR response IN ('acknowledged', 'dismissed')",
            name=op.f("ck_cues_response"),
        ),
        sa.CheckConstraint(
            "(response IS NULL) = (responded_at_s IS NULL)", name=op.f("ck_cues_response_has_time")
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_cues_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_cues_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cues")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_cues_participant_id"), "cues", ["participant_id"], unique=False)
    op.create_index(
        op.f("ix_cues_session_id_shown_at_s"), "cues", ["session_id", "shown_at_s"], unique=False
    )
    op.create_table(
        "device_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=True),
        sa.Column("device", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("time_s", sa.Double(), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_device_events_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_device_events_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_events")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_device_events_participant_id"), "device_events", ["participant_id"], unique=False
    )
    op.create_index(
        op.f("ix_device_events_session_id_time_s"),
        "device_events",
        ["session_id", "time_s"],
        unique=False,
    )
    op.create_table(
        "markers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column(
            "participant_id",
            sa.Integer(),
            nullable=True,
            comment="whom the observation is about, if anyone",
        ),
        sa.Column("time_s", sa.Double(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_markers_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_markers_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_markers")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_markers_participant_id"), "markers", ["participant_id"], unique=False)
    op.create_index(
        op.f("ix_markers_session_id_time_s"), "markers", ["session_id", "time_s"], unique=False
    )
    op.create_table(
        "phase_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("time_s", sa.Double(), nullable=False),
        sa.Column("phase_index", sa.Integer(), nullable=False),
        sa.Column("phase_name", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("extend_s", sa.Double(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "action IN ('enter', 'extend', 'end')", name=op.f("ck_phase_events_action")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_phase_events_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phase_events")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_phase_events_session_id_time_s"),
        "phase_events",
        ["session_id", "time_s"],
        unique=False,
    )
    op.create_table(
        "session_participants",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("assigned_at_s", sa.Double(), nullable=False),
        sa.CheckConstraint(
            "source_kind IN ('ble', 'simulator', 'file', 'lsl')",
            name=op.f("ck_session_participants_source_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_session_participants_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_session_participants_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "session_id", "participant_id", name=op.f("pk_session_participants")
        ),
    )
    op.create_index(
        op.f("ix_session_participants_participant_id"),
        "session_participants",
        ["participant_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_session_participants_participant_id"), table_name="session_participants")
    op.drop_table("session_participants")
    op.drop_index(op.f("ix_phase_events_session_id_time_s"), table_name="phase_events")
    op.drop_table("phase_events")
    op.drop_index(op.f("ix_markers_session_id_time_s"), table_name="markers")
    op.drop_index(op.f("ix_markers_participant_id"), table_name="markers")
    op.drop_table("markers")
    op.drop_index(op.f("ix_device_events_session_id_time_s"), table_name="device_events")
    op.drop_index(op.f("ix_device_events_participant_id"), table_name="device_events")
    op.drop_table("device_events")
    op.drop_index(op.f("ix_cues_session_id_shown_at_s"), table_name="cues")
    op.drop_index(op.f("ix_cues_participant_id"), table_name="cues")
    op.drop_table("cues")
    op.drop_index(op.f("ix_consents_session_id"), table_name="consents")
    op.drop_index(op.f("ix_consents_participant_id_purpose"), table_name="consents")
    op.drop_table("consents")
    op.drop_index(op.f("ix_beats_session_id_participant_id_beat_time_s"), table_name="beats")
    op.drop_index(op.f("ix_beats_session_id_beat_time_s"), table_name="beats")
    op.drop_table("beats")
    op.drop_index(op.f("ix_alliance_scores_participant_id"), table_name="alliance_scores")
    op.drop_table("alliance_scores")
    op.drop_index(op.f("ix_sessions_status"), table_name="sessions")
    op.drop_index(op.f("ix_sessions_clinician_id"), table_name="sessions")
    op.drop_table("sessions")
    op.drop_index(op.f("ix_participants_clinician_id"), table_name="participants")
    op.drop_table("participants")
    op.drop_table("clinicians")
    op.drop_index(op.f("ix_audit_log_time_s"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_object_type_object_id"), table_name="audit_log")
    op.drop_table("audit_log")
