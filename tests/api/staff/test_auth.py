"""Dashboard login: signed HttpOnly cookies, CSRF on every form, throttling, expiry, logout."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

import api.deps
from api.main import create_app
from bot.config import Settings
from bot.db import session_scope, utcnow
from bot.domain.staff import sessions
from bot.domain.staff.models import AuditEvent, StaffSession, StaffUser
from tests.api.staff.conftest import EMAILS, PASSWORD, World, csrf_of, login

HTTPS = "https://siyakha.example.org"


def test_pages_need_a_login(app: object, world: World) -> None:
    with TestClient(app, base_url=HTTPS) as client:  # type: ignore[arg-type]
        answer = client.get("/staff/tickets?status=new", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/staff/login?next=%2Fstaff%2Ftickets%3Fstatus%3Dnew"
        assert client.post("/staff/tickets/bulk", data={}).status_code == 401
        assert client.get("/api/v1/tickets").status_code == 401  # the API wants a token


def test_login_sets_a_signed_httponly_lax_secure_cookie(app: object, world: World) -> None:
    with TestClient(app, base_url=HTTPS) as client:  # type: ignore[arg-type]
        form = client.get("/staff/login")
        assert "Secure" in form.headers["set-cookie"] and "HttpOnly" in form.headers["set-cookie"]
        answer = client.post(
            "/staff/login",
            data={
                "email": EMAILS["triage"].upper(),
                "password": PASSWORD,
                "csrf_token": csrf_of(form.text),
                "next": "/staff/reports",
            },
            follow_redirects=False,
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/staff/reports"
        cookie = next(
            c for c in answer.headers.get_list("set-cookie") if c.startswith("siyakha_staff=")
        )
        # the cookie lives as long as the idle limit; activity renews it
        for attribute in ("HttpOnly", "Secure", "SameSite=lax", "Path=/", "Max-Age=3600"):
            assert attribute.lower() in cookie.lower(), cookie
        assert client.get("/staff/tickets").status_code == 200


def test_cookie_not_secure_over_plain_http(
    app_settings: Settings, clean_db: Engine, world: World
) -> None:
    from api.main import create_app

    plain = create_app(
        app_settings.model_copy(update={"public_url": "http://127.0.0.1:8000"}), clean_db
    )
    with TestClient(plain) as client:
        form = client.get("/staff/login")
        answer = client.post(
            "/staff/login",
            data={"email": EMAILS["admin"], "password": PASSWORD, "csrf_token": csrf_of(form.text)},
            follow_redirects=False,
        )
        assert answer.status_code == 303
        assert "secure" not in answer.headers["set-cookie"].lower()


def test_next_never_leaves_the_dashboard(app: object, world: World) -> None:
    with TestClient(app, base_url=HTTPS) as client:  # type: ignore[arg-type]
        form = client.get("/staff/login")
        answer = client.post(
            "/staff/login",
            data={
                "email": EMAILS["admin"],
                "password": PASSWORD,
                "csrf_token": csrf_of(form.text),
                "next": "//evil.example.com/staff",
            },
            follow_redirects=False,
        )
        assert answer.headers["location"] == "/staff/"


def test_wrong_password_and_throttling(app: object, world: World, clean_db: Engine) -> None:
    with TestClient(app, base_url=HTTPS) as client:  # type: ignore[arg-type]

        def attempt(password: str) -> int:
            form = client.get("/staff/login")
            return client.post(
                "/staff/login",
                data={
                    "email": EMAILS["triage"],
                    "password": password,
                    "csrf_token": csrf_of(form.text),
                },
                follow_redirects=False,
            ).status_code

        assert [attempt("wrong password") for _ in range(3)] == [401, 401, 401]
        assert attempt(PASSWORD) == 429  # locked, even with the right password
        assert attempt("wrong password") == 429
    with Session(clean_db) as session:
        actions = session.exec(select(AuditEvent.action)).all()
    assert actions.count("login.failed") == 3 and actions.count("login.throttled") == 2


def test_login_form_needs_its_csrf_token(app: object, world: World) -> None:
    with TestClient(app, base_url=HTTPS) as client:  # type: ignore[arg-type]
        client.get("/staff/login")
        answer = client.post(
            "/staff/login",
            data={"email": EMAILS["admin"], "password": PASSWORD, "csrf_token": "forged"},
        )
        assert answer.status_code == 403


def test_forms_without_the_session_csrf_token_are_refused(app: object, world: World) -> None:
    with TestClient(app, base_url=HTTPS) as client:  # type: ignore[arg-type]
        csrf = login(client, EMAILS["triage"])
        url = f"/staff/tickets/{world.ticket_here}/note"
        assert client.post(url, data={"body": "no token"}).status_code == 403
        assert client.post(url, data={"body": "bad", "csrf_token": "x" * 43}).status_code == 403
        assert client.post("/staff/logout", data={}).status_code == 403
        ok = client.post(url, data={"body": "fine", "csrf_token": csrf}, follow_redirects=False)
        assert ok.status_code == 303
        header = client.post(url, data={"body": "via header"}, headers={"X-CSRF-Token": csrf})
        assert header.status_code == 200


def test_logout_ends_the_session(app: object, world: World) -> None:
    with TestClient(app, base_url=HTTPS) as client:  # type: ignore[arg-type]
        csrf = login(client, EMAILS["admin"])
        stolen = client.cookies.get("siyakha_staff")
        answer = client.post("/staff/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert answer.status_code == 303
        client.cookies.set("siyakha_staff", stolen or "", domain="siyakha.example.org")
        assert client.get("/staff/tickets", follow_redirects=False).status_code == 303


def test_expired_tampered_and_revoked_sessions(
    app: object, app_settings: Settings, world: World, clean_db: Engine
) -> None:
    with session_scope(clean_db) as session:
        user = session.exec(select(StaffUser).where(StaffUser.email == EMAILS["admin"])).one()
        long_ago = utcnow() - dt.timedelta(hours=app_settings.staff_session_hours + 1)
        _row, expired = sessions.start(
            session=session, user=user, settings=app_settings, now=long_ago
        )
        _row, live = sessions.start(session=session, user=user, settings=app_settings, now=utcnow())
        idle_since = utcnow() - dt.timedelta(minutes=app_settings.staff_session_idle_minutes + 1)
        _row, idle = sessions.start(
            session=session, user=user, settings=app_settings, now=idle_since
        )
        row, row_expired = sessions.start(
            session=session, user=user, settings=app_settings, now=utcnow()
        )
        row.expires_at = utcnow() - dt.timedelta(seconds=1)
    with TestClient(app, base_url=HTTPS) as client:  # type: ignore[arg-type]
        client.cookies.set("siyakha_staff", idle, domain="siyakha.example.org")
        answer = client.get("/staff/reports?weeks=4", follow_redirects=False)
        assert answer.status_code == 303  # back to the login page, then where they were
        assert answer.headers["location"] == "/staff/login?next=%2Fstaff%2Freports%3Fweeks%3D4"
        assert client.post("/staff/tickets/bulk", data={}).status_code == 401

        def status(cookie: str) -> int:
            client.cookies.set("siyakha_staff", cookie, domain="siyakha.example.org")
            return client.get("/staff/tickets", follow_redirects=False).status_code

        assert status(live) == 200
        assert status(expired) == 303
        assert status(idle) == 303  # left alone longer than the idle limit
        assert status(row_expired) == 303  # the cookie is fine, the server says idle
        session_id, expires, signature = live.split(".")
        later = int(expires) + 3600 * 24 * 30
        assert status(f"{session_id}.{later}.{signature}") == 303  # stretched expiry
        assert status(f"{session_id}x.{expires}.{signature}") == 303  # another id
        assert status("garbage") == 303
    with session_scope(clean_db) as session:
        user = session.exec(select(StaffUser).where(StaffUser.email == EMAILS["admin"])).one()
        user.is_active = False
    with TestClient(app, base_url=HTTPS) as client:  # type: ignore[arg-type]
        client.cookies.set("siyakha_staff", live, domain="siyakha.example.org")
        assert client.get("/staff/tickets", follow_redirects=False).status_code == 303


def test_cookie_signature_checks() -> None:
    now = utcnow()
    value = sessions.sign_cookie("k" * 40, "abc", now + dt.timedelta(hours=1))
    assert sessions.unsign_cookie("k" * 40, value, now) == "abc"
    assert sessions.unsign_cookie("other key", value, now) is None
    assert sessions.unsign_cookie("k" * 40, value, now + dt.timedelta(hours=2)) is None


class Clock:
    """The dashboard's idea of now (`api.deps.utcnow`), moved on by hand."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now

    def forward(self, **delta: float) -> None:
        """Let time pass."""
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    moved = Clock()
    monkeypatch.setattr(api.deps, "utcnow", moved)
    return moved


