"""Apply Alembic migrations programmatically (used by `siyakha db upgrade` and `siyakha serve`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from bot.db import get_engine

ROOT = Path(__file__).resolve().parent.parent


def alembic_config() -> Config:
    """Return the Alembic configuration of this checkout."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    return cfg


def upgrade(engine: Engine | None = None, revision: str = "head") -> None:
    """Bring the database up to `revision` (the newest by default)."""
    cfg = alembic_config()
    with (engine or get_engine()).begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def is_current(engine: Engine | None = None) -> bool:
    """Return whether the database has every migration applied."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    with (engine or get_engine()).connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads()) == heads
