"""POST /webhooks/twilio/messages: signatures, parsing, TwiML, idempotency, limits."""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from api.deps import verified_twilio_form
from api.main import create_app
from api.routes import status, webhooks
from bot.channels.twilio import twiml
from bot.config import Settings
from bot.content import render
from bot.db import session_scope, utcnow
from bot.domain.messages.models import InboundMessage
from bot.domain.residents import export as resident_export
from bot.domain.residents.models import Resident
from bot.domain.tickets.models import Ticket, TicketEvent
from bot.i18n import get_translator
from tests import TEST_SECRET_KEY
from tests.factories import make_resident, make_settlement
from tests.twilio_payloads import new_sid, payload, signed, signed_by_rule, sms, whatsapp

PATH = "/webhooks/twilio/messages"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def post(client: TestClient, settings: Settings, form: dict[str, str], *, url: str | None = None):
    assert settings.twilio_auth_token
    signed_url = url or settings.public_url + PATH
    return client.post(PATH, **signed(signed_url, form, settings.twilio_auth_token))


def messages_of(response) -> list[str]:
    root = ET.fromstring(response.text)  # raises if Twilio could not read it either
    assert root.tag == "Response"
    return [m.text or "" for m in root.findall("Message")]


def count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


@pytest.mark.parametrize(
    "fixture",
    ["sms_text", "whatsapp_text", "whatsapp_media", "whatsapp_location", "whatsapp_button"],
)
def test_every_real_payload_gets_a_twiml_reply(client, settings, clean_db, fixture) -> None:
    response = post(client, settings, payload(fixture))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    replies = messages_of(response)
    assert len(replies) == 1
    assert "isiXhosa" in replies[0]  # a first contact gets the language menu
    assert count(clean_db, InboundMessage) == 1


def test_media_and_location_are_kept(client, settings, clean_db) -> None:
    post(client, settings, payload("whatsapp_media"))
    post(client, settings, payload("whatsapp_location"))
    with Session(clean_db) as session:
        rows = session.exec(select(InboundMessage).order_by(InboundMessage.id)).all()
    assert [m["content_type"] for m in rows[0].media] == ["image/jpeg", "audio/ogg"]
    assert rows[0].media[0]["url"].endswith("/Media/ME00000000000000000000000000000001")
    assert (rows[1].latitude, rows[1].longitude, rows[1].address, rows[1].label) == (
        -33.9874,
        18.5612,
        "Ubuhle Gardens",
        "Standpipe 4",  # the place's name, which was dropped
    )


def test_a_pin_sent_under_an_open_report_is_added_with_its_names(
    client, settings, clean_db
) -> None:
    # Real payloads through the app: the pin lands on the report on the screen, as an event
    # keeping Twilio's Address and Label, not as the menu's "send 5 first".
    for text in ["hi", "1", "1", "Masakhane", "5", "1", "1", "Tap broken", "Lane 4", "1", "6"]:
        post(client, settings, whatsapp(text))
    assert "Reply 1 to add more" in messages_of(post(client, settings, whatsapp("1")))[0]
    pin = payload("whatsapp_location", MessageSid=new_sid(), SmsSid="", SmsMessageSid="")
    [reply] = messages_of(post(client, settings, pin))
    assert "we have added that to report" in reply
    with Session(clean_db) as session:
        ticket = session.exec(select(Ticket)).one()
        events = session.exec(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)).all()
    assert [e.kind for e in events] == ["created", "resident_message"]
    assert events[1].data["address"] == "Ubuhle Gardens"
    assert events[1].data["label"] == "Standpipe 4"
    assert (ticket.latitude, ticket.longitude) == (-33.9874, 18.5612)
    # The report's first pin names its place too, as a pin sent while reporting does.
    assert ticket.location_text == "Lane 4 (Standpipe 4, Ubuhle Gardens)"


