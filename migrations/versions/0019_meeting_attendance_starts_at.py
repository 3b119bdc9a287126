"""Meeting attendance: the start a resident said yes to

A resident's "yes, I will come" was kept per meeting, whatever time it then moved to: the
next reminder told them "You said you will come. See you there." of a time they never
agreed to, and officers counted them as coming. `starts_at` keeps the meeting's start the
yes was given for; a yes counts only while the meeting still starts then.

Rows already there are taken as given for the meeting's start as it is now (what they
meant until this change; the start of an earlier yes was not kept anywhere). Added
nullable, filled, then made NOT NULL (SQLite rebuilds the table in batch mode; its ids
are not AUTOINCREMENT, migration 0006's concern is for residents and the outbox).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08 02:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("meeting_attendance", sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE meeting_attendance SET starts_at = "
        "(SELECT meeting.starts_at FROM meeting WHERE meeting.id = meeting_attendance.meeting_id)"
    )
    with op.batch_alter_table("meeting_attendance", schema=None) as batch_op:
        batch_op.alter_column("starts_at", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("meeting_attendance", schema=None) as batch_op:
        batch_op.drop_column("starts_at")
