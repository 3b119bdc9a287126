"""POPIA s14 retention: old message words, media and locations are de-identified."""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.deps import converse_for
from bot.config import Settings
from bot.db import session_scope, utcnow
from bot.domain.messages import jobs as message_jobs
from bot.domain.messages import service as message_service
from bot.domain.messages.models import InboundMessage
from bot.domain.outbox import service as outbox_service
from bot.domain.outbox.models import Outbox, ProviderDeletion
from bot.domain.residents import export as resident_export
from bot.domain.residents import service as residents
from bot.domain.residents.models import Resident
from bot.domain.settlements.models import UnmatchedSettlementName
from bot.domain.staff import conversation
from bot.domain.tickets.models import Ticket
from bot.engine.messages import Inbound
from tests.domain.tickets.factories import Phone, make_ticket
from tests.factories import make_resident, make_settlement
from tests.twilio_payloads import new_sid, payload, whatsapp

NOW = dt.datetime(2026, 11, 26, 10, 0, tzinfo=dt.UTC)
OLD = NOW - dt.timedelta(days=400)
RECENT = NOW - dt.timedelta(days=10)


def _message(sid: str, resident_id: int, received_at: dt.datetime) -> InboundMessage:
    return InboundMessage(
        message_sid=sid,
        resident_id=resident_id,
        channel="whatsapp",
        body="The tap at section 4 near my shack 17 is broken",
        media=[{"url": "https://api.twilio.com/media/ME1", "content_type": "image/jpeg"}],
        latitude=-33.9,
        longitude=18.6,
        address="Section 4",
        label="Standpipe 4",
        replies=["Report 1234567: tap at section 4 near my shack 17"],
        received_at=received_at,
    )


def test_inbound_messages_past_retention_lose_everything_personal(
    clean_db: Engine, settings: Settings
) -> None:
    with session_scope(clean_db) as session:
        resident = make_resident(session)
        session.add_all(
            [_message("SMold", resident.id, OLD), _message("SMnew", resident.id, RECENT)]
        )

    assert message_jobs.forget(engine=clean_db, settings=settings, now=NOW) == 1

    with session_scope(clean_db) as session:
        rows = {m.message_sid: m for m in session.exec(select(InboundMessage))}
    old, new = rows["SMold"], rows["SMnew"]
    assert (old.resident_id, old.body, old.media, old.replies) == (None, "", [], [])
    assert (old.latitude, old.longitude, old.address, old.label) == (None, None, None, None)
    assert (old.channel, old.received_at) == ("whatsapp", OLD)  # still counted
    assert new.body.startswith("The tap") and new.media and new.latitude == -33.9
    assert new.resident_id is not None and new.replies
    # Nothing left to forget: a second run changes nothing.
    assert message_jobs.forget(engine=clean_db, settings=settings, now=NOW) == 0


def test_retention_period_comes_from_settings(clean_db: Engine, settings: Settings) -> None:
    with session_scope(clean_db) as session:
        resident = make_resident(session)
        session.add(_message("SMmid", resident.id, NOW - dt.timedelta(days=100)))
    year = settings.model_copy(update={"retention_days": 365})
    assert message_jobs.forget(engine=clean_db, settings=year, now=NOW) == 0
    quarter = settings.model_copy(update={"retention_days": 90})
    assert message_jobs.forget(engine=clean_db, settings=quarter, now=NOW) == 1


def _old_messages(engine: Engine, *, inbound: int, outbound: int) -> tuple[list[int], list[int]]:
    """Add inbound and sent outbox messages past retention; return their ids, ascending."""
    with session_scope(engine) as session:
        resident = make_resident(session)
        session.add_all([_message(f"SMold{n}", resident.id, OLD) for n in range(inbound)])
        session.add_all([_outbox(resident.id, f"old-{n}", OLD) for n in range(outbound)])
    with session_scope(engine) as session:
        inbound_ids = session.exec(select(InboundMessage.id).order_by(InboundMessage.id))
        outbox_ids = session.exec(select(Outbox.id).order_by(Outbox.id))
        return [n for n in inbound_ids if n], [n for n in outbox_ids if n]


