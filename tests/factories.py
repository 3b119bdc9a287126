"""Plain factory functions for test data."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import Session

from bot.domain.residents.models import Resident
from bot.domain.settlements.models import Meeting, Milestone, Settlement, name_key


def make_settlement(session: Session, name: str = "Ubuhle Gardens", **fields: Any) -> Settlement:
    """Add a settlement (flushed, so it has an id)."""
    municipality = fields.pop("municipality", "Test Municipality")
    settlement = Settlement(
        name=name,
        name_key=name_key(name),
        municipality=municipality,
        municipality_key=name_key(municipality),
        **{"ward": "14", **fields},
    )
    session.add(settlement)
    session.flush()
    return settlement


def make_milestone(session: Session, settlement: Settlement, **fields: Any) -> Milestone:
    """Add a milestone to `settlement`."""
    title = fields.pop("title", "Standpipes installed")
    milestone = Milestone(
        settlement_id=settlement.id,
        title=title,
        title_key=name_key(title),
        **{"strand": "services", "status": "planned", **fields},
    )
    session.add(milestone)
    session.flush()
    return milestone


def make_meeting(session: Session, starts_at: dt.datetime, **fields: Any) -> Meeting:
    """Add a meeting starting at `starts_at`."""
    title = fields.pop("title", "Block meeting")
    meeting = Meeting(
        title=title,
        starts_at=starts_at,
        natural_key=f"{title}|{starts_at.isoformat()}|{fields.get('settlement_id')}",
        **{"level": "neighbourhood", **fields},
    )
    session.add(meeting)
    session.flush()
    return meeting


def make_resident(session: Session, phone: str = "+27821234567", **fields: Any) -> Resident:
    """Add a resident."""
    resident = Resident(phone=phone, **fields)
    session.add(resident)
    session.flush()
    return resident