def _renewed(answer: httpx.Response) -> str | None:
    """Return the Set-Cookie header of the session cookie in a response, if any."""
    cookies = answer.headers.get_list("set-cookie")
    return next((c.lower() for c in cookies if c.startswith("siyakha_staff=")), None)


def _session_client(
    app_settings: Settings, clean_db: Engine, clock: Clock, **limits: float
) -> tuple[TestClient, int]:
    """Return a client of an app with these session limits, logged in as admin at `clock`."""
    settings = app_settings.model_copy(update=limits)
    with session_scope(clean_db) as session:
        user = session.exec(select(StaffUser).where(StaffUser.email == EMAILS["admin"])).one()
        row, cookie = sessions.start(session=session, user=user, settings=settings, now=clock.now)
        assert row.id is not None
        row_id = row.id
    client = TestClient(create_app(settings, clean_db), base_url=HTTPS)
    client.cookies.set("siyakha_staff", cookie, domain="siyakha.example.org")
    return client, row_id


def test_activity_slides_the_session_and_idleness_ends_it(
    app_settings: Settings, clean_db: Engine, world: World, clock: Clock
) -> None:
    client, _row_id = _session_client(
        app_settings, clean_db, clock, staff_session_idle_minutes=60, staff_session_hours=12
    )
    with client:

        def visit() -> httpx.Response:
            return client.get("/staff/tickets", follow_redirects=False)

        clock.forward(minutes=50)
        answer = visit()
        assert answer.status_code == 200
        cookie = _renewed(answer)
        assert cookie is not None and "max-age=3600" in cookie and "httponly" in cookie
        clock.forward(seconds=30)
        answer = visit()
        assert answer.status_code == 200 and _renewed(answer) is None  # renewed a minute ago
        clock.forward(minutes=50)  # 100 min after login, 50 after the last renewal
        answer = visit()
        assert answer.status_code == 200 and _renewed(answer) is not None
        clock.forward(minutes=61)  # idle longer than the limit
        answer = visit()
        assert answer.status_code == 303
        assert answer.headers["location"] == "/staff/login?next=%2Fstaff%2Ftickets"


