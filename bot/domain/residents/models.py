"""The resident table: one row per person, across SMS and WhatsApp."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column
from sqlmodel import Field, SQLModel

from bot.db import UTCDateTime, utcnow

CHANNELS = ("sms", "whatsapp")


class Resident(SQLModel, table=True):
    """A resident, keyed by E.164 phone number, with consent and opt-out on record."""

    __tablename__ = "resident"

    __table_args__ = (
        CheckConstraint(
            "consent_channel IS NULL OR consent_channel IN ('sms', 'whatsapp')",
            name="ck_consent_channel",
        ),
        CheckConstraint(
            "opted_out_channel IS NULL OR opted_out_channel IN ('sms', 'whatsapp')",
            name="ck_opted_out_channel",
        ),
        # SQLite: never reuse the id of an erased resident's row (migration 0006).
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(max_length=20, unique=True, index=True)
    language: str | None = Field(default=None, max_length=10)
    settlement_id: int | None = Field(
        default=None, foreign_key="settlement.id", ondelete="SET NULL", index=True
    )
    profile_name: str | None = Field(default=None, max_length=200)
    consented_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    consent_channel: str | None = Field(default=None, max_length=10)
    consent_notice_version: str | None = Field(default=None, max_length=20)
    opted_out_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # "sms" once a STOP came by SMS (YES by SMS then opts back in, as Twilio unblocks the
    # number), "whatsapp" if only by WhatsApp; NULL for an opt-out kept before migration
    # 0012, which YES does not lift (see bot/engine/engine.py).
    opted_out_channel: str | None = Field(default=None, max_length=10)
    last_inbound_sms_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_inbound_whatsapp_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set by outbound delivery from provider errors (21610 SMS STOP, 63014 WhatsApp block,
    # 21211/21614/30005/30006 a number that cannot take messages). A later inbound message on
    # the same channel lifts a channel opt-out; see bot/domain/outbox/routing.py.
    sms_opted_out_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    whatsapp_opted_out_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    number_flag_code: int | None = None
    number_flagged_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    conversation: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
