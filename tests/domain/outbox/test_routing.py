"""Send-time routing: consent, opt-outs, the WhatsApp 24-hour window, templates, SMS fallback."""

from __future__ import annotations

import datetime as dt

import pytest

from bot import sms
from bot.domain.outbox.routing import Draft, Recipient, Route, Split, Stop, route

NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
PHONE = "+27821234567"
TEMPLATES = {"ticket_update": {"xh": "HXxh", "en": "HXen"}, "broadcast": {"zu": "HXzu"}}


def person(**fields: object) -> Recipient:
    return Recipient(**{"phone": PHONE, "consented_at": NOW - dt.timedelta(days=9), **fields})  # type: ignore[arg-type]


def whatsapp(**fields: object) -> Draft:
    return Draft(
        **{"channel": "whatsapp", "purpose": "ticket_update", "body": "Hi *there*\nok", **fields}
    )  # type: ignore[arg-type]


def decide(draft: Draft, recipient: Recipient) -> Route | Split | Stop:
    return route(draft, recipient, now=NOW, templates=TEMPLATES)


def test_inside_the_window_whatsapp_goes_free_form() -> None:
    decision = decide(whatsapp(), person(last_inbound_whatsapp_at=NOW - dt.timedelta(hours=20)))
    assert decision == Route("whatsapp", f"whatsapp:{PHONE}", body="Hi *there*\nok")


def test_outside_the_window_the_purpose_template_in_the_residents_language() -> None:
    decision = decide(
        whatsapp(), person(language="xh", last_inbound_whatsapp_at=NOW - dt.timedelta(hours=25))
    )
    assert decision == Route(
        "whatsapp",
        f"whatsapp:{PHONE}",
        content_sid="HXxh",
        content_variables={"1": "Hi *there* ok"},
    )


def test_window_closing_within_the_margin_counts_as_closed() -> None:
    almost = person(
        language="xh", last_inbound_whatsapp_at=NOW - dt.timedelta(hours=23, minutes=55)
    )
    assert isinstance(decide(whatsapp(), almost), Route)
    assert decide(whatsapp(), almost).content_sid == "HXxh"  # type: ignore[union-attr]


def test_a_63016_on_this_row_forces_a_template_even_inside_the_window() -> None:
    recent = person(last_inbound_whatsapp_at=NOW - dt.timedelta(hours=1))
    assert decide(whatsapp(error_code=63016), recent).content_sid == "HXen"  # type: ignore[union-attr]


def test_a_text_too_long_for_a_template_goes_by_sms_or_fails_with_the_reason() -> None:
    closed = person(last_inbound_whatsapp_at=NOW - dt.timedelta(hours=25))
    longest = "x" * 900  # 124 of Twilio's 1,024 are left for the template's own words
    assert decide(whatsapp(body=longest), closed).content_sid == "HXen"  # type: ignore[union-attr]
    too_long = "Water " * 160  # 959 characters flattened: 7 segments by SMS
    allowed = whatsapp(body=too_long, allow_sms_fallback=True)
    by_sms = decide(allowed, closed)
    assert isinstance(by_sms, Split) and len(by_sms.parts) == 3
    refused = decide(whatsapp(body=too_long), closed)
    assert isinstance(refused, Stop) and refused.status == "failed"
    assert "too long for a template (900 characters)" in refused.reason


def test_a_whatsapp_text_falling_back_to_sms_loses_its_markup() -> None:
    # Written for WhatsApp (a staff reply, a notice), sent by SMS after the window closed:
    # an SMS shows *bold* and _italic_ as stars and underscores.
    written = "*Report 1234567*: the tap is _fixed_ ~soon~. Dial *120*4664# for help."
    draft = whatsapp(purpose="staff_reply", body=written, allow_sms_fallback=True)
    assert decide(draft, person()) == Route(
        "sms", PHONE, body="Report 1234567: the tap is fixed soon. Dial *120*4664# for help."
    )


