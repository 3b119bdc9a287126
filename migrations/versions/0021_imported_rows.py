"""Imported rows: what the last CSV import wrote, so a re-import sees people's changes

One row per settlement, milestone or meeting a CSV import wrote: the values the last
import of it wrote, when, and the key its file named it by. The next import of the file compares
them with the record as it is: a field changed since on the dashboard or with the API,
or a row deleted since, is listed and not overwritten unless the officer chooses to. Rows
imported before this migration have none: the next import writes them as before and
records what it wrote.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-08 05:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "imported_row",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("row_id", sa.Integer(), nullable=False),
        sa.Column("natural_key", sqlmodel.sql.sqltypes.AutoString(length=720), nullable=False),
        sa.Column("imported", sa.JSON(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "row_id", name="uq_imported_row"),
    )
    op.create_index(
        "ix_imported_row_kind_natural_key", "imported_row", ["kind", "natural_key"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_imported_row_kind_natural_key", table_name="imported_row")
    op.drop_table("imported_row")
