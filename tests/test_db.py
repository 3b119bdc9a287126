"""The SQLite engine: one transaction at a time in a process, handed on only once committed;
`run_now` for the event loop, which must never wait for the write lock. `CleanText`, the
text the API stores."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.db import NOT_NOW, SQLITE_BUSY_TIMEOUT_MS, CleanText, make_engine, run_now
from tests.db_threads import (
    write_finishes_elsewhere,
    write_held_by_another_process,
    write_held_elsewhere,
)


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
    assert write_finishes_elsewhere(engine, "INSERT INTO t VALUES (2)"), (
        "the rolled-back transactions kept the write lock"
    )
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT x FROM t").scalars().all() == [2]
    engine.dispose()


def _counter_engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'now.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE counter (n INTEGER NOT NULL)")
        connection.exec_driver_sql("INSERT INTO counter VALUES (0)")
    return engine


def _bump(session: Session) -> int:
    connection = session.connection()
    connection.exec_driver_sql("UPDATE counter SET n = n + 1")
    return int(connection.exec_driver_sql("SELECT n FROM counter").scalar_one())


def _count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.exec_driver_sql("SELECT n FROM counter").scalar_one())


def test_run_now_runs_on_this_thread_and_commits_when_the_write_lock_is_free(
    tmp_path: Path,
) -> None:
    engine = _counter_engine(tmp_path)
    threads: list[int] = []

    def work(session: Session) -> int:
        threads.append(threading.get_ident())
        return _bump(session)

    assert run_now(engine, work) == 1
    assert run_now(engine, work) == 2
    assert threads == [threading.get_ident()] * 2
    assert _count(engine) == 2
    engine.dispose()


def test_run_now_declines_at_once_while_another_thread_holds_the_write_lock(
    tmp_path: Path,
) -> None:
    engine = _counter_engine(tmp_path)
    called: list[bool] = []
    with write_held_elsewhere(engine, "UPDATE counter SET n = n + 10"):
        started = time.monotonic()
        assert run_now(engine, lambda session: called.append(True)) is NOT_NOW
        assert time.monotonic() - started < 1
    assert called == []
    assert run_now(engine, _bump) == 11
    engine.dispose()


def test_run_now_declines_at_once_while_another_process_writes_and_keeps_its_busy_timeout(
    tmp_path: Path,
) -> None:
    engine = _counter_engine(tmp_path)
    called: list[bool] = []
    with write_held_by_another_process(tmp_path / "now.db") as other:
        started = time.monotonic()
        assert run_now(engine, lambda session: called.append(True)) is NOT_NOW
        assert time.monotonic() - started < 1  # not SQLite's 30 s busy timeout
        assert called == []
        other.execute("UPDATE counter SET n = 5")
    # The same pooled connection waits for other processes again, and the gate is free.
    with engine.connect() as connection:
        timeout = connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one()
    assert timeout == SQLITE_BUSY_TIMEOUT_MS
    assert run_now(engine, _bump) == 6
    engine.dispose()


def test_run_now_rolls_back_failed_work_and_hands_the_lock_on(tmp_path: Path) -> None:
    engine = _counter_engine(tmp_path)

    def fail(session: Session) -> None:
        _bump(session)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_now(engine, fail)
    assert write_finishes_elsewhere(engine, "UPDATE counter SET n = n + 1"), (
        "failed work kept the write lock"
    )
    assert _count(engine) == 1  # the failed work's change was rolled back
    engine.dispose()


def test_run_now_always_declines_on_postgresql() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:1/none")  # never connected
    assert run_now(engine, lambda session: pytest.fail("ran")) is NOT_NOW


def test_an_sqlite_driver_other_than_pysqlite_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sqlite\\+pysqlcipher"):
        make_engine(f"sqlite+pysqlcipher:///{tmp_path / 'x.db'}")
    engine = make_engine(f"sqlite+pysqlite:///{tmp_path / 'x.db'}")  # the default, named
    assert (
        run_now(engine, lambda session: session.connection().exec_driver_sql("SELECT 1").scalar())
        == 1
    )
    engine.dispose()


class _Note(BaseModel):
    body: CleanText = Field(max_length=5)


def test_api_text_keeps_its_line_breaks_as_lf_counted_once() -> None:
    # A client that posts what a textarea holds (CR LF) had "\r\n" stored and sent to
    # residents, each CR a character an SMS pays for, and a text at its limit refused.
    assert _Note(body="a\r\nb\rc").body == "a\nb\nc"
    assert _Note(body="ab\r\ncd").body == "ab\ncd"  # five characters, as a textarea counts
    with pytest.raises(ValidationError):
        _Note(body="a\x00b")
