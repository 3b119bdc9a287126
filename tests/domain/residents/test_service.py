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


@pytest.mark.parametrize(("channel", "cleared"), [("sms", True), ("whatsapp", False)])
def test_an_sms_from_a_number_flagged_unable_to_take_sms_clears_the_flag(
    session: Session, channel: str, cleared: bool
) -> None:
    # Flagged 30006 days ago (often a passing network fault): every staff reply and reminder
    # by SMS was refused for ever, even after the resident texted from the number.
    now = utcnow()
    person = Resident(
        phone="+27821110081",
        conversation={},
        number_flag_code=30006,
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
