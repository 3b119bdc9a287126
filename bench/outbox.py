"""Outbox benchmark: enqueue speed, drain speed, rate-limiter accuracy, SIGKILL safety.

Runs against the local Twilio stand-in (tests/twilio_standin.py, in its own process)
and throwaway databases: a SQLite file and, when reachable, a PostgreSQL database
created on BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres).

    .venv/bin/python bench/outbox.py            # everything
    .venv/bin/python bench/outbox.py --quick    # smaller drains and one kill round

Targets (issue 5): enqueue 100k <= 5 s; drain >= 500 msg/s per worker; limiter within
5 %; SIGKILL x5 during a 20,000-message send: 0 lost, 0 duplicates.

Baseline, same run: the bare twilio client (TwilioSender on the same number of threads,
no database, no outbox) sending to the same stand-in process. The drain is printed as a
ratio to it, which says how much the outbox costs on top of the HTTP calls themselves
and varies less from machine to machine than msg/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from bench.common import PG_SERVER, postgres_database, sqlite_database  # noqa: E402
from bot import migrate  # noqa: E402
from bot.channels.sender import TwilioSender  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.db import make_engine, session_scope, utcnow  # noqa: E402
from bot.domain.outbox import service  # noqa: E402
from bot.domain.outbox.delivery import DeliveryConfig, Dispatcher  # noqa: E402
from bot.domain.outbox.ports import OutgoingMessage  # noqa: E402
from bot.domain.residents.models import Resident  # noqa: E402
from tests import TEST_SECRET_KEY  # noqa: E402
from tests.twilio_standin import ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn, standin_settings  # noqa: E402

RESIDENTS = 2000
CONCURRENCY = 16  # the workers' SIYAKHA_WORKER_CONCURRENCY below


# --- databases ----------------------------------------------------------------------------


def prepare(url: str) -> tuple[Engine, list[int]]:
    """Migrate a database and add residents; return the engine and their ids."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        people = [Resident(phone=f"+2784{n:07d}", consented_at=utcnow()) for n in range(RESIDENTS)]
        session.add_all(people)
        session.flush()
        return engine, [p.id for p in people if p.id is not None]


def enqueue(engine: Engine, ids: list[int], count: int, tag: str) -> float:
    """Enqueue `count` SMS rows in one transaction; return the seconds taken."""
    started = time.perf_counter()
    with session_scope(engine) as session:
        added = service.enqueue_many(
            session=session,
            messages=(
                {
                    "resident_id": ids[n % len(ids)],
                    "channel": "sms",
                    "purpose": "broadcast",
                    "ref": f"bench:{tag}",
                    "dedupe_key": f"bench:{tag}:{n}",
                    "body": f"Siyakha bench {tag} message {n}",
                }
                for n in range(count)
            ),
        )
    assert added == count, (added, count)
    return time.perf_counter() - started


def sent(engine: Engine) -> int:
    """Return how many rows are past 'sending'."""
    with engine.connect() as connection:
        return int(
            connection.execute(
                text("SELECT count(*) FROM outbox WHERE status NOT IN ('pending', 'sending')")
            ).scalar_one()
        )


def reset_outbox(engine: Engine) -> None:
    """Empty the outbox."""
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM outbox"))


# --- the stand-in and workers as processes ------------------------------------------------


