"""A ticket's conversation for staff: the newest messages, in the order they came."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col

from bot.domain.messages.models import InboundMessage
from bot.domain.outbox.models import Outbox
from bot.domain.residents import export as resident_export
from bot.domain.residents import service as residents
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


def _sent(session: Session, who: int | None, at: dt.datetime, body: str, ref: str) -> None:
    assert who is not None
    purpose = "broadcast" if ref.startswith("broadcast") else "staff_reply"
    key = f"{ref} {body}"
    session.add(
        Outbox(resident_id=who, purpose=purpose, dedupe_key=key, channel="sms", body=body, ref=ref)
    )
    session.flush()
    session.execute(update(Outbox).where(col(Outbox.dedupe_key) == key).values(created_at=at))


def test_a_scoped_export_leaves_out_the_messages_about_a_report_outside_the_scope(
    session: Session,
) -> None:
    # The resident lives in ward 14 now; between two reports there they reported a fire at
    # their mother's place in ward 22, whose ticket page 404s for a ward-14 officer.
    here = make_settlement(session, "Ubuhle Gardens", ward="14")
    there = make_settlement(session, "Kwa-Thema Extension", ward="22")
    resident = make_resident(
        session,
        settlement_id=here.id,
        conversation={"step": "menu", "more": "Your reports: ... Fire at Mama's place"},
    )
    first = make_ticket(session, resident_id=resident.id, now=NOW)
    first.settlement_id = here.id
    away = make_ticket(session, resident_id=resident.id, now=NOW + dt.timedelta(days=1))
    away.settlement_id = there.id
    back = make_ticket(session, resident_id=resident.id, now=NOW + dt.timedelta(days=3))
    back.settlement_id = here.id
    day = dt.timedelta(days=1)
    for at, body in [
        (NOW - dt.timedelta(minutes=5), "Tap broken"),
        (NOW + day - dt.timedelta(minutes=30), "Fire at Mama's place in Kwa-Thema"),
        (NOW + day + dt.timedelta(hours=1), "The fire is out, photos coming"),
        (NOW + 3 * day - dt.timedelta(minutes=20), "Toilets blocked"),
    ]:
        _said(session, resident.id, at, body, "ok")
    _sent(session, resident.id, NOW + day, "Fire crew on the way", f"ticket:{away.reference}")
    _sent(session, resident.id, NOW + day, "Tap fixed", f"ticket:{first.reference}")
    _sent(session, resident.id, NOW + day + dt.timedelta(hours=2), "Meeting Sat", "broadcast:1")
    session.flush()

    def exported(scope: scopes.Scope) -> dict[str, Any]:
        return resident_export.export(session=session, resident=resident, scope=scope)

    scoped = exported(scopes.Scope(wards=frozenset({"14"})))
    assert [m["body"] for m in scoped["messages_received"]] == ["Tap broken", "Toilets blocked"]
    assert [m["body"] for m in scoped["messages_sent"]] == ["Tap fixed", "Meeting Sat"]
    assert scoped["reports_outside_scope"] == 1 and scoped["messages_outside_scope"] == 3
    assert "Fire" not in json.dumps(scoped) and "Kwa-Thema" not in json.dumps(scoped)
    whole = exported(scopes.Scope())
    assert len(whole["messages_received"]) == 4 and len(whole["messages_sent"]) == 3
    assert whole["reports_outside_scope"] == 0 and whole["messages_outside_scope"] == 0
    assert whole["conversation"]["unsent_pages"] == "Your reports: ... Fire at Mama's place"


def test_a_message_sent_as_several_sms_is_one_message_with_its_parts(session: Session) -> None:
    # Each SMS part is an outbox row of its own; staff, the export and MY DATA see the
    # message once, in its words, with how each part fared.
    resident = make_resident(session, consented_at=NOW)
    ticket = make_ticket(session, resident_id=resident.id, now=NOW)
    ref = f"ticket:{ticket.reference}"
    message = Outbox(
        resident_id=resident.id,
        channel="whatsapp",
        purpose="staff_reply",
        ref=ref,
        dedupe_key="reply",
        body="The contractor comes on Monday. " * 20,
        status="failed",
        sent_channel="sms",
        error_message="part 2 of 2: refused",
        created_at=NOW,
    )
    session.add(message)
    session.flush()
    for number, status in ((1, "delivered"), (2, "failed")):
        session.add(
            Outbox(
                resident_id=resident.id,
                channel="sms",
                purpose="staff_reply",
                ref=ref,
                dedupe_key=f"reply:part:{number}",
                body=f"({number}/2) The contractor comes on Monday.",
                status=status,
                error_message="refused" if status == "failed" else None,
                created_at=NOW,
                parent_id=message.id,
                part=number,
            )
        )
    session.flush()
    (sent,) = [
        e for e in conversation.for_ticket(session=session, ticket=ticket) if e.direction == "out"
    ]
    assert sent.body == message.body and sent.channel == "sms"
    assert sent.parts == [
        conversation.Part(1, "delivered", None),
        conversation.Part(2, "failed", "refused"),
    ]
    exported = resident_export.export(session=session, resident=resident, scope=scopes.Scope())
    (listed,) = exported["messages_sent"]
    assert listed["sms_parts"] == [
        {"part": 1, "status": "delivered"},
        {"part": 2, "status": "failed"},
    ]
    session.execute(update(Outbox).where(col(Outbox.id) == message.id).values(status="delivered"))
    assert residents.summarise(session=session, resident=resident).sent == 1
