"""Remote sessions: join links (hash of the token only) and the ``remote`` source kind (issue 15).

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_KINDS = "source_kind IN ('ble', 'simulator', 'file', 'lsl')"
_NEW_KINDS = "source_kind IN ('ble', 'simulator', 'file', 'lsl', 'remote')"


def _kinds(check: str) -> None:
    with op.batch_alter_table("session_participants") as batch:
        batch.drop_constraint(op.f("ck_session_participants_source_kind"), type_="check")
        batch.create_check_constraint("source_kind", check)


def upgrade() -> None:
    _kinds(_NEW_KINDS)
    op.create_table(
        "join_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column(
            "token_sha256",
            sa.String(length=64),
            nullable=False,
            comment="hex SHA-256 of the join token (the token itself is never stored)",
        ),
        sa.Column("created_at_s", sa.Double(), nullable=False),
        sa.Column("expires_at_s", sa.Double(), nullable=False),
        sa.Column("revoked_at_s", sa.Double(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_join_links_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_join_links_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_join_links")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_join_links_token_sha256")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        op.f("ix_join_links_participant_id"), "join_links", ["participant_id"], unique=False
    )
    op.create_index(op.f("ix_join_links_session_id"), "join_links", ["session_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_join_links_session_id"), table_name="join_links")
    op.drop_index(op.f("ix_join_links_participant_id"), table_name="join_links")
    op.drop_table("join_links")
    op.execute("DELETE FROM session_participants WHERE source_kind = 'remote'")
    _kinds(_OLD_KINDS)
