"""Staff users and their API tokens."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from sqlalchemy import CheckConstraint
from sqlmodel import Field, SQLModel

from bot.db import UTCDateTime, utcnow

Role = Literal["admin", "officer", "triage"]
ROLES: tuple[str, ...] = ("admin", "officer", "triage")


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