def test_same_person_on_sms_and_whatsapp_is_one_resident(client, settings, clean_db) -> None:
    post(client, settings, sms("hi", phone="0821234567"))
    post(client, settings, whatsapp("hi", phone="+27821234567"))
    with Session(clean_db) as session:
        residents = session.exec(select(Resident)).all()
    assert [r.phone for r in residents] == ["+27821234567"]
    assert residents[0].last_inbound_sms_at is not None
    assert residents[0].last_inbound_whatsapp_at is not None


@pytest.mark.parametrize(
    "sender", ["rcs:+27821234567", "RCS:0821234567", "tel:+27821234567", "messenger:27821234567"]
)
def test_a_message_on_another_channel_is_refused_not_filed_as_sms(
    client, settings, clean_db, sender
) -> None:
    # Only SMS (a bare number) and WhatsApp ("whatsapp:") are served: Twilio's RCS
    # ("rcs:+27...") and the like were answered as SMS, their sender stored as an SMS
    # resident whom broadcasts and updates then reached by SMS.
    response = post(client, settings, sms("hi", phone=sender))
    assert response.status_code == 400
    scheme = sender.split(":")[0]
    assert response.json() == {
        "detail": f"From: {scheme}: is a channel this service does not serve (SMS and "
        "WhatsApp only)"
    }
    assert (count(clean_db, InboundMessage), count(clean_db, Resident)) == (0, 0)
    # A bare number is SMS, "whatsapp:" WhatsApp, in any case.
    for form in (
        sms("hi", phone="+27821234567"),
        whatsapp("hi"),
        sms("hi", phone="WhatsApp:+27821234567"),
    ):
        assert post(client, settings, form).status_code == 200
    with Session(clean_db) as session:
        resident = session.exec(select(Resident)).one()
    assert resident.last_inbound_sms_at is not None
    assert resident.last_inbound_whatsapp_at is not None


def test_yes_by_sms_opts_back_in_only_after_a_stop_by_sms(client, settings, clean_db) -> None:
    # A "Yes" texted after a WhatsApp STOP opted the resident back in to everything, though
    # Twilio had blocked nothing (a POPIA audit). The channel is kept with the opt-out.
    with session_scope(clean_db) as session:
        make_resident(session, language="en", consented_at=utcnow())

    def opt_out() -> tuple[object, str | None]:
        with Session(clean_db) as session:
            resident = session.exec(select(Resident)).one()
            return resident.opted_out_at, resident.opted_out_channel

    post(client, settings, whatsapp("STOP"))
    stopped_at, channel = opt_out()
    assert stopped_at is not None and channel == "whatsapp"
    [reply] = messages_of(post(client, settings, sms("Yes")))
    assert reply.startswith("You have stopped messages from Siyakha.")
    assert opt_out() == (stopped_at, "whatsapp")
    post(client, settings, sms("STOP"))  # Twilio blocks the SMS number now
    assert opt_out() == (stopped_at, "sms")  # since the first STOP, and now by SMS too
    [reply] = messages_of(post(client, settings, sms("Yes")))
    assert reply.startswith("Welcome back.")
    assert opt_out() == (None, None)


def test_a_retry_gets_the_same_reply_and_changes_nothing(client, settings, clean_db) -> None:
    first_contact = sms("hello")
    post(client, settings, first_contact)
    choose_english = sms("1")
    first = post(client, settings, choose_english)
    with Session(clean_db) as session:
        state = session.exec(select(Resident)).one().conversation
    again = post(client, settings, choose_english)
    assert again.status_code == 200
    assert again.text == first.text
    assert count(clean_db, InboundMessage) == 2
    with Session(clean_db) as session:
        assert session.exec(select(Resident)).one().conversation == state


def test_missing_or_wrong_signature_is_403_and_stores_nothing(client, settings, clean_db) -> None:
    form = sms("hi")
    body = signed(settings.public_url + PATH, form, "not-the-token")
    assert client.post(PATH, **body).status_code == 403
    del body["headers"]["X-Twilio-Signature"]
    assert client.post(PATH, **body).status_code == 403
    assert count(clean_db, InboundMessage) == 0


