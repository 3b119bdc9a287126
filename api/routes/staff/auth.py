"""Log in and out of the dashboard; the home page sends each role to its first page.

The session cookie is set here: at login, and (by `RenewSessionCookie`) again whenever a
request slides the session on.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import (
    RENEWED_SESSION,
    CurrentStaffSession,
    SessionDep,
    SettingsDep,
    check_csrf,
    client_ip,
)
from api.routes.staff.common import back, render, staff_path
from bot.config import Settings
from bot.db import utcnow
from bot.domain.staff import audit, sessions

router = APIRouter()


def _safe_next(value: str | None) -> str:
    """Return a local dashboard path to go to after login (never another site)."""
    return staff_path(value) or "/staff/"


def _secure(settings: Settings) -> bool:
    return settings.public_url.lower().startswith("https://")


def set_session_cookie(
    response: Response, cookie: str, expires_at: dt.datetime, now: dt.datetime, settings: Settings
) -> None:
    """Set the signed session cookie: HttpOnly, SameSite=Lax, Secure over https."""
    response.set_cookie(
        sessions.COOKIE_NAME,
        cookie,
        max_age=max(0, int((expires_at - now).total_seconds())),
        httponly=True,
        samesite="lax",
        secure=_secure(settings),
        path="/",
    )


class RenewSessionCookie:
    """ASGI middleware: give a dashboard response the re-signed cookie of the session its
    request slid on (`api.deps.get_staff_login`), unless the response sets or clears that
    cookie itself (login, logout) or is an error (its transaction was rolled back)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the cookie to the start of a successful response."""
        if scope["type"] != "http" or not scope["path"].startswith("/staff"):
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            renewed = scope.get("state", {}).get(RENEWED_SESSION)
            if renewed and message["type"] == "http.response.start" and message["status"] < 400:
                headers = MutableHeaders(scope=message)
                if not any(
                    value.startswith(f"{sessions.COOKIE_NAME}=")
                    for value in headers.getlist("set-cookie")
                ):
                    renewal, now = renewed
                    carrier = Response()
                    settings: Settings = scope["app"].state.settings
                    set_session_cookie(carrier, renewal.cookie, renewal.expires_at, now, settings)
                    headers.append("set-cookie", carrier.headers["set-cookie"])
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _login_page(
    request: Request, settings: SettingsDep, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        None,
        status_code=status_code,
        error=error,
        csrf=token,
        next=_safe_next(request.query_params.get("next")),
    )
    response.set_cookie(
        sessions.LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="lax",
        secure=_secure(settings),
        path="/staff",
    )
    return response


@router.get("/login")
def login_form(request: Request, settings: SettingsDep) -> HTMLResponse:
    """Show the login form."""
    return _login_page(request, settings)


@router.post("/login", response_model=None)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=254)],
    password: Annotated[str, Form(max_length=1000)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/staff/",
) -> Response:
    """Check the password (throttled) and start a session in a signed HttpOnly cookie."""
    expected = request.cookies.get(sessions.LOGIN_CSRF_COOKIE, "")
    if not expected or not sessions.csrf_ok(expected, csrf_token):
        raise HTTPException(403, "the form is missing its CSRF token or it is out of date")
    now = utcnow()
    ip = client_ip(request)
    try:
        user = sessions.login(
            session=session, email=email, password=password, ip=ip, settings=settings, now=now
        )
    except sessions.Throttled:
        audit.record(session=session, user=None, action="login.throttled", actor_email=email, ip=ip)
        return _login_page(
            request, settings, "Too many failed attempts. Wait a few minutes and try again.", 429
        )
    if user is None:
        audit.record(session=session, user=None, action="login.failed", actor_email=email, ip=ip)
        return _login_page(request, settings, "That email and password do not match.", 401)
    row, cookie = sessions.start(session=session, user=user, settings=settings, now=now, ip=ip)
    audit.record(session=session, user=user, action="login", ip=ip)
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookie(response, cookie, row.expires_at, now, settings)
    response.delete_cookie(sessions.LOGIN_CSRF_COOKIE, path="/staff")
    return response


@router.post("/logout")
async def logout(request: Request, login: CurrentStaffSession, session: SessionDep) -> Response:
    """End this session and forget the cookie."""
    await check_csrf(request, login.row.csrf_token)
    sessions.end(session=session, row=login.row, now=utcnow())
    audit.record(session=session, user=login.user, action="logout", ip=client_ip(request))
    response = back("/staff/login")
    response.delete_cookie(sessions.COOKIE_NAME, path="/")
    return response


@router.get("/")
def home(login: CurrentStaffSession) -> Response:
    """Send each role to where its work is."""
    return back("/staff/settlements" if login.user.role == "officer" else "/staff/tickets")
