"""The webhook's turn in process, without HTTP: for timing, profiling and counting
instructions (the instructions a turn in the README and bench/HISTORY.md).

Each simulated resident sends the bench's 12 messages (`bench/webhook.py`'s SCRIPT) over
SMS; each message runs as the webhook runs it (`run_now` and `messages.receive` with the
engine wired to the session) against a demo SQLite database. Modes:

    .venv/bin/python bench/turn_profile.py --mode time              # microseconds a turn
    .venv/bin/python bench/turn_profile.py --mode profile           # cProfile, top functions
    .venv/bin/python bench/turn_profile.py --mode count --residents N

`count` only runs the turns, after a warm-up of 5 residents. Instructions a turn are the
difference between two callgrind runs, at 0 and at 50 residents, over 600 turns, with the
hash seed fixed (a random seed moves the count by about a per cent):

    PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=cg.0 \\
        .venv/bin/python bench/turn_profile.py --mode count --residents 0
    (the same with 50 and cg.50; then the "summary:" lines' difference / 600)
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.webhook import SCRIPT  # noqa: E402


def main() -> None:
    """Seed a demo database, then run the turns in the mode asked for."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=["time", "profile", "count"], default="time")
    parser.add_argument("--residents", type=int, default=200, help="residents a run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'turn.db'}"
        env = {**os.environ, "DATABASE_URL": url, "SIYAKHA_ENV": "dev"}
        cli = [sys.executable, "-c", "from bot.cli import app; app()"]
        for command in (["db", "upgrade"], ["demo"]):
            subprocess.run(cli + command, env=env, check=True, capture_output=True, cwd=ROOT)
        logging.basicConfig(level=logging.WARNING)
        run(url, args.mode, args.residents)


def run(url: str, mode: str, residents: int) -> None:
    """Run `residents` conversations (and a warm-up) and report as `mode` asks."""
    from api.deps import converse_for
    from bot.channels.twilio import parse_inbound
    from bot.db import make_engine, run_now, utcnow
    from bot.domain.messages import service as messages

    engine = make_engine(url)

    def conversations(first: int, count: int, run_id: str) -> None:
        for n in range(first, first + count):
            for i, text in enumerate(SCRIPT):
                now = utcnow()
                sid = f"SM{run_id}{n:08x}{i:04x}".ljust(34, "0")[:34]
                form = {"MessageSid": sid, "From": f"+2782{n:07d}", "To": "+27870000001"}
                inbound = parse_inbound({**form, "Body": text, "NumMedia": "0"}, received_at=now)
                replies = run_now(
                    engine,
                    lambda session, inbound=inbound, now=now: messages.receive(
                        session=session, inbound=inbound, converse=converse_for(session), now=now
                    ),
                )
                assert isinstance(replies, list) and replies, replies

    conversations(20_000, 5, "w")  # imports, caches, first statements compiled
    turns = residents * len(SCRIPT)
    if mode == "count":
        conversations(0, residents, "c")
    elif mode == "time":
        for r in range(3):
            start = time.perf_counter()
            conversations(100_000 * (r + 1), residents, f"t{r}")
            print(f"  {r + 1}: {(time.perf_counter() - start) / turns * 1e6:6.0f} us a turn")
    else:
        profile = cProfile.Profile()
        profile.enable()
        conversations(0, residents, "p")
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
    engine.dispose()


if __name__ == "__main__":
    main()
