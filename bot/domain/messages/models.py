"""The inbound message table: what a provider delivered, unique on its message id."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from bot.db import UTCDateTime, utcnow


class InboundMessage(SQLModel, table=True):
    """One message a resident sent, with the replies given, so a provider retry gets the same."""

    __tablename__ = "inbound_message"

    id: int | None = Field(default=None, primary_key=True)
    message_sid: str = Field(max_length=64, unique=True, index=True)
    resident_id: int | None = Field(
        default=None, foreign_key="resident.id", ondelete="SET NULL", index=True
    )
    channel: str = Field(max_length=10)
    body: str = Field(default="")
    media: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    # A WhatsApp pin's Label: the place's name ("Standpipe 4"), beside its Address.
    label: str | None = None
    replies: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    received_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


# What is left of a message once it no longer identifies anyone (erasure, retention):
# its provider id, channel and time. Replies go too: a summary can quote the resident.
DEIDENTIFIED: dict[str, Any] = {
    "resident_id": None,
    "replies": [],
    "body": "",
    "media": [],
    "latitude": None,
    "longitude": None,
    "address": None,
    "label": None,
}
