"""`siyakha worker`: deliver the outbox and, on the leader only, run the scheduled jobs.

Any number of workers may run against one PostgreSQL database: they claim outbox rows
with FOR UPDATE SKIP LOCKED. APScheduler 3 (with its job store in the same database)
runs in exactly one of them, the holder of a PostgreSQL advisory lock kept on a
dedicated connection; when the leader dies its connection closes, the lock is freed
and another worker takes over within `LEADER_RETRY_SECONDS`. On SQLite a file lock
beside the database plays the same part (and there should be one worker anyway).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from apscheduler.executors.pool import ThreadPoolExecutor as JobExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine, make_url

from bot.channels.sender import make_sender
from bot.config import Settings, get_settings
from bot.db import make_engine
from bot.domain.outbox import jobs as outbox_jobs
from bot.domain.outbox.delivery import DeliveryConfig, Dispatcher
from bot.domain.outbox.ports import Sender

log = logging.getLogger(__name__)

# Modules with a `schedule(settings) -> list[dict]` of APScheduler add_job arguments.
JOB_MODULES = (
    "bot.domain.messages.jobs",
    "bot.domain.residents.jobs",
    "bot.domain.outbox.jobs",
    "bot.domain.tickets.jobs",
    "bot.domain.broadcasts.jobs",
    "bot.domain.staff.jobs",
)
LEADER_LOCK_KEY = 0x5349_59414B_4841  # "SIYAKHA"
LEADER_RETRY_SECONDS = 15.0
LEADER_CHECK_SECONDS = 5.0
JOBS_TABLE = "apscheduler_jobs"


def worker_name() -> str:
    """Return a name unique to this worker process (host, pid, random suffix)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Leadership:
    """Hold the scheduler lock while it can; call back when elected and when deposed."""

    def __init__(
        self,
        engine: Engine,
        *,
        on_elected: Callable[[], None],
        on_deposed: Callable[[], None],
        stop: threading.Event,
        retry_seconds: float = LEADER_RETRY_SECONDS,
        check_seconds: float = LEADER_CHECK_SECONDS,
    ) -> None:
        self.engine = engine
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self.stop = stop
        self.retry_seconds = retry_seconds
        self.check_seconds = check_seconds
        self.is_leader = False
        self._connection: Connection | None = None
        self._file: IO[bytes] | None = None

    # -- PostgreSQL: a session advisory lock on a connection of our own ------------------
    def _try_pg(self) -> bool:
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK_KEY}
            ).scalar()
        except Exception:
            self._discard(connection)
            raise
        if got:
            self._connection = connection
            return True
        self._discard(connection)
        return False

    def _still_pg(self) -> bool:
        assert self._connection is not None
        try:
            self._connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    @staticmethod
    def _discard(connection: Connection) -> None:
        # Invalidate rather than return to the pool: a pooled connection would keep the lock.
        with contextlib.suppress(Exception):
            connection.invalidate()
        with contextlib.suppress(Exception):
            connection.close()

    # -- SQLite: an exclusive lock on a file beside the database ------------------------
    def _try_file(self) -> bool:
        database = make_url(str(self.engine.url)).database
        if not database or database == ":memory:":
            return True
        handle = Path(f"{database}.scheduler.lock").open("wb")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def _acquire(self) -> bool:
        if self.engine.dialect.name == "postgresql":
            return self._try_pg()
        return self._try_file()

    def _still_leader(self) -> bool:
        if self.engine.dialect.name == "postgresql":
            return self._still_pg()
        return True

    def _release(self) -> None:
        if self._connection is not None:
            self._discard(self._connection)
            self._connection = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def run(self) -> None:
        """Campaign until `stop` is set; lead while holding the lock."""
        try:
            while not self.stop.is_set():
                if not self.is_leader:
                    try:
                        self.is_leader = self._acquire()
                    except Exception:
                        log.warning("cannot reach the database to campaign for leader")
                    if self.is_leader:
                        log.info("this worker now runs the scheduled jobs")
                        self.on_elected()
                elif not self._still_leader():
                    log.warning("lost the scheduler lock (database connection gone)")
                    self.is_leader = False
                    self._release()
                    self.on_deposed()
                self.stop.wait(self.check_seconds if self.is_leader else self.retry_seconds)
        finally:
            if self.is_leader:
                self.is_leader = False
                self.on_deposed()
            self._release()


class JobRunner:
    """Start and stop the APScheduler scheduler as leadership comes and goes."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.scheduler: BackgroundScheduler | None = None
        self._lock = threading.Lock()

    def declared_jobs(self) -> list[dict[str, Any]]:
        """Return every job the job modules declare."""
        declared: list[dict[str, Any]] = []
        for name in JOB_MODULES:
            try:
                declared.extend(importlib.import_module(name).schedule(self.settings))
            except Exception:  # one broken domain must not stop the others' jobs
                log.exception("cannot declare the jobs of %s", name)
        return declared

    def start(self) -> None:
        """Start a scheduler on the database job store and (re)declare the jobs."""
        with self._lock:
            if self.scheduler is not None:
                return
            scheduler = BackgroundScheduler(
                jobstores={"default": SQLAlchemyJobStore(engine=self.engine, tablename=JOBS_TABLE)},
                executors={"default": JobExecutor(4)},
                job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
                timezone="UTC",
            )
            scheduler.start(paused=True)
            for job in self.declared_jobs():
                scheduler.add_job(replace_existing=True, **job)
            scheduler.resume()
            self.scheduler = scheduler

    def stop(self) -> None:
        """Stop the scheduler, letting running jobs finish."""
        with self._lock:
            if self.scheduler is not None:
                with contextlib.suppress(Exception):
                    self.scheduler.shutdown(wait=True)
                self.scheduler = None


def run(
    settings: Settings | None = None,
    *,
    stop: threading.Event | None = None,
    engine: Engine | None = None,
    sender: Sender | None = None,
    leader_retry_seconds: float = LEADER_RETRY_SECONDS,
) -> None:
    """Run a worker until SIGTERM/SIGINT (or `stop`): deliver the outbox, lead the jobs."""
    settings = settings or get_settings()
    stop = stop or threading.Event()
    own_engine = engine is None
    if engine is None:
        sqlite = settings.sqlalchemy_url.startswith("sqlite")
        pool: dict[str, Any] = {} if sqlite else {"pool_size": 6, "max_overflow": 4}
        engine = make_engine(settings.database_url, **pool)
    sender = sender or make_sender(settings)
    name = worker_name()
    config = DeliveryConfig.from_settings(settings)
    outbox_jobs.bind(engine=engine, sender=sender, config=config, worker_id=name)

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())

    runner = JobRunner(engine, settings)
    leadership = Leadership(
        engine,
        on_elected=runner.start,
        on_deposed=runner.stop,
        stop=stop,
        retry_seconds=leader_retry_seconds,
    )
    campaign = threading.Thread(target=leadership.run, name="leader", daemon=True)
    campaign.start()
    log.info(
        "worker started",
        extra={"worker": name, "outbound": settings.outbound, "database": engine.dialect.name},
    )
    dispatcher = Dispatcher(engine=engine, sender=sender, config=config, worker_id=name, stop=stop)
    try:
        dispatcher.run(idle_wait=settings.worker_poll_seconds)
    finally:
        stop.set()
        campaign.join(timeout=30)
        if own_engine:
            engine.dispose()
        log.info("worker stopped", extra={"worker": name, "sent": dispatcher.sent})


def main() -> None:
    """Run a worker with settings and logging from the environment (`python -m bot.worker`)."""
    from bot.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    run(settings)


if __name__ == "__main__":
    main()
