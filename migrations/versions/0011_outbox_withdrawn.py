"""Outbox: when a message already sent was withdrawn (its broadcast cancelled, its meeting
moved or cancelled)

A send Twilio reports failed in a way worth another try (an unreachable handset, 30003)
goes back to the queue; `withdrawn_at` stops that for a message whose broadcast an officer
cancelled, or whose meeting was moved or cancelled, after it went.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 06:40:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # In place, on SQLite too: rebuilding `outbox` there (batch mode) would drop its
    # AUTOINCREMENT, and the next message could be given the id of the last one deleted
    # (migration 0006).
    op.execute("ALTER TABLE outbox DROP COLUMN withdrawn_at")
