"""The broadcasts JSON API: preview, create, approve, schedule, cancel, follow progress
(drained through the Twilio stand-in); meeting and milestone announcements, attendance
counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.main import create_app
from bot.config import Settings
from bot.db import session_scope, utcnow
from bot.domain.broadcasts import jobs
from bot.domain.broadcasts import service as broadcasts
from bot.domain.broadcasts.models import Audience, Broadcast, BroadcastCreate, TemplateIn
from bot.domain.outbox.models import Outbox
from bot.domain.residents.models import Resident
from bot.domain.settlements.models import Meeting, Milestone, Settlement
from bot.domain.settlements.service import upcoming_meetings
from bot.domain.staff import scope as scopes
from bot.domain.staff.models import AuditEvent
from bot.i18n import TIMEZONE
from tests.api.test_v1_tickets import auth, deliver
from tests.domain.broadcasts.factories import make_member
from tests.domain.tickets.factories import make_staff
from tests.factories import make_meeting, make_milestone, make_settlement
from tests.twilio_standin import TwilioStandIn


@pytest.fixture
def client(settings: Settings, clean_db: Engine) -> Iterator[TestClient]:
    settings = settings.model_copy(update={"broadcast_approval_threshold": 3})
    with TestClient(create_app(settings, clean_db)) as client:
        yield client


@pytest.fixture
def world(clean_db: Engine) -> dict[str, Any]:
    """Four reachable residents in two languages, two officers and a triage user."""
    with session_scope(clean_db) as session:
        home = make_settlement(session, "Ubuhle Gardens", ward="14")
        other = make_settlement(session, "Thembalethu", ward="9")
        for language, channel in [("en", "sms"), ("xh", "whatsapp"), ("xh", "sms")]:
            make_member(session, settlement_id=home.id, language=language, channel=channel)
        make_member(session, settlement_id=other.id, language="af", channel="sms")
        meeting = make_meeting(
            session, utcnow() + dt.timedelta(days=3), settlement_id=home.id, title="Layout plan"
        )
        _, officer = make_staff(session, "officer@ubuntubay.example.org", "officer")
        _, second = make_staff(session, "second@ubuntubay.example.org", "officer")
        _, triage = make_staff(session)
        return {
            "home": home.id,
            "meeting": meeting.id,
            "officer": officer,
            "second": second,
            "triage": triage,
        }


def scoped_officer(engine: Engine, ward: str) -> dict[str, str]:
    """Return the API headers of a new officer scoped to one ward."""
    with session_scope(engine) as session:
        user, token = make_staff(session, f"ward{ward}@ubuntubay.example.org", "officer")
        scopes.set_scope(session=session, user=user, settlement_ids=[], wards=[ward])
    return auth(token)


def test_preview_then_send_to_a_settlement_and_follow_delivery(
    client: TestClient, settings: Settings, clean_db: Engine, world: dict[str, Any]
) -> None:
    payload = {
        "title": "Water tanks",
        "audience": {"settlement_ids": [world["home"]]},
        "texts": {"en": "Water tanks arrive on Monday.", "xh": "Iitanki zamanzi zifika ngoMvulo."},
    }
    officer = auth(world["officer"])
    preview = client.post("/api/v1/broadcasts/preview", json=payload, headers=officer).json()
    assert preview["recipients"] == 3
    assert preview["by_language_channel"] == {"en": {"sms": 1}, "xh": {"whatsapp": 1, "sms": 1}}
    assert preview["fallback_languages"] == []
    assert {p["language"]: p["sms_encoding"] for p in preview["languages"]}["xh"] == "GSM-7"

    created = client.post("/api/v1/broadcasts", json=payload, headers=officer)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "enqueued" and body["progress"]["queued"] == 3

    with TwilioStandIn() as standin:
        deliver(settings, clean_db, standin)
        bodies = sorted(m["body"] for m in standin.messages)
    assert any(b.startswith("Iitanki zamanzi") for b in bodies)
    assert len(bodies) == 3
    followed = client.get(f"/api/v1/broadcasts/{body['id']}", headers=auth(world["triage"]))
    progress = followed.json()["progress"]
    assert progress["queued"] == 0 and progress["sent"] == 3
    assert progress["by_language_channel"]["xh"]["whatsapp"]["sent"] == 1
    assert followed.json()["done"] is True


def test_big_broadcasts_need_a_second_officer_and_can_be_cancelled(
    client: TestClient, clean_db: Engine, world: dict[str, Any]
) -> None:
    payload = {"audience": {"everyone": True}, "texts": {"en": "Hello everyone."}}
    created = client.post("/api/v1/broadcasts", json=payload, headers=auth(world["officer"]))
    broadcast = created.json()
    assert broadcast["status"] == "awaiting_approval" and broadcast["audience_size"] == 4
    url = f"/api/v1/broadcasts/{broadcast['id']}"
    assert client.post(f"{url}/approve", headers=auth(world["officer"])).status_code == 409
    assert client.post(f"{url}/approve", headers=auth(world["triage"])).status_code == 403
    approved = client.post(f"{url}/approve", headers=auth(world["second"]))
    assert approved.json()["status"] == "enqueued"
    assert approved.json()["progress"]["queued"] == 4
    cancelled = client.post(f"{url}/cancel", headers=auth(world["second"])).json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["progress"]["cancelled"] == 4 and cancelled["done"]
    assert client.post(f"{url}/cancel", headers=auth(world["second"])).status_code == 409
    # One whose every message went is not relabelled cancelled.
    small = {"audience": {"settlement_ids": [world["home"]]}, "texts": {"en": "Hello."}}
    sent = client.post("/api/v1/broadcasts", json=small, headers=auth(world["officer"])).json()
    with session_scope(clean_db) as session:
        for row in session.execute(
            select(Outbox).where(col(Outbox.ref) == f"broadcast:{sent['id']}")
        ).scalars():
            row.status = "delivered"
    refused = client.post(f"/api/v1/broadcasts/{sent['id']}/cancel", headers=auth(world["officer"]))
    assert refused.status_code == 409 and "has finished" in refused.text
    followed = client.get(f"/api/v1/broadcasts/{sent['id']}", headers=auth(world["officer"]))
    assert followed.json()["status"] == "enqueued" and followed.json()["progress"]["delivered"] == 3


def test_scheduled_broadcasts_wait_for_the_job(
    client: TestClient, clean_db: Engine, world: dict[str, Any]
) -> None:
    send_at = (utcnow() + dt.timedelta(hours=1)).isoformat()
    payload = {
        "audience": {"settlement_ids": [world["home"]]},
        "texts": {"en": "Clinic visit next week."},
        "send_at": send_at,
    }
    broadcast = client.post("/api/v1/broadcasts", json=payload, headers=auth(world["officer"]))
    assert broadcast.json()["status"] == "scheduled"
    with session_scope(clean_db) as session:
        later = utcnow() + dt.timedelta(hours=2)
        assert broadcasts.send_due(session=session, now=later) == 1
    followed = client.get(
        f"/api/v1/broadcasts/{broadcast.json()['id']}", headers=auth(world["officer"])
    )
    assert followed.json()["status"] == "enqueued" and followed.json()["progress"]["total"] == 3


def test_a_broadcast_that_failed_when_due_says_why(
    client: TestClient, settings: Settings, clean_db: Engine, world: dict[str, Any]
) -> None:
    officer = auth(world["officer"])
    milestone = {"strand": "services", "title": "Water points", "status": "delayed"}
    url = f"/api/v1/settlements/{world['home']}/milestones"
    created = client.post(url, json={**milestone, "note": "Soon."}, headers=officer)
    milestone_id = created.json()["id"]
    payload = {
        "audience": {"settlement_ids": [world["home"]]},
        "template": {"name": "milestone_delayed", "milestone_id": milestone_id},
        "send_at": (utcnow() + dt.timedelta(hours=1)).isoformat(),
    }
    broadcast_id = client.post("/api/v1/broadcasts", json=payload, headers=officer).json()["id"]
    # The note grows past what Twilio takes (2,000 characters are allowed).
    longer = {**milestone, "note": "The contractor left the site. " * 60}
    assert client.put(f"{url}/{milestone_id}", json=longer, headers=officer).status_code == 200
    jobs.send_due(engine=clean_db, settings=settings, now=utcnow() + dt.timedelta(hours=2))
    followed = client.get(f"/api/v1/broadcasts/{broadcast_id}", headers=officer).json()
    assert followed["status"] == "failed" and followed["done"]
    assert "could not be built when it was due" in followed["status_reason"]
    assert "at most 1,600" in followed["status_reason"]
    listed = client.get("/api/v1/broadcasts", headers=officer).json()
    assert [b["status_reason"] for b in listed if b["id"] == broadcast_id] == [
        followed["status_reason"]
    ]


def test_validation_roles_and_missing_things(client: TestClient, world: dict[str, Any]) -> None:
    officer = auth(world["officer"])
    no_english = {"audience": {"everyone": True}, "texts": {"xh": "Molo."}}
    assert client.post("/api/v1/broadcasts", json=no_english, headers=officer).status_code == 422
    nobody = {"audience": {}, "texts": {"en": "Hi."}}
    assert client.post("/api/v1/broadcasts", json=nobody, headers=officer).status_code == 422
    bad_meeting = {
        "audience": {"everyone": True},
        "template": {"name": "meeting_announced", "meeting_id": 99999},
    }
    assert client.post("/api/v1/broadcasts", json=bad_meeting, headers=officer).status_code == 404
    no_meeting = {"audience": {"everyone": True}, "template": {"name": "meeting_announced"}}
    for path in ("/api/v1/broadcasts/preview", "/api/v1/broadcasts"):  # a 500 at d635bef
        refused = client.post(path, json=no_meeting, headers=officer)  # not "no meeting None"
        assert refused.status_code == 422, path
        assert "meeting_announced needs the meeting's number" in refused.text, path
    fine = {"audience": {"everyone": True}, "texts": {"en": "Hi."}}
    assert client.post("/api/v1/broadcasts", json=fine).status_code == 401
    assert (
        client.post("/api/v1/broadcasts", json=fine, headers=auth(world["triage"])).status_code
        == 403
    )
    assert client.get("/api/v1/broadcasts/99999", headers=officer).status_code == 404


def test_a_broadcast_that_would_reach_nobody_now_is_refused_but_may_be_scheduled(
    client: TestClient, clean_db: Engine, world: dict[str, Any]
) -> None:
    # Nobody here speaks Sesotho: sent now, it reached nobody and was stored as sent, while
    # the dashboard's preview says so and offers no "Send now".
    officer = auth(world["officer"])
    nobody = {"audience": {"languages": ["st"]}, "texts": {"en": "Hi."}}
    preview = client.post("/api/v1/broadcasts/preview", json=nobody, headers=officer)
    assert preview.status_code == 200 and preview.json()["recipients"] == 0
    long_ago = (utcnow() - dt.timedelta(hours=1)).isoformat()  # a time passed goes now
    for payload in (nobody, {**nobody, "send_at": long_ago}):
        refused = client.post("/api/v1/broadcasts", json=payload, headers=officer)
        assert refused.status_code == 409, refused.text
        assert "no resident matches" in refused.json()["detail"]
    with session_scope(clean_db) as session:
        empty = make_settlement(session, "Empty Lots", ward="40")
        soon = utcnow() + dt.timedelta(days=3)
        quiet = make_meeting(session, soon, settlement_id=empty.id).id
    url = f"/api/v1/meetings/{quiet}/announcement"
    refused = client.post(url, json={"change": "announced"}, headers=officer)
    assert refused.status_code == 409 and "no resident matches" in refused.json()["detail"]
    assert client.get("/api/v1/broadcasts", headers=officer).json() == []
    # Scheduled, it is taken: residents may join or change before it goes.
    later = {**nobody, "send_at": (utcnow() + dt.timedelta(days=1)).isoformat()}
    scheduled = client.post("/api/v1/broadcasts", json=later, headers=officer)
    assert scheduled.status_code == 201, scheduled.text
    assert scheduled.json()["status"] == "scheduled" and scheduled.json()["audience_size"] == 0
    announced = client.post(
        url, json={"change": "announced", "send_at": later["send_at"]}, headers=officer
    )
    assert announced.status_code == 201 and announced.json()["status"] == "scheduled"


def test_meeting_announcement_offer_send_and_attendance(
    client: TestClient, world: dict[str, Any]
) -> None:
    officer = auth(world["officer"])
    url = f"/api/v1/meetings/{world['meeting']}/announcement"
    offer = client.post(f"{url}/preview", json={"change": "announced"}, headers=officer).json()
    assert offer["broadcast"]["audience"]["settlement_ids"] == [world["home"]]
    assert offer["preview"]["recipients"] == 3
    assert any("Layout plan" in p["text"] for p in offer["preview"]["languages"])
    moved = client.post(url, json={"change": "moved"}, headers=officer)
    assert moved.status_code == 422  # needs previous_starts_at
    sent = client.post(url, json={"change": "announced"}, headers=officer)
    assert sent.status_code == 201 and sent.json()["meeting_id"] == world["meeting"]
    attendance = client.get(f"/api/v1/meetings/{world['meeting']}/attendance", headers=officer)
    assert attendance.json() == {
        "meeting_id": world["meeting"],
        "attending": 0,
        "reminded": 0,
        "within_scope_only": False,
    }


def test_a_meeting_given_another_venue_is_announced_by_the_api_keeping_its_time(
    client: TestClient, clean_db: Engine, world: dict[str, Any]
) -> None:
    # A "moved" announcement could only say a time: with the same time it told residents
    # "It was planned for Friday 18:30. It is now on Friday 18:30." and no venue changed.
    officer = auth(world["officer"])
    starts = dt.datetime(2030, 3, 12, 16, 0, tzinfo=dt.UTC)  # 18:00 in Johannesburg
    with session_scope(clean_db) as session:
        meeting = make_meeting(
            session, starts, settlement_id=world["home"], title="Block talk", venue="Hall"
        ).id
    body = {"settlement_id": world["home"], "level": "neighbourhood", "title": "Block talk"}
    body |= {"starts_at": starts.isoformat(), "venue": "Church"}
    changed = client.put(f"/api/v1/meetings/{meeting}", json=body, headers=officer)
    assert changed.status_code == 200, changed.text
    url = f"/api/v1/meetings/{meeting}/announcement"
    # Nothing differs from what is said to have been: refused, with the reason.
    for same in (
        {"previous_starts_at": starts.isoformat()},
        {"previous_venue": " Church "},
        {"previous_starts_at": starts.isoformat(), "previous_venue": "Church"},
    ):
        refused = client.post(url, json={"change": "moved", **same}, headers=officer)
        assert refused.status_code == 409, refused.text
        assert refused.json()["detail"] == (
            f"meeting {meeting} has not moved: it is still on 2030-03-12 18:00 at Church, as before"
        )
    too_long = client.post(
        url, json={"change": "moved", "previous_venue": "x" * 501}, headers=officer
    )
    assert too_long.status_code == 422
    assert too_long.json()["detail"][0]["loc"] == ["body", "previous_venue"]
    sent = client.post(url, json={"change": "moved", "previous_venue": "Hall"}, headers=officer)
    assert sent.status_code == 201, sent.text
    ref = broadcasts.ref_of(sent.json()["id"])
    with Session(clean_db) as session:
        rows = session.exec(select(Outbox).where(col(Outbox.ref) == ref)).all()
        bodies = {(row.language, row.channel): row.body for row in rows}
    assert bodies[("en", "sms")] == (
        "Meeting venue changed: Block talk\nIt is still on Tuesday, 12 March 2030, 18:00, at a "
        "new place.\nWhere: Church\nReply STOP to stop these messages."
    )
    assert "Ixesha alitshintshanga: " in str(bodies[("xh", "sms")])


def test_milestone_announcement_offer_and_send(
    client: TestClient, clean_db: Engine, world: dict[str, Any]
) -> None:
    # Meetings had an announcement endpoint; a milestone done or delayed had none, so code
    # that keeps milestones current had to build the template broadcast itself.
    with session_scope(clean_db) as session:
        home = session.get_one(Settlement, world["home"])
        milestone = make_milestone(session, home, title="Standpipes installed", status="done")
        planned = make_milestone(session, home, title="Roads graded").id
        other = make_settlement(session, "Far Away", ward="30").id
    officer = auth(world["officer"])
    url = f"/api/v1/settlements/{world['home']}/milestones/{milestone.id}/announcement"
    offer = client.post(f"{url}/preview", headers=officer)  # no body: the status says what
    assert offer.status_code == 200, offer.text
    draft = offer.json()["broadcast"]
    assert draft["title"] == "Milestone reached: Standpipes installed (Ubuhle Gardens)"
    assert draft["audience"]["settlement_ids"] == [world["home"]]
    assert draft["template"]["name"] == "milestone_reached"
    assert draft["template"]["milestone_id"] == milestone.id
    assert offer.json()["preview"]["recipients"] == 3
    [english] = [p for p in offer.json()["preview"]["languages"] if p["language"] == "en"]
    assert "This step of the upgrading is done: Standpipes installed." in english["text"]
    with session_scope(clean_db) as session:
        session.get_one(Milestone, milestone.id).status = "delayed"
    later = (utcnow() + dt.timedelta(days=1)).isoformat()
    sent = client.post(url, json={"send_at": later}, headers=officer)
    assert sent.status_code == 201, sent.text
    assert sent.json()["status"] == "scheduled"
    assert sent.json()["template"] == {"name": "milestone_delayed", "milestone_id": milestone.id}
    with Session(clean_db) as session:
        [event] = session.exec(
            select(AuditEvent).where(AuditEvent.action == "api.milestone.announce")
        ).all()
    assert event.target == f"milestone:{milestone.id}"
    assert event.detail == {"broadcast": sent.json()["id"], "settlement": world["home"]}
    # Neither done nor delayed: nothing to tell.
    not_news = f"/api/v1/settlements/{world['home']}/milestones/{planned}/announcement"
    for answer in (
        client.post(f"{not_news}/preview", headers=officer),
        client.post(not_news, json={}, headers=officer),
    ):
        assert answer.status_code == 409, answer.text
        assert answer.json()["detail"] == (
            f"milestone {planned} is planned: residents are told of a milestone once it is"
            " done or delayed (set its status first)"
        )
    # Another settlement's number, another ward's settlement, another role.
    mismatch = f"/api/v1/settlements/{other}/milestones/{milestone.id}/announcement"
    assert client.post(f"{mismatch}/preview", headers=officer).status_code == 404
    scoped = scoped_officer(clean_db, "9")  # Ubuhle Gardens is ward 14
    assert client.post(f"{url}/preview", headers=scoped).status_code == 404
    assert client.post(url, headers=scoped).status_code == 404
    assert client.post(url, headers=auth(world["triage"])).status_code == 403
    assert client.post(url, json={"change": "done"}, headers=officer).status_code == 422
    with Session(clean_db) as session:
        assert len(session.exec(select(Broadcast)).all()) == 1


def test_a_milestone_announcement_too_long_for_sms_is_refused_naming_what_to_shorten(
    client: TestClient, clean_db: Engine, world: dict[str, Any]
) -> None:
    long = "The contractor left the site; pipes arrive in May, then trenches. " * 6
    with session_scope(clean_db) as session:
        home = session.get_one(Settlement, world["home"])
        milestone = make_milestone(session, home, status="delayed", note=long).id
    url = f"/api/v1/settlements/{world['home']}/milestones/{milestone}/announcement"
    for answer in (
        client.post(f"{url}/preview", headers=auth(world["officer"])),
        client.post(url, headers=auth(world["officer"])),
    ):
        assert answer.status_code == 422, answer.text
        [problem] = answer.json()["detail"]
        assert problem["loc"] == ["body", "template"]
        assert "so shorten the milestone's title or note" in problem["msg"]
    with Session(clean_db) as session:
        assert session.exec(select(Broadcast)).all() == []


def test_an_announcement_says_only_what_is_true_of_the_meeting(
    client: TestClient, clean_db: Engine, world: dict[str, Any]
) -> None:
    # "cancelled" was offered and sent for a meeting still on (residents told to stay away),
    # and "announced" for a cancelled one made a broadcast cancelled as soon as it was made.
    officer = auth(world["officer"])
    meeting = world["meeting"]
    url = f"/api/v1/meetings/{meeting}/announcement"
    template = {"name": "meeting_cancelled", "meeting_id": meeting}
    draft = {"title": "News", "audience": {"settlement_ids": [world["home"]]}, "template": template}
    refused = [
        client.post(f"{url}/preview", json={"change": "cancelled"}, headers=officer),
        client.post(url, json={"change": "cancelled"}, headers=officer),
        client.post("/api/v1/broadcasts/preview", json=draft, headers=officer),
        client.post("/api/v1/broadcasts", json=draft, headers=officer),
    ]
    for answer in refused:
        assert answer.status_code == 409, answer.text
        assert answer.json()["detail"] == (
            f"meeting {meeting} is not cancelled: cancel it first, then announce that"
        )
    assert client.post(f"/api/v1/meetings/{meeting}/cancel", headers=officer).status_code == 200
    earlier = (utcnow() + dt.timedelta(days=2)).isoformat()
    for change in ({"change": "announced"}, {"change": "moved", "previous_starts_at": earlier}):
        for answer in (
            client.post(f"{url}/preview", json=change, headers=officer),
            client.post(url, json=change, headers=officer),
        ):
            assert answer.status_code == 409, answer.text
            assert answer.json()["detail"] == (
                f"meeting {meeting} is cancelled: announce that it is cancelled instead"
            )
    with Session(clean_db) as session:
        assert session.exec(select(Broadcast)).all() == []
    sent = client.post(url, json={"change": "cancelled"}, headers=officer)
    assert sent.status_code == 201, sent.text


def test_a_meeting_that_has_started_is_not_announced_as_new_or_moved(
    client: TestClient, clean_db: Engine, world: dict[str, Any]
) -> None:
    # "New meeting: ... When: 19:13" went out at 19:13:40 (found by the journey audit).
    officer = auth(world["officer"])
    with session_scope(clean_db) as session:
        started = make_meeting(
            session, utcnow() - dt.timedelta(minutes=1), settlement_id=world["home"]
        ).id
        soon = make_meeting(
            session, utcnow() + dt.timedelta(hours=1), settlement_id=world["home"], title="Soon"
        ).id
    url = f"/api/v1/meetings/{started}/announcement"
    template = {"name": "meeting_announced", "meeting_id": started}
    draft = {"title": "News", "audience": {"settlement_ids": [world["home"]]}, "template": template}
    earlier = (utcnow() - dt.timedelta(days=1)).isoformat()
    moved = {"change": "moved", "previous_starts_at": earlier}
    refused = [
        client.post(f"{url}/preview", json={"change": "announced"}, headers=officer),
        client.post(url, json={"change": "announced"}, headers=officer),
        client.post(url, json=moved, headers=officer),
        client.post("/api/v1/broadcasts/preview", json=draft, headers=officer),
        client.post("/api/v1/broadcasts", json=draft, headers=officer),
    ]
    # Sent after the start of one still to come, it would be as late.
    late = (utcnow() + dt.timedelta(hours=2)).isoformat()
    refused.append(
        client.post(
            f"/api/v1/meetings/{soon}/announcement",
            json={"change": "announced", "send_at": late},
            headers=officer,
        )
    )
    for answer in refused:
        assert answer.status_code == 409, answer.text
        assert "too late to invite residents" in answer.json()["detail"]
    with Session(clean_db) as session:
        assert session.exec(select(Broadcast)).all() == []
    on_time = client.post(
        f"/api/v1/meetings/{soon}/announcement", json={"change": "announced"}, headers=officer
    )
    assert on_time.status_code == 201, on_time.text


def test_odd_input_is_refused_not_crashed(client: TestClient, world: dict[str, Any]) -> None:
    officer = auth(world["officer"])
    odd: list[dict[str, Any]] = [
        {"audience": {"settlement_ids": [2**40]}, "texts": {"en": "Hi."}},
        {"audience": {"wards": ["1\x00"]}, "texts": {"en": "Hi."}},
        {"audience": {"everyone": True}, "texts": {"en": "Hi.\x00"}},
        {"audience": {"everyone": True}, "texts": {"en": "Hi."}, "send_at": "0001-01-01T00:00Z"},
        {
            "audience": {"everyone": True},
            "template": {
                "name": "water_interruption",
                "area": "Block C",
                "starts_at": "9999-12-31T23:00:00Z",
                "ends_at": "9999-12-31T23:30:00Z",
            },
        },
        {"audience": {"everyone": True}, "texts": {"en": "Hi.", "zz": "?"}},
    ]
    for payload in odd:
        assert client.post(
            "/api/v1/broadcasts/preview", json=payload, headers=officer
        ).status_code in (
            200,
            422,
        ), payload
        assert client.post("/api/v1/broadcasts", json=payload, headers=officer).status_code == 422
    # The preview refuses a language create refuses; it used to show the rest with a 200.
    unknown = client.post("/api/v1/broadcasts/preview", json=odd[-1], headers=officer)
    assert unknown.status_code == 422 and "no such language: zz (known: en, xh," in unknown.text


def test_an_audience_language_residents_cannot_have_is_refused(
    client: TestClient, world: dict[str, Any]
) -> None:
    # A language is a code ("xh"): "isiXhosa" matched no one, and was sent to no one.
    officer = auth(world["officer"])
    payload = {"audience": {"languages": ["isiXhosa", "xh"]}, "texts": {"en": "Hi."}}
    for path in ("/api/v1/broadcasts/preview", "/api/v1/broadcasts"):
        answer = client.post(path, json=payload, headers=officer)
        assert answer.status_code == 422, (path, answer.text)
        assert "no such language in the audience: isiXhosa (known: en, xh," in answer.text
    assert client.get("/api/v1/broadcasts", headers=officer).json() == []
    payload["audience"] = {"languages": ["xh"]}
    created = client.post("/api/v1/broadcasts", json=payload, headers=officer).json()
    assert created["audience_size"] == 2


def test_a_message_twilio_would_refuse_as_too_long_is_refused_first(
    client: TestClient, world: dict[str, Any]
) -> None:
    # 900 thumbs-up are 900 characters but 1,800 as Twilio counts them (UTF-16): refused
    # there (21617) for every resident; here, before anything is queued.
    officer = auth(world["officer"])
    payload = {"audience": {"everyone": True}, "texts": {"en": "Thanks! " + "\U0001f44d" * 900}}
    for path in ("/api/v1/broadcasts/preview", "/api/v1/broadcasts"):
        answer = client.post(path, json=payload, headers=officer)
        assert answer.status_code == 422, (path, answer.text)
        assert "1,843 characters as Twilio counts them" in answer.text  # SMS: + the STOP hint
        assert "at most 1,600" in answer.text
    # 1,408: fine for Twilio, and for WhatsApp alone (an SMS copy would be 22 segments).
    payload["texts"] = {"en": "Thanks! " + "\U0001f44d" * 700}
    payload["audience"] = {"channels": ["whatsapp"]}
    assert (
        client.post("/api/v1/broadcasts/preview", json=payload, headers=officer).status_code == 200
    )


def test_a_time_without_a_utc_offset_is_refused(client: TestClient, world: dict[str, Any]) -> None:
    # Read as UTC, a municipal system's 08:00 told residents "no water from 10:00".
    officer = auth(world["officer"])
    template = {
        "name": "water_interruption",
        "area": "Block C",
        "starts_at": "2030-03-10T08:00:00",
        "ends_at": "2030-03-10T16:00:00",
    }
    for payload in (
        {"audience": {"everyone": True}, "template": template},
        {"audience": {"everyone": True}, "texts": {"en": "Hi."}, "send_at": "2030-03-09T18:00"},
    ):
        for path in ("/api/v1/broadcasts/preview", "/api/v1/broadcasts"):
            answer = client.post(path, json=payload, headers=officer)
            assert answer.status_code == 422 and "UTC offset" in answer.text, (path, payload)
    template.update(starts_at="2030-03-10T08:00:00+02:00", ends_at="2030-03-10T16:00:00+02:00")
    preview = client.post(
        "/api/v1/broadcasts/preview",
        json={"audience": {"everyone": True}, "template": template},
        headers=officer,
    )
    assert preview.status_code == 200 and "08:00" in preview.text


def test_a_time_is_checked_in_utc(client: TestClient, world: dict[str, Any]) -> None:
    # The year was checked as written: 2100-12-31T23:30-05:00 passed, yet it is 2101 in UTC.
    officer = auth(world["officer"])
    texts = {"audience": {"everyone": True}, "texts": {"en": "Hi."}}
    template = {
        "name": "water_interruption",
        "area": "Block C",
        "starts_at": "2000-01-01T01:00+02:00",  # 1999 in UTC
        "ends_at": "2000-01-01T16:00+02:00",
    }
    for payload, field in (
        ({**texts, "send_at": "2100-12-31T23:30-05:00"}, "send_at"),
        ({"audience": {"everyone": True}, "template": template}, "starts_at"),
    ):
        for path in ("/api/v1/broadcasts/preview", "/api/v1/broadcasts"):
            answer = client.post(path, json=payload, headers=officer)
            assert answer.status_code == 422, (path, answer.text)
            [problem] = answer.json()["detail"]
            assert problem["loc"][-1] == field
            assert "is not between 2000 and 2100 in UTC" in problem["msg"]
            assert problem["msg"].startswith(f"Value error, {field} ")
    last = {**texts, "send_at": "2100-12-31T23:30+00:00"}  # as written and in UTC
    assert client.post("/api/v1/broadcasts/preview", json=last, headers=officer).status_code == 200


def test_scoped_officers_see_and_touch_only_broadcasts_to_their_places(
    client: TestClient, clean_db: Engine, world: dict[str, Any]
) -> None:
    scoped = scoped_officer(clean_db, "14")
    everyone = {"audience": {"everyone": True}, "texts": {"en": "Hello everyone."}}
    mine = {"audience": {"wards": ["14"]}, "texts": {"en": "Ward 14 forum moved."}}
    assert client.post("/api/v1/broadcasts", json=everyone, headers=scoped).status_code == 403
    theirs = client.post("/api/v1/broadcasts", json=everyone, headers=auth(world["officer"]))
    own = client.post("/api/v1/broadcasts", json=mine, headers=scoped)
    assert own.status_code == 201, own.text
    listed = [b["id"] for b in client.get("/api/v1/broadcasts", headers=scoped).json()]
    assert listed == [own.json()["id"]]
    other_url = f"/api/v1/broadcasts/{theirs.json()['id']}"
    assert client.get(other_url, headers=scoped).status_code == 404
    assert client.post(f"{other_url}/cancel", headers=scoped).status_code == 404
    assert client.get(other_url, headers=auth(world["officer"])).status_code == 200
    unscoped = [
        b["id"] for b in client.get("/api/v1/broadcasts", headers=auth(world["triage"])).json()
    ]
    assert set(unscoped) == {own.json()["id"], theirs.json()["id"]}


def test_scoped_officers_read_city_forums_but_announce_only_to_their_places(
    client: TestClient, clean_db: Engine, world: dict[str, Any]
) -> None:
    scoped = scoped_officer(clean_db, "9")
    with session_scope(clean_db) as session:
        soon = utcnow() + dt.timedelta(days=5)
        city = make_meeting(session, soon, level="city", title="City forum").id
        other = make_settlement(session, "Far Away", ward="30")
        elsewhere = make_meeting(session, soon, settlement_id=other.id, title="Far meeting").id
        own = make_meeting(session, soon, level="ward", ward="9", title="Ward 9 forum").id

    def attendance(meeting_id: int, headers: dict[str, str]) -> int:
        return client.get(f"/api/v1/meetings/{meeting_id}/attendance", headers=headers).status_code

    assert attendance(city, scoped) == 200  # its residents are invited too
    assert attendance(own, scoped) == 200
    assert attendance(world["meeting"], scoped) == 404  # ward 14's settlement
    assert attendance(elsewhere, scoped) == 404
    offer = {"change": "announced"}
    city_url = f"/api/v1/meetings/{city}/announcement"
    # A forum it only reads is 403, as changing or cancelling it is (it answered 409).
    for url in (f"{city_url}/preview", city_url):
        refused = client.post(url, json=offer, headers=scoped)
        assert refused.status_code == 403, url
        assert "only meetings of your own places" in refused.json()["detail"]
    own_url = f"/api/v1/meetings/{own}/announcement"
    assert client.post(f"{own_url}/preview", json=offer, headers=scoped).status_code == 200
    hidden_url = f"/api/v1/meetings/{world['meeting']}/announcement"
    assert client.post(f"{hidden_url}/preview", json=offer, headers=scoped).status_code == 404
    officer = auth(world["officer"])  # unscoped
    assert client.post(f"{city_url}/preview", json=offer, headers=officer).status_code == 200
    assert attendance(elsewhere, officer) == 200


def test_a_scoped_officer_counts_who_will_come_to_a_city_forum_among_their_residents_only(
    client: TestClient, clean_db: Engine, world: dict[str, Any]
) -> None:
    # Everyone was reminded of the city forum and said they will come: three residents of
    # Ubuhle Gardens (ward 14) and one of Thembalethu (ward 9).
    with session_scope(clean_db) as session:
        forum = make_meeting(session, utcnow() + dt.timedelta(days=5), level="city")
        city = forum.id
        for n, resident_id in enumerate(session.exec(select(Resident.id)).all()):
            said = {"resident_id": resident_id, "meeting_id": city, "starts_at": forum.starts_at}
            broadcasts.record_attendance(session=session, **said)
            session.add(
                Outbox(
                    resident_id=resident_id,
                    channel="sms",
                    purpose="reminder",
                    ref=broadcasts.meeting_ref(city),
                    dedupe_key=f"forum-{n}",
                    body="Reminder",
                    status="delivered",
                )
            )
    url = f"/api/v1/meetings/{city}/attendance"
    scoped = client.get(url, headers=scoped_officer(clean_db, "9")).json()
    assert (scoped["attending"], scoped["reminded"]) == (1, 1)  # Thembalethu's
    assert scoped["within_scope_only"] is True
    everyone = client.get(url, headers=auth(world["officer"])).json()
    assert (everyone["attending"], everyone["reminded"]) == (4, 4)
    assert everyone["within_scope_only"] is False


def test_a_city_forum_that_names_a_settlement_still_concerns_everyone(
    client: TestClient, clean_db: Engine, world: dict[str, Any]
) -> None:
    # The dashboard once took a settlement on a city forum (the CSV import never did).
    # Residents asking for meetings saw it everywhere, but only that settlement's staff
    # could read it and its announcement went to that settlement alone.
    scoped = scoped_officer(clean_db, "9")
    with session_scope(clean_db) as session:
        soon = utcnow() + dt.timedelta(days=5)
        city = make_meeting(
            session, soon, level="city", settlement_id=world["home"], title="City forum"
        ).id
        other = session.exec(select(Settlement).where(Settlement.ward == "9")).one()
        shown = upcoming_meetings(session=session, settlement_id=other.id, ward="9", now=utcnow())
    assert [m.title for m in shown] == ["City forum"]
    attendance = client.get(f"/api/v1/meetings/{city}/attendance", headers=scoped)
    assert attendance.status_code == 200
    url = f"/api/v1/meetings/{city}/announcement/preview"
    offer = client.post(url, json={"change": "announced"}, headers=auth(world["officer"])).json()
    assert offer["broadcast"]["audience"]["everyone"] is True
    assert offer["preview"]["recipients"] == 4  # Thembalethu's resident too
    # The settlement it names gives that settlement's staff no more say over it than others.
    named = scoped_officer(clean_db, "14")
    assert client.post(url, json={"change": "announced"}, headers=named).status_code == 403
    with session_scope(clean_db) as session:
        mine = scopes.Scope(wards=frozenset({"14"}))
        changeable = select(Meeting.id).where(scopes.meeting_condition(mine))
        assert city not in session.exec(changeable).all()


def test_broadcast_actions_through_the_api_are_in_the_audit_log(
    client: TestClient, world: dict[str, Any], clean_db: Engine
) -> None:
    payload = {"audience": {"everyone": True}, "texts": {"en": "Hello everyone."}}
    created = client.post("/api/v1/broadcasts", json=payload, headers=auth(world["officer"]))
    url = f"/api/v1/broadcasts/{created.json()['id']}"
    assert client.post(f"{url}/approve", headers=auth(world["second"])).status_code == 200
    assert client.post(f"{url}/cancel", headers=auth(world["second"])).status_code == 200
    announce = f"/api/v1/meetings/{world['meeting']}/announcement"
    sent = client.post(announce, json={"change": "announced"}, headers=auth(world["officer"]))
    assert sent.status_code == 201
    # refused actions change nothing and are not logged as done
    assert client.post(f"{url}/cancel", headers=auth(world["second"])).status_code == 409
    with Session(clean_db) as session:
        events = session.exec(select(AuditEvent).order_by(col(AuditEvent.id))).all()
    target = f"broadcast:{created.json()['id']}"
    assert [(e.actor_email, e.action, e.target) for e in events] == [
        ("officer@ubuntubay.example.org", "api.broadcast.create", target),
        ("second@ubuntubay.example.org", "api.broadcast.approve", target),
        ("second@ubuntubay.example.org", "api.broadcast.cancel", target),
        ("officer@ubuntubay.example.org", "api.meeting.announce", f"meeting:{world['meeting']}"),
    ]
    assert events[0].detail == {"recipients": 4} and events[2].detail == {"messages": 4}
    assert events[3].detail == {"broadcast": sent.json()["id"], "change": "announced"}


def test_a_template_cannot_show_a_scoped_officer_a_meeting_or_milestone_outside_their_scope(
    client: TestClient, clean_db: Engine, world: dict[str, Any]
) -> None:
    with session_scope(clean_db) as session:
        milestone = make_milestone(session, session.get(Settlement, world["home"]), note="Farm 12")
        city = make_meeting(session, utcnow() + dt.timedelta(days=5), level="city", title="City")
        ids = {"milestone": milestone.id, "city": city.id}
    scoped = scoped_officer(clean_db, "9")  # Ubuhle and its meeting lie in ward 14
    audience = {"wards": ["9"]}
    hidden = [
        {"name": "meeting_announced", "meeting_id": world["meeting"]},
        {"name": "milestone_reached", "milestone_id": ids["milestone"]},
    ]
    for template in hidden:
        draft = {"title": "News", "audience": audience, "template": template}
        for url in ("/api/v1/broadcasts/preview", "/api/v1/broadcasts"):
            answer = client.post(url, json=draft, headers=scoped)
            assert answer.status_code == 404, (url, answer.text)
            assert "Layout plan" not in answer.text and "Farm 12" not in answer.text
    # A city forum concerns everyone: announcing it to their own ward is theirs to do.
    announced = {"name": "meeting_announced", "meeting_id": ids["city"]}
    shown = {"title": "City", "audience": audience, "template": announced}
    assert client.post("/api/v1/broadcasts/preview", json=shown, headers=scoped).status_code == 200


def test_a_scoped_officer_cannot_preview_a_stored_broadcast_quoting_what_they_may_not_see(
    client: TestClient, settings: Settings, clean_db: Engine, world: dict[str, Any]
) -> None:
    # An unscoped officer composed it for ward 9's residents, quoting ward 14's milestone:
    # the ward 9 officer sees the broadcast (its audience is theirs), not what it quotes.
    with session_scope(clean_db) as session:
        home = session.get_one(Settlement, world["home"])  # Ubuhle Gardens, ward 14
        milestone = make_milestone(session, home, title="Farm 12 bought", status="done")
        draft = BroadcastCreate(
            title="News",
            audience=Audience(wards=["9"]),
            template=TemplateIn(name="milestone_reached", milestone_id=milestone.id),
            send_at=utcnow() + dt.timedelta(days=2),
        )
        stored = broadcasts.create(
            session=session, settings=settings, broadcast_in=draft, staff=None
        )
    url = f"/api/v1/broadcasts/{stored.id}"
    scoped = scoped_officer(clean_db, "9")
    assert client.get(url, headers=scoped).status_code == 200
    hidden = client.get(f"{url}/preview", headers=scoped)
    assert hidden.status_code == 404, hidden.text
    assert "Farm 12" not in hidden.text and "Ubuhle" not in hidden.text
    shown = client.get(f"{url}/preview", headers=auth(world["officer"]))
    assert shown.status_code == 200 and "Farm 12 bought" in shown.text
    assert shown.json()["recipients"] == 1  # Thembalethu's resident


def test_a_broadcast_whose_sms_would_pass_three_segments_is_refused_in_any_language(
    client: TestClient, clean_db: Engine, world: dict[str, Any]
) -> None:
    officer = auth(world["officer"])
    news = "The water tanks arrive on Monday morning at the hall, bring containers. " * 6
    payload: dict[str, Any] = {
        "audience": {"settlement_ids": [world["home"]]},
        "texts": {"en": "Water tanks arrive on Monday.", "zu": news[:350] + " 💧"},
    }
    # No resident speaks isiZulu today; one may by the time it goes, by SMS.
    for path in ("/api/v1/broadcasts/preview", "/api/v1/broadcasts"):
        answer = client.post(path, json=payload, headers=officer)
        assert answer.status_code == 422, (path, answer.text)
        [problem] = answer.json()["detail"]
        assert problem["loc"] == ["body", "texts", "zu"] and problem["type"] == "sms_segments"
        assert problem["msg"].startswith(
            "the isiZulu SMS, with its STOP hint, would be 6 SMS segments (UCS-2, 395 characters)"
        )
        assert "UCS-2 because of 💧" in problem["msg"]
    # English words given for every language: one problem, named by the English text.
    payload["texts"] = {"en": news}
    answer = client.post("/api/v1/broadcasts", json=payload, headers=officer)
    assert [p["loc"] for p in answer.json()["detail"]] == [["body", "texts", "en"]]
    assert "would be 4 SMS segments (GSM-7, 466 characters)" in answer.text
    # SMS fallback would carry it to WhatsApp residents outside the window: refused too.
    payload["audience"] = {"settlement_ids": [world["home"]], "channels": ["whatsapp"]}
    payload["sms_fallback"] = True
    assert client.post("/api/v1/broadcasts", json=payload, headers=officer).status_code == 422
    # To WhatsApp alone it may be as long as WhatsApp takes.
    payload["sms_fallback"] = False
    created = client.post("/api/v1/broadcasts", json=payload, headers=officer)
    assert created.status_code == 201, created.text
    with Session(clean_db) as session:
        [row] = session.exec(select(Outbox)).all()
    assert row.channel == "whatsapp" and news.strip() in (row.body or "")


def test_a_meeting_announcement_too_long_for_sms_is_refused_naming_what_to_shorten(
    client: TestClient, clean_db: Engine, world: dict[str, Any]
) -> None:
    with session_scope(clean_db) as session:
        meeting = session.get(Meeting, world["meeting"])
        assert meeting is not None
        meeting.venue = "The community hall behind the clinic, next to the taxi rank. " * 6
    answer = client.post(
        f"/api/v1/meetings/{world['meeting']}/announcement",
        json={"change": "announced"},
        headers=auth(world["officer"]),
    )
    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["detail"]
    assert problem["loc"] == ["body", "template"]
    assert "so shorten the meeting's title or venue" in problem["msg"]
    with Session(clean_db) as session:
        assert session.exec(select(Broadcast)).all() == []


def test_category_announcement_offer_send_and_delivery_in_each_language(
    client: TestClient, settings: Settings, clean_db: Engine, world: dict[str, Any]
) -> None:
    # A settlement's category changed through the API, the dashboard or an import, and
    # nothing offered to tell its residents, though it is the fact that matters most.
    officer = auth(world["officer"])
    home = world["home"]
    changed = client.patch(f"/api/v1/settlements/{home}", json={"category": "B2"}, headers=officer)
    assert changed.status_code == 200, changed.text
    url = f"/api/v1/settlements/{home}/category/announcement"
    body = {"category": "B2", "previous_category": ""}  # not assessed before
    offer = client.post(f"{url}/preview", json=body, headers=officer)
    assert offer.status_code == 200, offer.text
    draft = offer.json()["broadcast"]
    assert draft["title"] == "Category B2: Ubuhle Gardens"
    assert draft["audience"]["settlement_ids"] == [home]
    assert draft["template"] == {
        "name": "category_changed",
        "meeting_id": None,
        "previous_starts_at": None,
        "previous_venue": None,
        "milestone_id": None,
        "settlement_id": home,
        "category": "B2",
        "previous_category": "",
        "area": None,
        "starts_at": None,
        "ends_at": None,
    }
    assert offer.json()["preview"]["recipients"] == 3
    [english] = [p for p in offer.json()["preview"]["languages"] if p["language"] == "en"]
    assert (
        "in category B2: emergency services now, and a move to a new place later."
        in (english["text"])
    )
    sent = client.post(url, json=body, headers=officer)
    assert sent.status_code == 201, sent.text
    assert sent.json()["status"] == "enqueued" and sent.json()["progress"]["queued"] == 3
    with TwilioStandIn() as standin:
        deliver(settings, clean_db, standin)
        bodies = sorted(m["body"] for m in standin.messages)
    assert len(bodies) == 3
    assert sum(b.startswith("News for Ubuhle Gardens: category B2\n") for b in bodies) == 1
    assert sum("Iindaba ze-Ubuhle Gardens: udidi B2" in b for b in bodies) == 2
    with Session(clean_db) as session:
        [event] = session.exec(
            select(AuditEvent).where(AuditEvent.action == "api.settlement.announce_category")
        ).all()
    assert event.target == f"settlement:{home}"
    assert event.detail == {"broadcast": sent.json()["id"], "category": "B2"}


def test_a_category_announcement_says_only_what_is_true_and_only_in_scope(
    client: TestClient, clean_db: Engine, world: dict[str, Any]
) -> None:
    officer = auth(world["officer"])
    home = world["home"]
    with session_scope(clean_db) as session:
        session.get_one(Settlement, home).category = "C"
    url = f"/api/v1/settlements/{home}/category/announcement"
    refusals = {
        # Changed again since the caller read it.
        "B1": f"settlement {home} (Ubuhle Gardens) is now in category C, not B1: its "
        "category changed since; announce the category it has, or nothing",
        # "Changed" to the category it had.
        "C": f"settlement {home} (Ubuhle Gardens) was in category C already: placing it "
        "there again is no change to announce",
    }
    for category, refusal in refusals.items():
        body = {"category": category, "previous_category": "C"}
        for answer in (
            client.post(f"{url}/preview", json=body, headers=officer),
            client.post(url, json=body, headers=officer),
        ):
            assert answer.status_code == 409, answer.text
            assert answer.json()["detail"] == refusal
    assert client.post(url, json={"category": "D"}, headers=officer).status_code == 422
    assert client.post(url, json={}, headers=officer).status_code == 422
    # Another ward's officer does not see the settlement; triage may not send.
    body = {"category": "C", "previous_category": "B2"}
    outsider = scoped_officer(clean_db, "9")  # Ubuhle Gardens is ward 14
    assert client.post(f"{url}/preview", json=body, headers=outsider).status_code == 404
    assert client.post(url, json=body, headers=outsider).status_code == 404
    assert client.post(url, json=body, headers=auth(world["triage"])).status_code == 403
    template = {"name": "category_changed", "settlement_id": home, "category": "C"}
    quoted = {"title": "News", "audience": {"wards": ["9"]}, "template": template}
    hidden = client.post("/api/v1/broadcasts", json=quoted, headers=outsider)
    assert hidden.status_code == 404 and "Ubuhle" not in hidden.text
    # Ward 14's officer may tell their settlement, not everyone.
    insider = scoped_officer(clean_db, "14")
    everyone = {**quoted, "audience": {"everyone": True}}
    assert client.post("/api/v1/broadcasts", json=everyone, headers=insider).status_code == 403
    assert client.post(f"{url}/preview", json=body, headers=insider).status_code == 200
    with Session(clean_db) as session:
        assert session.exec(select(Broadcast)).all() == []


def test_a_category_changed_again_with_the_api_withdraws_its_scheduled_announcement(
    client: TestClient, clean_db: Engine, world: dict[str, Any]
) -> None:
    # The scheduled "placed in B1" stood after the category changed again, and failed only
    # when due; the caller who changed it was told nothing.
    officer = auth(world["officer"])
    home = world["home"]
    url = f"/api/v1/settlements/{home}"
    assert client.patch(url, json={"category": "B1"}, headers=officer).status_code == 200
    later = (utcnow() + dt.timedelta(hours=3)).isoformat()
    body = {"category": "B1", "send_at": later}
    made = client.post(f"{url}/category/announcement", json=body, headers=officer)
    assert made.status_code in (200, 201), made.text
    broadcast_id = made.json()["id"]
    assert made.json()["status"] == "scheduled"
    kept = client.patch(url, json={"category_note": "Water first"}, headers=officer)
    assert kept.json()["withdrawn_announcements"] == []
    changed = client.patch(url, json={"category": "B2"}, headers=officer)
    assert changed.status_code == 200, changed.text
    day = utcnow().astimezone(TIMEZONE).strftime("%Y-%m-%d")
    reason = f"the category changed again to B2 on {day}"
    assert changed.json()["withdrawn_announcements"] == [
        {"broadcast_id": broadcast_id, "title": "Category B1: Ubuhle Gardens", "reason": reason}
    ]
    shown = client.get(f"/api/v1/broadcasts/{broadcast_id}", headers=officer).json()
    assert (shown["status"], shown["status_reason"]) == ("cancelled", reason)
    with Session(clean_db) as session:
        [event] = session.exec(
            select(AuditEvent).where(col(AuditEvent.action) == "broadcast.withdraw")
        ).all()
        assert event.target == f"broadcast:{broadcast_id}"
        assert event.detail == {"reason": reason, "settlement_id": home, "via": "api"}
