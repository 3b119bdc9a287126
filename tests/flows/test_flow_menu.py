"""Every main menu option, by number and by word, on WhatsApp and SMS."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot import sms
from bot.content import render
from bot.engine import SetLanguage, SetSettlement
from bot.engine.messages import Location, Media
from bot.i18n import get_translator


def test_menu_numbers_are_the_same_in_every_language(c) -> None:
    for language in ["en", "xh", "zu", "af", "st"]:
        chat = c.Chat(translator_for=c.MarkedTranslator).onboarded(language=language)
        reply = chat.send("0")
        for line in ["1 Our category", "4 Meetings", "8 Language"]:
            assert line in reply, language


def test_1_category_b1_with_note_and_how_to_get_involved(c) -> None:
    chat = c.Chat().onboarded(settlement_id=c.MASAKHANE)
    reply = chat.send("1")
    assert "*Masakhane: category B1, step-by-step upgrade*" in reply
    assert "Services: water, toilets" in reply
    assert "Land: your right to stay" in reply
    assert "Housing: for now, families build" in reply
    assert "Moving: the settlement stays, but some homes may have to move" in reply
    assert "agree together which services come first" in reply
    assert "Note from the municipality: Standpipes and toilets first" in reply
    assert "How to get involved:\n- Organise with your neighbours" in reply
    assert "- Check that the work is done as promised." in reply  # residents monitor too
    assert reply.endswith("Send 0 for the main menu.")


@pytest.mark.parametrize(
    ("settlement", "expected"),
    [
        ("MASAKHANE_EXT2", "category A, full upgrade"),
        ("VUKUZENZELE", "category B2, emergency services now, moving later"),
        ("PHOLA_PARK", "category C, moving soon"),
    ],
)
def test_1_category_each_outcome(c, settlement, expected) -> None:
    chat = c.Chat().onboarded(settlement_id=getattr(c, settlement))
    assert expected in chat.send("category")


def test_1_a_note_with_a_ussd_code_reaches_sms_intact(c) -> None:
    chat = c.Chat(channel="sms").onboarded(settlement_id=c.MASAKHANE)
    info, aliases = chat.directory.settlements[c.MASAKHANE]
    note = "To check your subsidy, dial *120*4664# (free)."
    chat.directory.settlements[c.MASAKHANE] = (replace(info, category_note=note), aliases)
    reply = chat.send("1")
    while note not in reply and "MORE" in reply:
        reply = chat.send("MORE")
    assert f"Note from the municipality: {note}" in reply


def test_1_category_c_explains_relocation_and_the_note(c) -> None:
    reply = c.Chat().onboarded(settlement_id=c.PHOLA_PARK).send("1")
    assert "last resort" in reply
    assert "temporary relocation area" in reply
    assert "Note from the municipality: The river bank floods every winter." in reply


def test_1_not_yet_assessed_explains_assessment_and_four_outcomes(c) -> None:
    reply = c.Chat().onboarded(settlement_id=c.ZWELITSHA).send("1")
    assert "*Zwelitsha: no category yet*" in reply
    assert "quick assessment" in reply
    for outcome in ["A: a full upgrade", "B1: essential", "B2: emergency", "C: a move soon"]:
        assert outcome in reply
    assert "Note from the municipality" not in reply


def test_2_timeline_grouped_by_strand_with_status_and_dates(c) -> None:
    reply = c.Chat().onboarded().send("2")
    assert "*Upgrading timeline for Masakhane*" in reply
    assert "Current stage: Essential services" in reply
    planning = reply.index("*Planning*")
    services = reply.index("*Essential services*")
    tenure = reply.index("*Tenure and land*")
    housing = reply.index("*Housing*")
    assert planning < services < tenure < housing
    assert "*Settlement layout*" not in reply  # no milestones in that strand
    assert "Community action plan agreed: done." in reply
    assert "Standpipes on every lane: under way, expected by 31 August 2025." in reply
    assert "Flush toilets block C: delayed. It was due by 31 March 2025." in reply
    assert "Reason given: The contractor left the site" in reply
    assert "Land purchase from the province: planned, no date set yet." in reply
    assert "Self-build support office opens: planned for 01 February 2026." in reply


def test_2_timeline_dates_take_the_tense_of_today(c) -> None:
    # The fixture's milestones: delayed to 31 March 2025, under way to 31 August 2025,
    # planned for 1 February 2026. The chat's clock decides which dates have passed.
    before = c.Chat(now=datetime(2025, 1, 10, 8, 0, tzinfo=UTC)).onboarded().send("2")
    assert "Flush toilets block C: delayed. It was planned for 31 March 2025 and may now be" in (
        before
    )
    assert "It was due by" not in before
    after = c.Chat(now=datetime(2026, 3, 2, 8, 0, tzinfo=UTC)).onboarded().send("2")
    assert "Flush toilets block C: delayed. It was due by 31 March 2025." in after
    assert (
        "Standpipes on every lane: under way. It was expected by 31 August 2025 and is not "
        "marked done yet." in after
    )
    assert (
        "Self-build support office opens: planned for 01 February 2026. That date has passed "
        "and it is not marked done." in after
    )
    assert "Community action plan agreed: done." in after


def test_2_timeline_a_target_date_is_today_in_johannesburg_until_its_midnight(c) -> None:
    # 31 August 2025, 23:30 in Johannesburg is 21:30 UTC: the date has not passed yet.
    late = c.Chat(now=datetime(2025, 8, 31, 21, 30, tzinfo=UTC)).onboarded().send("2")
    assert "Standpipes on every lane: under way, expected by 31 August 2025." in late
    # Half an hour after midnight there (22:30 UTC) it has.
    next_day = c.Chat(now=datetime(2025, 8, 31, 22, 30, tzinfo=UTC)).onboarded().send("2")
    assert "Standpipes on every lane: under way. It was expected by 31 August 2025" in next_day


def test_2_timeline_the_tenses_are_translated(c) -> None:
    reply = c.Chat(now=datetime(2026, 3, 2, 8, 0, tzinfo=UTC)).onboarded(language="af").send("2")
    assert "aan die gang. Dit is teen 31 Augustus 2025 verwag" in reply


def test_2_timeline_dates_in_the_residents_language(c) -> None:
    reply = c.Chat().onboarded(language="af").send("tydlyn")
    assert "31 Augustus 2025" in reply


def test_2_timeline_without_milestones_explains_the_five_strands(c) -> None:
    reply = c.Chat().onboarded(settlement_id=c.ZWELITSHA).send("timeline")
    assert "has not yet published a timeline for Zwelitsha" in reply
    for strand in ["Planning:", "Essential services:", "Tenure and land:", "Settlement layout:"]:
        assert strand in reply


def test_3_housing_list_guidance_and_offer_to_ask(c) -> None:
    chat = c.Chat().onboarded()
    reply = chat.send("3")
    assert "Siyakha cannot put you on the list" in reply
    assert "the housing office of Ubuntu Bay Municipality" in reply
    assert "ID" in reply and "birth certificates" in reply
    assert "Keep your details up to date" in reply
    assert "Send 5 to ask a question" in reply
    assert "coming" not in reply
    assert "Reply 1 to report a problem" in chat.send("5")


def test_3_housing_without_settlement_points_to_the_municipality(c) -> None:
    reply = c.Chat().onboarded(settlement_id=None).send("housing")
    assert "your municipality's housing office" in reply


def test_4_meetings_settlement_ward_and_city_with_dates_and_venues(c) -> None:
    chat = c.Chat().onboarded()
    reply = chat.send("4")
    assert "*Next meetings for Masakhane*" in reply
    assert "Neighbourhood meeting: Water committee report-back" in reply
    # 08:00 UTC is 10:00 in Johannesburg.
    assert "When: Saturday, 14 June 2025, 10:00" in reply
    assert "Where: Masakhane Community Hall" in reply
    assert "Ward 12 forum: Ward 12 planning forum" in reply
    assert "When: Thursday, 19 June 2025, 17:00" in reply
    assert "Where: Ward 12 Library" in reply
    assert "City forum: City upgrading forum" in reply
    assert "Where: Civic Centre" in reply
    assert "CANCELLED: Layout walkabout on Tuesday, 10 June 2025, 09:00" in reply
    assert "Relocation questions" not in reply  # another settlement, and in the past
    assert reply.index("Layout walkabout") < reply.index("Water committee")  # soonest first
    assert chat.directory.calls == ["meetings 1 12"]


def test_4_meetings_in_isixhosa_use_babel_dates(c) -> None:
    reply = c.Chat().onboarded(language="xh").send("iintlanganiso")
    assert "Mgqibelo" in reply and "10:00" in reply


def test_4_no_meetings_scheduled(c) -> None:
    directory = c.FakeDirectory(meeting_rows=[])
    reply = c.Chat(directory=directory).onboarded().send("meetings")
    assert "No meetings are scheduled for Masakhane, its ward or the city" in reply


def test_4_without_settlement_shows_city_meetings(c) -> None:
    chat = c.Chat().onboarded(settlement_id=None)
    reply = chat.send("4")
    assert "*Next meetings*" in reply
    assert "City upgrading forum" in reply
    assert "Water committee" not in reply
    assert chat.directory.calls == ["meetings None None"]


def test_5_starts_a_report_and_6_lists_none(c) -> None:
    chat = c.Chat().onboarded()
    assert "Reply 1 to report a problem" in chat.send("5")
    chat.send("0")
    assert "You have no open reports" in chat.send("6")
    assert "You have no open reports" in chat.send("my reports")


def test_7_change_settlement(c) -> None:
    chat = c.Chat().onboarded()
    assert "Which informal settlement" in chat.send("7")
    reply = chat.send("phola")
    assert chat.effects == [SetSettlement(c.PHOLA_PARK)]
    assert "Phola Park" in reply
    assert "category C" in chat.send("1")


def test_7_a_partial_name_asks_before_replacing_the_settlement(c) -> None:
    chat = c.Chat().onboarded()
    chat.send("7")
    reply = chat.send("Phola Heights")
    assert "1 Phola Park (ward 3)" in reply and "2 None of these" in reply
    assert chat.effects == []
    assert chat.record.settlement_id == c.MASAKHANE
    chat.send("1")
    assert chat.effects == [SetSettlement(c.PHOLA_PARK)]


def test_7_then_unknown_name_forgets_the_old_settlement(c) -> None:
    chat = c.Chat().onboarded()
    chat.send("7")
    chat.send("Somewhere Else Entirely")
    assert SetSettlement(None) in chat.effects
    assert chat.record.settlement_id is None


def test_8_language_change_keeps_consent_and_goes_to_menu(c) -> None:
    chat = c.Chat(translator_for=c.MarkedTranslator).onboarded()
    assert "5 Sesotho" in chat.send("8")
    reply = chat.send("4")
    assert chat.effects == [SetLanguage("af")]
    assert reply.startswith("[af] From now on we will write to you in Afrikaans.")
    assert "[af] *Main menu*" in reply
    assert "[af] *Next meetings" in chat.send("4")


def test_unknown_input_gets_a_short_pointer(c) -> None:
    chat = c.Chat().onboarded()
    reply = chat.send("blah blah")
    assert reply == (
        "Sorry, we did not understand that. Reply with a number from 1 to 8, "
        "or send MENU to see the menu."
    )
    assert chat.step == "menu"
    assert "did not understand" in chat.send("9")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\u1369", "did not understand"),
        ("\U00010a40", "did not understand"),
        ("\u2460", "category B1"),
    ],
)
def test_digits_are_read_as_int_reads_them(c, text, expected) -> None:
    # Ethiopic and Kharoshthi digits pass str.isdigit() but not int(): they were an
    # exception and the "something went wrong" apology. A circled 1 folds to 1 (NFKC).
    assert expected in c.Chat().onboarded().send(text)


def test_emoji_only(c) -> None:
    reply = c.Chat().onboarded().send("🤔🏽")
    assert "did not understand" in reply
    assert "did not understand" in c.Chat().onboarded().send("👍 🔥")  # not thanks alone


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "Thank you!"),
        ("en", "ok thanks"),
        ("xh", "Enkosi kakhulu"),
        ("zu", "ngiyabonga"),
        ("af", "Baie dankie!!"),
        ("st", "Ke a leboha"),
        ("en", "👍🏽"),
        ("xh", "🙏🙏"),
        ("af", "❤️"),
    ],
)
def test_thanks_at_the_menu_is_welcomed_not_misunderstood(c, language, text) -> None:
    chat = c.Chat().onboarded(language=language)
    chat.send("4")
    assert chat.send(text) == render("menu.thanks", get_translator(language))
    assert chat.effects == [] and chat.step == "menu"


def test_thanks_after_a_while_is_welcomed_without_the_whole_menu(c) -> None:
    # Mostly a thank-you for a staff reply that reached them while they were away.
    chat = c.Chat(channel="sms").onboarded(language="zu")
    chat.wait(minutes=180)
    assert chat.send("Ngiyabonga") == render("menu.thanks", get_translator("zu"))


def test_empty_body_with_only_media_or_location(c) -> None:
    chat = c.Chat().onboarded()
    reply = chat.send("", media=(Media("https://example.test/m/1", "audio/ogg"),))
    # Reports take photos, voice notes and locations: the resident is told how.
    assert "To report a problem with a photo, voice note or location, send 5 first." in reply
    reply = chat.send("", location=Location(-33.9, 18.6, "Lane 4", None))
    assert "send 5 first" in reply


def test_every_menu_option_on_sms_fits_three_segments(c) -> None:
    chat = c.Chat(channel="sms").onboarded()
    for option in ["1", "2", "3", "4", "5", "6", "7"]:
        chat.send("0")
        reply = chat.send(option)
        assert sms.segments(reply) <= 3, (option, reply)
        assert "*" not in reply
        while reply.endswith("Reply MORE for the rest."):
            reply = chat.send("MORE")
            assert sms.segments(reply) <= 3


@pytest.mark.parametrize(
    "language", ["en", "xh", "zu", "af", "st", "tn", "nso", "ts", "ve", "ss", "nr"]
)
@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_each_option_as_the_menu_shows_it_works_as_a_word(c, language, channel) -> None:
    # Whatever the translation calls an option, sending that label back opens it.
    menu = c.Chat(channel=channel).onboarded(language=language).send("0")
    shown = [line.split(" ", 1) for line in menu.splitlines() if line[:1].isdecimal()]
    assert [int(number) for number, _ in shown] == list(range(1, 9)), menu
    for number, label in shown:
        by_number = c.Chat(channel=channel).onboarded(language=language).send(number)
        for typed in (label, label.upper() + " "):
            chat = c.Chat(channel=channel).onboarded(language=language)
            assert chat.send(typed) == by_number, (language, label)
