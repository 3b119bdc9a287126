"""Inbound messages: a WhatsApp location pin's Label (the place's name: "Standpipe 4")

Twilio sends a pin with `Latitude`, `Longitude`, `Address` and `Label`; the label was
dropped, and staff saw a named place as coordinates and a street. Messages stored before
this keep NULL: their labels were never kept.

Added in place (a nullable column, one statement both databases take), as 0012 does.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 10:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE inbound_message ADD COLUMN label VARCHAR")


def downgrade() -> None:
    op.execute("ALTER TABLE inbound_message DROP COLUMN label")