def by_sms(body: str) -> Route | Split | Stop:
    """Route a staff reply written for WhatsApp to a resident SMS alone reaches now."""
    return decide(whatsapp(purpose="staff_reply", body=body, allow_sms_fallback=True), person())


def words_of(parts: tuple[str, ...]) -> list[str]:
    """Return the words of numbered parts, without their marks."""
    return [word for part in parts for word in part.split(" ", 1)[1].split()]


def test_a_whatsapp_text_of_exactly_3_sms_segments_goes_as_one_sms() -> None:
    text = ("Water " * 77)[:459]  # 459 GSM-7 characters: 3 segments of 153
    assert sms.segments(text) == 3
    assert by_sms(text) == Route("sms", PHONE, body=text)


def test_a_whatsapp_text_of_3_sms_segments_and_a_character_goes_as_two_numbered_sms() -> None:
    # Refused whole before (the resident heard nothing until staff shortened it); now two
    # SMS of at most 3 segments, each saying which it is, cut between words.
    text = ("Water " * 77)[:459] + "s"
    decision = by_sms(text)
    assert isinstance(decision, Split) and decision.to == PHONE and decision.text == text
    first, second = decision.parts
    assert first.startswith("(1/2) Water ") and second.startswith("(2/2) ")
    assert all(sms.segments(p) <= 3 and sms.encoding(p) == "GSM-7" for p in decision.parts)
    assert words_of(decision.parts) == text.split()


def test_a_ucs2_text_goes_in_parts_of_3_ucs2_segments_and_gsm7_where_a_part_allows() -> None:
    # "sê" makes the text UCS-2 (67 characters a segment): the part that holds it is UCS-2,
    # within 201 units with its mark; the parts after it are GSM-7 again.
    text = "Die kontrakteur sê: " + "die kraan word Maandag reggemaak. " * 20
    decision = by_sms(text)
    assert isinstance(decision, Split)
    encodings = [sms.encoding(p) for p in decision.parts]
    assert encodings[0] == "UCS-2" and set(encodings[1:]) == {"GSM-7"}
    assert all(sms.segments(p) <= 3 for p in decision.parts)
    assert len(decision.parts[0]) <= 3 * sms.UCS2_PART
    assert words_of(decision.parts) == text.split()


def test_a_link_is_never_cut_where_a_break_exists_and_a_word_too_long_is_cut() -> None:
    link = "https://water.example.gov.za/outages/2026/ward-12?area=ubuhle-gardens&from=monday"
    text = "See the list of outages at " + ("the link " * 44) + link + " for more news today."
    decision = by_sms(text)
    assert isinstance(decision, Split)
    assert sum(link in part for part in decision.parts) == 1  # whole, in one part
    assert words_of(decision.parts) == text.split()
    endless = "https://example.org/" + "a" * 700  # longer than a part: cut, nothing lost
    cut = by_sms(endless)
    assert isinstance(cut, Split) and len(cut.parts) == 2
    assert "".join(p.split(" ", 1)[1] for p in cut.parts) == endless
    assert all(sms.segments(p) <= 3 for p in cut.parts)


def test_a_whatsapp_text_over_5_sms_is_refused_saying_why() -> None:
    # 5 SMS of 3 segments is the most one message is sent as (budget.MAX_PARTS): past that
    # it is refused as before, and staff see why.
    fits = "Water " * 370  # 2,220 characters: 5 parts of 453 and a mark
    assert isinstance(by_sms(fits), Split) and len(by_sms(fits).parts) == 5  # type: ignore[union-attr]
    reply = "*Update*: " + "The contractor will come to fix the standpipe next week. " * 50
    decision = by_sms(reply)
    assert isinstance(decision, Stop) and decision.status == "failed"
    assert decision.reason == (
        "outside the WhatsApp 24-hour window, no template for staff_reply/en, and SMS "
        "fallback impossible: its SMS would be 19 SMS segments (GSM-7, 2,858 characters): at "
        "most 3 segments go to a resident by SMS, so shorten it and send it again (cut into "
        "SMS of at most 3 segments it would take more than 5, the most one message is sent as)"
    )
    assert decision.too_long is not None and decision.too_long.startswith("Update: The")
    # An SMS row was measured when it was written: it goes as it was queued.
    assert isinstance(decide(whatsapp(channel="sms", body=reply), person()), Route)


