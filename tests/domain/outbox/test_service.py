"""Outbox service: enqueue in the caller's transaction, bulk enqueue, claims, status callbacks."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Connection, event, func, select, update
from sqlmodel import Session

from bot.db import utcnow
from bot.domain.outbox import service
from bot.domain.outbox.models import SENT_STATUSES, Outbox
from bot.domain.outbox.service import Outcome
from bot.domain.residents.models import Resident
from tests.factories import make_resident

LEASE = dt.timedelta(seconds=60)


def _resident(session: Session, phone: str = "+27821234567", **fields: object) -> Resident:
    return make_resident(session, phone, consented_at=utcnow(), **fields)


def _sent(session: Session, resident: Resident, sid: str, channel: str = "sms") -> Outbox:
    """Queue a notice to `resident` and mark it sent with provider sid `sid`."""
    row = service.enqueue(
        session=session,
        resident=resident,
        channel=channel,
        purpose="notice",
        dedupe_key=sid,
        body="x",
    )
    row.status, row.provider_sid, row.sent_channel = "sent", sid, row.channel
    session.add(row)
    session.flush()
    return row


def test_enqueue_flushes_into_the_callers_transaction_and_is_idempotent(session: Session) -> None:
    resident = _resident(session, last_inbound_whatsapp_at=utcnow())
    row = service.enqueue(
        session=session, resident=resident, purpose="ticket_update", dedupe_key="t:1", body="Hi"
    )
    assert row.id is not None and row.status == "pending"
    assert row.channel == "whatsapp"  # the channel the resident last used
    assert row.allow_sms_fallback is True  # ticket updates may fall back to SMS
    again = service.enqueue(
        session=session, resident=resident, purpose="ticket_update", dedupe_key="t:1", body="Other"
    )
    assert again.id == row.id and again.body == "Hi"
    assert session.in_transaction()


def test_enqueue_refuses_unknown_purposes_and_empty_messages(session: Session) -> None:
    resident = _resident(session)
    with pytest.raises(service.UnknownPurpose):
        service.enqueue(
            session=session, resident=resident, purpose="spam", dedupe_key="x", body="x"
        )
    with pytest.raises(ValueError, match="body or a WhatsApp template"):
        service.enqueue(session=session, resident=resident, purpose="notice", dedupe_key="y")


def test_enqueue_stores_staff_words_as_a_message_can_carry_them(session: Session) -> None:
    # Text pasted from a word processor: a vertical tab for a line break, stray controls.
    row = service.enqueue(
        session=session,
        resident=_resident(session),
        purpose="ticket_update",
        dedupe_key="t:2",
        body="Fixed.\x0bThank you\x07\x00",
        sms_body="Fixed\x1b.",
        content_variables={"1": "Block\x0cC\x01", "2": 3},
    )
    session.expire(row)
    assert (row.body, row.sms_body) == ("Fixed.\nThank you", "Fixed.")
    assert row.content_variables == {"1": "Block\nC", "2": 3}


def test_enqueue_many_inserts_once_per_dedupe_key(session: Session) -> None:
    people = [_resident(session, f"+2782000{i:04d}") for i in range(30)]
    messages = [
        {
            "resident_id": p.id,
            "channel": "sms",
            "purpose": "broadcast",
            "ref": "broadcast:7",
            "dedupe_key": f"broadcast:7:{p.id}",
            "body": "Meeting on Saturday.",
        }
        for p in people
    ]
    messages.append({**messages[0], "content_variables": {"1": "x"}})  # a duplicate key
    assert service.enqueue_many(session=session, messages=messages[:10]) == 10
    assert service.enqueue_many(session=session, messages=messages) == 20
    assert service.counts_by_status(session=session, ref="broadcast:7") == {"pending": 30}
    row = session.execute(select(Outbox).where(Outbox.ref == "broadcast:7")).scalars().first()
    assert row is not None and row.allow_sms_fallback is False
    assert row.created_at.tzinfo is not None


def test_list_for_phone_shows_the_newest_first(session: Session) -> None:
    resident = _resident(session)
    for n in range(3):
        service.enqueue(
            session=session, resident=resident, purpose="notice", dedupe_key=f"n{n}", body=f"#{n}"
        )
    _resident(session, "+27820000001")
    rows = service.list_for_phone(session=session, phone="+27821234567", limit=2)
    assert [r.body for r in rows] == ["#2", "#1"]
    assert service.list_for_phone(session=session, phone="+27820000001") == []


def test_list_for_phone_shows_a_message_sent_as_several_sms_as_those_sms(
    session: Session,
) -> None:
    resident = _resident(session)
    whole = service.enqueue(
        session=session, resident=resident, purpose="notice", dedupe_key="n", body="A B"
    )
    for number, word in enumerate("AB", 1):
        session.add(
            Outbox(
                resident_id=resident.id,  # type: ignore[arg-type]
                channel="sms",
                purpose="notice",
                dedupe_key=f"n:part:{number}",
                body=f"({number}/2) {word}",
                parent_id=whole.id,
                part=number,
            )
        )
    session.flush()
    rows = service.list_for_phone(session=session, phone="+27821234567")
    assert [r.body for r in rows] == ["(2/2) B", "(1/2) A"]


def test_claim_moves_due_rows_to_sending_with_a_lease(session: Session) -> None:
    resident = _resident(session)
    later = utcnow() + dt.timedelta(hours=1)
    for n in range(3):
        service.enqueue(
            session=session,
            resident=resident,
            channel="sms",
            purpose="notice",
            dedupe_key=f"c{n}",
            body="x",
            not_before=later if n == 2 else None,
        )
    claimed = service.claim(session=session, worker_id="w", channel="sms", limit=10, lease=LEASE)
    assert len(claimed) == 2
    assert claimed[0].recipient.phone == "+27821234567" and claimed[0].attempts == 1
    rows = session.execute(select(Outbox).order_by(Outbox.id)).scalars().all()
    session.expire_all()
    assert [r.status for r in rows] == ["sending", "sending", "pending"]
    assert rows[0].claimed_by == "w"
    assert service.claim(session=session, worker_id="w", channel="sms", limit=9, lease=LEASE) == []


def test_record_outcomes_never_lowers_a_callback_status(session: Session) -> None:
    resident = _resident(session)
    row = service.enqueue(
        session=session,
        resident=resident,
        channel="sms",
        purpose="notice",
        dedupe_key="o",
        body="x",
    )
    service.claim(session=session, worker_id="w", channel="sms", limit=1, lease=LEASE)
    # the delivered callback (found through ?outbox=) beat the worker's own write
    service.record_status(
        session=session,
        form={"MessageSid": "SM1", "MessageStatus": "delivered"},
        outbox_id=row.id,
    )
    service.record_outcomes(
        session=session,
        outcomes=[
            Outcome(
                row.id or 0, resident.id or 0, "sent", sid="SM1", status="queued", channel="sms"
            )
        ],
    )
    session.refresh(row)
    assert (row.status, row.provider_sid, row.sent_channel) == ("delivered", "SM1", "sms")


@pytest.mark.parametrize(
    ("sequence", "final"),
    [
        (["sent", "delivered", "read"], "read"),
        (["read", "delivered", "sent"], "read"),
        (["delivered", "sent", "queued"], "delivered"),
        (["sent", "undelivered", "delivered"], "delivered"),
        (["delivered", "failed"], "delivered"),
        (["failed", "sent"], "failed"),
        (["failed", "undelivered"], "failed"),
    ],
)
def test_status_callbacks_never_move_backwards(
    session: Session, sequence: list[str], final: str
) -> None:
    resident = _resident(session)
    row = _sent(session, resident, "SMabc")
    for status in sequence:
        service.record_status(
            session=session, form={"MessageSid": "SMabc", "MessageStatus": status}
        )
    session.refresh(row)
    assert row.status == final


def test_unknown_sids_are_accepted_and_ignored(session: Session) -> None:
    assert (
        service.record_status(
            session=session, form={"MessageSid": "SMnope", "MessageStatus": "sent"}
        )
        is None
    )
    before = session.execute(select(func.count()).select_from(Outbox)).scalar()
    assert before == 0


def test_callback_error_codes_flag_the_resident(session: Session) -> None:
    resident = _resident(session)
    row = _sent(session, resident, "SMblock", channel="whatsapp")
    service.record_status(
        session=session,
        form={
            "MessageSid": "SMblock",
            "MessageStatus": "failed",
            "ErrorCode": "63014",
            "ErrorMessage": "blocked",
        },
    )
    session.refresh(row)
    session.refresh(resident)
    assert (row.status, row.error_code, row.error_message) == ("failed", 63014, "blocked")
    assert resident.whatsapp_opted_out_at is not None


def test_a_63016_callback_sends_the_row_back_to_be_routed_as_a_template(session: Session) -> None:
    resident = _resident(session)
    row = _sent(session, resident, "SMwin", channel="whatsapp")
    service.record_status(
        session=session,
        form={"MessageSid": "SMwin", "MessageStatus": "failed", "ErrorCode": "63016"},
    )
    session.refresh(row)
    assert (row.status, row.provider_sid, row.error_code) == ("pending", None, 63016)


def test_callback_for_a_row_with_another_sid_changes_nothing(session: Session) -> None:
    resident = _resident(session)
    row = _sent(session, resident, "SMfirst")
    service.record_status(
        session=session, form={"MessageSid": "SMother", "MessageStatus": "failed"}, outbox_id=row.id
    )
    session.refresh(row)
    assert (row.status, row.provider_sid) == ("sent", "SMfirst")


def test_withdrawing_but_keeping_the_sent_never_marks_a_sent_message_withdrawn(
    session: Session,
) -> None:
    # Two statements (mark withdrawn, then cancel) let a worker record "sent" between them:
    # a SENT reminder was left withdrawn with its dedupe key released, so the round queued
    # again (a meeting's new title) reached that resident a second time.
    resident = _resident(session)
    rows = [
        service.enqueue(
            session=session,
            resident=resident,
            channel="sms",
            purpose="reminder",
            ref="meeting:1",
            dedupe_key=f"meeting:1:d{n}:{resident.id}",
            body="Reminder",
        )
        for n in range(3)
    ]
    waiting, sending, sent = rows
    sending.status, sending.claimed_by = "sending", "w"  # a worker is sending it
    sent.status = "sent"
    session.flush()
    t = service.outbox_table
    seen: list[str] = []

    def worker_records_sent(conn: Connection, *args: object) -> None:
        statement = str(args[1])
        if not statement.lstrip().upper().startswith("UPDATE OUTBOX") or seen:
            return
        seen.append(statement)
        # As the worker records a send: only over a row still pending or sending.
        conn.execute(
            update(t)
            .where(t.c.id == sending.id, t.c.status.in_(("pending", "sending")))
            .values(status="sent", provider_sid="SM-race", sent_at=utcnow())
        )

    now = utcnow()
    connection = session.connection()
    event.listen(connection, "after_cursor_execute", worker_records_sent)
    try:
        service.cancel_queued(
            session=session,
            refs=["meeting:1"],
            reason="the meeting's title changed",
            now=now,
            release_keys=True,
            keep_sent=True,
        )
    finally:
        event.remove(connection, "after_cursor_execute", worker_records_sent)
    assert seen, "the hook never ran"
    session.expire_all()
    for row in rows:
        gone = row.withdrawn_at is not None or ":withdrawn:" in row.dedupe_key
        assert not (row.status in SENT_STATUSES and gone), (row.id, row.status, row.dedupe_key)
    assert (waiting.status, waiting.withdrawn_at) == ("cancelled", now)
    assert waiting.dedupe_key.endswith(f":withdrawn:{waiting.id}")
    assert (sent.status, sent.withdrawn_at, sent.dedupe_key) == ("sent", None, rows[2].dedupe_key)
