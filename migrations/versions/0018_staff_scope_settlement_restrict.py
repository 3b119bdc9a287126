"""Staff scopes: a settlement a scoped user is limited to cannot be deleted from under them

`staff_scope.settlement_id` cascaded: deleting a settlement (by hand in SQL, or by a
feature to come; the app has none) deleted the scope rows naming it, and a user scoped
to that settlement alone was left with no rows, which means unrestricted: they saw every
settlement, ticket and resident. The key now restricts: the settlement cannot be deleted
while a scope names it; an admin first gives those users another scope.

PostgreSQL changes the constraint in place. SQLite cannot alter a foreign key: the table
is rebuilt (batch mode) from its definition below, rows kept. No table points at
`staff_scope`, so dropping the old one cascades nothing; its ids are named nowhere.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08 02:15:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _staff_scope(ondelete: str) -> sa.Table:
    """Return `staff_scope` as migration 0004 made it, its settlement key on `ondelete`."""
    return sa.Table(
        "staff_scope",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("settlement_id", sa.Integer(), nullable=True),
        sa.Column("ward", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
        sa.CheckConstraint(
            "(settlement_id IS NULL) <> (ward IS NULL)", name="ck_staff_scope_one_target"
        ),
        sa.ForeignKeyConstraint(["settlement_id"], ["settlement.id"], ondelete=ondelete),
        sa.ForeignKeyConstraint(["user_id"], ["staff_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.Index("ix_staff_scope_user_id", "user_id"),
    )


def _settlement_key(ondelete: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table(
            "staff_scope", recreate="always", copy_from=_staff_scope(ondelete)
        ):
            pass
        return
    name = next(
        fk["name"]
        for fk in sa.inspect(bind).get_foreign_keys("staff_scope")
        if fk["constrained_columns"] == ["settlement_id"]
    )
    op.drop_constraint(name, "staff_scope", type_="foreignkey")
    op.create_foreign_key(
        name, "staff_scope", "settlement", ["settlement_id"], ["id"], ondelete=ondelete
    )


def upgrade() -> None:
    _settlement_key("RESTRICT")


def downgrade() -> None:
    _settlement_key("CASCADE")