def test_english_template_when_none_in_the_language() -> None:
    assert decide(whatsapp(), person(language="st")).content_sid == "HXen"  # type: ignore[union-attr]


def test_no_template_falls_back_to_sms_when_the_purpose_allows() -> None:
    draft = whatsapp(purpose="reminder", allow_sms_fallback=True, sms_body="Hi there ok")
    assert decide(draft, person()) == Route("sms", PHONE, body="Hi there ok")


def test_an_sms_goes_with_plain_punctuation() -> None:
    # A staff reply typed on a phone with "smart punctuation": UCS-2 as typed, GSM-7 sent.
    typed = "We\u2019ll fix the tap on Monday \u2013 sorry for the wait."
    draft = whatsapp(channel="sms", body=typed)
    assert decide(draft, person()) == Route(
        "sms", PHONE, body="We'll fix the tap on Monday - sorry for the wait."
    )


def test_no_template_and_no_fallback_fails_with_a_reason() -> None:
    decision = decide(whatsapp(purpose="reminder"), person())
    assert isinstance(decision, Stop)
    assert decision.status == "failed"
    assert "24-hour window" in decision.reason and "not allowed" in decision.reason


def test_fallback_refused_when_sms_cannot_reach_the_number() -> None:
    decision = decide(
        whatsapp(purpose="reminder", allow_sms_fallback=True), person(number_flag_code=21614)
    )
    assert isinstance(decision, Stop) and "21614" in decision.reason


def test_explicit_template_is_always_allowed() -> None:
    draft = whatsapp(body=None, content_sid="HXown", content_variables={"1": "Ubuhle", "2": 3})
    decision = decide(draft, person())
    assert decision == Route(
        "whatsapp",
        f"whatsapp:{PHONE}",
        content_sid="HXown",
        content_variables={"1": "Ubuhle", "2": "3"},
    )


@pytest.mark.parametrize(
    ("recipient", "status", "words"),
    [
        (person(opted_out_at=NOW), "cancelled", "opted out"),
        (person(consented_at=None), "cancelled", "no consent"),
        (person(whatsapp_opted_out_at=NOW - dt.timedelta(days=1)), "cancelled", "63014"),
        (person(number_flag_code=21211), "failed", "21211"),
    ],
)
def test_whatsapp_refusals(recipient: Recipient, status: str, words: str) -> None:
    decision = decide(whatsapp(), recipient)
    assert isinstance(decision, Stop)
    assert decision.status == status and words in decision.reason


def test_a_later_inbound_message_lifts_a_channel_opt_out() -> None:
    blocked = NOW - dt.timedelta(days=2)
    back = person(
        whatsapp_opted_out_at=blocked, last_inbound_whatsapp_at=NOW - dt.timedelta(hours=1)
    )
    assert isinstance(decide(whatsapp(), back), Route)
    sms = Draft(channel="sms", purpose="notice", body="x")
    assert isinstance(decide(sms, person(sms_opted_out_at=blocked)), Stop)
    lifted = person(sms_opted_out_at=blocked, last_inbound_sms_at=NOW - dt.timedelta(hours=1))
    assert decide(sms, lifted) == Route("sms", PHONE, body="x")


def test_sms_row_of_a_template_only_message_fails() -> None:
    draft = Draft(channel="sms", purpose="notice", content_sid="HX1")
    decision = decide(draft, person())
    assert isinstance(decision, Stop) and "template-only" in decision.reason
