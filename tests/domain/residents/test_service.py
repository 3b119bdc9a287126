"""Residents service: find-and-lock, and whether the row was new."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import Session, select

from bot.db import utcnow
from bot.domain.residents import service as residents
from bot.domain.residents.models import Resident
from bot.domain.settlements import service as settlements
from bot.domain.settlements.models import UnmatchedSettlementName
from bot.engine.messages import Inbound


def test_lock_or_create_says_whether_it_created_the_resident(session: Session) -> None:
    now = utcnow()
    first, created = residents.lock_or_create(session=session, phone="+27821110080", now=now)
    again, created_again = residents.lock_or_create(session=session, phone="+27821110080", now=now)
    assert (created, created_again) == (True, False)
    assert first["id"] == again["id"] and first["phone"] == "+27821110080"


@pytest.mark.parametrize(
    ("code", "channel", "cleared"),
    [
        (30006, "sms", True),
        (30006, "whatsapp", False),  # a number on WhatsApp may still be unable to take SMS
        (21211, "sms", True),
        # "Not a valid number" is disproved by any message from it: routing refused every
        # WhatsApp message to a resident who had just written on WhatsApp.
        (21211, "whatsapp", True),
    ],
)
def test_a_message_from_a_flagged_number_clears_the_flag_it_disproves(
    session: Session, code: int, channel: str, cleared: bool
) -> None:
    # Flagged 30006 days ago (often a passing network fault): every staff reply and reminder
    # by SMS was refused for ever, even after the resident texted from the number.
    now = utcnow()
    person = Resident(
        phone="+27821110081",
        conversation={},
        number_flag_code=code,
        number_flagged_at=now - dt.timedelta(days=5),
    )
    session.add(person)
    session.flush()
    row, _ = residents.lock_or_create(session=session, phone=person.phone, now=now)
    inbound = Inbound(
        message_id="SM" + "1" * 32, phone=person.phone, channel=channel, text="hi", received_at=now
    )
    residents.record_turn(
        session=session, resident=row, inbound=inbound, effects=[], state={}, now=now
    )
    session.refresh(person)
    assert (person.number_flag_code is None) is cleared
    assert (person.number_flagged_at is None) is cleared


def test_erasure_deletes_the_settlement_names_the_resident_typed(session: Session) -> None:
    # What a resident types at "which settlement?" is their words ("Thandi Mokoena 14 Nkosi
    # Street"): it stayed on the officers' list, unlinked, after DELETE.
    person = Resident(phone="+27821110082", conversation={})
    other = Resident(phone="+27821110083", conversation={})
    session.add_all([person, other])
    session.flush()
    assert person.id is not None and other.id is not None
    for text, owner in [("Thandi Mokoena 14 Nkosi Street", person.id), ("Nowhere", other.id)]:
        settlements.record_unmatched_name(session=session, text=text, resident_id=owner)
    session.flush()
    residents.erase(session=session, resident_id=person.id)
    left = session.exec(select(UnmatchedSettlementName)).all()
    assert [(n.text, n.resident_id) for n in left] == [("Nowhere", other.id)]


def _asking(phone: str, channel: str, at: dt.datetime) -> Inbound:
    """Return the MY DATA message being answered."""
    sid = "SM" + "2" * 32
    return Inbound(message_id=sid, phone=phone, channel=channel, text="my data", received_at=at)


def test_the_summary_has_each_settlement_name_typed_once_first_typed_first(
    session: Session,
) -> None:
    person = Resident(phone="+27821110086", conversation={})
    other = Resident(phone="+27821110087", conversation={})
    session.add_all([person, other])
    session.flush()
    assert person.id is not None and other.id is not None
    for text, owner in [
        ("Nowhere Heights", person.id),
        ("Thandi Mokoena 14 Nkosi Street", person.id),
        ("Elsewhere", other.id),
        ("Nowhere Heights", person.id),
    ]:
        settlements.record_unmatched_name(session=session, text=text, resident_id=owner)
    session.flush()
    asking = _asking(person.phone, "whatsapp", utcnow())
    summary = residents.summarise(session=session, resident=person, inbound=asking)
    assert summary.names_typed == ("Nowhere Heights", "Thandi Mokoena 14 Nkosi Street")
    newcomer = Resident(phone="+27821110088", conversation={})
    session.add(newcomer)
    session.flush()
    asking = _asking(newcomer.phone, "whatsapp", utcnow())
    assert residents.summarise(session=session, resident=newcomer, inbound=asking).names_typed == ()


DAY = dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("kept", "asked_on", "blocked"),
    [
        # Twilio said 21610 (the resident sent STOP to its SMS number): asked on WhatsApp,
        # SMS cannot reach them; asked by SMS, this very message lifts it, as routing reads.
        ({"sms_opted_out_at": -2 * DAY}, "whatsapp", (True, False)),
        ({"sms_opted_out_at": -2 * DAY}, "sms", (False, False)),
        ({"sms_opted_out_at": -2 * DAY, "last_inbound_sms_at": -DAY}, "whatsapp", (False, False)),
        ({"sms_opted_out_at": -DAY, "last_inbound_sms_at": -2 * DAY}, "whatsapp", (True, False)),
        # 63014: they blocked the business on WhatsApp.
        ({"whatsapp_opted_out_at": -2 * DAY}, "sms", (False, True)),
        ({"whatsapp_opted_out_at": -2 * DAY}, "whatsapp", (False, False)),
        # 30006: the number could not take SMS; an SMS from it clears the flag.
        ({"number_flag_code": 30006}, "whatsapp", (True, False)),
        ({"number_flag_code": 30006}, "sms", (False, False)),
        ({"number_flag_code": 21211}, "sms", (False, False)),
        ({"number_flag_code": 21211}, "whatsapp", (False, False)),
        ({}, "whatsapp", (False, False)),
        ({}, "sms", (False, False)),
    ],
)
def test_the_summary_says_which_channel_routing_would_refuse(
    session: Session, kept: dict[str, object], asked_on: str, blocked: tuple[bool, bool]
) -> None:
    now = utcnow()
    columns = {
        name: now + value if isinstance(value, dt.timedelta) else value
        for name, value in kept.items()
    }
    person = Resident(phone="+27821110089", conversation={}, consented_at=now - 9 * DAY, **columns)
    session.add(person)
    session.flush()
    asking = _asking(person.phone, asked_on, now)
    summary = residents.summarise(session=session, resident=person, inbound=asking)
    assert (summary.sms_blocked, summary.whatsapp_blocked) == blocked
