"""Outbox: a message too long for one SMS goes as numbered parts, a row each, in order

Words written for WhatsApp that must go by SMS when sent (the 24-hour window closed and
no template) were refused past 3 segments; they now go as parts of 3 segments each, at
most 5. Each part is an outbox row with `parent_id` (the message's row) and `part` (its
number from 1); the worker claims a part only once the part before it reached Twilio.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-08 05:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # In place, on SQLite too: rebuilding `outbox` there (batch mode) would drop its
    # AUTOINCREMENT (migration 0006).
    op.execute("ALTER TABLE outbox ADD COLUMN parent_id INTEGER")
    op.execute("ALTER TABLE outbox ADD COLUMN part INTEGER")
    op.create_index("ix_outbox_parent_id", "outbox", ["parent_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_outbox_parent_id", table_name="outbox")
    op.execute("ALTER TABLE outbox DROP COLUMN part")
    op.execute("ALTER TABLE outbox DROP COLUMN parent_id")
