"""GET /healthz: 200 with the database reachable, 503 when not."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.main import create_app
from bot.config import Settings
from bot.db import make_engine
from tests.db_threads import write_held_elsewhere


def test_healthz_ok(settings: Settings, engine: Engine) -> None:
    with TestClient(create_app(settings, engine)) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_healthz_503_when_the_database_cannot_be_reached(
    settings: Settings, tmp_path: Path
) -> None:
    engines = [
        make_engine(f"sqlite:///{tmp_path}/missing-dir/x.db"),
        make_engine(
            "postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
        ),
    ]
    for broken in engines:
        with TestClient(create_app(settings, broken)) as client:
            response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["database"] == "unreachable"


def test_healthz_does_not_wait_for_a_long_write(settings: Settings, clean_db: Engine) -> None:
    # A big CSV import, say: on SQLite it holds the write lock.
    with (
        write_held_elsewhere(clean_db, "DELETE FROM login_attempt"),
        TestClient(create_app(settings, clean_db)) as client,
    ):
        started = time.monotonic()
        response = client.get("/healthz")
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < 2
