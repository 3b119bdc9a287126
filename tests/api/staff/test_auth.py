"""Dashboard login: signed HttpOnly cookies, CSRF on every form, throttling, expiry, logout."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.config import Settings
from bot.db import session_scope, utcnow
from bot.domain.staff import sessions
from bot.domain.staff.models import AuditEvent, StaffUser
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
        for attribute in ("HttpOnly", "Secure", "SameSite=lax", "Path=/", "Max-Age=43200"):
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
    with TestClient(app, base_url=HTTPS) as client:  # type: ignore[arg-type]

        def status(cookie: str) -> int:
            client.cookies.set("siyakha_staff", cookie, domain="siyakha.example.org")
            return client.get("/staff/tickets", follow_redirects=False).status_code

        assert status(live) == 200
        assert status(expired) == 303
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
