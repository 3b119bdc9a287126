"""Staff users and their API tokens."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from sqlalchemy import JSON, CheckConstraint, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.db import UTCDateTime, utcnow

Role = Literal["admin", "officer", "triage"]
ROLES: tuple[str, ...] = ("admin", "officer", "triage")
# Who may work tickets (triage staff and admins); officers only read them.
TICKET_WORKERS: tuple[str, ...] = ("admin", "triage")


class StaffUser(SQLModel, table=True):
    """A member of municipal staff; `email` is kept lower-case."""

    __tablename__ = "staff_user"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'officer', 'triage')", name="ck_staff_user_role"),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True, index=True)
    role: str = Field(max_length=10)
    password_hash: str | None = Field(default=None, max_length=200)
    is_active: bool = True
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_login_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    """A bearer token of one staff user; only its SHA-256 hash is kept."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="staff_user.id", ondelete="CASCADE", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=12)
    name: str = Field(default="", max_length=100)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class StaffPublic(SQLModel):
    """A staff user as the API shows it."""

    id: int
    email: str
    role: str


class StaffScope(SQLModel, table=True):
    """One settlement or one ward a scoped user may see; a user with no rows sees everything,
    so a settlement named here cannot be deleted (RESTRICT, migration 0018): it would take
    the row with it and leave a user scoped to it alone unrestricted."""

    __tablename__ = "staff_scope"
    __table_args__ = (
        CheckConstraint(
            "(settlement_id IS NULL) <> (ward IS NULL)", name="ck_staff_scope_one_target"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="staff_user.id", ondelete="CASCADE", index=True)
    settlement_id: int | None = Field(
        default=None, foreign_key="settlement.id", ondelete="RESTRICT"
    )
    ward: str | None = Field(default=None, max_length=50)


class StaffSession(SQLModel, table=True):
    """A dashboard login: the cookie carries a signed random id; only its SHA-256 is kept."""

    __tablename__ = "staff_session"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="staff_user.id", ondelete="CASCADE", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    csrf_token: str = Field(max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    ip: str = Field(default="", max_length=45)


class LoginAttempt(SQLModel, table=True):
    """One try at logging in, kept to throttle guessing by address and by email."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_email_at", "email", "at"),
        Index("ix_login_attempt_ip_at", "ip", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254)
    ip: str = Field(default="", max_length=45)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    succeeded: bool = False


class AuditEvent(SQLModel, table=True):
    """One staff action (dashboard or API): who, when, what, on what."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    staff_user_id: int | None = Field(
        default=None, foreign_key="staff_user.id", ondelete="SET NULL", index=True
    )
    actor_email: str = Field(default="", max_length=254)
    action: str = Field(max_length=60, index=True)
    target: str = Field(default="", max_length=200)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    ip: str = Field(default="", max_length=45)


class IdempotencyKey(SQLModel, table=True):
    """An `Idempotency-Key` a staff user's API request came with, the request it came with
    (a SHA-256 of its method, path and body) and the answer it got, replayed to a retry."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_key_user_key"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="staff_user.id", ondelete="CASCADE")
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    status_code: int = 0
    response: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
