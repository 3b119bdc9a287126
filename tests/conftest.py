"""Shared fixtures: a database per test run (SQLite, or PostgreSQL with TEST_DATABASE_URL).

With TEST_DATABASE_URL pointing at a PostgreSQL server, every xdist worker creates
a throwaway database on it and drops it at the end. Service tests use `session`
(a transaction rolled back after each test); tests that go through HTTP or the CLI
commit for real and use `clean_db`, which empties every table afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest
from sqlalchemy import delete
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel

import bot.domain.models  # noqa: F401  (every table on the metadata)
from bot import migrate
from bot.config import Settings
from bot.db import make_engine
from tests import TEST_SECRET_KEY


def _postgres_database(server_url: str, worker: str) -> Iterator[str]:
    url = make_url(server_url).set(drivername="postgresql")
    name = f"siyakha_test_{worker}_{uuid.uuid4().hex[:8]}"
    admin = url.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[str]:
    """Return the URL of this test run's own database, created for it."""
    server = os.environ.get("TEST_DATABASE_URL")
    if server and server.startswith("postgres"):
        yield from _postgres_database(server, worker_id)
    else:
        path: Path = tmp_path_factory.mktemp("db") / "siyakha-test.db"
        yield f"sqlite:///{path}"


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """Return an engine on the test database, migrated to head."""
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """Yield a session inside a transaction that is rolled back after the test."""
    with engine.connect() as connection:
        transaction = connection.begin()
        with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
            yield session
        transaction.rollback()


@pytest.fixture
def clean_db(engine: Engine) -> Iterator[Engine]:
    """Let the test commit, then empty every table."""
    yield engine
    with engine.begin() as connection:
        for table in reversed(SQLModel.metadata.sorted_tables):
            connection.execute(delete(table))


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Return test settings on the test database, with a Twilio auth token for signatures."""
    return Settings(
        SIYAKHA_ENV="test",
        SIYAKHA_SECRET_KEY=TEST_SECRET_KEY,
        DATABASE_URL=database_url,
        TWILIO_AUTH_TOKEN="test-auth-token",
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        SIYAKHA_PUBLIC_URL="https://siyakha.example.org",
    )


@pytest.fixture
def client(settings: Settings, clean_db: Engine) -> Iterator[Any]:
    """The whole app on the test database, through Starlette's TestClient (lifespan run)."""
    from fastapi.testclient import TestClient

    from api.main import create_app

    with TestClient(create_app(settings, clean_db)) as client:
        yield client


@pytest.fixture
def c() -> ModuleType:
    """The conversation-script helper module, tests/engine/chat.py (constants, fakes, Chat)."""
    from tests.engine import chat

    return chat


@pytest.fixture
def chat(c: ModuleType) -> Any:
    """A new resident on WhatsApp."""
    return c.Chat(channel="whatsapp")


@pytest.fixture
def sms_chat(c: ModuleType) -> Any:
    """A new resident on SMS."""
    return c.Chat(channel="sms")
