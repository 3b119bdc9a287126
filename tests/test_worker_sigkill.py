"""A worker killed with SIGKILL mid-send, then restarted, loses nothing and sends nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests import TEST_SECRET_KEY
from tests.test_worker import enqueue, statuses, wait_for
from tests.twilio_standin import TwilioStandIn

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = 300


@pytest.fixture
def standin() -> Iterator[TwilioStandIn]:
    with TwilioStandIn(latency=0.01) as server:
        yield server


def start_worker(standin: TwilioStandIn, database_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SIYAKHA_ENV": "test",
        "SIYAKHA_SECRET_KEY": TEST_SECRET_KEY,
        "DATABASE_URL": database_url,
        "SIYAKHA_OUTBOUND": "twilio",
        "TWILIO_ACCOUNT_SID": standin.account_sid,
        "TWILIO_AUTH_TOKEN": standin.auth_token,
        "SIYAKHA_TWILIO_API_URL": standin.url,
        "SIYAKHA_SMS_FROM": "+27870000001",
        "SIYAKHA_RATE_SMS": "0",
        "SIYAKHA_WORKER_CONCURRENCY": "4",
        "SIYAKHA_WORKER_BATCH": "40",
        "SIYAKHA_WORKER_POLL_SECONDS": "0.1",
        "SIYAKHA_OUTBOX_LEASE_SECONDS": "3",
        "SIYAKHA_TWILIO_TIMEOUT_SECONDS": "1",
        "SIYAKHA_OUTBOX_RECONCILE_SECONDS": "0.5",
        "SIYAKHA_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot.worker"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL
    )


@pytest.mark.slow
def test_sigkill_mid_send_loses_nothing_and_duplicates_nothing(
    clean_db: Engine, standin: TwilioStandIn, database_url: str
) -> None:
    enqueue(clean_db, MESSAGES, prefix="kill")
    for kill_at in (60, 160):
        process = start_worker(standin, database_url)
        try:
            wait_for(lambda n=kill_at: len(standin.messages) >= n, timeout=30)  # type: ignore[misc]
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
    process = start_worker(standin, database_url)
    try:
        wait_for(lambda: statuses(clean_db) == {"sent": MESSAGES}, timeout=40)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    counts = standin.bodies()
    assert len(counts) == MESSAGES, f"lost {MESSAGES - len(counts)}"
    assert max(counts.values()) == 1, f"duplicates: {[b for b, c in counts.items() if c > 1]}"
