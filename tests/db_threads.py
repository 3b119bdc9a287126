"""Database work in another thread, for tests of who waits for whom."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

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
