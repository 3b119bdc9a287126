"""Instructions a webhook request costs each server of `bench/webhook.py`, under callgrind.

The webhook benchmark's req/s ratio moves with the VM's spells (0.10-0.19 for the same
code), and slow spells slow siyakha, which walks far more memory, more than the bare
endpoint. Instructions do not move: each server runs under `valgrind --tool=callgrind`
with counting off, takes a warm-up of 20 residents, then counts while it answers the
bench's conversation for `--residents` new residents (12 messages each, 32 at a time,
signed as Twilio signs). Prints instructions a request for each server and, in the same
run, their ratio to the bare endpoint's: the req/s ratio the servers would have if every
instruction cost the same. Under valgrind a server runs some fifty times slower, so a run
takes minutes; the count does not depend on what else the machine is doing.

    .venv/bin/python bench/webhook_count.py                  # SQLite, the four servers
    .venv/bin/python bench/webhook_count.py --servers siyakha bare
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.webhook import (  # noqa: E402
    SERVERS,
    app_environment,
    build_requests,
    drive,
    free_port,
    server_command,
    start,
    stop,
    wait_up,
)

# Python's string hashing is seeded at random; a fixed seed keeps the count within a few
# tenths of a per cent from run to run.
HASH_SEED = "0"


def count(kind: str, tmp: Path, residents: int, concurrency: int) -> tuple[int, int]:
    """Serve `kind` under callgrind; return (instructions counted, requests answered)."""
    port = free_port()
    database = f"sqlite:///{tmp / f'{kind}.db'}"
    env = {**app_environment(database, port, "INFO"), "PYTHONHASHSEED": HASH_SEED}
    command, env = server_command(kind, port, env, tmp, "asyncio")
    out = tmp / f"{kind}.callgrind"
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    process = start(valgrind + command, env, tmp / f"{kind}.log")
    try:
        deadline = time.monotonic() + 900
        while True:  # starting under valgrind takes minutes, not wait_up's one
            try:
                wait_up(port, "/docs")
                break
            except RuntimeError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
        run = uuid.uuid4().hex[:6]
        asyncio.run(drive(port, build_requests(port, 20, "w" + run[:5], 9_000_000), concurrency))
        control = ["callgrind_control"]
        subprocess.run([*control, "--instr=on", str(process.pid)], check=True, capture_output=True)
        figures = asyncio.run(drive(port, build_requests(port, residents, run), concurrency))
        subprocess.run([*control, "--instr=off", str(process.pid)], check=True, capture_output=True)
        subprocess.run([*control, "--dump", str(process.pid)], check=True, capture_output=True)
    finally:
        stop(process, timeout=300)
    if figures["errors"]:
        raise SystemExit(f"{kind}: {figures['errors']} requests failed; see {tmp / kind}.log")
    # The dump holds what was counted while counting was on; the file written at exit
    # holds nothing counted (counting was off).
    totals = [
        int(line.split()[1])
        for dump in tmp.glob(f"{kind}.callgrind*")
        for line in dump.read_text(errors="replace").splitlines()
        if line.startswith(("summary:", "totals:"))
    ]
    return max(totals), figures["requests"]


def main() -> None:
    """Count each server asked for and print instructions a request and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--residents", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--servers", nargs="+", choices=SERVERS, default=list(SERVERS))
    args = parser.parse_args()
    if "bare" not in args.servers:
        parser.error("the ratios are against the bare endpoint: include bare")
    per_request = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.servers:
            instructions, requests = count(kind, Path(tmp), args.residents, args.concurrency)
            per_request[kind] = instructions / requests
    print(
        f"webhook instructions: sqlite, {args.residents} residents x 12 messages, "
        f"concurrency {args.concurrency}, PYTHONHASHSEED={HASH_SEED}"
    )
    bare = per_request["bare"]
    for kind, instructions in per_request.items():
        print(
            f"  {kind:10} {instructions:12,.0f} instructions a request  "
            f"bare / it {bare / instructions:.3f}"
        )
    if "siyakha" in per_request and "front" in per_request:
        turn = per_request["siyakha"] - per_request["front"]
        print(f"  the turn (siyakha - front): {turn:,.0f} instructions a request")


if __name__ == "__main__":
    main()
