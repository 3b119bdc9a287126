"""`siyakha dev` (what `make run` serves): web server and worker together, stopped together."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from twilio.request_validator import RequestValidator

from tests.live_server import free_port

pytestmark = pytest.mark.slow
TOKEN = "dev-test-token"
SID = "SM" + "d" * 32


@pytest.mark.parametrize(
    ("stop_with", "exit_code"), [(signal.SIGINT, 0), (signal.SIGTERM, 128 + signal.SIGTERM)]
)
def test_dev_serves_the_simulator_with_a_worker_and_stops_both(
    tmp_path: Path, stop_with: signal.Signals, exit_code: int
) -> None:
    port = free_port()
    log = tmp_path / "dev.log"
    env = {
        **{k: v for k, v in os.environ.items() if k != "SIYAKHA_PUBLIC_URL"},
        "DATABASE_URL": f"sqlite:///{tmp_path}/dev.db",
        "SIYAKHA_ENV": "dev",
        "SIYAKHA_LOG_FORMAT": "json",
        "TWILIO_AUTH_TOKEN": TOKEN,
    }
    # Only a proxy at 10.9.9.9 is trusted with the client's address: the server must have
    # read that from .env, as uvicorn alone would not.
    (tmp_path / ".env").write_text("FORWARDED_ALLOW_IPS=10.9.9.9\n")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "dev", "--port", str(port)],
            env=env,
            cwd=tmp_path,  # not the checkout's ./.env: the one written above
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/simulator").status_code == 200
        # With no SIYAKHA_PUBLIC_URL the public URL is the address served, on any port, so
        # a webhook signed for it passes the signature check.
        url = f"http://127.0.0.1:{port}/webhooks/twilio/messages"
        form = {"From": "+27825550123", "To": "+27870000001", "Body": "hi", "MessageSid": SID}
        signature = RequestValidator(TOKEN).compute_signature(url, form)
        answer = httpx.post(url, data=form, headers={"X-Twilio-Signature": signature})
        assert answer.status_code == 200 and "<Message>" in answer.text
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as browser:
            page = browser.get("/staff/login").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert token, page[:500]
            login = {"email": "a@example.org", "password": "wrong", "csrf_token": token[1]}
            forged = {"X-Forwarded-For": "203.0.113.9"}
            assert browser.post("/staff/login", data=login, headers=forged).status_code == 401
        with sqlite3.connect(tmp_path / "dev.db") as db:
            assert db.execute("SELECT ip FROM login_attempt").fetchall() == [("127.0.0.1",)]
        deadline = time.monotonic() + 30
        while '"worker started"' not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        process.send_signal(stop_with)
        process.wait(timeout=40)
    text = log.read_text()
    assert '"worker stopped"' in text
    assert process.returncode == exit_code, text
