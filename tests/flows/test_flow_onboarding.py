"""First contact: language menu, privacy notice and consent, which settlement."""

from __future__ import annotations

import pytest

from bot import sms
from bot.engine import (
    RecordConsent,
    RecordUnknownSettlement,
    SetLanguage,
    SetSettlement,
    SettlementInfo,
)
from bot.engine.messages import Media

ALL_LANGUAGES = [
    "English",
    "isiXhosa",
    "isiZulu",
    "Afrikaans",
    "Sesotho",
    "Setswana",
    "Sepedi",
    "Xitsonga",
    "Tshivenda",
    "siSwati",
    "isiNdebele",
]


def test_first_message_gets_the_language_menu_each_language_named_in_itself(chat) -> None:
    reply = chat.send("Hello")
    lines = reply.splitlines()
    for number, name in enumerate(ALL_LANGUAGES, 1):
        assert f"{number} {name}" in lines
    assert chat.step == "language"
    assert chat.effects == []


def test_full_onboarding_exact_match(chat, c) -> None:
    chat.send("hi")
    reply = chat.send("1")
    assert chat.effects == [SetLanguage("en")]
    assert "Siyakha keeps your phone number" in reply
    assert "STOP" in reply and "MY DATA" in reply and "DELETE" in reply
    assert "Reply 1 if you agree" in reply

    reply = chat.send("1")
    assert chat.effects == [RecordConsent(channel="whatsapp", notice_version="2025-1")]
    assert "Which informal settlement do you live in?" in reply

    reply = chat.send("Masakhane")
    assert chat.effects == [SetSettlement(c.MASAKHANE)]
    assert "We have saved Masakhane as your settlement." in reply
    assert "*Main menu*" in reply and "4 Meetings" in reply
    assert chat.step == "menu"


def test_language_by_name_and_reply_in_that_language(c) -> None:
    chat = c.Chat(translator_for=c.MarkedTranslator)
    chat.send("molo")
    reply = chat.send("isiXhosa")
    assert chat.effects == [SetLanguage("xh")]
    assert reply.startswith("[xh] *Privacy*")


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("English please", "en"),
        ("Ndifuna isiXhosa.", "xh"),
        ("in zulu", "zu"),
        ("Sesotho sa Leboa please", "nso"),  # Sepedi, not Sesotho as well
        ("ke bua Sesotho", "st"),
    ],
)
def test_a_language_named_among_other_words_is_chosen(c, typed, code) -> None:
    chat = c.Chat()
    chat.send("hi")
    chat.send(typed)
    assert chat.effects == [SetLanguage(code)]
    assert chat.step == "consent"


@pytest.mark.parametrize("typed", ["English or Afrikaans", "Shona please", "isiZulu isiXhosa"])
def test_several_languages_or_none_named_ask_again(chat, typed) -> None:
    chat.send("hi")
    assert "Please reply with one of the numbers in the list" in chat.send(typed)
    assert chat.effects == []


def test_unknown_language_choice_asks_again(chat) -> None:
    chat.send("hi")
    reply = chat.send("12")
    assert "Please reply with one of the numbers in the list" in reply
    assert "5 Sesotho" in reply and "11 isiNdebele" in reply
    assert chat.step == "language"
    assert chat.effects == []


def test_a_digit_int_cannot_read_asks_again(chat) -> None:
    # str.isdigit() accepts the Kharoshthi digit one, int() does not: it was an exception
    # and the "something went wrong" apology.
    chat.send("hi")
    reply = chat.send("\U00010a40")
    assert "Please reply with one of the numbers in the list" in reply
    assert chat.step == "language"


def test_typo_in_settlement_name_still_matches(chat, c) -> None:
    _agree(chat)
    reply = chat.send("  MASAKANE ")
    assert chat.effects == [SetSettlement(c.MASAKHANE)]
    assert "Masakhane" in reply


def test_alias_matches(chat, c) -> None:
    _agree(chat)
    chat.send("vz")
    assert chat.effects == [SetSettlement(c.VUKUZENZELE)]


def test_ambiguous_name_offers_numbered_choices(chat, c) -> None:
    _agree(chat)
    reply = chat.send("siya")
    assert "more than one settlement" in reply
    assert "1 Siyahlala" in reply
    assert "2 Siyanqoba (ward 9)" in reply
    assert "3 None of these" in reply
    assert chat.effects == []
    reply = chat.send("2")
    assert chat.effects == [SetSettlement(c.SIYANQOBA)]
    assert "We have saved Siyanqoba as your settlement." in reply


def test_none_of_the_choices_records_the_name(chat) -> None:
    _agree(chat)
    chat.send("siya")
    reply = chat.send("3")
    assert chat.effects == [RecordUnknownSettlement("siya")]
    assert 'We could not find a settlement called "siya".' in reply
    assert "*Main menu*" in reply