def test_every_twilio_webhook_route_checks_the_signature_as_a_dependency() -> None:
    # A dependency, so that no route under /webhooks/twilio can forget the check.
    routes = [route for router in (webhooks.router, status.router) for route in router.routes]
    assert {route.path for route in routes} == {PATH, "/webhooks/twilio/status"}
    for route in routes:
        assert isinstance(route, APIRoute)
        calls = [dependency.call for dependency in route.dependant.dependencies]
        assert verified_twilio_form in calls, route.path


def test_tampered_body_is_403(client, settings, clean_db) -> None:
    form = sms("hi")
    body = signed(settings.public_url + PATH, form, settings.twilio_auth_token or "")
    body["content"] = body["content"].replace(b"Body=hi", b"Body=STOP")
    assert client.post(PATH, **body).status_code == 403


def test_signature_is_checked_against_the_public_url_behind_a_proxy(client, settings) -> None:
    # TLS ends at the proxy: Twilio signed https://siyakha.example.org/..., we see http://testserver.
    assert post(client, settings, sms("hi")).status_code == 200
    assert post(client, settings, sms("hi"), url="http://testserver" + PATH).status_code == 403
    assert (
        post(client, settings, sms("hi"), url="http://siyakha.example.org" + PATH).status_code
        == 403
    )


def test_a_signature_over_the_public_url_with_its_default_port_is_accepted(
    client, settings
) -> None:
    # Twilio has signed https URLs with and without :443 (twilio-python#392).
    assert settings.public_url.startswith("https://")
    host = settings.public_url.removeprefix("https://").rstrip("/")
    with_port = f"https://{host}:443{PATH}"
    assert post(client, settings, sms("hi"), url=with_port).status_code == 200
    assert post(client, settings, sms("hi"), url=f"https://{host}:8443{PATH}").status_code == 403


def test_during_a_token_rotation_both_tokens_sign(settings, clean_db, caplog) -> None:
    caplog.set_level(logging.INFO, logger="api.deps")
    rotating = settings.model_copy(update={"twilio_secondary_auth_token": "old-auth-token"})
    with TestClient(create_app(rotating, clean_db)) as client:
        new = signed(settings.public_url + PATH, sms("hi"), "test-auth-token")
        assert client.post(PATH, **new).status_code == 200
        assert "TWILIO_SECONDARY_AUTH_TOKEN" not in caplog.text
        old = signed(settings.public_url + PATH, sms("hi"), "old-auth-token")
        assert client.post(PATH, **old).status_code == 200
        assert "signed with TWILIO_SECONDARY_AUTH_TOKEN" in caplog.text
        other = signed(settings.public_url + PATH, sms("hi"), "another-token")
        assert client.post(PATH, **other).status_code == 403
    assert count(clean_db, InboundMessage) == 2


def test_a_secondary_token_alone_does_not_open_the_webhooks(settings, clean_db) -> None:
    only_secondary = settings.model_copy(
        update={"twilio_auth_token": None, "twilio_secondary_auth_token": "old-auth-token"}
    )
    with TestClient(create_app(only_secondary, clean_db)) as client:
        body = signed(settings.public_url + PATH, sms("hi"), "old-auth-token")
        assert client.post(PATH, **body).status_code == 403
    assert count(clean_db, InboundMessage) == 0


def test_without_a_secondary_token_the_old_one_is_refused(client, settings, clean_db) -> None:
    body = signed(settings.public_url + PATH, sms("hi"), "old-auth-token")
    assert client.post(PATH, **body).status_code == 403