def test_forgetting_goes_in_batches_each_its_own_transaction(
    clean_db: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(message_jobs, "BATCH", 2)
    _old_messages(clean_db, inbound=5, outbound=4)
    commits: list[object] = []
    count_commit = commits.append
    event.listen(clean_db, "commit", count_commit)
    try:
        assert message_jobs.forget(engine=clean_db, settings=settings, now=NOW) == 9
    finally:
        event.remove(clean_db, "commit", count_commit)
    # 2 + 2 + 1 inbound; 2 + 2 + 0 outbound; one for drafts (none), one for typed names
    assert len(commits) == 3 + 3 + 1 + 1
    with session_scope(clean_db) as session:
        assert {m.body for m in session.exec(select(InboundMessage))} == {""}
        assert {r.body for r in session.exec(select(Outbox))} == {""}


def test_each_batch_starts_after_the_last_id_the_one_before_changed(
    clean_db: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Starting again from the oldest row made the first run quadratic on SQLite: every
    # batch read again all the rows the batches before it had forgotten.
    monkeypatch.setattr(message_jobs, "BATCH", 2)
    i, o = _old_messages(clean_db, inbound=5, outbound=3)
    calls: dict[str, list[tuple[int, list[int]]]] = {"inbound": [], "outbox": []}

    def spy(name: str, forget_before: Any) -> Any:
        def forget(**kwargs: Any) -> list[int]:
            changed = forget_before(**kwargs)
            calls[name].append((kwargs["after_id"], changed))
            return changed

        return forget

    monkeypatch.setattr(
        message_service, "forget_before", spy("inbound", message_service.forget_before)
    )
    monkeypatch.setattr(
        outbox_service, "forget_before", spy("outbox", outbox_service.forget_before)
    )
    assert message_jobs.forget(engine=clean_db, settings=settings, now=NOW) == 8
    assert calls["inbound"] == [(0, i[0:2]), (i[1], i[2:4]), (i[3], i[4:5])]
    assert calls["outbox"] == [(0, o[0:2]), (o[1], o[2:3])]


def test_a_batch_leaves_alone_what_lies_at_or_below_its_starting_id(clean_db: Engine) -> None:
    ids, outbox_ids = _old_messages(clean_db, inbound=4, outbound=4)
    with session_scope(clean_db) as session:
        changed = message_service.forget_before(
            session=session, before=NOW, after_id=ids[1], limit=10
        )
        changed_outbox = outbox_service.forget_before(
            session=session, before=NOW, after_id=outbox_ids[2], limit=10, now=NOW
        )
    assert (changed, changed_outbox) == (ids[2:], outbox_ids[3:])
    with session_scope(clean_db) as session:
        bodies = [m.body for m in session.exec(select(InboundMessage).order_by(InboundMessage.id))]
        outbox_bodies = [r.body for r in session.exec(select(Outbox).order_by(Outbox.id))]
    assert [bool(b) for b in bodies] == [True, True, False, False]
    assert [bool(b) for b in outbox_bodies] == [True, True, True, False]


def _outbox(resident_id: int, key: str, created_at: dt.datetime, **fields: object) -> Outbox:
    values: dict[str, object] = {
        "resident_id": resident_id,
        "channel": "sms",
        "purpose": "ticket_update",
        "dedupe_key": key,
        "body": "Report 1234567: the tap at shack 17 is fixed",
        "sms_body": "Report 1234567: the tap at shack 17 is fixed",
        "status": "delivered",
        "created_at": created_at,
        **fields,
    }
    return Outbox(**values)  # type: ignore[arg-type]


def test_sent_outbox_words_past_retention_are_blanked(clean_db: Engine, settings: Settings) -> None:
    with session_scope(clean_db) as session:
        resident = make_resident(session)
        session.add_all(
            [
                _outbox(resident.id, "old-sent", OLD),
                _outbox(resident.id, "old-pending", OLD, status="pending"),
                _outbox(resident.id, "recent-sent", RECENT),
                _outbox(
                    resident.id,
                    "old-template",
                    OLD,
                    channel="whatsapp",
                    body=None,
                    sms_body=None,
                    content_sid="HX" + "1" * 32,
                    content_variables={"1": "shack 17"},
                ),
            ]
        )

    assert message_jobs.forget(engine=clean_db, settings=settings, now=NOW) == 2

    with session_scope(clean_db) as session:
        rows = {r.dedupe_key: r for r in session.exec(select(Outbox))}
    assert (rows["old-sent"].body, rows["old-sent"].sms_body) == ("", None)
    assert rows["old-sent"].status == "delivered" and rows["old-sent"].purpose == "ticket_update"
    template = rows["old-template"]
    assert (template.body, template.content_sid, template.content_variables) == (
        None,
        "HX" + "1" * 32,
        None,
    )
    # Not yet sent, or still recent: kept word for word.
    assert rows["old-pending"].body and rows["old-pending"].sms_body
    assert rows["recent-sent"].body and rows["recent-sent"].sms_body
    assert message_jobs.forget(engine=clean_db, settings=settings, now=NOW) == 0


def test_the_worker_declares_the_retention_job(settings: Settings) -> None:
    from bot.worker import JOB_MODULES

    assert "bot.domain.messages.jobs" in JOB_MODULES
    assert message_jobs.schedule(settings) == [
        {
            "id": "messages.forget",
            "func": "bot.domain.messages.jobs:run_forget",
            "trigger": "interval",
            "hours": 24,
        }
    ]


def test_erasing_a_resident_also_clears_replies_that_quoted_them_and_a_retry_keeps_them_erased(
    client: TestClient, settings: Settings, clean_db: Engine
) -> None:
    with session_scope(clean_db) as session:
        make_settlement(session, "Ubuhle Gardens")
    phone = Phone(client, settings, "+27821110077", "whatsapp")
    phone.onboard("Ubuhle Gardens")
    phone.send("DELETE")
    goodbye = phone.send("1")
    assert "deleted" in goodbye
    with session_scope(clean_db) as session:
        rows = list(session.exec(select(InboundMessage).order_by(InboundMessage.id)))
    assert rows and all(r.resident_id is None and r.body == "" for r in rows)
    # Only the last message keeps its reply (the goodbye, for a provider retry); earlier
    # replies, which showed the resident their settlement and data, are gone.
    assert [r.replies for r in rows[:-1]] == [[]] * (len(rows) - 1)
    assert rows[-1].replies == [goodbye]
    # Twilio retrying the confirmation gets the goodbye and does not bring them back.
    assert phone.send("1", sid=phone.sid) == goodbye
    with session_scope(clean_db) as session:
        assert session.exec(select(Resident)).all() == []
        # Twilio is asked once to delete what it keeps of the number.
        assert [d.phone for d in session.exec(select(ProviderDeletion))] == [phone.number]
    assert "language" in phone.send("hi").lower()  # writing again starts afresh


def test_a_staff_erase_waits_for_the_residents_message_being_answered_and_clears_it(
    client: TestClient, settings: Settings, clean_db: Engine
) -> None:
    """On PostgreSQL the erase must lock the resident to wait; on SQLite the single writer
    makes it wait anyway, so there this guards against a regression only."""
    with session_scope(clean_db) as session:
        make_settlement(session, "Ubuhle Gardens")
    phone = Phone(client, settings, "+27821110079", "whatsapp")
    phone.onboard("Ubuhle Gardens")
    with session_scope(clean_db) as session:
        resident_id = session.exec(select(Resident.id)).one()
    # The webhook's turn for "My house is at 12 Main Road" has run but not committed...
    answering = Session(clean_db)
    now = utcnow()
    inbound = Inbound(
        message_id=new_sid("SM"),
        phone=phone.number,
        channel="whatsapp",
        text="My house is at 12 Main Road",
        received_at=now,
    )
    message_service.receive(
        session=answering, inbound=inbound, converse=converse_for(answering), now=now
    )
    # ... when an officer erases the resident.
    erased = threading.Event()

    def erase() -> None:
        with session_scope(clean_db) as session:
            residents.erase(session=session, resident_id=resident_id)
        erased.set()

    officer = threading.Thread(target=erase)
    officer.start()
    assert not erased.wait(0.5), "the erase did not wait for the turn"
    answering.commit()
    answering.close()
    officer.join(10)
    assert erased.is_set()
    with session_scope(clean_db) as session:
        rows = list(session.exec(select(InboundMessage)))
        assert rows and all(r.resident_id is None and r.body == "" for r in rows)
        assert session.exec(select(Resident)).all() == []


def test_the_ticket_page_says_when_words_were_removed(clean_db: Engine, settings: Settings) -> None:
    with session_scope(clean_db) as session:
        resident = make_resident(session)
        ticket = make_ticket(session, resident_id=resident.id, now=OLD)
        ref = f"ticket:{ticket.reference}"
        session.add(_outbox(resident.id, "update", OLD, ref=ref))
    message_jobs.forget(engine=clean_db, settings=settings, now=NOW)
    with session_scope(clean_db) as session:
        ticket = session.exec(select(Ticket)).one()
        shown = [e.body for e in conversation.for_ticket(session=session, ticket=ticket)]
    assert shown == ["(words removed after the retention period)"]


def _abandoned_draft(client: TestClient, settings: Settings, clean_db: Engine) -> int:
    """Start a report on WhatsApp, send its words and a photo, then walk away; return the
    resident's id."""
    from tests.api.test_webhooks import post

    with session_scope(clean_db) as session:
        make_settlement(session, "Ubuhle Gardens")
    for text in ["hi", "1", "1", "Ubuhle Gardens", "5", "1", "1"]:
        assert post(client, settings, whatsapp(text)).status_code == 200
    sid = new_sid("MM")
    words = "My neighbour Sipho at shack 17 stole the tap"
    media = payload("whatsapp_media", Body=words, MessageSid=sid, SmsSid=sid, SmsMessageSid=sid)
    assert post(client, settings, media).status_code == 200
    with session_scope(clean_db) as session:
        resident = session.exec(select(Resident)).one()
        assert resident.id is not None
        return resident.id


def test_an_abandoned_drafts_words_media_and_pages_go_with_the_messages(
    client: TestClient, settings: Settings, clean_db: Engine
) -> None:
    resident_id = _abandoned_draft(client, settings, clean_db)
    with session_scope(clean_db) as session:
        kept = json.dumps(session.get(Resident, resident_id).conversation)
    assert "Sipho" in kept and "api.twilio.com" in kept  # the draft, before retention
    with session_scope(clean_db) as session:
        exported = resident_export.export(
            session=session, resident=session.get(Resident, resident_id)
        )
    pending = exported["conversation"]  # an access request sees the draft too
    assert pending["step"] == "report_where" and pending["last_message_at"]
    assert pending["data"]["text"] == "My neighbour Sipho at shack 17 stole the tap"
    assert [m["content_type"] for m in pending["data"]["media"]] == ["image/jpeg", "audio/ogg"]
    later = utcnow() + dt.timedelta(days=400)
    message_jobs.forget(engine=clean_db, settings=settings, now=later)
    with session_scope(clean_db) as session:
        state = session.get(Resident, resident_id).conversation
        assert all(m.body == "" for m in session.exec(select(InboundMessage)))
        after = resident_export.export(session=session, resident=session.get(Resident, resident_id))
    assert after["conversation"] is None  # nothing pending any more
    assert "Sipho" not in json.dumps(state) and "api.twilio.com" not in json.dumps(state)
    assert state["step"] == "menu" and state.get("data", {}) == {} and not state.get("more")


def test_only_quiet_residents_lose_their_drafts_and_pages(
    clean_db: Engine, settings: Settings
) -> None:
    draft = {"kind": "problem", "text": "Sipho took the tap", "pin": [-33.9, 18.6]}

    def state(seen: dt.datetime, **fields: object) -> dict[str, object]:
        return {"step": "report_where", "last_seen": seen.isoformat(), **fields}

    with session_scope(clean_db) as session:
        quiet = make_resident(
            session, "+27821110001", last_inbound_sms_at=OLD, conversation=state(OLD, data=draft)
        )
        paged = make_resident(
            session,
            "+27821110002",
            last_inbound_whatsapp_at=OLD,
            conversation={"step": "menu", "last_seen": OLD.isoformat(), "more": "Sipho, page 2"},
        )
        recent = make_resident(
            session,
            "+27821110003",
            last_inbound_sms_at=OLD,
            last_inbound_whatsapp_at=RECENT,
            conversation=state(RECENT, data=draft),
        )
        ids = (quiet.id, paged.id, recent.id)
    assert message_jobs.forget(engine=clean_db, settings=settings, now=NOW) == 2
    with session_scope(clean_db) as session:
        quiet_state, paged_state, recent_state = (
            session.get(Resident, i).conversation for i in ids
        )
    assert quiet_state == {"step": "menu", "last_seen": OLD.isoformat()}
    assert paged_state == {"step": "menu", "last_seen": OLD.isoformat()}
    assert recent_state == state(RECENT, data=draft)  # still writing: the draft is theirs
    assert message_jobs.forget(engine=clean_db, settings=settings, now=NOW) == 0


def test_settlement_names_typed_past_retention_are_deleted(
    clean_db: Engine, settings: Settings
) -> None:
    with session_scope(clean_db) as session:
        resident = make_resident(session)
        session.add_all(
            [
                UnmatchedSettlementName(
                    text="Sipho's place", resident_id=resident.id, created_at=OLD
                ),
                UnmatchedSettlementName(text="Kwa Nonqaba", resident_id=None, created_at=RECENT),
            ]
        )
    assert message_jobs.forget(engine=clean_db, settings=settings, now=NOW) == 1
    with session_scope(clean_db) as session:
        left = [u.text for u in session.exec(select(UnmatchedSettlementName))]
    assert left == ["Kwa Nonqaba"]
