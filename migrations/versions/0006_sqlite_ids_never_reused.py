"""SQLite: resident and outbox ids are never reused (AUTOINCREMENT)

An erased resident's row, or one of their outbox rows, was often the newest, and SQLite
gives a new row the highest id plus one: the next person to write in got the erased
person's id while the worker or a Twilio status callback still held it, and their late
result (an SMS STOP, a delivery) landed on the newcomer. PostgreSQL's sequences never
reuse an id; nothing changes there.

The two tables are rebuilt, rows kept. `bot.migrate.upgrade` runs migrations with SQLite's
foreign keys off, so that dropping the old table cascades nothing, and checks them after.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 05:15:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("resident", "outbox")


def _rebuild(autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "rebuilding a table with SQLite foreign keys on would cascade its DROP to other "
            "tables: run `siyakha db upgrade`, which turns them off while it migrates"
        )
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
