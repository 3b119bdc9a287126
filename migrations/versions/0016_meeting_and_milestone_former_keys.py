"""Meetings and milestones: the natural keys they had before the dashboard or the API
changed them

A meeting's natural key holds its title, start and place, a milestone's its strand and
title. Renamed (or moved) on the dashboard or with the API, as the import asks, the row
of the file it was imported from matched nothing: the same file imported again was
refused ("has passed" for a meeting held since, "is already at this time and place" for
one still to come), and a milestone's old row made a second milestone. `former_keys`
keeps the keys they had, so the importer finds them by an old row. Rows that exist start
with none: the keys of changes made before this are not kept anywhere.

Added in place, with a default for the rows there, in one statement both databases take.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 21:05:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("meeting", "milestone")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ADD COLUMN former_keys JSON NOT NULL DEFAULT '[]'")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN former_keys")