def test_a_neighbouring_name_is_offered_not_saved(chat, c) -> None:
    # WRatio scored "Masakhane Extension 7" 95 against Extension 2 and saved it outright.
    _agree(chat)
    reply = chat.send("Masakhane Extension 7")
    assert "We found one settlement with a name like that. Is it yours?" in reply
    assert "1 Masakhane Extension 2 (ward 12)" in reply
    assert "2 None of these" in reply
    assert "Masakhane (ward 12)" not in reply
    assert chat.effects == []
    reply = chat.send("2")
    assert chat.effects == [RecordUnknownSettlement("Masakhane Extension 7")]
    assert 'We could not find a settlement called "Masakhane Extension 7".' in reply


def test_a_shared_word_is_a_choice_and_1_saves_it(chat, c) -> None:
    _agree(chat)
    reply = chat.send("Park")
    assert "1 Phola Park (ward 3)\n2 None of these" in reply
    assert chat.effects == []
    assert "We have saved Phola Park" in chat.send("1")
    assert chat.effects == [SetSettlement(c.PHOLA_PARK)]


@pytest.mark.parametrize("text", ["Freedom Park", "Sweet Home Park", "park freedom"])
def test_a_shared_place_word_alone_is_no_match_and_is_recorded(chat, text) -> None:
    # "Park" is in Phola Park's name, but a "Freedom Park" resident does not live there.
    _agree(chat)
    reply = chat.send(text)
    assert chat.effects == [RecordUnknownSettlement(text)]
    assert "Phola Park" not in reply


def test_a_name_quoted_back_by_sms_loses_its_curly_apostrophe(c) -> None:
    chat = c.Chat(channel="sms").onboarded()
    chat.send("7")
    reply = chat.send("Mama\u2019s place")  # a phone's "smart punctuation"
    assert 'We could not find a settlement called "Mama\'s place".' in reply
    assert sms.encoding(reply) == "GSM-7"
    whatsapp = c.Chat().onboarded()
    whatsapp.send("7")
    assert "Mama\u2019s place" in whatsapp.send("Mama\u2019s place")


def test_a_name_with_another_place_word_is_asked_not_saved(chat, c) -> None:
    _agree(chat)
    reply = chat.send("Phola Camp")
    assert "1 Phola Park (ward 3)\n2 None of these" in reply
    assert chat.effects == []


@pytest.mark.parametrize("text", ["Ma", "Si", "a", "Vuka"])
def test_a_short_word_or_fragment_is_no_match_and_is_recorded(chat, text) -> None:
    _agree(chat)
    reply = chat.send(text)
    assert chat.effects == [RecordUnknownSettlement(text)]
    assert f'We could not find a settlement called "{text}".' in reply
    assert chat.step == "menu"


def test_typos_of_a_whole_name_are_saved(chat, c) -> None:
    _agree(chat)
    chat.send("Zwelisha")
    assert chat.effects == [SetSettlement(c.ZWELITSHA)]
    chat.send("7")
    chat.send("masakhane-EXTENSION 2")
    assert chat.effects == [SetSettlement(c.MASAKHANE_EXT2)]


def test_bad_choice_number_asks_again_and_new_text_searches_again(chat, c) -> None:
    _agree(chat)
    chat.send("siya")
    assert "one of the numbers" in chat.send("9")
    assert chat.step == "settlement_choice"
    chat.send("Phola Park")
    assert chat.effects == [SetSettlement(c.PHOLA_PARK)]


def test_no_match_says_so_records_it_and_carries_on(chat) -> None:
    _agree(chat)
    reply = chat.send("Nowhere Heights")
    assert chat.effects == [RecordUnknownSettlement("Nowhere Heights")]
    assert "We could not find a settlement called" in reply
    assert "sending 7" in reply
    assert chat.step == "menu"
    reply = chat.send("1")
    assert "We do not know your settlement yet. Send 7 to choose it." in reply


def test_settlement_question_with_only_a_photo(chat) -> None:
    _agree(chat)
    reply = chat.send("", media=(Media("https://example.test/m/1", "image/jpeg"),))
    assert reply == "Please send the name of your settlement as text."
    assert chat.step == "settlement"


def test_declining_consent_erases_and_starts_afresh_next_time(chat) -> None:
    chat.send("hi")
    chat.send("1")
    reply = chat.send("2")
    assert "We have removed your number" in reply
    assert chat.record.exists is False
    assert chat.state is None
    assert "1 English" in chat.send("hi")


def test_consent_by_word_in_isizulu(chat) -> None:
    chat.send("hi")
    chat.send("3")
    chat.send("Yebo")
    assert chat.record.consented_at is not None
    assert chat.step == "settlement"


def test_consent_question_repeats_on_anything_else(chat) -> None:
    chat.send("hi")
    chat.send("1")
    reply = chat.send("what is this?")
    assert "Please reply 1 if you agree" in reply
    assert chat.step == "consent"


def test_menu_keyword_during_onboarding_resumes_onboarding(chat) -> None:
    chat.send("hi")
    chat.send("1")
    reply = chat.send("MENU")
    assert "Reply 1 if you agree" in reply
    assert chat.step == "consent"