def test_a_webhook_rule_signs_with_its_shared_key_and_algorithm(settings, clean_db) -> None:
    with_key = settings.model_copy(update={"twilio_webhook_shared_key": "shared-key-secret"})
    url = settings.public_url + PATH
    with TestClient(create_app(with_key, clean_db)) as client:
        for algorithm in ("HMAC_SHA256", "HMAC_SHA1"):
            body = signed_by_rule(url, sms("hi"), "shared-key-secret", algorithm)
            assert client.post(PATH, **body).status_code == 200, algorithm
        # The header names the SharedKey: the auth token's signature no longer counts.
        body = signed(url, sms("hi"), settings.twilio_auth_token or "")
        body["headers"]["X-Twilio-Webhooks-Signature-Settings"] = "key=KY1,algorithm=HMAC_SHA1"
        assert client.post(PATH, **body).status_code == 403
        wrong = signed_by_rule(url, sms("hi"), "another-secret")
        assert client.post(PATH, **wrong).status_code == 403
        unknown = signed_by_rule(url, sms("hi"), "shared-key-secret")
        unknown["headers"]["X-Twilio-Webhooks-Signature-Settings"] = "key=KY1,algorithm=HMAC_MD5"
        response = client.post(PATH, **unknown)
        assert response.status_code == 403
        assert "HMAC_MD5" in response.json()["detail"]
        # Without the header, the auth token signs as before.
        assert client.post(PATH, **signed(url, sms("hi"), "test-auth-token")).status_code == 200
    assert count(clean_db, InboundMessage) == 3


def test_a_shared_key_is_rotated_with_a_secondary_one(settings, clean_db, caplog) -> None:
    # A new SharedKey and the Webhook Setting moved to it: webhooks already in flight, or
    # retried, are signed with the old key until Twilio has switched (a single key dropped
    # them).
    caplog.set_level(logging.INFO, logger="api.deps")
    keys = {
        "twilio_webhook_shared_key": "new-shared-key-secret",
        "twilio_webhook_secondary_shared_key": "old-shared-key-secret",
    }
    url = settings.public_url + PATH
    with TestClient(create_app(settings.model_copy(update=keys), clean_db)) as client:
        for secret in ("new-shared-key-secret", "old-shared-key-secret"):
            body = signed_by_rule(url, sms("hi"), secret, "HMAC_SHA256")
            assert client.post(PATH, **body).status_code == 200, secret
        assert "signed with TWILIO_WEBHOOK_SECONDARY_SHARED_KEY" in caplog.text
        body = signed_by_rule(url, sms("hi"), "another-secret", "HMAC_SHA256")
        assert client.post(PATH, **body).status_code == 403
        # The secondary key is no auth token: without the rule's header it signs nothing.
        plain = signed(url, sms("hi"), "old-shared-key-secret")
        assert client.post(PATH, **plain).status_code == 403
    assert count(clean_db, InboundMessage) == 2


def test_a_webhook_rule_without_a_configured_shared_key_is_refused(
    client, settings, clean_db, caplog
) -> None:
    body = signed_by_rule(settings.public_url + PATH, sms("hi"), "shared-key-secret")
    response = client.post(PATH, **body)
    assert response.status_code == 403
    assert "SharedKey" in response.json()["detail"]
    assert "TWILIO_WEBHOOK_SHARED_KEY" in caplog.text
    assert count(clean_db, InboundMessage) == 0


def test_query_string_is_part_of_the_signed_url(client, settings) -> None:
    form = sms("hi")
    token = settings.twilio_auth_token or ""
    good = signed(settings.public_url + PATH + "?src=ws1", form, token)
    assert client.post(PATH + "?src=ws1", **good).status_code == 200
    without_query = signed(settings.public_url + PATH, sms("hi"), token)
    assert client.post(PATH + "?src=ws1", **without_query).status_code == 403


def test_unknown_fields_are_tolerated_and_signed(client, settings) -> None:
    form = sms("hi", SomeFieldTwilioAddsLater="x", Forwarded="true")
    assert post(client, settings, form).status_code == 200


def test_no_auth_token_refuses_everything(database_url, clean_db) -> None:
    settings = Settings(  # type: ignore[call-arg]
        SIYAKHA_ENV="test", SIYAKHA_SECRET_KEY=TEST_SECRET_KEY, DATABASE_URL=database_url
    )
    with TestClient(create_app(settings, clean_db)) as client:
        form = sms("hi")
        response = client.post(PATH, **signed(settings.public_url + PATH, form, ""))
    assert response.status_code == 403
    assert count(clean_db, InboundMessage) == 0


