"""Factories for broadcast tests: residents with consent, language and channel."""

from __future__ import annotations

import datetime as dt
from itertools import count
from typing import Any

from sqlmodel import Session

from bot.db import utcnow
from bot.domain.residents.models import Resident
from tests.factories import make_resident

_phones = count(1)


def make_member(
    session: Session,
    *,
    settlement_id: int | None,
    language: str | None = "en",
    channel: str = "sms",
    now: dt.datetime | None = None,
    **fields: Any,
) -> Resident:
    """Add a consented resident who last wrote on `channel` an hour ago (so a WhatsApp
    resident is inside the 24-hour window unless `last_inbound_whatsapp_at` says otherwise)."""
    now = now or utcnow()
    values: dict[str, Any] = {
        "language": language,
        "settlement_id": settlement_id,
        "consented_at": now - dt.timedelta(days=10),
        "consent_channel": channel,
        f"last_inbound_{channel}_at": now - dt.timedelta(hours=1),
        **fields,
    }
    return make_resident(session, f"+2782{next(_phones):07d}", **values)
