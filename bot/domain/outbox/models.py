"""The outbox table: one row per logical proactive message, unique on its dedupe key."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from sqlalchemy import JSON, CheckConstraint, Column, Float, Index, LargeBinary, Table, Unicode
from sqlmodel import Field, SQLModel

from bot.db import UTCDateTime, utcnow

Channel = Literal["sms", "whatsapp"]
Status = Literal[
    "pending", "sending", "sent", "delivered", "read", "failed", "undelivered", "cancelled"
]
STATUSES: tuple[str, ...] = (
    "pending",
    "sending",
    "sent",
    "delivered",
    "read",
    "failed",
    "undelivered",
    "cancelled",
)
# A status callback moves a row only to a higher rank, so late or out-of-order callbacks
# never move it backwards. failed/undelivered outrank sent (the provider's final word) but
# lose to delivered/read: a handset that reported delivery did get the message.
RANK: dict[str, int] = {
    "pending": 0,
    "sending": 1,
    "sent": 2,
    "failed": 3,
    "undelivered": 3,
    "cancelled": 3,
    "delivered": 4,
    "read": 5,
}
FINAL_STATUSES = frozenset({"delivered", "read", "failed", "undelivered", "cancelled"})
# Statuses of a message that reached the provider (MY DATA's "sent you"): not one still
# queued, cancelled or refused.
SENT_STATUSES = ("sent", "delivered", "read", "undelivered")

# Purposes and whether, by default, a WhatsApp message of that kind may fall back to SMS
# when neither a free-form message nor a template can reach the resident.
PURPOSES: dict[str, bool] = {
    "ticket_update": True,
    "staff_reply": True,
    "reminder": True,
    "broadcast": False,
    "notice": True,
}


class Outbox(SQLModel, table=True):
    """One proactive message to one resident, from enqueue to the provider's last status."""

    __tablename__ = "outbox"

    __table_args__ = (
        CheckConstraint("channel IN ('sms', 'whatsapp')", name="ck_outbox_channel"),
        CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'delivered', 'read', 'failed', "
            "'undelivered', 'cancelled')",
            name="ck_outbox_status",
        ),
        CheckConstraint(
            "body IS NOT NULL OR content_sid IS NOT NULL", name="ck_outbox_body_or_template"
        ),
        Index("ix_outbox_due", "status", "next_attempt_at"),
        # SQLite: never reuse the id of an erased resident's row (migration 0006).
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    resident_id: int = Field(foreign_key="resident.id", ondelete="CASCADE", index=True)
    channel: str = Field(max_length=10)
    purpose: str = Field(max_length=30)
    # Groups rows for reporting, e.g. "broadcast:12"; the dedupe key is per message.
    ref: str | None = Field(default=None, max_length=100, index=True)
    dedupe_key: str = Field(max_length=200, unique=True)
    language: str | None = Field(default=None, max_length=10)
    body: str | None = None
    sms_body: str | None = None
    content_sid: str | None = Field(default=None, max_length=64)
    content_variables: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    allow_sms_fallback: bool = False
    status: str = Field(default="pending", max_length=12)
    sent_channel: str | None = Field(default=None, max_length=10)
    # The WhatsApp template it went out as (None: free-form text, or SMS).
    sent_content_sid: str | None = Field(default=None, max_length=64)
    provider_sid: str | None = Field(default=None, max_length=64, unique=True)
    # The sid of a send that failed and is tried again (63016 on free-form text, 30003, ...):
    # its late or repeated callbacks, and the worker's record of it, leave the row alone.
    retried_sid: str | None = Field(default=None, max_length=64)
    error_code: int | None = None
    error_message: str | None = Field(default=None, max_length=500)
    attempts: int = 0
    next_attempt_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    claimed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=100)
    sent_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    status_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set when what it says was withdrawn after it went (a cancelled broadcast, a moved or
    # cancelled meeting): a failed send is then not tried again.
    withdrawn_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A message that had to go by SMS and was too long for one (routing's `Split`) goes as
    # numbered parts, each a row of its own (migration 0022): `parent_id` is the message's
    # row, `part` the part's number from 1. A part is claimed only once the part before it
    # reached the provider; one that fails stops those after it. No foreign key: parts go
    # with their resident, as the message does (resident_id), and SQLite could not drop a
    # foreign key column in place (see migration 0011's downgrade).
    parent_id: int | None = Field(default=None, index=True)
    part: int | None = None
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ProviderDeletion(SQLModel, table=True):
    """An erased resident's messages still to be deleted at the provider: Twilio keeps
    every message (words, numbers, media) to and from a number until it is deleted,
    replies given in TwiML too. The number stays here only until Twilio has deleted every
    message exchanged with it before `before`, the moment of the erasure."""

    __tablename__ = "provider_deletion"

    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(max_length=20)
    before: dt.datetime = Field(sa_type=UTCDateTime)
    attempts: int = 0
    next_attempt_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    last_error: str | None = Field(default=None, max_length=500)


# APScheduler 3's SQLAlchemyJobStore table, declared here (with the columns and index the job
# store itself would create) so that migrations create it and the schema check knows it; the
# worker's scheduler runs the outbox jobs and those of other domains.
scheduler_jobs = Table(
    "apscheduler_jobs",
    SQLModel.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
