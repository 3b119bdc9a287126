"""`siyakha worker`: delivery loop, scheduler with a database job store, leader election."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from bot import worker
from bot.channels.sender import TwilioSender
from bot.db import make_engine, session_scope, utcnow
from bot.domain.outbox import service
from bot.domain.outbox.delivery import Dispatcher
from bot.domain.outbox.models import Outbox
from bot.domain.residents.models import Resident
from tests.domain.outbox.test_delivery import config
from tests.twilio_standin import TwilioStandIn, standin_settings


@pytest.fixture
def standin() -> Iterator[TwilioStandIn]:
    with TwilioStandIn() as server:
        yield server


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def enqueue(engine: Engine, count: int, *, prefix: str = "w") -> None:
    with session_scope(engine) as session:
        people = [Resident(phone=f"+2783{n:07d}", consented_at=utcnow()) for n in range(count)]
        session.add_all(people)
        session.flush()
        service.enqueue_many(
            session=session,
            messages=[
                {
                    "resident_id": p.id,
                    "channel": "sms",
                    "purpose": "broadcast",
                    "dedupe_key": f"{prefix}:{p.id}",
                    "body": f"Message {prefix} {p.id}",
                }
                for p in people
            ],
        )


def statuses(engine: Engine) -> dict[str, int]:
    with session_scope(engine) as session:
        return service.counts_by_status(session=session)


def job_ids(engine: Engine) -> list[str]:
    """Return the scheduler's stored job ids, each time in a transaction of its own: one
    transaction held across polls (on SQLite it holds the write gate too) would keep seeing
    what it saw first, and keep the worker from storing its jobs at all."""
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT id FROM apscheduler_jobs")).scalars())


def test_worker_delivers_and_schedules_its_jobs_in_the_database(
    clean_db: Engine, standin: TwilioStandIn, database_url: str
) -> None:
    enqueue(clean_db, 20)
    settings = standin_settings(
        standin, database_url, SIYAKHA_RATE_SMS=0, SIYAKHA_WORKER_POLL_SECONDS=0.1
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(settings,), kwargs={"stop": stop})
    thread.start()
    try:
        wait_for(lambda: statuses(clean_db) == {"sent": 20})
        wait_for(lambda: "outbox.reconcile" in job_ids(clean_db))
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(standin.messages) == 20


def test_the_reconcile_job_settles_rows_left_mid_send(
    clean_db: Engine, standin: TwilioStandIn, database_url: str
) -> None:
    from bot.domain.outbox import jobs

    enqueue(clean_db, 2)
    sender = TwilioSender(standin_settings(standin, database_url))
    with session_scope(clean_db) as session:
        service.claim(
            session=session, worker_id="gone", channel="sms", limit=5, lease=config().lease * 0
        )
    jobs.bind(engine=clean_db, sender=sender, config=config(), worker_id="leader")
    jobs.reconcile()
    assert statuses(clean_db) == {"pending": 2}
    assert jobs.schedule(standin_settings(standin, database_url))[0]["id"] == "outbox.reconcile"


@pytest.fixture
def pg(clean_db: Engine) -> Engine:
    if clean_db.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL (runs in the PostgreSQL pass)")
    return clean_db


def test_two_workers_never_send_a_row_twice(
    pg: Engine, standin: TwilioStandIn, database_url: str
) -> None:
    enqueue(pg, 400)
    standin.set_latency(0.002)
    sender = TwilioSender(standin_settings(standin, database_url))
    engines = [make_engine(database_url) for _ in range(2)]
    # Both connected, then started together: under load a slow first connection once let
    # one worker send all 400 before the other claimed any.
    for e in engines:
        with e.connect():
            pass
    dispatchers = [
        Dispatcher(engine=e, sender=sender, config=config(batch=25), worker_id=f"w{n}")
        for n, e in enumerate(engines)
    ]
    start = threading.Barrier(2)

    def run(dispatcher: Dispatcher) -> None:
        start.wait(timeout=30)
        dispatcher.run(until_idle=True)

    threads = [threading.Thread(target=run, args=(d,)) for d in dispatchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for e in engines:
        e.dispose()
    assert statuses(pg) == {"sent": 400}
    assert len(standin.messages) == 400
    assert max(standin.bodies().values()) == 1
    assert all(d.sent > 0 for d in dispatchers), [d.sent for d in dispatchers]
    with pg.connect() as connection:
        channels = connection.execute(select(Outbox.sent_channel)).scalars().all()
    assert set(channels) == {"sms"}


def test_one_leader_at_a_time_and_a_successor_when_it_dies(pg: Engine) -> None:
    events: list[str] = []
    stops = [threading.Event(), threading.Event()]
    first = worker.Leadership(
        pg,
        on_elected=lambda: events.append("first elected"),
        on_deposed=lambda: events.append("first deposed"),
        stop=stops[0],
        retry_seconds=0.1,
        check_seconds=0.1,
    )
    second = worker.Leadership(
        pg,
        on_elected=lambda: events.append("second elected"),
        on_deposed=lambda: events.append("second deposed"),
        stop=stops[1],
        retry_seconds=0.1,
        check_seconds=0.1,
    )
    threads = [threading.Thread(target=first.run), threading.Thread(target=second.run)]
    threads[0].start()
    wait_for(lambda: first.is_leader)
    threads[1].start()
    time.sleep(0.5)
    assert not second.is_leader
    stops[0].set()  # the leader goes away; its connection (and lock) with it
    threads[0].join(timeout=10)
    wait_for(lambda: second.is_leader, timeout=10)
    stops[1].set()
    threads[1].join(timeout=10)
    assert events == ["first elected", "first deposed", "second elected", "second deposed"]


def test_sqlite_leader_is_a_file_lock(clean_db: Engine) -> None:
    if clean_db.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    stop = threading.Event()
    a = worker.Leadership(clean_db, on_elected=lambda: None, on_deposed=lambda: None, stop=stop)
    b = worker.Leadership(clean_db, on_elected=lambda: None, on_deposed=lambda: None, stop=stop)
    assert a._acquire() is True
    assert b._acquire() is False
    a._release()
    assert b._acquire() is True
    b._release()
