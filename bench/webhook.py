"""Webhook throughput and latency: `siyakha serve` against a bare FastAPI baseline, same run.

Many simulated residents each walk through a conversation (first contact, language,
consent, settlement, then menu items) over signed Twilio webhooks, 32 at a time on
keep-alive connections. The same request stream goes to a bare FastAPI endpoint that
only parses the form and returns fixed TwiML. Prints req/s, p50 and p99 for both and
the ratio. For reference it also drives two more servers: the bare endpoint plus one
SQLite write per message (`bench/bare_app.py:one_write`), the least any webhook that
answers each MessageSid once must do; and the real app with the turn (session, conversation,
database) replaced by a fixed reply (`bench/bare_app.py:siyakha_front`), which splits
siyakha's cost into what lies outside the turn and the turn itself. Usage:

    .venv/bin/python bench/webhook.py                      # SQLite
    .venv/bin/python bench/webhook.py --database postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import median_range, postgres_database  # noqa: E402
from tests import TEST_SECRET_KEY  # noqa: E402

PATH = "/webhooks/twilio/messages"
TOKEN = "bench-auth-token"
SCRIPT = ["hi", "1", "1", "Ubuhle", "1", "4", "2", "0", "3", "menu", "6", "4"]


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_requests(port: int, residents: int, run: str, first: int = 0) -> list[list[bytes]]:
    """Return, per resident, the raw signed HTTP requests of their conversation (residents
    numbered from `first`, so that a new range is a set of first contacts)."""
    validator = RequestValidator(TOKEN)
    url = f"http://127.0.0.1:{port}{PATH}"
    streams = []
    for n in range(first, first + residents):
        phone = f"+2782{n:07d}"
        stream = []
        for i, text in enumerate(SCRIPT):
            sid = f"SM{run}{n:08x}{i:04x}".ljust(34, "0")[:34]
            form = {
                "MessageSid": sid,
                "SmsMessageSid": sid,
                "AccountSid": "AC" + "0" * 32,
                "From": phone,
                "To": "+27870000001",
                "Body": text,
                "NumMedia": "0",
                "NumSegments": "1",
                "SmsStatus": "received",
                "ApiVersion": "2010-04-01",
            }
            body = urlencode(form).encode()
            signature = validator.compute_signature(url, form)
            head = (
                f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"X-Twilio-Signature: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            stream.append(head.encode() + body)
        streams.append(stream)
    return streams


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def _worker(
    port: int,
    queue: asyncio.Queue[list[bytes]],
    latencies: list[float],
    sent: list[tuple[float, bytes]],
) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    errors = 0
    while True:
        try:
            stream = queue.get_nowait()
        except asyncio.QueueEmpty:
            break
        for request in stream:
            start = time.perf_counter()
            writer.write(request)
            sent.append((start, request))
            status = await _read_response(reader)
            latencies.append(time.perf_counter() - start)
            errors += status != 200
    writer.close()
    return errors


_SID_FIELD = re.compile(rb"MessageSid=(\w+)")
_ANSWERED = re.compile(r"answered message (\w+)")


def late_share(sent: list[tuple[float, bytes]], server_log: str, *, by: int = 5) -> float | None:
    """Return the share of requests the server answered more than `by` places after their
    place in the order they were sent (from its log's "answered message" lines; None
    without them). In a closed loop a request answered a pass of the event loop late
    waits about twice as long as the others: this is what makes p99 twice p50."""
    sids = [_SID_FIELD.search(request).group(1).decode() for _, request in sorted(sent)]  # type: ignore[union-attr]
    wanted = set(sids)
    answered = [sid for sid in _ANSWERED.findall(server_log) if sid in wanted]
    if len(answered) != len(sids):
        return None
    place = {sid: n for n, sid in enumerate(answered)}
    return sum(place[sid] - n > by for n, sid in enumerate(sids)) / len(sids)


async def drive(port: int, streams: list[list[bytes]], concurrency: int) -> dict[str, Any]:
    """Send every stream over `concurrency` connections; return throughput and latency
    (and, under "sent", each request with the time it was sent)."""
    queue: asyncio.Queue[list[bytes]] = asyncio.Queue()
    for stream in streams:
        queue.put_nowait(stream)
    latencies: list[float] = []
    sent: list[tuple[float, bytes]] = []
    start = time.perf_counter()
    workers = (_worker(port, queue, latencies, sent) for _ in range(concurrency))
    errors = sum(await asyncio.gather(*workers))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "sent": sent,
    }


def cpu_seconds(pid: int) -> float:
    """Return the CPU time (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    pid: int, port: int, streams: list[list[bytes]], args: argparse.Namespace
) -> dict[str, Any]:
    """Drive one server and add the server's own CPU time per request to the figures."""
    before = cpu_seconds(pid)
    figures = asyncio.run(drive(port, streams, args.concurrency))
    figures["cpu_ms"] = (cpu_seconds(pid) - before) * 1000 / figures["requests"]
    return figures


