"""A ticket's conversation for staff: the newest messages, in the order they came."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from bot.domain.messages.models import InboundMessage
from bot.domain.outbox.models import Outbox
from bot.domain.staff import conversation
from bot.domain.staff import scope as scopes
from tests.domain.tickets.factories import make_ticket
from tests.factories import make_resident, make_settlement

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


def _said(session: Session, who: int | None, at: dt.datetime, body: str, reply: str) -> None:
    session.add(
        InboundMessage(
            message_sid=f"SM{abs(hash((body, at))):032d}"[:34],
            resident_id=who,
            channel="whatsapp",
            body=body,
            replies=[reply],
            received_at=at,
        )
    )
    session.flush()


def test_the_residents_number_and_whatsapp_name_are_never_shown(session: Session) -> None:
    # A MY DATA answer quotes both; any triage user reading the ticket saw them.
    resident = make_resident(session, phone="+27821239876", profile_name="Thandi Mokoena")
    ticket = make_ticket(session, resident_id=resident.id, now=NOW)
    answer = "Your number: +27821239876\nYour WhatsApp name: Thandi Mokoena"
    _said(session, resident.id, NOW + dt.timedelta(minutes=5), "my data", answer)
    _said(session, resident.id, NOW + dt.timedelta(minutes=6), "call 082 123 9876", "Thanks.")
    shown = "\n".join(e.body for e in conversation.for_ticket(session=session, ticket=ticket))
    assert "Your number: +2782***9876" in shown and "Your WhatsApp name: (name)" in shown
    assert "call 082***9876" in shown
    assert "27821239876" not in shown and "Thandi" not in shown


def test_a_scoped_user_sees_no_chat_about_a_report_outside_their_scope(session: Session) -> None:
    here = make_settlement(session, "Ubuhle Gardens", ward="14")
    there = make_settlement(session, "Kwa-Thema Extension", ward="22")
    resident = make_resident(session, settlement_id=here.id)
    earlier = make_ticket(session, resident_id=resident.id, now=NOW - dt.timedelta(minutes=30))
    earlier.settlement_id = there.id
    ticket = make_ticket(session, resident_id=resident.id, now=NOW)
    ticket.settlement_id = here.id
    later = make_ticket(session, resident_id=resident.id, now=NOW + dt.timedelta(hours=5))
    later.settlement_id = there.id
    for minutes, body in [(-40, "Fire at the hall"), (10, "Tap broken"), (290, "Gang at the hall")]:
        _said(session, resident.id, NOW + dt.timedelta(minutes=minutes), body, "ok")
    scoped = scopes.Scope(settlement_ids=frozenset({here.id}))

    def shown(scope: scopes.Scope | None) -> list[str]:
        entries = conversation.for_ticket(session=session, ticket=ticket, scope=scope)
        return [e.body for e in entries if e.direction == "in"]

    assert shown(None) == ["Fire at the hall", "Tap broken", "Gang at the hall"]
    assert shown(scopes.Scope()) == shown(None)  # unrestricted: an admin
    assert shown(scoped) == ["Tap broken"]
