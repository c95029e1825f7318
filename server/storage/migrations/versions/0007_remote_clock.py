"""Remote sessions: the device clock's offset, drift and uncertainty per join link (issue 15).

The ingest endpoint estimated them only in memory; the review reports them (and the synchrony
lag's uncertainty from them), so they are kept with the join link.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OFFSET = "server clock minus device clock, s (ping/pong minimum filter)"
_UNCERTAINTY = "bound of the offset error, s: min round trip + |drift| * span"
_NEW: tuple[tuple[str, sa.types.TypeEngine[float], str | None], ...] = (
    ("clock_offset_s", sa.Double(), _OFFSET),
    ("clock_drift_ppm", sa.Double(), None),
    ("clock_uncertainty_s", sa.Double(), _UNCERTAINTY),
    ("clock_min_rtt_s", sa.Double(), None),
    ("clock_span_s", sa.Double(), None),
    ("clock_updated_at_s", sa.Double(), None),
)


def upgrade() -> None:
    with op.batch_alter_table("join_links") as batch:
        for name, type_, comment in _NEW:
            batch.add_column(sa.Column(name, type_, nullable=True, comment=comment))
        batch.add_column(
            sa.Column("clock_samples", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("join_links") as batch:
        batch.drop_column("clock_samples")
        for name, _, _ in reversed(_NEW):
            batch.drop_column(name)
