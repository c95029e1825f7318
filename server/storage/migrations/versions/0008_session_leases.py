"""Session leases: which server process computes a live session; the cluster's id (issue 16).

``cluster`` holds one row, a random name made here: the namespace of the broker channels, so
that two deployments sharing one Redis never see each other's messages.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "session_leases",
        sa.Column("session_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column(
            "owner",
            sa.String(length=128),
            nullable=False,
            comment="id of the server process that computes the live session",
        ),
        sa.Column(
            "epoch",
            sa.BigInteger(),
            nullable=False,
            comment="fencing token: grows at every takeover, never reset",
        ),
        sa.Column(
            "expires_at_s",
            sa.Double(),
            nullable=False,
            comment="database clock, s since the epoch; 0 once released",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_session_leases_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_session_leases")),
    )

    table = op.create_table(
        "cluster",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column(
            "name",
            sa.String(length=32),
            nullable=False,
            comment="random id of this database's cluster: the broker channels' namespace",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster")),
    )
    op.bulk_insert(table, [{"id": 1, "name": secrets.token_hex(8)}])


def downgrade() -> None:
    op.drop_table("cluster")
    op.drop_table("session_leases")
