"""Staff users and API tokens: create, verify passwords, issue and check bearer tokens.

Passwords are hashed with argon2 (argon2-cffi's defaults). API tokens are 256-bit random
strings, so a fast SHA-256 hash is enough to store them safely and lets every API
request be checked with one indexed lookup.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlmodel import Session, col

from bot.db import utcnow
from bot.domain.staff import scope as scopes
from bot.domain.staff.models import ROLES, TICKET_WORKERS, ApiToken, StaffUser
from bot.domain.tickets.models import Ticket

TOKEN_PREFIX = "sk_"  # noqa: S105  (a marker, not a secret)
_hasher = PasswordHasher()


class StaffError(ValueError):
    """A staff user or token request that cannot be honoured."""


def normalise_email(email: str) -> str:
    """Return an email address trimmed and lower-cased, or raise StaffError."""
    value = email.strip().lower()
    local, _, domain = value.partition("@")
    if not local or "." not in domain or " " in value or len(value) > 254:
        raise StaffError(f"not an email address: {email.strip()}")
    return value


def hash_password(password: str) -> str:
    """Return the argon2 hash of a password."""
    return _hasher.hash(password)


def _check(*, role: str, password: str | None) -> None:
    if role not in ROLES:
        raise StaffError(f"role {role} is not one of {', '.join(ROLES)}")
    # Length is what makes a password strong (NIST SP 800-63B); but ten spaces, or one key
    # held down, are as easy to guess as no password.
    if password is not None and (len(password) < 10 or len(set(password) - {" "}) < 4):
        raise StaffError("a password needs at least 10 characters, 4 of them different")


def create_user(
    *, session: Session, email: str, role: str, password: str | None = None
) -> StaffUser:
    """Add a staff user; refuse an unknown role or an email already in use."""
    _check(role=role, password=password)
    address = normalise_email(email)
    if get_by_email(session=session, email=address) is not None:
        raise StaffError(f"a user with email {address} already exists")
    user = StaffUser(
        email=address, role=role, password_hash=hash_password(password) if password else None
    )
    session.add(user)
    session.flush()
    return user


def get_by_email(*, session: Session, email: str) -> StaffUser | None:
    """Return the user with this email (any case), or None."""
    address = email.strip().lower()
    return session.execute(
        select(StaffUser).where(col(StaffUser.email) == address)
    ).scalar_one_or_none()


def get(*, session: Session, user_id: int) -> StaffUser | None:
    """Return the user with this id, or None."""
    return session.get(StaffUser, user_id)


def authenticate(*, session: Session, email: str, password: str) -> StaffUser | None:
    """Return the active user with this email and password, or None."""
    user = get_by_email(session=session, email=email)
    if user is None or not user.is_active or not user.password_hash:
        _hasher.hash(password)  # spend the same time whether or not the user exists
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def token_hash(token: str) -> str:
    """Return the stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(*, session: Session, user: StaffUser, name: str = "") -> tuple[ApiToken, str]:
    """Issue a token for `user`; return the row and the token (shown only this once)."""
    assert user.id is not None
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id, token_hash=token_hash(token), prefix=token[:10], name=name[:100]
    )
    session.add(row)
    session.flush()
    return row, token


def tokens(*, session: Session, email: str | None = None) -> list[tuple[ApiToken, str]]:
    """Return the API tokens (of the user with `email`, or everyone's) with their user's
    email, oldest first."""
    query = select(ApiToken, col(StaffUser.email)).join(
        StaffUser, col(StaffUser.id) == col(ApiToken.user_id)
    )
    if email is not None:
        query = query.where(col(StaffUser.email) == email.strip().lower())
    rows = session.execute(query.order_by(col(ApiToken.id))).all()
    return [(row[0], row[1]) for row in rows]


def revoke_token(*, session: Session, token_id: int, now: dt.datetime | None = None) -> bool:
    """Revoke a token by id; return whether it was active."""
    row = session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now or utcnow()
    return True


def user_for_token(
    *, session: Session, token: str, now: dt.datetime | None = None
) -> StaffUser | None:
    """Return the active user a bearer token belongs to, or None (and note its use)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    found = session.execute(
        select(ApiToken, StaffUser)
        .join(StaffUser, col(StaffUser.id) == col(ApiToken.user_id))
        .where(col(ApiToken.token_hash) == token_hash(token))
    ).first()
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None or not user.is_active:
        return None
    now = now or utcnow()
    if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=5):
        row.last_used_at = now  # coarse, so a busy client does not write on every call
    return user


def list_users(*, session: Session) -> list[StaffUser]:
    """Return every staff user, by email."""
    return list(session.execute(select(StaffUser).order_by(col(StaffUser.email))).scalars())


def assignable(*, session: Session, ticket: Ticket | None = None) -> list[StaffUser]:
    """Return the active users tickets may be assigned to (admins and triage staff); with a
    `ticket`, only those whose scope includes it (`tickets.change` refuses the others) and
    its current assignee (a form must be able to send them back unchanged)."""
    users = list(
        session.execute(
            select(StaffUser)
            .where(col(StaffUser.is_active), col(StaffUser.role).in_(TICKET_WORKERS))
            .order_by(col(StaffUser.email))
        ).scalars()
    )
    if ticket is None:
        return users
    scope_of = scopes.for_users(session=session, user_ids=[u.id for u in users if u.id])
    return [
        u
        for u in users
        if u.id == ticket.assignee_id
        or (u.id and scopes.allows_ticket(session=session, scope=scope_of[u.id], ticket=ticket))
    ]


def update_user(
    *, session: Session, user: StaffUser, role: str, is_active: bool, password: str | None = None
) -> StaffUser:
    """Change a user's role, active flag and (when given) password."""
    _check(role=role, password=password)
    if password is not None:
        user.password_hash = hash_password(password)
    user.role = role
    user.is_active = is_active
    session.flush()
    return user
