"""A ticket's conversation for staff: the newest messages, in the order they came."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from bot.domain.messages.models import InboundMessage
from bot.domain.outbox.models import Outbox
from bot.domain.staff import conversation
from tests.domain.tickets.factories import make_ticket
from tests.factories import make_resident

NOW = dt.datetime(2025, 6, 2, 8, 0, tzinfo=dt.UTC)


def test_a_long_conversation_shows_its_newest_messages_oldest_first(session: Session) -> None:
    resident = make_resident(session)
    ticket = make_ticket(session, resident_id=resident.id, now=NOW)
    for i in range(8):  # months of menu use, meeting replies, STATUS checks...
        at = NOW + dt.timedelta(hours=i)
        session.add(
            InboundMessage(
                message_sid=f"SM{i:032d}",
                resident_id=resident.id,
                channel="sms",
                body=f"in {i}",
                replies=[f"reply {i}"],
                received_at=at,
            )
        )
        session.add(
            Outbox(
                resident_id=resident.id,
                purpose="ticket_update",
                dedupe_key=f"update {i}",
                channel="sms",
                body=f"out {i}",
                ref=f"ticket:{ticket.reference}",
                created_at=at + dt.timedelta(minutes=30),
            )
        )
    session.flush()
    shown = [e.body for e in conversation.for_ticket(session=session, ticket=ticket, limit=3)]
    assert shown == [
        "in 5",
        "reply 5",
        "out 5",
        "in 6",
        "reply 6",
        "out 6",
        "in 7",
        "reply 7",
        "out 7",
    ]