@contextmanager
def standin_process() -> Iterator[str]:
    """Run the stand-in in its own process (so it does not share the workers' GIL)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.twilio_standin", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def standin_messages(url: str) -> list[dict[str, object]]:
    """Return every message the stand-in process accepted."""
    with urllib.request.urlopen(f"{url}/_standin/messages", timeout=60) as response:
        return list(json.load(response)["messages"])


def standin_reset(url: str) -> None:
    """Forget every message."""
    request = urllib.request.Request(f"{url}/_standin/reset", data=b"", method="POST")
    urllib.request.urlopen(request, timeout=10).close()


def worker_env(api_url: str, database_url: str, **extra: str) -> dict[str, str]:
    """Return the environment of a benchmark worker."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SIYAKHA_ENV": "test",
        "SIYAKHA_SECRET_KEY": TEST_SECRET_KEY,
        "DATABASE_URL": database_url,
        "SIYAKHA_OUTBOUND": "twilio",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "SIYAKHA_TWILIO_API_URL": api_url,
        "SIYAKHA_SMS_FROM": "+27870000001",
        "SIYAKHA_RATE_SMS": "0",
        "SIYAKHA_RATE_WHATSAPP": "0",
        "SIYAKHA_WORKER_CONCURRENCY": str(CONCURRENCY),
        "SIYAKHA_WORKER_BATCH": "500",
        "SIYAKHA_WORKER_POLL_SECONDS": "0.2",
        "SIYAKHA_LOG_LEVEL": "WARNING",
        **extra,
    }


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start `python -m bot.worker`."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot.worker"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL
    )


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Stop a worker."""
    process.send_signal(sig)
    process.wait(timeout=60)


# --- measurements -------------------------------------------------------------------------


def measure_drain(
    api_url: str, url: str, engine: Engine, ids: list[int], count: int, workers: int
) -> float:
    """Enqueue `count` rows, drain them with `workers` worker processes; return msg/s."""
    reset_outbox(engine)
    enqueue(engine, ids, count, f"drain{workers}")
    processes = [start_worker(worker_env(api_url, url)) for _ in range(workers)]
    try:
        # Time from the first message out to the last, so process start-up is not counted.
        while sent(engine) == 0:
            time.sleep(0.01)
        started = time.perf_counter()
        first = sent(engine)
        while (done := sent(engine)) < count:
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        for process in processes:
            stop(process)
    return (done - first) / elapsed


def measure_client_only(api_url: str, count: int) -> float:
    """Send `count` messages with the bare twilio client on CONCURRENCY threads; return msg/s."""
    keys = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "SIYAKHA_TWILIO_API_URL", "SIYAKHA_SMS_FROM")
    env = worker_env(api_url, "sqlite://")
    settings = Settings(_env_file=None, **{key: env[key] for key in keys})  # type: ignore[call-arg]
    sender = TwilioSender(settings, pool_size=CONCURRENCY * 2)
    messages = [
        OutgoingMessage(
            outbox_id=n, channel="sms", to=f"+2784{n % RESIDENTS:07d}", body=f"base {n}"
        )
        for n in range(count)
    ]
    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        for _ in pool.map(sender.send, messages):
            pass
    return count / (time.perf_counter() - started)


def measure_limiter(url: str, engine: Engine, ids: list[int], rate: float, count: int) -> float:
    """Send `count` messages at `rate` msg/s through one dispatcher; return the measured rate."""
    reset_outbox(engine)
    enqueue(engine, ids, count, f"rate{rate}")
    with TwilioStandIn() as standin:
        sender = TwilioSender(standin_settings(standin, url))
        config = DeliveryConfig(rates={"sms": rate, "whatsapp": rate}, concurrency=8)
        Dispatcher(engine=engine, sender=sender, config=config, worker_id="bench").run(
            until_idle=True
        )
        times = sorted(dt.datetime.fromisoformat(str(m["_created"])) for m in standin.messages)
    assert len(times) == count
    return (count - 1) / (times[-1] - times[0]).total_seconds()


def measure_kills(
    api_url: str, url: str, engine: Engine, ids: list[int], count: int, kills: int
) -> tuple[int, int, float]:
    """Send `count` messages while SIGKILLing the worker `kills` times; return lost, dupes, s."""
    reset_outbox(engine)
    standin_reset(api_url)
    enqueue(engine, ids, count, "kill")
    env = worker_env(
        api_url,
        url,
        SIYAKHA_OUTBOX_LEASE_SECONDS="4",
        SIYAKHA_TWILIO_TIMEOUT_SECONDS="1",
        SIYAKHA_OUTBOX_RECONCILE_SECONDS="1",
    )
    started = time.perf_counter()
    for n in range(kills):
        process = start_worker(env)
        target = count * (n + 1) // (kills + 1)
        while sent(engine) < target:
            time.sleep(0.01)
        time.sleep(random.uniform(0, 0.2))  # land anywhere in a batch
        stop(process, signal.SIGKILL)
    process = start_worker(env)
    try:
        while sent(engine) < count:
            time.sleep(0.1)
    finally:
        stop(process)
    elapsed = time.perf_counter() - started
    bodies = Counter(str(m["body"]) for m in standin_messages(api_url))
    expected = {f"Siyakha bench kill message {n}" for n in range(count)}
    lost = len(expected - set(bodies))
    dupes = sum(c - 1 for c in bodies.values() if c > 1)
    return lost, dupes, elapsed


def main() -> None:
    """Run every measurement and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller drains, one kill")
    parser.add_argument("--kills-only", action="store_true", help="only the SIGKILL run")
    args = parser.parse_args()
    drain_count = 5000 if args.quick else 20000
    kill_count, kills = (5000, 1) if args.quick else (20000, 5)
    print(f"Siyakha outbox benchmark ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})")

    if not args.kills_only:
        _sqlite_figures(drain_count)
    _postgres_figures(drain_count, kill_count, kills, kills_only=args.kills_only)


