"""Broadcasts: a "failed" status and its reason (`status_reason`)

A scheduled broadcast whose words could no longer be built when it was due (a milestone
note lengthened past what Twilio takes, its milestone deleted) made the job fail and roll
back, again on every run, and since the job takes the oldest due broadcast first, every
later one waited behind it, shown "scheduled" with no reason. Now that one is marked
failed, with the reason, and the job goes on.

SQLite cannot change a CHECK constraint in place: `broadcast` is rebuilt there (batch
mode), rows and ids kept. Its ids are not AUTOINCREMENT, and no broadcast is ever
deleted, so no id can be given again (migration 0006's concern). A downgrade turns failed
broadcasts into cancelled ones, the nearest old status.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 14:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = ("awaiting_approval", "scheduled", "enqueued", "cancelled")
NEW = (*OLD, "failed")


def _statuses(statuses: tuple[str, ...]) -> str:
    return f"status IN ({', '.join(repr(status) for status in statuses)})"


def upgrade() -> None:
    with op.batch_alter_table("broadcast", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "status_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True
            )
        )
        batch_op.drop_constraint("ck_broadcast_status", type_="check")
        batch_op.create_check_constraint("ck_broadcast_status", _statuses(NEW))


def downgrade() -> None:
    op.execute("UPDATE broadcast SET status = 'cancelled' WHERE status = 'failed'")
    with op.batch_alter_table("broadcast", schema=None) as batch_op:
        batch_op.drop_constraint("ck_broadcast_status", type_="check")
        batch_op.create_check_constraint("ck_broadcast_status", _statuses(OLD))
        batch_op.drop_column("status_reason")