def wait_up(port: int, path: str) -> None:
    """Wait until the server answers `path`."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on {port} did not come up")


# The servers each round drives, in order: the app, the baseline, and two for reference.
SERVERS = ("siyakha", "bare", "one_write", "front")


def server_command(
    kind: str, port: int, env: dict[str, str], tmp: Path, loop: str
) -> tuple[list[str], dict[str, str]]:
    """Return the command and environment that serve `kind` (one of SERVERS) on `port`:
    `siyakha serve` on the event loop `loop`, the bare baseline, the bare baseline plus one
    SQLite write (its file in `tmp`), or the app without its turn (on `loop`)."""
    bin_dir = Path(sys.executable).parent
    uvicorn = [str(bin_dir / "uvicorn"), "--log-level", "warning", "--no-access-log"]
    if kind == "siyakha":
        return [str(bin_dir / "siyakha"), "serve", "--port", str(port), "--loop", loop], env
    if kind == "bare":
        return [*uvicorn, "bench.bare_app:app", "--port", str(port)], env
    if kind == "one_write":
        one_write_db = str(tmp / "one_write.db")
        return [*uvicorn, "bench.bare_app:one_write", "--port", str(port)], {
            **env,
            "BENCH_ONE_WRITE_DB": one_write_db,
        }
    if kind == "front":
        code = f"from bench.bare_app import serve_front; serve_front({port}, {loop!r})"
        return [sys.executable, "-c", code], {
            **env,
            "SIYAKHA_PUBLIC_URL": f"http://127.0.0.1:{port}",
        }
    raise ValueError(f"unknown server {kind!r}")


def app_environment(database: str, port: int, log_level: str) -> dict[str, str]:
    """Return the environment the servers run in, after migrating `database` and loading
    the demo into it (the settlement "Ubuhle" the script names)."""
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "SIYAKHA_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SIYAKHA_ENV": "test",
        "SIYAKHA_SECRET_KEY": TEST_SECRET_KEY,
        "SIYAKHA_LOG_LEVEL": log_level,
    }
    siyakha = str(Path(sys.executable).parent / "siyakha")
    for command in (["db", "upgrade"], ["demo"]):
        subprocess.run([siyakha, *command], env=env, cwd=ROOT, check=True, capture_output=True)
    return env


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a server process logging to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=out)


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """Stop a server process (killed if it has not stopped within `timeout` seconds)."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()


