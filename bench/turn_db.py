"""What a webhook turn's own database work costs through SQLAlchemy, against the same
statements on the bare sqlite3 driver, in the same run.

The turn's bookkeeping is `messages.receive` with a conversation that answers at once:
lock (or create) the resident and check the MessageSid (one statement), save the state,
store the message, in one transaction as the webhook runs it (`bot.db.run_now`). The
baseline runs the same three statements and the transaction on a bare sqlite3 connection
to the same database
(no flows, no ports: those come on top in a real turn). Usage:

    .venv/bin/python bench/turn_db.py [--turns 3000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import median_range  # noqa: E402
from bot import migrate  # noqa: E402
from bot.db import make_engine, run_now, utcnow  # noqa: E402
from bot.domain.messages import service as messages  # noqa: E402
from bot.engine.engine import Outcome  # noqa: E402
from bot.engine.messages import Inbound  # noqa: E402

RESIDENTS = 300
REPLY = "Next meetings: Ubuhle Gardens\n\nCommunity meeting, Sunday 17:30, Ubuhle creche. " * 3


def answer_at_once(inbound: Inbound, resident: Any, state: Any, now: dt.datetime) -> Outcome:
    """A conversation that costs nothing: the same reply and state every time."""
    return Outcome(replies=[REPLY], state={"step": "menu", "last_seen": now.isoformat()})


def siyakha_turn(engine: Any, n: int) -> None:
    """One turn's bookkeeping as the webhook does it."""
    now = utcnow()
    inbound = Inbound(
        message_id=f"SM{n:032d}",
        phone=f"+2782{n % RESIDENTS:07d}",
        channel="sms",
        text="4",
        received_at=now,
    )
    run_now(
        engine,
        lambda session: messages.receive(
            session=session, inbound=inbound, converse=answer_at_once, now=now
        ),
    )


def bare_turn(driver: sqlite3.Connection, n: int) -> None:
    """The same three statements in one transaction on the bare driver."""
    now = utcnow().replace(tzinfo=None).isoformat(" ", "microseconds")
    sid = f"SB{n:032d}"
    driver.execute("BEGIN IMMEDIATE")
    row = driver.execute(
        "SELECT *, (SELECT replies FROM inbound_message WHERE message_sid = ?) FROM resident "
        "WHERE phone = ?",
        (sid, f"+2782{n % RESIDENTS:07d}"),
    ).fetchone()
    state = json.dumps({"step": "menu", "last_seen": now})
    driver.execute(
        "UPDATE resident SET conversation = ?, updated_at = ?, last_inbound_sms_at = ? "
        "WHERE id = ?",
        (state, now, now, row[0]),
    )
    driver.execute(
        "INSERT INTO inbound_message (message_sid, resident_id, channel, body, media, replies, "
        "received_at) VALUES (?, ?, 'sms', '4', '[]', ?, ?)",
        (sid, row[0], json.dumps([REPLY]), now),
    )
    driver.execute("COMMIT")


def main() -> None:
    """Time both, interleaved in rounds, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=3000, help="turns per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "turn.db"
        engine = make_engine(f"sqlite:///{path}")
        migrate.upgrade(engine)
        for n in range(RESIDENTS):  # every resident exists, as after their first message
            siyakha_turn(engine, 10_000_000 + n)
        # A connection from the same engine: the same pragmas as the app's (WAL, synchronous).
        pooled = engine.raw_connection()
        driver: sqlite3.Connection = pooled.driver_connection  # type: ignore[assignment]
        ratios = []
        print(f"turn bookkeeping on SQLite, {args.turns} turns per round and side")
        for r in range(args.rounds):
            figures = {}
            for name, turn in (
                ("siyakha (SQLAlchemy)", lambda n: siyakha_turn(engine, n)),
                ("bare sqlite3", lambda n: bare_turn(driver, n)),
            ):
                start = time.perf_counter()
                for n in range(args.turns):
                    turn(r * args.turns + n)
                figures[name] = (time.perf_counter() - start) / args.turns * 1e6
                print(f"  {r + 1}: {name:21} {figures[name]:6.0f} us per turn")
            ratios.append(figures["bare sqlite3"] / figures["siyakha (SQLAlchemy)"])
        print("  ratio (bare / siyakha time): " + median_range(ratios))
        pooled.close()
        engine.dispose()


if __name__ == "__main__":
    main()
