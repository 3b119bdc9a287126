"""An erased resident's messages are deleted at Twilio too (job outbox.delete_at_provider),
against the local stand-in, through the real Twilio client."""

from __future__ import annotations

import datetime as dt
import logging
import time

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.channels.sender import TwilioSender
from bot.db import session_scope, utcnow
from bot.domain.messages import service as messages
from bot.domain.outbox import jobs
from bot.domain.outbox.models import ProviderDeletion
from bot.domain.residents import service as residents
from bot.engine.messages import Inbound
from bot.logs import configure_logging
from tests.factories import make_resident
from tests.live_server import free_port
from tests.twilio_standin import TwilioStandIn, standin_settings

PHONE, OTHER = "+27821110300", "+27821110301"


def _send(sender: TwilioSender, to: str, body: str) -> None:
    sender.client.messages.create(to=to, from_="+27870000001", body=body)


def test_erasing_a_resident_deletes_their_messages_at_twilio(
    clean_db: Engine, standin: TwilioStandIn, database_url: str
) -> None:
    sender = TwilioSender(standin_settings(standin, database_url))
    standin.received(PHONE, "My shack is 12 Main Road")  # what they sent, by SMS
    standin.received(f"whatsapp:{PHONE}", "Photo of the leak")  # and on WhatsApp
    _send(sender, PHONE, "Your report 1234567 is being fixed.")  # what we sent them
    _send(sender, f"whatsapp:{PHONE}", "Welcome to Siyakha")  # a TwiML reply, say
    _send(sender, OTHER, "Someone else's message")
    with session_scope(clean_db) as session:
        resident_id = make_resident(session, PHONE, consented_at=utcnow()).id
    with session_scope(clean_db) as session:
        residents.erase(session=session, resident_id=resident_id)
    # The reply to DELETE reaches Twilio after the erasure: it goes too.
    _send(sender, PHONE, "Your details have been deleted.")
    later = utcnow() + residents.PROVIDER_GRACE
    assert jobs.delete_at_provider(engine=clean_db, sender=sender, now=later) == 1
    assert [m["to"] for m in standin.messages] == [OTHER]
    with Session(clean_db) as session:  # the number is forgotten once Twilio has done it
        assert session.exec(select(ProviderDeletion)).all() == []


def test_a_message_still_queued_at_twilio_is_deleted_and_a_returning_residents_kept(
    clean_db: Engine, standin: TwilioStandIn, database_url: str
) -> None:
    sender = TwilioSender(standin_settings(standin, database_url))
    standin.hold(PHONE)
    _send(sender, PHONE, "Meeting on Saturday")  # queued at Twilio: no send date yet
    with session_scope(clean_db) as session:
        resident_id = make_resident(session, PHONE, consented_at=utcnow()).id
    with session_scope(clean_db) as session:
        residents.erase(session=session, resident_id=resident_id)
        deletion = session.exec(select(ProviderDeletion)).one()
        deletion.before = utcnow()  # as if the goodbye's grace had passed
    time.sleep(1.1)  # Twilio's dates have whole seconds
    later = utcnow() + residents.PROVIDER_GRACE + dt.timedelta(seconds=1)
    standin.received(PHONE, "Hi, I am back")  # they come back after it
    assert jobs.delete_at_provider(engine=clean_db, sender=sender, now=later) == 1
    assert [m["body"] for m in standin.messages] == ["Hi, I am back"]


def test_a_resident_back_straight_after_deleting_keeps_what_they_send_now(
    clean_db: Engine, standin: TwilioStandIn, database_url: str
) -> None:
    # The deletion covered the 2 minutes after the erasure, whoever wrote then: a resident
    # who started again at once lost their new report's photo at Twilio.
    from api.deps import converse_for

    sender = TwilioSender(standin_settings(standin, database_url))
    with session_scope(clean_db) as session:
        resident_id = make_resident(session, PHONE, consented_at=utcnow()).id
    with session_scope(clean_db) as session:
        residents.erase(session=session, resident_id=resident_id)
    _send(sender, f"whatsapp:{PHONE}", "Your details have been deleted.")  # the goodbye
    time.sleep(6.1)  # read it, and write again
    standin.received(f"whatsapp:{PHONE}", "Hi, I want to start again")
    again = Inbound(
        message_id="SM" + "7" * 32,
        phone=PHONE,
        channel="whatsapp",
        text="Hi, I want to start again",
        received_at=utcnow(),
    )
    with session_scope(clean_db) as session:
        messages.receive(
            session=session, inbound=again, converse=converse_for(session), now=utcnow()
        )
    _send(sender, f"whatsapp:{PHONE}", "Welcome to Siyakha")  # the answer, a TwiML reply
    later = utcnow() + residents.PROVIDER_GRACE
    assert jobs.delete_at_provider(engine=clean_db, sender=sender, now=later) == 1
    assert [m["body"] for m in standin.messages] == [
        "Hi, I want to start again",
        "Welcome to Siyakha",
    ]


def test_a_failed_deletion_is_tried_again_later_and_nothing_is_due_before(
    clean_db: Engine, standin: TwilioStandIn, database_url: str
) -> None:
    sender = TwilioSender(standin_settings(standin, database_url))
    _send(sender, PHONE, "Meeting on Saturday")
    with session_scope(clean_db) as session:
        resident_id = make_resident(session, PHONE).id
        residents.erase(session=session, resident_id=resident_id)
    now = utcnow()
    assert jobs.delete_at_provider(engine=clean_db, sender=sender, now=now) == 0  # grace
    later = now + residents.PROVIDER_GRACE + dt.timedelta(seconds=1)
    unreachable = TwilioSender(
        standin_settings(
            standin, database_url, SIYAKHA_TWILIO_API_URL=f"http://127.0.0.1:{free_port()}"
        )
    )
    assert jobs.delete_at_provider(engine=clean_db, sender=unreachable, now=later) == 0
    with Session(clean_db) as session:
        waiting = session.exec(select(ProviderDeletion)).one()
    assert waiting.attempts == 1 and waiting.last_error
    assert waiting.next_attempt_at >= later + dt.timedelta(minutes=2)
    assert waiting.phone == PHONE  # kept until done
    assert [m["body"] for m in standin.messages] == ["Meeting on Saturday"]
    retry = waiting.next_attempt_at + dt.timedelta(seconds=1)
    assert jobs.delete_at_provider(engine=clean_db, sender=sender, now=retry) == 1
    assert standin.messages == []


def test_deleting_an_erased_number_at_twilio_never_logs_it(
    standin: TwilioStandIn, database_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    sender = TwilioSender(standin_settings(standin, database_url))
    _send(sender, PHONE, "Meeting on Saturday")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("DEBUG", "json")  # even at DEBUG
        assert sender.delete_messages(phone=PHONE, before=utcnow() + dt.timedelta(minutes=1)) == 1
    finally:
        root.handlers[:], root.level = handlers, level
    logged = capfd.readouterr().err
    assert PHONE.removeprefix("+") not in logged
