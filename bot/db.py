"""Database engine, sessions and shared column types.

SQLite (the embedded default) gets WAL, a busy timeout and foreign keys on every
connection; PostgreSQL is reached through psycopg 3.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
)
from sqlalchemy import DateTime, event, make_url
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, create_engine

from bot.config import get_settings, normalise_database_url, sqlite_driver_problem

SQLITE_BUSY_TIMEOUT_MS = 30_000
# The largest id an INTEGER column holds on PostgreSQL: a larger one asked for must be
# refused as invalid before it reaches the database, where it fails.
MAX_ID = 2**31 - 1
RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
T = TypeVar("T")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Store aware datetimes as UTC and always give them back aware, even on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware UTC datetime is required")
        value = value.astimezone(dt.UTC)
        # SQLite keeps no offset; store the UTC wall time and re-attach UTC on the way out.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def clean_text(value: str) -> str:
    """Refuse text a database cannot store (NUL characters, lone surrogates)."""
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode") from None
    return value


_CR_LINE_BREAK = re.compile(r"\r\n?")


def plain_line_breaks(value: str) -> str:
    """Return `value` with each CR LF and lone CR as LF. Browsers post a textarea's line
    breaks as CR LF (HTML form submission): stored so, each CR went to residents, a
    character an SMS pays for (GSM-7 has it) that phones show their own way."""
    return _CR_LINE_BREAK.sub("\n", value)


def _plain_if_text(value: Any) -> Any:
    return plain_line_breaks(value) if isinstance(value, str) else value


# Text from the API that is about to be stored: a validation error, never a 500 from the
# driver. Line breaks become LF before the length is checked, so that one counts once, as
# in a textarea's maxlength and on a phone.
CleanText = Annotated[str, BeforeValidator(_plain_if_text), AfterValidator(clean_text)]


class ApiInput(BaseModel):
    """A JSON API request body (or a part of one): a field it does not know is refused
    (422, named in `loc`), not dropped, so a misspelt field changes nothing without a word.
    Open311 takes form fields and ignores unknown ones, as GeoReport v2 expects."""

    model_config = ConfigDict(extra="forbid")


# Earlier than anything stored: "since the beginning" for a bound `since` parameter.
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def utcnow() -> dt.datetime:
    """Return the current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


def needs_offset(value: dt.datetime, field: str | None) -> None:
    """Refuse (ValueError naming `field`) a time written without a UTC offset: a municipal
    system's local time read as UTC would be 2 hours off."""
    if value.tzinfo is None:
        raise ValueError(f"{field} needs a UTC offset, e.g. 2027-03-01T18:00+02:00")


def _in_utc(value: dt.datetime, info: ValidationInfo) -> dt.datetime:
    needs_offset(value, info.field_name)
    try:
        return value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise ValueError(f"{info.field_name} {value.isoformat()} is out of range") from None


# A time an API client gives, with its UTC offset (a 422 naming the field otherwise, as any
# input problem is), read in UTC.
OffsetDateTime = Annotated[dt.datetime, AfterValidator(_in_utc)]


