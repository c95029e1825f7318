"""Markers can be undone, retracted or corrected; the original row stays (issue 13).

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("markers") as batch:
        batch.add_column(
            sa.Column(
                "retracted_at_s",
                sa.Double(),
                nullable=True,
                comment="when the marker was undone or retracted (the row stays, for the audit)",
            )
        )
        batch.add_column(sa.Column("retracted_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("retraction_reason", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column(
                "replaces_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
                comment="the retracted marker this one corrects, if any",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("markers") as batch:
        batch.drop_column("replaces_id")
        batch.drop_column("retraction_reason")
        batch.drop_column("retracted_by")
        batch.drop_column("retracted_at_s")
