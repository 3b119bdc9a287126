"""End to end: complaints from WhatsApp (photo + pin) and SMS reach the JSON API and
Open311; staff updates reach the resident through the outbox and the Twilio stand-in;
resolved -> "no" -> reopened; tokens and roles guard the API."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from bot.channels.sender import TwilioSender
from bot.config import Settings
from bot.db import session_scope
from bot.domain.outbox.delivery import DeliveryConfig, Dispatcher
from bot.domain.outbox.models import Outbox
from bot.domain.staff.models import AuditEvent
from tests.domain.tickets.factories import Phone, make_staff, make_ticket
from tests.factories import make_settlement
from tests.twilio_standin import TwilioStandIn, standin_settings

WA_PHONE = "+27821110001"
SMS_PHONE = "+27831110002"


@pytest.fixture
def world(clean_db: Engine) -> dict[str, str]:
    """A settlement, a triage user and an officer, each with a token."""
    with session_scope(clean_db) as session:
        make_settlement(session, "Ubuhle Gardens", ward="14")
        _, triage = make_staff(session)
        _, officer = make_staff(session, "officer@ubuntubay.example.org", "officer")
    return {"triage": triage, "officer": officer}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def reference_in(reply: str) -> str:
    match = re.search(r"report number is (\d+)", reply)
    assert match, reply
    return match.group(1)


def whatsapp_complaint(client: TestClient, settings: Settings) -> tuple[Phone, str]:
    phone = Phone(client, settings, WA_PHONE, "whatsapp")
    phone.onboard("Ubuhle Gardens")
    phone.send("5")
    phone.send("1")
    phone.send("1")  # water
    assert "share a location pin" in phone.send("The tap is broken", fixture="whatsapp_media")
    summary = phone.send("", fixture="whatsapp_location")
    assert "Photos and voice notes: 2" in summary and "A location pin is included." in summary
    return phone, reference_in(phone.send("1"))


def sms_complaint(client: TestClient, settings: Settings) -> tuple[Phone, str]:
    phone = Phone(client, settings, SMS_PHONE, "sms")
    phone.onboard("Ubuhle Gardens")
    phone.send("5")
    phone.send("1")
    phone.send("7")  # refuse
    phone.send("Nobody collected the rubbish for two weeks. Call me on 083 111 0002")
    assert "Where: Section B, structure 112" in phone.send("Section B, structure 112")
    return phone, reference_in(phone.send("1"))


def deliver(settings: Settings, engine: Engine, standin: TwilioStandIn) -> None:
    """Drain the outbox to the Twilio stand-in, as `siyakha worker` would."""
    sender = TwilioSender(standin_settings(standin, settings.database_url))
    config = DeliveryConfig(
        rates={"sms": 0, "whatsapp": 0},
        concurrency=2,
        lease=dt.timedelta(seconds=30),
        send_timeout=dt.timedelta(seconds=5),
    )
    Dispatcher(engine=engine, sender=sender, config=config, worker_id="test").run(until_idle=True)


def test_complaints_from_whatsapp_and_sms_reach_the_api(client, settings, world) -> None:
    _, wa_ref = whatsapp_complaint(client, settings)
    _, sms_ref = sms_complaint(client, settings)
    assert wa_ref != sms_ref and wa_ref.isdigit() and len(wa_ref) == 7

    page = client.get("/api/v1/tickets", headers=auth(world["officer"])).json()
    assert page["total"] == 2
    by_ref = {t["reference"]: t for t in page["items"]}
    wa = by_ref[wa_ref]
    assert (wa["category"], wa["status"], wa["source"], wa["priority"]) == (
        "water",
        "new",
        "whatsapp",
        "normal",
    )
    assert wa["description"] == "The tap is broken"
    assert [m["content_type"] for m in wa["media"]] == ["image/jpeg", "audio/ogg"]
    assert (wa["latitude"], wa["longitude"]) == (-33.9874, 18.5612)
    assert wa["location_text"] == "Standpipe 4, Ubuhle Gardens"  # the pin's Label and Address
    assert wa["settlement"] == "Ubuhle Gardens" and wa["sla_state"] == "on_track"
    sms = by_ref[sms_ref]
    assert (sms["category"], sms["source"], sms["location_text"]) == (
        "refuse",
        "sms",
        "Section B, structure 112",
    )
    assert sms["latitude"] is None and sms["media"] == []
    text = json.dumps(page)
    assert WA_PHONE not in text and SMS_PHONE not in text and "Nomsa" not in text

    detail = client.get(f"/api/v1/tickets/{wa_ref}", headers=auth(world["officer"])).json()
    assert [e["kind"] for e in detail["events"]] == ["created"]

    filtered = client.get(
        "/api/v1/tickets",
        params={"category": "refuse", "status": "new", "sla": "on_track"},
        headers=auth(world["officer"]),
    ).json()
    assert [t["reference"] for t in filtered["items"]] == [sms_ref]

    services = client.get("/open311/v2/services.json").json()
    assert {s["service_code"] for s in services} >= {"water", "refuse", "fire"}
    requests = client.get("/open311/v2/requests.json").json()
    by_id = {r["service_request_id"]: r for r in requests}
    assert by_id[wa_ref]["status"] == "open"
    assert (by_id[wa_ref]["lat"], by_id[wa_ref]["long"]) == (-33.987, 18.561)  # to about 110 m
    assert by_id[wa_ref]["address"] is None and by_id[sms_ref]["description"] is None  # public
    keyed = client.get("/open311/v2/requests.json", params={"api_key": world["officer"]}).json()
    by_id = {r["service_request_id"]: r for r in keyed}
    assert by_id[wa_ref]["address"] == "Standpipe 4, Ubuhle Gardens, Ubuhle Gardens"
    assert by_id[sms_ref]["address"] == "Section B, structure 112, Ubuhle Gardens"
    assert "[number removed]" in by_id[sms_ref]["description"]
    assert by_id[sms_ref]["expected_datetime"] > by_id[sms_ref]["requested_datetime"]
    open311_text = json.dumps([requests, keyed])
    for secret in (WA_PHONE, SMS_PHONE, "083 111 0002", "0831110002", "Nomsa"):
        assert secret not in open311_text
    one = client.get(f"/open311/v2/requests/{sms_ref}.json").json()
    assert one[0]["service_code"] == "refuse"


def test_staff_updates_reach_the_resident_and_no_reopens(client, settings, clean_db, world) -> None:
    phone, ref = whatsapp_complaint(client, settings)
    headers = auth(world["triage"])
    r = client.patch(f"/api/v1/tickets/{ref}", json={"status": "acknowledged"}, headers=headers)
    assert r.status_code == 200, r.text
    r = client.post(
        f"/api/v1/tickets/{ref}/replies", json={"canned": "visit_soon"}, headers=headers
    )
    assert r.status_code == 201, r.text
    client.post(f"/api/v1/tickets/{ref}/notes", json={"body": "Plumber booked"}, headers=headers)
    r = client.patch(f"/api/v1/tickets/{ref}", json={"status": "resolved"}, headers=headers)
    detail = r.json()
    assert detail["status"] == "resolved" and detail["acknowledged_at"]
    kinds = [(e["kind"], e["public"]) for e in detail["events"]]
    assert ("note", False) in kinds and ("reply", True) in kinds

    with TwilioStandIn() as standin:
        deliver(settings, clean_db, standin)
        bodies = [m["body"] for m in standin.to(f"whatsapp:{WA_PHONE}")]
    assert len(bodies) == 3, bodies
    assert any("has seen your report " + ref in b for b in bodies)
    assert any("A team will come to look at the problem soon." in b for b in bodies)
    assert any("Is it fixed? Reply 1 for yes or 2 for no." in b for b in bodies)
    assert not any("Plumber" in b for b in bodies)

    assert "We are sorry it is not fixed" in phone.send("2")
    assert f"opened report {ref} again" in phone.send("Still no water at lane 4")
    detail = client.get(f"/api/v1/tickets/{ref}", headers=headers).json()
    assert detail["status"] == "reopened" and detail["resolved_at"] is None
    assert detail["events"][-2]["kind"] == "not_fixed"
    assert detail["events"][-2]["body"] == "Still no water at lane 4"

    # Resolve again; this time the resident says it is fixed, once the question reached
    # them (still queued, it is not on their screen: "1" is menu option 1 meanwhile).
    client.patch(f"/api/v1/tickets/{ref}", json={"status": "resolved"}, headers=headers)
    assert f"Report {ref} is now closed" not in phone.send("1")
    phone.send("0")
    with TwilioStandIn() as standin:
        deliver(settings, clean_db, standin)
    assert f"Report {ref} is now closed" in phone.send("1")
    assert client.get(f"/api/v1/tickets/{ref}", headers=headers).json()["status"] == "closed"


def test_yes_after_staff_took_the_report_back_keeps_it_open(
    client, settings, clean_db, world
) -> None:
    phone, ref = sms_complaint(client, settings)
    headers = auth(world["triage"])
    client.patch(f"/api/v1/tickets/{ref}", json={"status": "resolved"}, headers=headers)
    assert "Reply 1 for yes" in phone.send(f"STATUS {ref}")
    client.patch(f"/api/v1/tickets/{ref}", json={"status": "in_progress"}, headers=headers)
    reply = phone.send("1")
    assert f"working on report {ref} again" in reply and "now closed" not in reply
    assert client.get(f"/api/v1/tickets/{ref}", headers=headers).json()["status"] == "in_progress"


def test_duplicates_share_updates_with_every_reporter(client, settings, clean_db, world) -> None:
    _, wa_ref = whatsapp_complaint(client, settings)
    _, sms_ref = sms_complaint(client, settings)
    headers = auth(world["triage"])
    r = client.put(f"/api/v1/tickets/{sms_ref}/parent", json={"parent": wa_ref}, headers=headers)
    assert r.json()["parent_reference"] == wa_ref
    client.post(
        f"/api/v1/tickets/{wa_ref}/replies", json={"body": "Team on site."}, headers=headers
    )
    client.patch(f"/api/v1/tickets/{wa_ref}", json={"status": "in_progress"}, headers=headers)
    child = client.get(f"/api/v1/tickets/{sms_ref}", headers=headers).json()
    assert child["status"] == "in_progress" and child["last_public_note"] == "Team on site."
    with session_scope(clean_db) as session:
        rows = session.execute(select(Outbox.body, Outbox.channel)).all()
    sms_bodies = [b for b, ch in rows if ch == "sms"]
    assert any(f"news about your report {sms_ref}: Team on site." in b for b in sms_bodies)
    assert any(f"work has started on your report {sms_ref}" in b for b in sms_bodies)
    # A resolved ticket takes no more duplicates: they would never hear of it again.
    client.patch(f"/api/v1/tickets/{wa_ref}", json={"status": "resolved"}, headers=headers)
    client.delete(f"/api/v1/tickets/{sms_ref}/parent", headers=headers)
    r = client.put(f"/api/v1/tickets/{sms_ref}/parent", json={"parent": wa_ref}, headers=headers)
    assert r.status_code == 409 and "reopen it" in r.json()["detail"]


def test_a_resolved_or_closed_report_is_not_linked_as_a_duplicate(
    client, settings, clean_db, world
) -> None:
    _, wa_ref = whatsapp_complaint(client, settings)
    _, sms_ref = sms_complaint(client, settings)
    headers = auth(world["triage"])
    for status in ("resolved", "closed"):
        client.patch(f"/api/v1/tickets/{sms_ref}", json={"status": status}, headers=headers)
        r = client.put(
            f"/api/v1/tickets/{sms_ref}/parent", json={"parent": wa_ref}, headers=headers
        )
        assert r.status_code == 409, r.text
        assert r.json()["detail"].startswith(f"ticket {sms_ref} is {status}: reopen it first")
        child = client.get(f"/api/v1/tickets/{sms_ref}", headers=headers).json()
        assert child["parent_reference"] is None and child["status"] == status
        parent = client.get(f"/api/v1/tickets/{wa_ref}", headers=headers).json()
        assert parent["linked_references"] == []
    client.patch(f"/api/v1/tickets/{sms_ref}", json={"status": "reopened"}, headers=headers)
    r = client.put(f"/api/v1/tickets/{sms_ref}/parent", json={"parent": wa_ref}, headers=headers)
    assert r.status_code == 200 and r.json()["parent_reference"] == wa_ref


def test_status_and_my_reports_from_the_chat(client, settings, world, clean_db) -> None:
    phone, ref = whatsapp_complaint(client, settings)
    assert f"Report {ref} (Water)" in phone.send("6")
    assert "Reply 1 to add more" in phone.send(ref)
    phone.send("1")
    assert f"added that to report {ref}" in phone.send("It is worse today")
    assert f"Report {ref} (Water)" in phone.send(f"STATUS {ref}")
    detail = client.get(f"/api/v1/tickets/{ref}", headers=auth(world["officer"])).json()
    assert detail["events"][-1]["kind"] == "resident_message"
    assert detail["events"][-1]["body"] == "It is worse today"
    data = phone.send("MY DATA")
    assert "Reports and questions: 1" in data
    # The photo and the pin are among their messages; the name WhatsApp gave is kept too.
    assert "Photos, voice notes and locations among them: 2" in data
    assert "WhatsApp name: Nomsa" in data
    client.post(
        f"/api/v1/tickets/{ref}/replies",
        json={"body": "On our way."},
        headers=auth(world["triage"]),
    )
    assert "we have sent you" not in phone.send("MY DATA")  # queued, not sent yet
    with session_scope(clean_db) as session:
        session.execute(update(Outbox).values(status="sent"))
    assert "Updates and reminders we have sent you: 1" in phone.send("MY DATA")
    # Another resident cannot look the report up by its number.
    other = Phone(client, settings, SMS_PHONE, "sms")
    other.onboard("Ubuhle Gardens")
    assert f"could not find report {ref}" in other.send(f"STATUS {ref}")


def test_delete_deidentifies_the_residents_tickets(client, settings, world) -> None:
    phone, ref = whatsapp_complaint(client, settings)
    phone.send("DELETE")
    phone.send("1")
    detail = client.get(f"/api/v1/tickets/{ref}", headers=auth(world["officer"])).json()
    assert detail["has_resident"] is False
    assert (detail["description"], detail["location_text"], detail["media"]) == ("", "", [])
    assert detail["latitude"] is None and detail["category"] == "water"
    assert all(e["body"] == "" and e["media"] == [] for e in detail["events"])
    assert client.get(f"/open311/v2/requests/{ref}.json").json()[0]["lat"] is None


def test_tokens_and_roles(client, world) -> None:
    assert client.get("/api/v1/tickets").status_code == 401
    bad = client.get("/api/v1/tickets", headers=auth("sk_not-a-token"))
    assert bad.status_code == 401
    assert client.get("/api/v1/me", headers=auth(world["officer"])).json()["role"] == "officer"
    r = client.post(
        "/api/v1/tickets/1234567/notes", json={"body": "x"}, headers=auth(world["officer"])
    )
    assert r.status_code == 403
    r = client.post(
        "/api/v1/tickets/1234567/notes", json={"body": "x"}, headers=auth(world["triage"])
    )
    assert r.status_code == 404


def test_invalid_transition_is_409_and_unknown_category_422(client, settings, world) -> None:
    _, ref = whatsapp_complaint(client, settings)
    headers = auth(world["triage"])
    client.patch(f"/api/v1/tickets/{ref}", json={"status": "closed"}, headers=headers)
    r = client.patch(f"/api/v1/tickets/{ref}", json={"status": "resolved"}, headers=headers)
    assert r.status_code == 409
    r = client.patch(f"/api/v1/tickets/{ref}", json={"category": "unicorns"}, headers=headers)
    assert r.status_code == 422
    r = client.patch(
        f"/api/v1/tickets/{ref}",
        json={"assignee_email": "triage@ubuntubay.example.org", "priority": "high"},
        headers=headers,
    )
    assert r.json()["assignee_email"] == "triage@ubuntubay.example.org"
    assert r.json()["priority"] == "high"


def _listed(client: TestClient, token: str, **params: str) -> dict[str, str]:
    """Return the kind of each ticket `GET /api/v1/tickets` lists with these filters."""
    page = client.get("/api/v1/tickets", params=params, headers=auth(token)).json()
    return {t["reference"]: t["kind"] for t in page["items"]}


def test_tickets_say_their_kind_and_filter_by_it(client, settings, clean_db, world) -> None:
    _, ref = sms_complaint(client, settings)
    with session_scope(clean_db) as session:
        asked = make_ticket(session, kind="question", category="housing_list").reference
    token = world["officer"]
    assert _listed(client, token) == {ref: "problem", asked: "question"}
    assert _listed(client, token, kind="question") == {asked: "question"}
    assert _listed(client, token, kind="problem", category="refuse") == {ref: "problem"}
    refused = client.get("/api/v1/tickets", params={"kind": "complaint"}, headers=auth(token))
    assert refused.status_code == 422 and "'problem' or 'question'" in refused.text
    spec = client.get("/openapi.json").json()
    [kind] = [
        p for p in spec["paths"]["/api/v1/tickets"]["get"]["parameters"] if p["name"] == "kind"
    ]
    assert kind["schema"]["anyOf"][0]["items"]["enum"] == ["problem", "question"]


def test_staff_make_a_problem_a_question_through_the_api(client, settings, clean_db, world) -> None:
    phone, ref = sms_complaint(client, settings)
    headers = auth(world["triage"])
    r = client.patch(f"/api/v1/tickets/{ref}", json={"kind": "question"}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "question"
    event = r.json()["events"][-1]
    assert (event["kind"], event["data"], event["public"]) == (
        "kind",
        {"from": "problem", "to": "question"},
        False,
    )
    assert event["staff_email"] == "triage@ubuntubay.example.org"
    assert _listed(client, world["triage"], kind="question") == {ref: "question"}
    bad = client.patch(f"/api/v1/tickets/{ref}", json={"kind": "complaint"}, headers=headers)
    assert bad.status_code == 422
    with session_scope(clean_db) as session:
        audited = session.execute(
            select(AuditEvent.detail).where(AuditEvent.action == "api.ticket.update")
        ).scalars()
        assert list(audited) == [{"kind": "question"}]
    spec = client.get("/openapi.json").json()
    change = spec["components"]["schemas"]["TicketUpdateIn"]["properties"]["kind"]
    assert change["anyOf"][0]["enum"] == ["problem", "question"]

    r = client.patch(f"/api/v1/tickets/{ref}", json={"status": "resolved"}, headers=headers)
    assert r.status_code == 200, r.text
    with session_scope(clean_db) as session:
        [told] = session.execute(
            select(Outbox.body).where(Outbox.purpose == "ticket_update")
        ).scalars()
    assert told == (
        f"Siyakha: the municipality says it has answered your question {ref} (Rubbish "
        "removal). Is your question answered? Reply 1 for yes or 2 for no."
    )
    assert "Is your question answered now?" in phone.send(f"STATUS {ref}")


def test_a_date_filter_is_a_datetime_not_a_unix_time(client, settings, world) -> None:
    # ?created_from=99999 was read as 1970-01-02T03:46:39Z and listed everything.
    headers = auth(world["triage"])
    for query in ("created_from=99999", "created_to=1764000000", "created_from=2030"):
        answer = client.get(f"/api/v1/tickets?{query}", headers=headers)
        assert answer.status_code == 422, query
        assert "Input should be a W3C datetime" in answer.text
    since = client.get("/api/v1/tickets?created_from=2030-01-01T00:00:00Z", headers=headers)
    assert since.status_code == 200 and since.json()["total"] == 0


def test_a_date_alone_is_a_whole_johannesburg_day(client, clean_db, world) -> None:
    # created_to=2030-01-31 was 31 January 00:00 UTC, which left out the 31st, and
    # created_from=2030-01-01 started at 02:00 in Johannesburg.
    with session_scope(clean_db) as session:
        last = make_ticket(session, now=dt.datetime(2030, 1, 31, 20, 0, tzinfo=dt.UTC)).reference
        first = make_ticket(session, now=dt.datetime(2029, 12, 31, 23, 0, tzinfo=dt.UTC)).reference
        make_ticket(session, now=dt.datetime(2030, 1, 31, 22, 0, tzinfo=dt.UTC))  # 1 Feb there
        make_ticket(session, now=dt.datetime(2029, 12, 31, 21, 0, tzinfo=dt.UTC))  # 31 Dec there
    january = "created_from=2030-01-01&created_to=2030-01-31"
    found = client.get(f"/api/v1/tickets?{january}", headers=auth(world["triage"])).json()
    assert {t["reference"] for t in found["items"]} == {first, last}
    # A time written out is read as written (no zone: UTC, as before).
    exact = "created_from=2030-01-31T20:00:00&created_to=2030-01-31T20:00:00Z"
    found = client.get(f"/api/v1/tickets?{exact}", headers=auth(world["triage"])).json()
    assert [t["reference"] for t in found["items"]] == [last]


def test_too_long_words_are_refused_with_the_field_named(client, settings, world) -> None:
    # A 1,001-character note was a 500 and a 5,000-character reply a 201 that Twilio
    # (1,600 at most) would never carry: the limits of TicketUpdate and ReplyCreate were
    # lost where v1 redeclared the fields. The OpenAPI schema now shows them too.
    _, ref = whatsapp_complaint(client, settings)
    headers = auth(world["triage"])
    refused = {
        f"/api/v1/tickets/{ref}": ("patch", {"status": "acknowledged", "note": "x" * 1001}),
        f"/api/v1/tickets/{ref}/replies": ("post", {"body": "y" * 5000}),
        f"/api/v1/tickets/{ref}/notes": ("post", {"body": "n" * 4001}),
        f"/api/v1/tickets/{ref}/parent": ("put", {"parent": "1" * 13}),
    }
    for path, (method, body) in refused.items():
        answer = client.request(method, path, json=body, headers=headers)
        assert answer.status_code == 422, (path, answer.text)
        assert next(iter(body.keys() - {"status"})) in answer.text
    category = client.patch(f"/api/v1/tickets/{ref}", json={"category": "c" * 41}, headers=headers)
    assert category.status_code == 422
    detail = client.get(f"/api/v1/tickets/{ref}", headers=headers).json()
    assert detail["status"] == "new" and not [e for e in detail["events"] if e["kind"] == "reply"]
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["ReplyIn"]["properties"]["body"]["anyOf"][0]["maxLength"] == 1000
    assert schemas["TicketUpdateIn"]["properties"]["note"]["anyOf"][0]["maxLength"] == 1000
    assert schemas["NoteIn"]["properties"]["body"]["maxLength"] == 4000


def test_a_reply_too_long_for_the_residents_sms_is_refused_naming_the_field_and_count(
    client: TestClient, settings: Settings, world: dict[str, str]
) -> None:
    _, sms_ref = sms_complaint(client, settings)
    _, wa_ref = whatsapp_complaint(client, settings)  # wrote a moment ago: in the window
    triage = auth(world["triage"])
    words = "The crew will come to your lane on Tuesday morning, bring your papers. " * 7

    said = client.post(
        f"/api/v1/tickets/{sms_ref}/replies/preview", json={"body": words}, headers=triage
    ).json()
    assert said["by_sms"] and not said["fits"]
    assert (said["segments"], said["encoding"], said["max_segments"]) == (4, "GSM-7", 3)
    answer = client.post(f"/api/v1/tickets/{sms_ref}/replies", json={"body": words}, headers=triage)
    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["detail"]
    assert problem["loc"] == ["body", "body"] and problem["type"] == "sms_segments"
    assert problem["msg"] == said["detail"].removeprefix("body: ")
    assert "would be 4 SMS segments (GSM-7, " in problem["msg"]
    changed = client.patch(
        f"/api/v1/tickets/{sms_ref}", json={"status": "in_progress", "note": words}, headers=triage
    )
    assert changed.status_code == 422 and changed.json()["detail"][0]["loc"] == ["body", "note"]
    detail = client.get(f"/api/v1/tickets/{sms_ref}", headers=triage).json()
    assert detail["status"] == "new" and [e["kind"] for e in detail["events"]] == ["created"]

    # The same words reach the WhatsApp resident, who wrote within 24 hours: sent.
    said = client.post(
        f"/api/v1/tickets/{wa_ref}/replies/preview", json={"body": words}, headers=triage
    ).json()
    assert said == {
        "by_sms": False,
        "segments": None,
        "encoding": None,
        "characters": None,
        "max_segments": 3,
        "fits": True,
        "detail": None,
    }
    answer = client.post(f"/api/v1/tickets/{wa_ref}/replies", json={"body": words}, headers=triage)
    assert answer.status_code == 201
    # Shorter, it reaches the SMS resident too.
    short = words[:300]
    answer = client.post(f"/api/v1/tickets/{sms_ref}/replies", json={"body": short}, headers=triage)
    assert answer.status_code == 201
