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


def test_throttle_per_email_and_address_then_window_passes(
    session: Session, settings: Settings
) -> None:
    staff.create_user(
        session=session, email="t@example.org", role="triage", password="kraal gate 12"
    )
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
    assert attempt("wrong", NOW) is None
    with pytest.raises(sessions.Throttled):
        attempt("kraal gate 12", NOW + dt.timedelta(minutes=1))  # this email from this address
    # Someone else's failures do not lock the owner out from their own address...
    assert attempt("kraal gate 12", NOW + dt.timedelta(minutes=1), ip="10.0.0.3") is not None
    # ... and refused tries do not prolong the lock: it ends with the window.
    for minute in range(2, 10):
        with pytest.raises(sessions.Throttled):
            attempt("wrong", NOW + dt.timedelta(minutes=minute))
    assert attempt("kraal gate 12", NOW + dt.timedelta(minutes=11)) is not None


def _wrong_password(session: Session, settings: Settings, email: str, ip: str) -> object:
    return sessions.login(
        session=session, email=email, password="nope", ip=ip, settings=settings, now=NOW
    )


def test_throttle_per_email_from_many_addresses(session: Session, settings: Settings) -> None:
    limited = settings.model_copy(update={"login_max_failures": 2})
    for i in range(8):  # guessing spread over addresses: the email reaches 4x the limit
        assert _wrong_password(session, limited, "target@example.org", f"10.1.0.{i}") is None
    with pytest.raises(sessions.Throttled):
        _wrong_password(session, limited, "target@example.org", "10.1.0.99")


def test_throttle_per_address(session: Session, settings: Settings) -> None:
    limited = settings.model_copy(update={"login_max_failures": 1})
    for i in range(4):  # four emails, one failure each: the address reaches 4x the limit
        assert _wrong_password(session, limited, f"u{i}@example.org", "10.9.9.9") is None
    with pytest.raises(sessions.Throttled):
        _wrong_password(session, limited, "fresh@example.org", "10.9.9.9")


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


def test_sessions_slide_with_use_at_most_once_a_minute_up_to_the_absolute_limit(
    session: Session, settings: Settings
) -> None:
    limits = settings.model_copy(
        update={"staff_session_idle_minutes": 30, "staff_session_hours": 2}
    )
    user = staff.create_user(session=session, email="s@example.org", role="triage")
    row, cookie = sessions.start(session=session, user=user, settings=limits, now=NOW)
    assert row.expires_at == NOW + dt.timedelta(minutes=30)  # idle limit, not 2 h

    def use(at: dt.datetime, value: str) -> sessions.Renewal | None:
        login = sessions.resolve(session=session, cookie=value, settings=limits, now=at)
        assert login is not None, at
        return sessions.renew(login=login, settings=limits, now=at)

    assert use(NOW + dt.timedelta(seconds=59), cookie) is None  # too soon to rewrite
    renewal = use(NOW + dt.timedelta(minutes=20), cookie)
    assert renewal is not None
    assert renewal.expires_at == row.expires_at == NOW + dt.timedelta(minutes=50)
    # the old cookie ends when it said; the renewed one lives on
    late = NOW + dt.timedelta(minutes=40)
    assert sessions.resolve(session=session, cookie=cookie, settings=limits, now=late) is None
    assert use(late, renewal.cookie) is not None
    # a cookie that outlives its row's deadline is refused: the server decides
    row.expires_at = NOW + dt.timedelta(minutes=45)
    gone = NOW + dt.timedelta(minutes=46)
    assert (
        sessions.resolve(session=session, cookie=renewal.cookie, settings=limits, now=gone) is None
    )
    row.expires_at = NOW + dt.timedelta(minutes=70)
    # busy to the end: the deadline stops at two hours after the login
    at, value = late, renewal.cookie
    while (step := use(at, value)) is not None:
        value = step.cookie
        at = step.expires_at - dt.timedelta(minutes=5)
    assert row.expires_at == NOW + dt.timedelta(hours=2)
    end = NOW + dt.timedelta(hours=2, seconds=1)
    assert sessions.resolve(session=session, cookie=value, settings=limits, now=end) is None


def test_sessions_end_at_the_absolute_limit_even_if_it_was_shortened(
    session: Session, settings: Settings
) -> None:
    user = staff.create_user(session=session, email="a@example.org", role="admin")
    _row, cookie = sessions.start(session=session, user=user, settings=settings, now=NOW)
    shorter = settings.model_copy(update={"staff_session_hours": 0.5})
    at = NOW + dt.timedelta(minutes=31)
    assert sessions.resolve(session=session, cookie=cookie, settings=settings, now=at) is not None
    assert sessions.resolve(session=session, cookie=cookie, settings=shorter, now=at) is None


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters: these tests hash many times."""
    monkeypatch.setattr(staff, "_hasher", CHEAP)
