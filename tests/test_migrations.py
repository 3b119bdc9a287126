"""Migrations build the whole schema from empty, match the models exactly, and keep rows."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, Table, insert, inspect
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel, select

from bot import migrate
from bot.db import session_scope, utcnow
from bot.domain.outbox import service as outbox
from bot.domain.outbox.models import Outbox
from bot.domain.residents import service as residents
from bot.domain.tickets.models import Ticket
from tests.factories import make_resident


def test_migrations_from_empty_create_every_table(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []


def test_upgrade_twice_is_a_no_op(engine: Engine) -> None:
    migrate.upgrade(engine)
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() is not None


def _insert(connection: Connection, table: str, **values: object) -> int:
    """Insert a row as that revision's schema has the table (read from the database: the
    models describe the newest schema), and return its id."""
    reflected = Table(table, MetaData(), autoload_with=connection)
    return int(
        connection.execute(
            insert(reflected).values(**values).returning(reflected.c.id)
        ).scalar_one()
    )


def test_an_erased_residents_ids_are_never_given_to_the_next_person(clean_db: Engine) -> None:
    """Migration 0006 rebuilds `resident` and `outbox` on SQLite (AUTOINCREMENT) and keeps
    every row, including the rows of other tables that point at them."""
    migrate.downgrade(clean_db, "0005")
    now = utcnow()
    stamps = {"created_at": now, "updated_at": now}
    try:
        with clean_db.begin() as connection:
            kept, erased = (
                _insert(connection, "resident", phone=phone, conversation={}, **stamps)
                for phone in ("+27821110090", "+27821110091")
            )
            ticket = _insert(
                connection,
                "ticket",
                resident_id=kept,
                reference="4817263",
                kind="problem",
                category="water",
                priority="normal",
                status="new",
                source="whatsapp",
                description="No water",
                location_text="",
                media=[],
                last_public_note="",
                ack_due_at=now,
                resolve_due_at=now,
                **stamps,
            )
            queued = [
                _insert(
                    connection,
                    "outbox",
                    resident_id=resident_id,
                    channel="sms",
                    purpose="notice",
                    dedupe_key=str(resident_id),
                    body="Hi",
                    allow_sms_fallback=False,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    **stamps,
                )
                for resident_id in (kept, erased)
            ]
            ids = {"kept": kept, "erased": erased, "ticket": ticket}
    finally:
        migrate.upgrade(clean_db)
    with session_scope(clean_db) as session:
        assert session.get(Ticket, ids["ticket"]).resident_id == ids["kept"]
        assert {row.id for row in session.exec(select(Outbox))} == set(queued)
        residents.erase(session=session, resident_id=ids["erased"])  # the newest of each
    with session_scope(clean_db) as session:
        newcomer = make_resident(session, "+27821110092")
        row = outbox.enqueue(
            session=session, resident=newcomer, purpose="notice", dedupe_key="new", body="Hi"
        )
        assert newcomer.id > ids["erased"] and row.id > max(queued)
        assert session.get(Ticket, ids["ticket"]).resident_id == ids["kept"]
    if clean_db.dialect.name == "sqlite":
        with clean_db.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_migrations_refuse_to_rebuild_a_sqlite_table_with_foreign_keys_on(
    clean_db: Engine,
) -> None:
    if clean_db.dialect.name != "sqlite":
        pytest.skip("only SQLite rebuilds tables (runs in the SQLite pass)")
    cfg = migrate.alembic_config()
    # Foreign keys on, as every app connection has them; the failure rolls everything back.
    with pytest.raises(RuntimeError, match="cascade"), clean_db.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0005")
    assert migrate.is_current(clean_db)
