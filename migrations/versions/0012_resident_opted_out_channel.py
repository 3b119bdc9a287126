"""Residents: which channel an opt-out was sent on ("sms" once any STOP came by SMS)

Twilio blocks an SMS number that texted STOP and unblocks it on START or YES, so YES by
SMS opted an opted-out resident back in; it did so after a STOP sent by WhatsApp too,
where Twilio blocked nothing and a "Yes" texted to anything else is no request to start
again. Existing opt-outs keep NULL: which channel they came on is not known, and YES by
SMS no longer lifts them (START still does).

The column and its check are added in place, on SQLite too: rebuilding `resident` there
(batch mode) would reset its AUTOINCREMENT counter to the highest id left, and the next
newcomer would get the id of the last resident erased (migration 0006).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 09:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # One statement both databases take: Alembic's add_column would add the check as a
    # separate ALTER, which SQLite has not got.
    op.execute(
        "ALTER TABLE resident ADD COLUMN opted_out_channel VARCHAR(10) "
        "CONSTRAINT ck_opted_out_channel "
        "CHECK (opted_out_channel IS NULL OR opted_out_channel IN ('sms', 'whatsapp'))"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE resident DROP COLUMN opted_out_channel")
