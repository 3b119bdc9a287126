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


def test_healthz_503_for_a_missing_empty_or_corrupt_sqlite_file(
    settings: Settings, tmp_path: Path
) -> None:
    # SELECT 1 never read the file: all three said ok, and the missing one was created.
    (tmp_path / "empty.db").write_bytes(b"")
    (tmp_path / "corrupt.db").write_bytes(b"not a database " * 512)
    for name in ("missing.db", "empty.db", "corrupt.db"):
        broken = make_engine(f"sqlite:///{tmp_path / name}")
        with TestClient(create_app(settings, broken)) as client:
            response = client.get("/healthz")
        assert response.status_code == 503, name
        assert response.json() == {"status": "error", "database": "unreachable"}
        broken.dispose()
    assert not (tmp_path / "missing.db").exists()


def test_the_schema_documents_the_503(settings: Settings, engine: Engine) -> None:
    responses = create_app(settings, engine).openapi()["paths"]["/healthz"]["get"]["responses"]
    assert set(responses) == {"200", "503"}
    assert responses["503"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Health"
    }
