"""POST /webhooks/twilio/status: signed callbacks move outbox rows forward only."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session
from twilio.request_validator import RequestValidator

from bot.config import Settings
from bot.db import session_scope, utcnow
from bot.domain.outbox import service
from bot.domain.outbox.models import Outbox
from bot.domain.residents.models import Resident

PATH = "/webhooks/twilio/status"
SID = "SM" + "a" * 32


def callback(sid: str, message_status: str, **extra: str) -> dict[str, str]:
    """Return a status callback as Twilio posts it for a WhatsApp message (extras included)."""
    return {
        "ChannelPrefix": "whatsapp",
        "ApiVersion": "2010-04-01",
        "MessageStatus": message_status,
        "SmsSid": sid,
        "SmsStatus": message_status,
        "ChannelInstallSid": "XE" + "0" * 32,
        "To": "whatsapp:+27821234567",
        "From": "whatsapp:+27870000002",
        "MessageSid": sid,
        "StructuredMessage": "false",
        "AccountSid": "AC" + "0" * 32,
        "ChannelToAddress": "+2782123XXXX",
        **extra,
    }


def _queued(
    engine: Engine, *, phone: str, channel: str, status: str, provider_sid: str | None
) -> int:
    """Queue a notice for a new resident, put it in `status`; return its outbox id."""
    with session_scope(engine) as session:
        resident = Resident(phone=phone, consented_at=utcnow())
        session.add(resident)
        session.flush()
        row = service.enqueue(
            session=session,
            resident=resident,
            channel=channel,
            purpose="notice",
            dedupe_key=f"status-test-{phone}",
            body="Hi",
        )
        row.status, row.provider_sid = status, provider_sid
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


@pytest.fixture
def outbox_id(clean_db: Engine) -> int:
    return _queued(
        clean_db, phone="+27821234567", channel="whatsapp", status="sent", provider_sid=SID
    )


def post(
    client: TestClient,
    settings: Settings,
    form: dict[str, str],
    query: str = "",
    *,
    sign: bool = True,
):
    url = settings.public_url + PATH + (f"?{query}" if query else "")
    assert settings.twilio_auth_token
    headers = {}
    if sign:
        headers["X-Twilio-Signature"] = RequestValidator(
            settings.twilio_auth_token
        ).compute_signature(url, form)
    return client.post(PATH + (f"?{query}" if query else ""), data=form, headers=headers)


def status_of(engine: Engine, outbox_id: int) -> str:
    with Session(engine) as session:
        row = session.get(Outbox, outbox_id)
        assert row is not None
        return row.status


def test_callbacks_in_any_order_end_at_the_highest_status(
    client, settings, clean_db, outbox_id
) -> None:
    for message_status in ("read", "delivered", "sent"):
        response = post(client, settings, callback(SID, message_status))
        assert response.status_code == 200, response.text
    assert status_of(clean_db, outbox_id) == "read"


def test_unsigned_or_tampered_callbacks_are_refused(client, settings, clean_db, outbox_id) -> None:
    assert post(client, settings, callback(SID, "failed"), sign=False).status_code == 403
    form = callback(SID, "delivered")
    url = settings.public_url + PATH
    assert settings.twilio_auth_token
    signature = RequestValidator(settings.twilio_auth_token).compute_signature(url, form)
    tampered = {**form, "MessageStatus": "failed"}
    response = client.post(PATH, data=tampered, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 403
    assert status_of(clean_db, outbox_id) == "sent"


def test_unknown_sids_are_accepted(client, settings) -> None:
    assert post(client, settings, callback("SM" + "f" * 32, "delivered")).status_code == 200


def test_a_nul_or_an_out_of_range_outbox_id_is_no_server_error(
    client, settings, clean_db, outbox_id
) -> None:
    # PostgreSQL refuses both (text cannot hold NUL; the id column is 32-bit): they were 500s.
    form = callback(SID + "\x00", "delivered", ErrorMessage="bad\x00byte")
    assert post(client, settings, form).status_code == 200
    assert status_of(clean_db, outbox_id) == "delivered"  # the NUL is dropped, not the sid
    for query in ("outbox=99999999999", "outbox=0"):
        assert post(client, settings, callback("SM" + "e" * 32, "sent"), query).status_code == 422


def test_the_outbox_id_in_the_url_finds_a_row_before_its_sid_is_recorded(
    client, settings, clean_db
) -> None:
    with session_scope(clean_db) as session:
        resident = Resident(phone="+27829999999", consented_at=utcnow())
        session.add(resident)
        session.flush()
        row = service.enqueue(
            session=session,
            resident=resident,
            channel="sms",
            purpose="notice",
            dedupe_key="early",
            body="x",
        )
        row.status = "sending"  # claimed by the worker, which has not recorded the sid yet
        row_id = row.id
    assert row_id is not None
    response = post(
        client, settings, callback(SID[:-1] + "b", "delivered"), query=f"outbox={row_id}"
    )
    assert response.status_code == 200
    with Session(clean_db) as session:
        found = session.get(Outbox, row_id)
        assert found is not None
        assert (found.status, found.provider_sid) == ("delivered", SID[:-1] + "b")


def test_malformed_sids_and_error_codes_are_no_server_error(client, settings, clean_db) -> None:
    # Both were 500s: an error code SQLite cannot store (PostgreSQL: not in its integer
    # column) and, on PostgreSQL, a sid longer than the provider_sid column.
    row_id = _queued(
        clean_db, phone="+27829999998", channel="sms", status="sending", provider_sid=None
    )
    query = f"outbox={row_id}"
    for sid in ("SM" + "c" * 63, "", "SM-1", "SM c"):  # ignored, as unknown sids are
        answer = post(client, settings, callback(sid, "delivered"), query)
        assert answer.status_code == 200, answer.text
    assert status_of(clean_db, row_id) == "sending"
    for code in ("99999999999999999999999", "99999999999", "-1", "2147483648", "x"):
        form = callback(SID, "undelivered", ErrorCode=code)
        assert post(client, settings, form, query).status_code == 200
        with Session(clean_db) as session:
            found = session.get(Outbox, row_id)
            assert found is not None
            assert (found.status, found.error_code) == ("undelivered", None)
    form = callback(SID, "undelivered", ErrorCode="2147483647")
    assert post(client, settings, form, query).status_code == 200
