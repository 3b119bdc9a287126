"""Sessions and throttling at the service level, and the hourly prune job."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import Session, func, select

from bot.config import Settings
from bot.domain.staff import jobs, sessions
from bot.domain.staff import service as staff
from bot.domain.staff.models import LoginAttempt, StaffSession
from tests.api.staff.conftest import CHEAP

NOW = dt.datetime(2026, 11, 26, 10, 0, tzinfo=dt.UTC)


def _count(session: Session, model: type) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_throttle_per_email_then_window_passes(session: Session, settings: Settings) -> None:
    staff.create_user(session=session, email="t@example.org", role="triage", password="x" * 12)
    limited = settings.model_copy(update={"login_max_failures": 2, "login_window_minutes": 10})

    def attempt(password: str, at: dt.datetime, ip: str = "10.0.0.1") -> object:
        return sessions.login(
            session=session,
            email="T@example.org",
            password=password,
            ip=ip,
            settings=limited,
            now=at,
        )

    assert attempt("wrong", NOW) is None
    assert attempt("wrong", NOW, ip="10.0.0.2") is None
    with pytest.raises(sessions.Throttled):
        attempt("x" * 12, NOW + dt.timedelta(minutes=1), ip="10.0.0.3")  # per email
    assert attempt("x" * 12, NOW + dt.timedelta(minutes=11)) is not None  # window passed


def test_throttle_per_address(session: Session, settings: Settings) -> None:
    limited = settings.model_copy(update={"login_max_failures": 1})
    for i in range(4):  # four emails, one failure each: the address reaches 4x the limit
        sessions.login(
            session=session,
            email=f"u{i}@example.org",
            password="nope",
            ip="10.9.9.9",
            settings=limited,
            now=NOW,
        )
    with pytest.raises(sessions.Throttled):
        sessions.login(
            session=session,
            email="fresh@example.org",
            password="nope",
            ip="10.9.9.9",
            settings=limited,
            now=NOW,
        )


def test_prune_forgets_old_attempts_and_ended_sessions(
    session: Session, settings: Settings
) -> None:
    user = staff.create_user(session=session, email="p@example.org", role="admin")
    session.add(LoginAttempt(email="p@example.org", at=NOW - dt.timedelta(days=2)))
    session.add(LoginAttempt(email="p@example.org", at=NOW - dt.timedelta(hours=1)))
    old, _ = sessions.start(
        session=session, user=user, settings=settings, now=NOW - dt.timedelta(days=3)
    )
    live, _ = sessions.start(session=session, user=user, settings=settings, now=NOW)
    session.flush()
    assert jobs.prune(session=session, now=NOW, settings=settings) == 2
    assert _count(session, LoginAttempt) == 1
    assert session.exec(select(StaffSession.id)).all() == [live.id]
    assert old.id != live.id
    assert [j["id"] for j in jobs.schedule(settings)] == ["staff.prune"]


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters: these tests hash many times."""
    monkeypatch.setattr(staff, "_hasher", CHEAP)
