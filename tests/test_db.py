"""The SQLite engine: one transaction at a time in a process, handed on only once committed."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from bot.db import make_engine


def test_sqlite_transactions_queue_in_process_and_never_meet_a_held_lock(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'gate.db'}")

    @event.listens_for(engine, "connect")
    def no_busy_wait(dbapi_connection: Any, _record: Any) -> None:
        # With no busy timeout, a transaction that reaches SQLite while another still holds
        # the write lock fails at once with "database is locked" instead of waiting.
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE counter (n INTEGER NOT NULL)")
        connection.exec_driver_sql("INSERT INTO counter VALUES (0)")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(150):
                with engine.begin() as connection:
                    n = connection.exec_driver_sql("SELECT n FROM counter").scalar_one()
                    connection.exec_driver_sql(f"UPDATE counter SET n = {n + 1}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT n FROM counter").scalar_one() == 600
    engine.dispose()


def test_a_failed_sqlite_transaction_hands_the_lock_on(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'gate.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER UNIQUE)")
    for _ in range(2):
        with pytest.raises(IntegrityError, match="UNIQUE"), engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO t VALUES (1)")
            connection.exec_driver_sql("INSERT INTO t VALUES (1)")
    done = threading.Event()

    def other() -> None:
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO t VALUES (2)")
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    assert done.wait(10), "the rolled-back transactions kept the write lock"
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT x FROM t").scalars().all() == [2]
    engine.dispose()
