"""Outbox: the template a message was actually sent as, and the failed send tried again

`sent_content_sid` is the WhatsApp template a row went out as (NULL for free-form text or
SMS): only a free-form message refused with 63016 (outside the 24-hour window) is routed
again, so a template refused with 63016 is not re-sent without end. `retried_sid` is the
provider sid of a failed send that is tried again (63016 on free-form text, an unreachable
handset): a late or repeated callback for it, or the worker's own record of that send
arriving after the callback, no longer touches the row.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 08:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sent_content_sid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column("retried_sid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )


def downgrade() -> None:
    # In place, on SQLite too: rebuilding `outbox` there (batch mode) would drop its
    # AUTOINCREMENT (migration 0006).
    op.execute("ALTER TABLE outbox DROP COLUMN retried_sid")
    op.execute("ALTER TABLE outbox DROP COLUMN sent_content_sid")
