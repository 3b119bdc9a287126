"""Fixtures for dashboard tests: an app, users of every role (one scoped), logged-in clients."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import cache

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.main import create_app
from bot.config import Settings
from bot.db import session_scope
from bot.domain.staff import scope as scopes
from bot.domain.staff import service as staff
from tests.domain.tickets.factories import make_ticket
from tests.factories import make_settlement

PASSWORD = "correct horse 1"
EMAILS = {
    "admin": "admin@ubuntubay.example.org",
    "officer": "officer@ubuntubay.example.org",
    "triage": "triage@ubuntubay.example.org",
    "scoped": "scoped@ubuntubay.example.org",
}


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash passwords with cheap argon2 parameters: these tests log in a lot, and the
    production cost is the point of argon2, not of these tests."""
    monkeypatch.setattr(staff, "_hasher", CHEAP)


CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@cache
def password_hash() -> str:
    """Return PASSWORD's argon2 hash (cheap parameters), computed once."""
    return CHEAP.hash(PASSWORD)


@dataclass
class World:
    """Two settlements in two wards, a ticket in each, staff of every role."""

    here: int
    there: int
    ticket_here: str
    ticket_there: str


@pytest.fixture
def app_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"login_max_failures": 3})


@pytest.fixture
def app(app_settings: Settings, clean_db: Engine) -> object:
    return create_app(app_settings, clean_db)


@pytest.fixture
def world(clean_db: Engine) -> World:
    with session_scope(clean_db) as session:
        here = make_settlement(session, "Ubuhle Gardens", ward="14")
        there = make_settlement(session, "Kwa-Thema Extension", ward="22")
        assert here.id is not None and there.id is not None
        t1 = make_ticket(session, settlement_id=here.id, description="Tap broken here")
        t2 = make_ticket(session, settlement_id=there.id, description="Secret over there")
        for role in ("admin", "officer", "triage"):
            user = staff.create_user(session=session, email=EMAILS[role], role=role)
            user.password_hash = password_hash()
        scoped = staff.create_user(session=session, email=EMAILS["scoped"], role="triage")
        scoped.password_hash = password_hash()
        scopes.set_scope(session=session, user=scoped, settlement_ids=[], wards=["14"])
        return World(here.id, there.id, t1.reference, t2.reference)


def csrf_of(html: str) -> str:
    """Return the CSRF token a page's forms carry."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Log in through the form; return the session's CSRF token."""
    form = client.get("/staff/login")
    answer = client.post(
        "/staff/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/staff/tickets").text)


def make_scoped_user(
    clean_db: Engine,
    email: str,
    role: str,
    *,
    wards: Iterable[str] = (),
    settlement_ids: Iterable[int] = (),
) -> None:
    """Add a user with PASSWORD whose scope is these wards and settlements."""
    with session_scope(clean_db) as session:
        user = staff.create_user(session=session, email=email, role=role)
        user.password_hash = password_hash()
        scopes.set_scope(session=session, user=user, settlement_ids=settlement_ids, wards=wards)


@contextmanager
def logged_in(
    app: object, email: str, password: str = PASSWORD
) -> Iterator[tuple[TestClient, str]]:
    """Yield a dashboard client logged in as `email`, and its CSRF token."""
    with TestClient(app, base_url="https://siyakha.example.org") as client:  # type: ignore[arg-type]
        yield client, login(client, email, password)


@pytest.fixture
def as_role(app: object, world: World) -> Iterator[Callable[[str], tuple[TestClient, str]]]:
    with ExitStack() as stack:
        yield lambda role: stack.enter_context(logged_in(app, EMAILS[role]))