def test_oversized_bodies_are_413(client, settings, clean_db) -> None:
    form = sms("x" * (70 * 1024))
    assert post(client, settings, form).status_code == 413

    def chunks():
        for _ in range(70):
            yield b"a" * 1024

    response = client.post(
        PATH,
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"},
    )
    assert response.status_code == 413
    assert count(clean_db, InboundMessage) == 0


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"MessageSid": "", "SmsSid": "", "SmsMessageSid": ""}, 400),
        ({"MessageSid": "S" * 64 + "\n"}, 400),  # a 500 on PostgreSQL (too long to store)
        ({"MessageSid": "SM123\n"}, 400),
        ({"From": "not-a-number"}, 400),
        ({"From": ""}, 400),
        ({"NumMedia": "lots"}, 400),
        ({"NumMedia": "\u00b9"}, 400),  # a digit to str.isdigit(), not to int()
        ({"NumMedia": "1"}, 400),  # no MediaUrl0
        ({"Latitude": "-33.9"}, 400),  # no Longitude
        ({"Latitude": "nan", "Longitude": "18"}, 400),
        ({"Latitude": "95", "Longitude": "18"}, 400),
    ],
)
def test_malformed_signed_requests_are_4xx(client, settings, clean_db, change, status) -> None:
    response = post(client, settings, {**sms("hi"), **change})
    assert response.status_code == status, response.text
    assert count(clean_db, InboundMessage) == 0


def test_unsigned_requests_are_403_whatever_they_send(client, clean_db) -> None:
    # The design promises 403 for a missing signature: an unsigned JSON post got 415 and an
    # unsigned oversized body 413, since the body and its type were checked first.
    unsigned = [
        {"json": {"From": "+27821234567", "Body": "hi"}},
        {"content": b"Body=" + b"x" * (70 * 1024), "headers": FORM},
        {"content": b"Body=\xff\xfe", "headers": FORM},
        {"content": b"", "headers": {}},
    ]
    for request in unsigned:
        response = client.post(PATH, **request)
        assert response.status_code == 403, request
        assert response.json() == {"detail": "missing X-Twilio-Signature"}
    assert count(clean_db, InboundMessage) == 0


def test_wrong_content_type_and_bad_encoding(client, settings) -> None:
    token = settings.twilio_auth_token or ""
    body = signed(settings.public_url + PATH, sms("hi"), token)
    body["headers"]["Content-Type"] = "application/json"
    assert client.post(PATH, **body).status_code == 415
    bad = signed(settings.public_url + PATH, {}, token)
    bad["content"] = b"Body=\xff\xfe&From=%2B27821234567"
    assert client.post(PATH, **bad).status_code == 400
    assert client.get(PATH).status_code == 405


def test_a_control_character_quoted_back_leaves_the_twiml_readable(client, settings) -> None:
    # XML 1.0 cannot carry most C0 controls: quoted raw, one would make Twilio refuse the
    # whole reply (found by fuzzing the webhook with arbitrary text).
    for text in ("hello", "1", "1"):  # first contact, English, agree to the notice
        assert post(client, settings, sms(text)).status_code == 200
    response = post(client, settings, sms("Nowhere\x1fville\x00 \ufffe"))
    assert response.status_code == 200
    (reply,) = messages_of(response)  # parses as XML
    assert 'We could not find a settlement called "Nowhereville"' in reply


def test_twiml_leaves_out_what_xml_cannot_carry() -> None:
    # The webhook drops these from what a resident sends; any other reply text is
    # cleaned again on its way into the TwiML.
    document = ET.fromstring(twiml(["a\x1fb\x00c\ufffe", "d\te\nf <&>"]))
    assert [m.text for m in document.iter("Message")] == ["abc", "d\te\nf <&>"]


def test_characters_xml_cannot_carry_are_dropped_and_the_message_answered_and_kept(
    client, settings, clean_db
) -> None:
    # PostgreSQL text cannot hold U+0000: storing it raised, and the webhook answered 500.
    # The others would be stored, and later quoted in a proactive message.
    body = "Mol\x00o\x1f \ufffe\tshack\n17"
    with session_scope(clean_db) as session:
        make_resident(session, "+27821234567", consented_at=utcnow())
    response = post(client, settings, whatsapp(body, ProfileName="Tha\x00bo\x08"))
    assert response.status_code == 200
    assert messages_of(response)
    with Session(clean_db) as session:
        assert session.exec(select(InboundMessage.body)).one() == "Molo \tshack\n17"
        assert session.exec(select(Resident.profile_name)).one() == "Thabo"