def _sqlite_figures(drain_count: int) -> None:
    """Print the SQLite figures: enqueue, drain with one worker, limiter accuracy."""
    with sqlite_database() as url:
        engine, ids = prepare(url)
        print(f"enqueue 100,000  SQLite      {enqueue(engine, ids, 100_000, 'e'):6.2f} s")
        reset_outbox(engine)
        with standin_process() as api:
            base = measure_client_only(api, drain_count)
            rate = measure_drain(api, url, engine, ids, drain_count, 1)
        print(f"baseline: bare twilio client, {CONCURRENCY} threads {base:7.0f} msg/s")
        print(
            f"drain  {drain_count:,} SQLite, 1 worker   {rate:7.0f} msg/s (ratio {rate / base:.2f})"
        )
        for target in (10.0, 50.0):
            measured = measure_limiter(url, engine, ids, target, int(target * 5) + 1)
            print(
                f"limiter at {target:4.0f} msg/s measured {measured:6.2f} msg/s "
                f"({(measured - target) / target:+.1%})"
            )
        engine.dispose()


def _postgres_figures(drain_count: int, kill_count: int, kills: int, *, kills_only: bool) -> None:
    """Print the PostgreSQL figures: enqueue, drains with one and two workers, SIGKILLs."""
    with postgres_database(PG_SERVER) as url:
        if url is None:
            print("PostgreSQL not reachable: skipping the PostgreSQL figures")
            return
        engine, ids = prepare(url)
        if not kills_only:
            print(f"enqueue 100,000  PostgreSQL  {enqueue(engine, ids, 100_000, 'e'):6.2f} s")
        with standin_process() as api:
            base = 0.0 if kills_only else measure_client_only(api, drain_count)
            for workers in () if kills_only else (1, 2):
                rate = measure_drain(api, url, engine, ids, drain_count, workers)
                print(
                    f"drain  {drain_count:,} PostgreSQL, {workers} worker(s) {rate:7.0f} msg/s "
                    f"({rate / workers:.0f} per worker; ratio to the bare client {rate / base:.2f})"
                )
            lost, dupes, elapsed = measure_kills(api, url, engine, ids, kill_count, kills)
            print(
                f"SIGKILL x{kills} during {kill_count:,} sends (PostgreSQL): "
                f"lost {lost}, duplicates {dupes} ({elapsed:.0f} s)"
            )
        engine.dispose()


if __name__ == "__main__":
    main()
