"""Dashboard logins: signed session cookies backed by a row, CSRF tokens, login throttling.

The cookie is `<random id>.<expiry unix time>.<HMAC-SHA256 of both>` keyed with
SIYAKHA_SECRET_KEY, so a forged or stretched cookie is refused before any query; the row
(only the id's SHA-256 is stored) lets logout and deactivation end a session at once.

A session is idle-expiring: it ends SIYAKHA_STAFF_SESSION_IDLE_MINUTES after its last
request, and each request slides that deadline on (`renew`: the row's `expires_at` and a
re-signed cookie, at most once a minute), but never past SIYAKHA_STAFF_SESSION_HOURS
after the login (`created_at`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select, update
from sqlmodel import Session, col

from bot.config import Settings
from bot.domain.staff import service as staff
from bot.domain.staff.models import LoginAttempt, StaffSession, StaffUser

COOKIE_NAME = "siyakha_staff"
LOGIN_CSRF_COOKIE = "siyakha_login_csrf"
# A used session's deadline moves on only when it would move by at least this much, so a
# busy user's requests do not each rewrite the row and the cookie.
RENEW_EVERY = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Login:
    """A live dashboard session, the user it belongs to and the cookie that named it."""

    user: StaffUser
    row: StaffSession
    session_id: str
    cookie_expires_at: dt.datetime


@dataclass(frozen=True)
class Renewal:
    """A session's re-signed cookie after its deadline slid on, and its new expiry."""

    cookie: str
    expires_at: dt.datetime


class Throttled(Exception):
    """Too many failed logins for this email or address; try again later."""


def _sign(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), payload.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign_cookie(secret: str, session_id: str, expires_at: dt.datetime) -> str:
    """Return the cookie value for a session id that expires at `expires_at`."""
    payload = f"{session_id}.{int(expires_at.timestamp())}"
    return f"{payload}.{_sign(secret, payload)}"


def _unsign(secret: str, value: str, now: dt.datetime) -> tuple[str, int] | None:
    parts = value.split(".")
    if len(parts) != 3 or not parts[1].isdecimal() or len(value) > 200:
        return None
    session_id, expires, signature = parts
    if not hmac.compare_digest(_sign(secret, f"{session_id}.{expires}"), signature):
        return None
    if int(expires) <= now.timestamp():
        return None
    return session_id, int(expires)


def unsign_cookie(secret: str, value: str, now: dt.datetime) -> str | None:
    """Return the session id in a cookie whose signature holds and which has not expired."""
    found = _unsign(secret, value, now)
    return found[0] if found else None


def start(
    *, session: Session, user: StaffUser, settings: Settings, now: dt.datetime, ip: str = ""
) -> tuple[StaffSession, str]:
    """Open a session for `user`; return the row and the signed cookie value."""
    assert user.id is not None
    session_id = secrets.token_urlsafe(32)
    expires_at = deadline(created_at=now, now=now, settings=settings)
    row = StaffSession(
        user_id=user.id,
        token_hash=staff.token_hash(session_id),
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=expires_at,
        ip=ip[:45],
    )
    session.add(row)
    user.last_login_at = now
    session.flush()
    return row, sign_cookie(settings.secret_key, session_id, expires_at)


def resolve(
    *, session: Session, cookie: str | None, settings: Settings, now: dt.datetime
) -> Login | None:
    """Return the live session a cookie names, or None (bad signature, idle or past its
    absolute limit, revoked, user deactivated)."""
    unsigned = _unsign(settings.secret_key, cookie, now) if cookie else None
    if unsigned is None:
        return None
    session_id, cookie_expires = unsigned
    found = session.execute(
        select(StaffSession, StaffUser)
        .join(StaffUser, col(StaffUser.id) == col(StaffSession.user_id))
        .where(col(StaffSession.token_hash) == staff.token_hash(session_id))
    ).first()
    if found is None:
        return None
    row, user = found
    if (
        row.revoked_at is not None
        or row.expires_at <= now  # idle too long
        or row.created_at + dt.timedelta(hours=settings.staff_session_hours) <= now
        or not user.is_active
    ):
        return None
    return Login(
        user=user,
        row=row,
        session_id=session_id,
        cookie_expires_at=dt.datetime.fromtimestamp(cookie_expires, dt.UTC),
    )


def deadline(*, created_at: dt.datetime, now: dt.datetime, settings: Settings) -> dt.datetime:
    """Return when a session opened at `created_at` and used at `now` ends if left idle:
    the idle limit from now, but never past the absolute limit from the login."""
    return min(
        now + dt.timedelta(minutes=settings.staff_session_idle_minutes),
        created_at + dt.timedelta(hours=settings.staff_session_hours),
    )


def renew(*, login: Login, settings: Settings, now: dt.datetime) -> Renewal | None:
    """Slide a used session's deadline on; return its re-signed cookie, or None when the
    deadline (of the row or the cookie) would move by less than RENEW_EVERY."""
    until = deadline(created_at=login.row.created_at, now=now, settings=settings)
    if until - min(login.row.expires_at, login.cookie_expires_at) < RENEW_EVERY:
        return None
    login.row.expires_at = until
    return Renewal(sign_cookie(settings.secret_key, login.session_id, until), until)


def end(*, session: Session, row: StaffSession, now: dt.datetime) -> None:
    """Revoke one session (logout)."""
    row.revoked_at = row.revoked_at or now
    session.flush()


def end_all_for(
    *, session: Session, user_id: int, now: dt.datetime, keep: int | None = None
) -> None:
    """Revoke every session of a user (deactivated, role, scope or password changed), but
    `keep` (the id of the session making the change, when it is theirs)."""
    session.execute(
        update(StaffSession)
        .where(
            col(StaffSession.user_id) == user_id,
            col(StaffSession.revoked_at).is_(None),
            col(StaffSession.id) != (keep if keep is not None else -1),
        )
        .values(revoked_at=now)
    )


def csrf_ok(expected: str, given: str | None) -> bool:
    """Return whether a submitted CSRF token matches the expected one."""
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


def _failures(session: Session, since: dt.datetime, *conditions: ColumnElement[bool]) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(LoginAttempt)
            .where(
                *conditions,
                col(LoginAttempt.at) > since,
                col(LoginAttempt.succeeded).is_(False),
            )
        ).scalar_one()
    )


def login(
    *,
    session: Session,
    email: str,
    password: str,
    ip: str,
    settings: Settings,
    now: dt.datetime,
) -> StaffUser | None:
    """Check a password; raise Throttled after too many failures within the window: the
    limit for this email from this address, 4x the limit for this email from anywhere
    (guessing spread over many addresses) or from this address for any email.

    So that nobody can lock a colleague out for long from elsewhere, failures from other
    addresses count only towards the 4x limit, and refused tries are not counted at all.
    Every try checked is recorded, so the caller must commit even when this returns None.
    """
    address = email.strip().lower()[:254]
    ip = ip[:45]
    since = now - dt.timedelta(minutes=settings.login_window_minutes)
    limit = settings.login_max_failures
    by_email, by_ip = col(LoginAttempt.email) == address, col(LoginAttempt.ip) == ip
    if (
        (ip and _failures(session, since, by_email, by_ip) >= limit)
        or _failures(session, since, by_email) >= limit * 4
        or (ip and _failures(session, since, by_ip) >= limit * 4)
    ):
        raise Throttled("too many failed logins; try again later")
    user = staff.authenticate(session=session, email=address, password=password)
    session.add(LoginAttempt(email=address, ip=ip, at=now, succeeded=user is not None))
    session.flush()
    return user
