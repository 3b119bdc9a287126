"""What reaches the engine: one inbound message, already parsed from its channel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Channel = Literal["sms", "whatsapp"]
CHANNELS: tuple[Channel, ...] = ("sms", "whatsapp")


@dataclass(frozen=True)
class Media:
    """A photo, voice note or other attachment sent with a message."""

    url: str
    content_type: str


@dataclass(frozen=True)
class Location:
    """A location pin shared on WhatsApp."""

    latitude: float
    longitude: float
    address: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class Inbound:
    """One message from a resident.

    `text` is the Body, or the ButtonPayload / list id when the resident tapped a button.
    `phone` is E.164 (`+27...`), the same person on SMS and WhatsApp. `received_at` is
    timezone-aware UTC.
    """

    message_id: str
    phone: str
    channel: Channel
    text: str
    received_at: datetime
    media: tuple[Media, ...] = ()
    location: Location | None = None
    profile_name: str | None = None

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}")
        if self.received_at.tzinfo is None:
            raise ValueError("received_at must be timezone-aware")
