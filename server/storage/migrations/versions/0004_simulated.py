"""Flag simulated sessions (issue 13, item 10): ``sessions.simulated``.

A session any of whose participants was ever assigned the simulator is simulated; existing rows
are backfilled from ``session_participants.source_kind``. Research outputs (``sintonia cohort``,
``sintonia export research``) leave simulated sessions out unless asked.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a plain ADD COLUMN, not batch mode: on SQLite batch mode re-creates the table, and dropping
    # the old one would cascade-delete the session_participants rows the backfill reads
    op.add_column(
        "sessions",
        sa.Column(
            "simulated",
            sa.Boolean(),
            nullable=False,
            server_default=sa.false(),
            comment="beats from the simulator (the demo): kept out of research outputs by default",
        ),
    )
    op.execute(
        "UPDATE sessions SET simulated = TRUE WHERE id IN "
        "(SELECT session_id FROM session_participants WHERE source_kind = 'simulator')"
    )


def downgrade() -> None:
    op.drop_column("sessions", "simulated")
