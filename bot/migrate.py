"""Apply Alembic migrations programmatically (used by `siyakha db upgrade` and `siyakha serve`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.db import get_engine

ROOT = Path(__file__).resolve().parent.parent
# Held (PostgreSQL) while migrations run; not the worker's leader lock (bot/worker.py).
MIGRATION_LOCK_KEY = 0x5349_59414B_4D49  # "SIYAKMI"


def alembic_config() -> Config:
    """Return the Alembic configuration of this checkout."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    return cfg


def upgrade(engine: Engine | None = None, revision: str = "head") -> None:
    """Bring the database up to `revision` (the newest by default).

    On PostgreSQL, one process migrates at a time: replicas that start together each
    migrate, and the others wait, then find the schema at head. On SQLite, foreign keys
    are off while migrations run (a migration that rebuilds a table drops the old one,
    and the drop would cascade to the rows that point at it) and checked before the
    migrations commit.
    """
    run(command.upgrade, engine, revision)


def downgrade(engine: Engine | None = None, revision: str = "-1") -> None:
    """Take the database back to `revision` (one step by default), as `upgrade` does."""
    run(command.downgrade, engine, revision)


def run(step: Callable[[Config, str], None], engine: Engine | None, revision: str) -> None:
    """Run an Alembic command on one connection, in one transaction (see `upgrade`)."""
    cfg = alembic_config()
    with (engine or get_engine()).connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        driver = connection.connection.driver_connection
        if sqlite:  # not inside a transaction, where SQLite ignores the pragma
            driver.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with connection.begin():
                if connection.dialect.name == "postgresql":  # released when this commits
                    lock = text("SELECT pg_advisory_xact_lock(:key)")
                    connection.execute(lock, {"key": MIGRATION_LOCK_KEY})
                cfg.attributes["connection"] = connection
                step(cfg, revision)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"foreign keys broken by the migration: {broken}")
        finally:
            if sqlite:
                driver.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def is_current(engine: Engine | None = None) -> bool:
    """Return whether the database has every migration applied."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    with (engine or get_engine()).connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads()) == heads