def test_the_absolute_limit_holds_however_busy_the_user(
    app_settings: Settings, clean_db: Engine, world: World, clock: Clock
) -> None:
    client, row_id = _session_client(
        app_settings, clean_db, clock, staff_session_idle_minutes=60, staff_session_hours=2
    )
    login_at = clock.now
    with client:
        for minutes in (50, 50):
            clock.forward(minutes=minutes)
            answer = client.get("/staff/tickets", follow_redirects=False)
            assert answer.status_code == 200
        cookie = _renewed(answer)
        assert cookie is not None and "max-age=1200" in cookie  # capped at 2 h
        with Session(clean_db) as session:
            row = session.get(StaffSession, row_id)
            assert row is not None and row.expires_at == login_at + dt.timedelta(hours=2)
        clock.forward(minutes=19)
        answer = client.get("/staff/tickets", follow_redirects=False)
        assert answer.status_code == 200 and _renewed(answer) is None  # nothing left to slide
        clock.forward(minutes=2)  # 2 h 1 min after login, 2 min after the last request
        assert client.get("/staff/tickets", follow_redirects=False).status_code == 303


def test_logout_is_not_undone_by_a_renewed_cookie(
    app_settings: Settings, clean_db: Engine, world: World, clock: Clock
) -> None:
    client, _row_id = _session_client(app_settings, clean_db, clock)
    with client:
        csrf = csrf_of(client.get("/staff/tickets").text)
        clock.forward(minutes=5)  # the logout request would renew the session
        answer = client.post("/staff/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert answer.status_code == 303
        [cookie] = [c for c in answer.headers.get_list("set-cookie") if "siyakha_staff=" in c]
        assert 'siyakha_staff=""' in cookie and "max-age=0" in cookie.lower()
        assert client.get("/staff/tickets", follow_redirects=False).status_code == 303