def test_the_whatsapp_name_is_kept_only_once_the_resident_agrees_to_the_notice(
    client, settings, clean_db
) -> None:
    def name_after(text: str) -> str | None:
        answer = post(client, settings, whatsapp(text, phone="+27821234599", ProfileName="Zodwa"))
        assert answer.status_code == 200
        with Session(clean_db) as session:
            return session.exec(select(Resident.profile_name)).one()

    assert name_after("hi") is None  # the language menu
    assert name_after("1") is None  # English: the privacy notice
    assert name_after("1") == "Zodwa"  # agreed


def test_emoji_and_xml_special_characters_round_trip(client, settings, clean_db) -> None:
    response = post(client, settings, whatsapp("Sawubona 🙏🏾 <b>&amp;</b>"))
    assert response.status_code == 200
    with Session(clean_db) as session:
        assert session.exec(select(InboundMessage)).one().body == "Sawubona 🙏🏾 <b>&amp;</b>"


def test_my_data_tells_the_names_typed_a_draft_and_a_blocked_channel_until_lifted(
    client, settings, clean_db
) -> None:
    number = "+27821234588"

    def say(text: str, channel: str = "whatsapp") -> str:
        form = whatsapp(text, phone=number) if channel == "whatsapp" else sms(text, phone=number)
        [reply] = messages_of(post(client, settings, form))
        return reply

    with session_scope(clean_db) as session:
        make_settlement(session, "Ubuhle Gardens")
    for text in ["hi", "1", "1"]:
        say(text)
    assert "could not find" in say("Nowhere Heights near the dam")
    assert "cannot reach you" not in say("MY DATA")
    for text in ["5", "1", "1", "The standpipe leaks"]:
        say(text)
    with session_scope(clean_db) as session:  # as the outbox records Twilio's 21610
        resident = session.exec(select(Resident)).one()
        resident.sms_opted_out_at = utcnow()
    data = say("MY DATA")
    assert 'Settlement names you typed that we did not find: "Nowhere Heights near the dam"' in data
    assert "Our SMS messages cannot reach you at the moment." in data
    assert "You started a report and have not sent it." in data
    assert "It holds your words." in data
    # An SMS lifts the block (outbox routing reads the later message): not said to it.
    by_sms = say("MY DATA", "sms")
    assert "cannot reach you" not in by_sms and "Nowhere Heights near the dam" in by_sms


def kept_draft_of(engine: Engine, phone: str) -> dict[str, Any]:
    """Return the report kept aside for a resident, as an access request exports it."""
    with session_scope(engine) as session:
        resident = session.exec(select(Resident).where(Resident.phone == phone)).one()
        exported = resident_export.export(session=session, resident=resident)
    kept: dict[str, Any] = exported["conversation"]["kept_draft"]
    return kept


