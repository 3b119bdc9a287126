"""Factories for broadcast tests: residents with consent, language and channel."""

from __future__ import annotations

import datetime as dt
from itertools import count
from typing import Any

from sqlmodel import Session

from bot.config import Settings
from bot.db import utcnow
from bot.domain.broadcasts import service as broadcasts
from bot.domain.broadcasts.models import Audience, BroadcastCreate, TemplateIn
from bot.domain.residents.models import Resident
from bot.domain.settlements import edit
from bot.domain.settlements.models import Meeting, Settlement
from bot.domain.staff.models import StaffUser
from tests.factories import make_milestone, make_resident

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


def make_failing_broadcast(
    session: Session,
    *,
    settings: Settings,
    settlement: Settlement,
    staff: StaffUser,
    send_at: dt.datetime,
    now: dt.datetime | None = None,
) -> int:
    """Schedule a "milestone delayed" notice to `settlement`, then lengthen the milestone's
    note (2,000 characters are allowed) past what Twilio takes: it fails when due. Return
    its id."""
    milestone = make_milestone(
        session, settlement, title="Water points", note="Soon.", status="delayed"
    )
    broadcast = broadcasts.create(
        session=session,
        settings=settings,
        broadcast_in=BroadcastCreate(
            audience=Audience(settlement_ids=[milestone.settlement_id]),
            template=TemplateIn(name="milestone_delayed", milestone_id=milestone.id),
            send_at=send_at,
        ),
        staff=staff,
        now=now,
    )
    assert broadcast.id is not None and broadcast.status == "scheduled"
    edit.save_milestone(
        session=session,
        settlement=settlement,
        milestone=milestone,
        strand=milestone.strand,
        title=milestone.title,
        target_date=milestone.target_date,
        status="delayed",
        note="The contractor left the site. " * 60,
    )
    return broadcast.id


# A venue for a "Block meeting" starting on 2031-05-04 at 18:00: its reminders stay within
# 3 SMS segments up to 292 characters; its "moved" announcement (from the day before), with
# two dates, passes them from 277.
HALL = "The community hall behind the clinic, next to the taxi rank, gate 2. " * 5


def make_moved_announcement(
    session: Session, *, settings: Settings, meeting: Meeting, previous_venue: str | None = None
) -> int:
    """Schedule the announcement that `meeting` moved to its start from the day before (or,
    with `previous_venue`, to its venue from that one, at the same time), to go two days
    before it starts; return its id."""
    broadcast = broadcasts.announce_meeting(
        session=session,
        settings=settings,
        meeting=meeting,
        change="moved",
        staff=None,
        previous_starts_at=None if previous_venue else meeting.starts_at - dt.timedelta(days=1),
        previous_venue=previous_venue,
        send_at=meeting.starts_at - dt.timedelta(days=2),
    )
    assert broadcast.id is not None and broadcast.status == "scheduled"
    return broadcast.id