def test_onboarding_works_on_sms_too(sms_chat, c) -> None:
    sms_chat.send("hi")
    sms_chat.send("1")
    sms_chat.send("1")
    reply = sms_chat.send("zwelitsha")
    assert sms_chat.effects == [SetSettlement(c.ZWELITSHA)]
    assert reply.startswith("Thank you. We have saved Zwelitsha")
    assert "*" not in reply


def _agree(chat) -> None:
    chat.send("hi")
    chat.send("1")
    chat.send("1")
    assert chat.step == "settlement"


def test_a_bare_number_is_not_taken_as_a_settlement_name(c) -> None:
    chat = c.Chat().onboarded()
    chat.send("7")
    assert chat.send("4") == "Please send the name of your settlement as text."
    assert chat.effects == []
    assert "*Main menu*" in chat.send("0")


def test_settlement_name_typed_after_idle_at_onboarding_is_saved(chat, c) -> None:
    _agree(chat)
    chat.wait(minutes=45)
    reply = chat.send("Masakhane")
    assert reply.startswith("Welcome back to Siyakha.")
    assert chat.effects == [SetSettlement(c.MASAKHANE)]
    assert "We have saved Masakhane as your settlement." in reply


@pytest.mark.parametrize(("language", "word"), [("en", "meetings"), ("zu", "imihlangano")])
def test_a_menu_word_at_the_settlement_question_opens_it_and_keeps_the_settlement(
    c, language, word
) -> None:
    # 7 pressed by mistake: "meetings" names no settlement, so it is not recorded as one.
    meetings = c.Chat().onboarded(language=language).send("4")
    chat = c.Chat().onboarded(language=language)
    chat.send("7")
    assert chat.send(word) == meetings
    assert chat.effects == []
    chat.send("7")
    chat.send("siya")  # numbered choices
    assert chat.send(word) == meetings
    assert chat.effects == []


def test_a_settlement_named_like_a_menu_word_is_still_found(c) -> None:
    directory = c.FakeDirectory()
    info = SettlementInfo(99, "Progress", "4", c.MUNICIPALITY, "A")
    directory.settlements[99] = (info, ())
    chat = c.Chat(directory=directory).onboarded()
    chat.send("7")
    assert "We have saved Progress as your settlement." in chat.send("progress")
    assert chat.effects == [SetSettlement(99)]


@pytest.mark.parametrize(
    "text", ["Masakhane Ext 2", "masakhane ext. 2", "Masakhane Ext2", "MASAKHANE EXTENSION 2"]
)
def test_an_extension_is_found_however_it_is_written(c, text) -> None:
    # "Ext" is short for "Extension", and the number tells extensions apart.
    chat = c.Chat().onboarded()
    chat.send("7")
    assert "We have saved Masakhane Extension 2 as your settlement." in chat.send(text)
    assert chat.effects == [SetSettlement(c.MASAKHANE_EXT2)]


@pytest.mark.parametrize(
    ("text", "offered"),
    [
        ("Masakhane Ext 7", ["Masakhane Extension 2"]),
        ("Masakhane 2", ["Masakhane", "Masakhane Extension 2"]),
    ],
)
def test_a_near_extension_is_offered_not_saved(c, text, offered) -> None:
    chat = c.Chat(channel="sms").onboarded()
    chat.send("7")
    reply = chat.send(text)
    assert chat.effects == []
    lines = [f"{n} {name} (ward 12)" for n, name in enumerate(offered, start=1)]
    assert "\n".join([*lines, f"{len(offered) + 1} None of these"]) in reply, reply


def test_informal_settlement_after_a_name_does_not_favour_another_alias(c) -> None:
    # Masakhane's alias is "Masakhane Informal Settlement": the generic words tell nothing.
    chat = c.Chat().onboarded()
    chat.send("7")
    assert "We have saved Vukuzenzele" in chat.send("Vukuzenzele informal settlement")
    assert chat.effects == [SetSettlement(c.VUKUZENZELE)]


@pytest.mark.parametrize("word", ["ok", "Yes", "no", "ewe", "Ja", "Thanks!", "enkosi", "dankie"])
def test_a_yes_no_or_thanks_at_the_settlement_question_is_not_taken_as_a_name(c, word) -> None:
    chat = c.Chat().onboarded()
    chat.send("7")
    assert chat.send(word) == "Please send the name of your settlement as text."
    assert chat.effects == [] and chat.step == "settlement"


def test_a_yes_to_numbered_settlements_asks_for_a_number(c) -> None:
    chat = c.Chat().onboarded()
    chat.send("7")
    chat.send("siya")  # numbered choices
    for word in ("ok", "Thank you"):
        reply = chat.send(word)
        assert reply.startswith("Please reply with one of the numbers in the list"), reply
        assert chat.effects == [] and chat.step == "settlement_choice"