def ticket_of(engine: Engine, phone: str) -> tuple[str, str, str]:
    """Return the category, words and place of the one report a resident sent."""
    with Session(engine) as session:
        ticket = session.exec(select(Ticket).join(Resident).where(Resident.phone == phone)).one()
    return ticket.category, ticket.description, ticket.location_text


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_status_inside_a_report_keeps_it_stored_and_tells_nothing_of_another_s_report(
    client, settings, clean_db, channel
) -> None:
    # Through the app and its database: STATUS dropped a report being written; STATUS with
    # another resident's number is that resident's business, whatever the step.
    def say(text: str, phone: str, on: str = channel) -> str:
        form = whatsapp(text, phone=phone) if on == "whatsapp" else sms(text, phone=phone)
        [reply] = messages_of(post(client, settings, form))
        return reply

    with session_scope(clean_db) as session:
        make_settlement(session, "Ubuhle Gardens")
    other, mine = "+27821230001", "+27821230002"
    for text in ["hi", "1", "1", "Ubuhle Gardens", "5", "1", "1", "Tap broken", "Lane 4"]:
        say(text, other, "whatsapp")
    theirs = re.search(r"report number is (\d+)", say("1", other, "whatsapp"))
    assert theirs is not None
    for text in ["hi", "1", "1", "Ubuhle Gardens", "5", "1", "2", "Toilets blocked"]:
        say(text, mine)
    summary = say(f"STATUS {theirs[1]}", mine)  # the place they typed, nothing of theirs
    assert "Please check your report" in summary and "Water" not in summary
    say("2", mine)
    say("3", mine)  # where, again
    reply = say("STATUS", mine)
    assert "You have no open reports" in reply and reply.endswith("Send 5 to carry on with it.")
    kept = kept_draft_of(clean_db, mine)  # an access request sees it too
    assert kept["step"] == "report_where" and kept["data"]["text"] == "Toilets blocked"
    assert "Here is the report or question you were writing" in say("5", mine)
    say("Block C", mine)
    say("1", mine)
    assert "among your reports" in say(f"STATUS {theirs[1]}", mine)  # at the menu
    assert ticket_of(clean_db, mine) == ("sanitation", "Toilets blocked", "Block C")


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_language_inside_a_report_keeps_it_stored_and_5_carries_on_in_the_new_language(
    client, settings, clean_db, channel
) -> None:
    # Through the app and its database: LANGUAGE inside a report dropped it.
    xh = get_translator("xh")
    phone = "+27821230003"

    def say(text: str) -> str:
        form = whatsapp(text, phone=phone) if channel == "whatsapp" else sms(text, phone=phone)
        [reply] = messages_of(post(client, settings, form))
        return reply

    with session_scope(clean_db) as session:
        make_settlement(session, "Ubuhle Gardens")
    for text in ["hi", "1", "1", "Ubuhle Gardens", "5", "1", "2", "Toilets blocked"]:
        say(text)
    say("LANGUAGE")
    reply = say("2")  # isiXhosa
    assert render("report.draft_kept", xh) in reply
    with Session(clean_db) as session:
        assert session.exec(select(Resident.language).where(Resident.phone == phone)).one() == "xh"
    kept = kept_draft_of(clean_db, phone)
    assert kept["step"] == "report_where" and kept["data"]["text"] == "Toilets blocked"
    assert say("5").startswith(render("report.draft_resumed", xh))
    assert render("report.confirm", xh) in say("Block C")
    say("1")
    assert ticket_of(clean_db, phone) == ("sanitation", "Toilets blocked", "Block C")


def test_openapi_lists_every_answer_the_twilio_webhooks_give(client, settings) -> None:
    # /openapi.json listed only 200 for the messages webhook and 200/422 for the status
    # callback, though both answer 403, 400, 413 and 415 too.
    token = settings.twilio_auth_token or ""
    spec = client.app.openapi()

    def send(path: str, form: dict[str, str], *, query: str = "", **change: Any) -> int:
        request = signed(settings.public_url + path + query, form, token)
        request["headers"].update(change.pop("headers", {}))
        request.update(change)
        return client.post(path + query, **request).status_code

    for path, fields in (
        (PATH, sms("hi")),
        ("/webhooks/twilio/status", {"MessageSid": new_sid(), "MessageStatus": "sent"}),
    ):
        answers = {
            send(path, fields),
            send(path, fields, headers={"X-Twilio-Signature": "wrong"}),
            send(path, fields, headers={"Content-Type": "application/json"}),
            send(path, fields, content=b"Body=\xff\xfe"),
            send(path, {**fields, "Body": "x" * (70 * 1024)}),
        }
        if path == PATH:
            answers.add(send(path, {**fields, "From": ""}))
        else:
            answers.add(send(path, fields, query="?outbox=0"))
        documented = spec["paths"][path]["post"]["responses"]
        assert sorted(documented) == sorted(str(code) for code in answers), path
        assert list(documented["200"].get("content", {})) == (["text/xml"] if path == PATH else [])