def utc_year(moment: dt.datetime) -> int:
    """Return the year of `moment` (aware) in UTC: 0 when UTC cannot hold it (a time in the
    first or last hours of the calendar, 0001-01-01T00:00+02:00 say)."""
    try:
        return moment.astimezone(dt.UTC).year
    except (OverflowError, ValueError):
        return 0


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (so
    # SAVEPOINT works), and take the write lock up front: two requests that read and
    # then write would otherwise fail to upgrade their locks instead of waiting.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class WriteLockBusy(Exception):
    """The SQLite write lock is taken (in this process or another) and waiting is not allowed."""


# Set by `run_now` on its thread while it begins a transaction that must not wait for the
# SQLite write lock. A thread-local, not an execution option: the dialect's begin, where
# the gate is, sees only the driver's connection.
_no_wait = threading.local()


class _SqliteWriteGate:
    """Admit one SQLite transaction at a time in this process, first come first served.

    SQLite's own busy handler polls with growing sleeps and is unfair: under load a
    waiter can lose every race until its timeout and fail with "database is locked".
    A process-wide lock makes threads queue instead; `busy_timeout` still arbitrates
    between processes (the web server and the worker).

    A transaction begun by `run_now` takes the gate only if it is free and nobody is
    queueing for it, and refuses to wait for another process too: it raises
    `WriteLockBusy` instead.

    Each method takes the pool's connection (`PoolProxiedConnection`): the gate works in
    the dialect's begin, commit and rollback (`_GatedSQLiteDialect`), not in engine
    events, since any engine event listener makes SQLAlchemy dispatch four events around
    every statement (10 µs a statement measured here, a fifth of a simple query).
    """

    def __init__(self, timeout: float) -> None:
        self.lock = threading.Lock()
        self.timeout = timeout
        self.queue_lock = threading.Lock()
        self.queued = 0

    def _acquire(self, *, wait: bool) -> None:
        if self.lock.acquire(blocking=False):
            return
        if not wait:
            raise WriteLockBusy("another transaction in this process holds the write lock")
        with self.queue_lock:
            self.queued += 1
        try:
            acquired = self.lock.acquire(timeout=self.timeout)
        finally:
            with self.queue_lock:
                self.queued -= 1
        if not acquired:
            raise TimeoutError(f"waited {self.timeout:.0f} s for the SQLite write lock")

    def begin(self, connection: Any) -> None:
        wait = not getattr(_no_wait, "active", False)
        if not wait and self.queued > 0:
            raise WriteLockBusy("other transactions in this process are queueing")
        self._acquire(wait=wait)
        connection.info["holds_write_gate"] = True
        driver = connection.driver_connection
        try:
            if not wait:
                driver.execute("PRAGMA busy_timeout=0")
            driver.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            self.end(connection)
            if not wait and "locked" in str(exc):
                raise WriteLockBusy(str(exc)) from None
            raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
        except BaseException:
            self.end(connection)
            raise
        finally:
            if not wait:
                driver.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")

    def commit(self, connection: Any) -> None:
        # Commit, then let the next transaction in: releasing first let it reach BEGIN
        # IMMEDIATE while the lock was still held, and wait in SQLite's busy handler, which
        # sleeps up to 100 ms a time.
        connection.driver_connection.commit()  # raises: rollback releases
        self.end(connection)

    def rollback(self, connection: Any) -> None:
        try:
            connection.driver_connection.rollback()
        finally:
            self.end(connection)

    def end(self, connection: Any) -> None:
        try:
            info = connection.info
        except NotImplementedError:  # the connection SQLAlchemy first connects on: no gate
            return
        if info.pop("holds_write_gate", False):
            self.lock.release()

    def end_record(self, _dbapi_connection: Any, record: Any, _reset_state: Any = None) -> None:
        # A connection returned to the pool mid-transaction and not rolled back through
        # the dialect (an invalidated one): let the next transaction in all the same.
        if record.info.pop("holds_write_gate", False):
            self.lock.release()


class _GatedSQLiteDialect(SQLiteDialect_pysqlite):
    """The pysqlite dialect with every transaction passing its engine's write gate."""

    supports_statement_cache = True  # it compiles nothing differently

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.write_gate = _SqliteWriteGate(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)

    def do_begin(self, dbapi_connection: Any) -> None:
        self.write_gate.begin(dbapi_connection)

    def do_commit(self, dbapi_connection: Any) -> None:
        self.write_gate.commit(dbapi_connection)

    def do_rollback(self, dbapi_connection: Any) -> None:
        self.write_gate.rollback(dbapi_connection)


registry.register("sqlite.siyakha_gated", __name__, "_GatedSQLiteDialect")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for `url`, with SQLite pragmas set on every connection."""
    url = normalise_database_url(url)
    if url.startswith("sqlite"):
        if problem := sqlite_driver_problem(url):
            raise ValueError(problem)
        parsed = make_url(url)
        connect_args = kwargs.pop("connect_args", {})
        connect_args.setdefault("check_same_thread", False)
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        gated = parsed.set(drivername="sqlite+siyakha_gated")
        engine = create_engine(gated, connect_args=connect_args, **kwargs)
        gate = engine.dialect.write_gate  # type: ignore[attr-defined]
        event.listen(engine.pool, "connect", _sqlite_pragmas)
        event.listen(engine.pool, "checkin", gate.end_record)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


@lru_cache
def get_engine() -> Engine:
    """Return the process-wide engine for `DATABASE_URL`."""
    return make_engine(get_settings().database_url)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """Open a session that commits on success and rolls back on error (one unit of work)."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


class Deferred(Enum):
    """What `run_now` returns when the work has to wait: run it where waiting is allowed."""

    NOT_NOW = "not now"


NOT_NOW = Deferred.NOT_NOW


def run_now(engine: Engine, work: Callable[[Session], T]) -> T | Literal[Deferred.NOT_NOW]:
    """Run `work(session)` in one transaction on this thread, or return NOT_NOW at once
    if that would mean waiting: on SQLite when another transaction holds (or waits for)
    the write lock, here or in another process; on PostgreSQL always (every query waits on
    the network). For the event loop, which must never block on a lock."""
    if not isinstance(engine.dialect, _GatedSQLiteDialect):
        return NOT_NOW
    try:
        with session_scope(engine) as session:
            # BEGIN IMMEDIATE now, before any of `work` runs; WriteLockBusy if it would wait.
            _no_wait.active = True
            try:
                session.connection()
            finally:
                _no_wait.active = False
            return work(session)
    except WriteLockBusy:
        return NOT_NOW


def _missing_file(engine: Engine) -> bool:
    """Return whether the engine is on a SQLite file that does not exist (connecting would
    create it, empty)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.query.get("uri"):
        return False
    database = url.database
    return bool(database) and database != ":memory:" and not Path(str(database)).is_file()


def ping(engine: Engine | None = None) -> bool:
    """Return whether the migrated database answers: its schema version can be read (a
    missing, empty or corrupt SQLite file cannot; a missing one is not created).

    Straight on a pooled driver connection, outside SQLAlchemy's transactions: on SQLite a
    read needs no write lock, so a long write elsewhere does not hold up a health check.
    """
    engine = engine or get_engine()
    if _missing_file(engine):
        return False
    try:
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute("SELECT version_num FROM alembic_version")
            version = cursor.fetchone()
            cursor.close()
        finally:
            connection.close()
    except Exception:
        return False
    return version is not None
