"""Database work in another thread or process, for tests of who waits for whom."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import Engine


@contextmanager
def write_held_elsewhere(engine: Engine, sql: str) -> Iterator[None]:
    """Keep a transaction that ran `sql` open in another thread (a long dashboard write, say)
    for the length of the block; on SQLite it holds the write lock."""
    holding, finish = threading.Event(), threading.Event()

    def hold() -> None:
        with engine.begin() as connection:
            connection.exec_driver_sql(sql)
            holding.set()
            finish.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(10), "the other thread's transaction did not start"
        yield
    finally:
        finish.set()
        thread.join(10)


def write_finishes_elsewhere(engine: Engine, sql: str, *, within: float = 10) -> bool:
    """Run `sql` in its own transaction in another thread; return whether it committed in time
    (False: something still holds the write lock)."""
    done = threading.Event()

    def write() -> None:
        with engine.begin() as connection:
            connection.exec_driver_sql(sql)
        done.set()

    threading.Thread(target=write, daemon=True).start()
    return done.wait(within)


@contextmanager
def write_held_by_another_process(path: str | Path) -> Iterator[sqlite3.Connection]:
    """Hold the write lock of the SQLite file at `path` from a connection of its own (another
    process, as far as any engine can tell) for the length of the block; at its end, commit
    whatever the block ran on the connection it was given."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield other
        other.execute("COMMIT")
    finally:
        other.close()