@contextmanager
def fresh_database(server: str | None, tmp: Path) -> Iterator[str]:
    """Yield a fresh database URL: a SQLite file in `tmp`, or a database on the PostgreSQL
    `server`, dropped afterwards."""
    if not server:
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    with postgres_database(server) as url:
        if url is None:
            raise SystemExit(f"PostgreSQL at {server} did not answer")
        yield url


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", help="PostgreSQL server URL (default: a SQLite file)")
    parser.add_argument("--residents", type=int, default=250)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--rounds", type=int, default=3, help="siyakha-then-bare rounds (the VM's speed drifts)"
    )
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument(
        "--loop",
        choices=["asyncio", "uvloop"],
        default="asyncio",
        help="the event loop of `siyakha serve` and of siyakha without the turn",
    )
    parser.add_argument("--server-log", help="folder to keep the servers' logs in")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        fresh_database(args.database, Path(tmp)) as database,
    ):
        port, bare_port, write_port, front_port = (free_port() for _ in range(4))
        env = app_environment(database, port, args.log_level)
        logs = Path(args.server_log) if args.server_log else Path(tmp)
        servers = [
            (
                start(
                    *server_command(kind, server_port, env, Path(tmp), args.loop),
                    logs / f"{kind}.log",
                ),
                server_port,
            )
            for kind, server_port in zip(
                SERVERS, (port, bare_port, write_port, front_port), strict=True
            )
        ]
        try:
            for _, server_port in servers:
                wait_up(server_port, "/docs")
            run = uuid.uuid4().hex[:6]
            for _, server_port in servers:
                warm = build_requests(server_port, 20, "w" + run[:5], first=9_000_000)
                asyncio.run(drive(server_port, warm, args.concurrency))
            rounds = []
            for n in range(args.rounds):
                # New residents every round, so each round walks the whole conversation.
                tag, first = f"{run[:4]}{n:02d}", n * args.residents
                rounds.append(
                    tuple(
                        measure(
                            server.pid,
                            server_port,
                            build_requests(server_port, args.residents, tag, first),
                            args,
                        )
                        for server, server_port in servers
                    )
                )
                siyakha = rounds[-1][0]
                log = (logs / "siyakha.log").read_text(errors="replace")
                siyakha["late"] = late_share(siyakha["sent"], log)
        finally:
            for server, _ in servers:
                stop(server)
    report(args, rounds)


def report(args: argparse.Namespace, rounds: list[tuple[dict[str, Any], ...]]) -> None:
    """Print each round's figures, then the median ratios and their range."""
    backend = "postgresql" if args.database else "sqlite"
    print(
        f"webhook benchmark: {backend}, concurrency {args.concurrency}, "
        f"{args.residents} residents x {len(SCRIPT)} messages, {len(rounds)} rounds "
        "(siyakha, bare, bare + one SQLite write, siyakha without the turn, back to back)"
    )
    names = ("siyakha serve", "bare FastAPI", "bare + 1 write", "no turn")
    for n, servers in enumerate(rounds, 1):
        for name, figures in zip(names, servers, strict=True):
            print(
                f"  {n}: {name:14} {figures['rps']:8.1f} req/s  p50 {figures['p50_ms']:6.1f} ms  "
                f"p99 {figures['p99_ms']:6.1f} ms  server CPU {figures['cpu_ms']:5.2f} ms/req  "
                f"({figures['requests']:.0f} requests, {figures['errors']:.0f} errors)"
            )
    print(
        "  ratio (siyakha / bare req/s): "
        + median_range([s["rps"] / b["rps"] for s, b, _, _ in rounds])
    )
    print(
        "  CPU per request ratio (bare / siyakha): "
        + median_range([b["cpu_ms"] / s["cpu_ms"] for s, b, _, _ in rounds])
        + " (less sensitive to other load)"
    )
    print(
        "  siyakha p99: " + median_range([s["p99_ms"] for s, _, _, _ in rounds], ".1f", unit=" ms")
    )
    late = [s["late"] for s, *_ in rounds if s.get("late") is not None]
    if late:
        print(
            "  siyakha requests answered over 5 places after their place in sending order: "
            + median_range([100 * share for share in late], ".1f", unit=" %")
        )
    print(
        "  for reference, bare + 1 write / bare req/s: "
        + median_range([w["rps"] / b["rps"] for _, b, w, _ in rounds])
    )
    print(
        "  for reference, siyakha without the turn / bare req/s: "
        + median_range([f["rps"] / b["rps"] for _, b, _, f in rounds])
    )
    print(
        "  server CPU per request outside the turn (no turn): "
        + median_range([f["cpu_ms"] for *_, f in rounds], ".2f", unit=" ms")
        + "; in the turn (siyakha - no turn): "
        + median_range([s["cpu_ms"] - f["cpu_ms"] for s, _, _, f in rounds], ".2f", unit=" ms")
    )


if __name__ == "__main__":
    main()
