"""Retention job (`messages.forget`): does its first run over a backlog grow linearly?

Fills a throwaway database with N inbound messages and N sent proactive messages, all
past the retention period, and times the job's first run (which de-identifies all 2N
rows in batches of BATCH) and a second run (which finds nothing left: the daily steady
state). Then the same at 4N. The per-row cost at 4N over the per-row cost at N, same
run, is the figure to watch: about 1.0 is linear; the job once read again, in every
batch, all the rows the batches before it had forgotten, and this ratio was about 3.

    .venv/bin/python bench/retention.py                  # SQLite and, if it answers, PostgreSQL
    .venv/bin/python bench/retention.py --rows 20000     # smaller
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from bench.common import PG_SERVER, postgres_database, sqlite_database  # noqa: E402
from bot import migrate  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.db import make_engine  # noqa: E402
from bot.domain.messages import jobs  # noqa: E402
from bot.domain.messages.models import InboundMessage  # noqa: E402
from bot.domain.outbox.models import Outbox  # noqa: E402
from bot.domain.residents.models import Resident  # noqa: E402

NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
OLD = NOW - dt.timedelta(days=400)


def fill(url: str, rows: int) -> None:
    """Migrate a fresh database and add `rows` old inbound and `rows` old sent outbox rows."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as connection:
        resident = {"phone": "+27820000001", "conversation": {}}
        connection.execute(
            insert(Resident.__table__),  # type: ignore[attr-defined]
            [{**resident, "created_at": OLD, "updated_at": OLD}],
        )
        for start in range(0, rows, 10_000):
            span = range(start, min(rows, start + 10_000))
            at = [OLD + dt.timedelta(seconds=n) for n in span]
            connection.execute(
                insert(InboundMessage.__table__),  # type: ignore[attr-defined]
                [
                    {
                        "message_sid": f"SM{n:032d}",
                        "resident_id": 1,
                        "channel": "sms",
                        "body": "The tap at section 4 is broken",
                        "media": [],
                        "replies": ["Report 1234567 is logged"],
                        "received_at": when,
                    }
                    for n, when in zip(span, at, strict=True)
                ],
            )
            connection.execute(
                insert(Outbox.__table__),  # type: ignore[attr-defined]
                [
                    {
                        "resident_id": 1,
                        "channel": "sms",
                        "purpose": "broadcast",
                        "dedupe_key": f"bench-{n}",
                        "body": "The meeting moved to Saturday",
                        "status": "delivered",
                        "attempts": 1,
                        "allow_sms_fallback": False,
                        "next_attempt_at": when,
                        "created_at": when,
                        "updated_at": when,
                    }
                    for n, when in zip(span, at, strict=True)
                ],
            )
    engine.dispose()


def measure(database: AbstractContextManager[str | None], rows: int) -> tuple[float, float]:
    """Return (µs per row of the first run, ms of the second run) over `rows` of each kind."""
    with database as url:
        if url is None:
            raise SystemExit("no database")
        fill(url, rows)
        engine = make_engine(url)
        settings = Settings(_env_file=None)  # type: ignore[call-arg]  # not ./.env
        try:
            start = time.perf_counter()
            changed = jobs.forget(engine=engine, settings=settings, now=NOW)
            first = time.perf_counter() - start
            start = time.perf_counter()
            again = jobs.forget(engine=engine, settings=settings, now=NOW)
            second = time.perf_counter() - start
        finally:
            engine.dispose()
    if (changed, again) != (2 * rows, 0):
        raise SystemExit(f"the job changed {changed} then {again} rows, not {2 * rows} then 0")
    return first / changed * 1e6, second * 1000


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=40_000, help="N: rows of each kind")
    args = parser.parse_args()
    print(
        f"retention job: N = {args.rows:,} inbound + {args.rows:,} outbox rows, BATCH {jobs.BATCH}"
    )
    backends: list[tuple[str, Callable[[], AbstractContextManager[str | None]]]] = [
        ("sqlite", sqlite_database)
    ]
    with postgres_database(PG_SERVER) as probe:
        if probe is not None:
            backends.append(("postgresql", lambda: postgres_database(PG_SERVER)))
    for name, database in backends:
        figures = [(rows, *measure(database(), rows)) for rows in (args.rows, 4 * args.rows)]
        for rows, per_row, second in figures:
            print(
                f"  {name:10} {2 * rows:>9,} rows: first run {per_row:5.1f} µs/row, "
                f"second run {second:6.1f} ms"
            )
        ratio = figures[1][1] / figures[0][1]
        print(f"  {name:10} per-row cost at 4N / at N: {ratio:.2f} (1.0 = linear)")


if __name__ == "__main__":
    main()
