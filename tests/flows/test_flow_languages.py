"""Every offered language end to end: the language menu, greetings, keywords, dates.

Scripts in isiZulu, Afrikaans and Sesotho run with the real catalogs (compiled by
`make test` before pytest) and compare with what each language's translator renders, so
they prove the resident's language is used throughout; dates and weekday names are also
checked literally against CLDR's names.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

import pytest
import yaml
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot import sms
from bot.content import load, normalise, render
from bot.engine import OptOut, SetLanguage
from bot.engine.render import strip_markup
from bot.flows import broadcast_notices
from bot.flows.onboarding import greeted_languages, missing_for_offer, required_ids
from bot.i18n import SUPPORTED_LOCALES, get_translator
from bot.i18n_tools import po_path

CONTENT = load()
NUMBER = {language.code: n for n, language in enumerate(CONTENT.languages, 1)}


# --- the language menu ------------------------------------------------------------------------


def test_the_menu_numbers_are_fixed_by_languages_yaml() -> None:
    assert list(NUMBER) == list(SUPPORTED_LOCALES)
    assert list(NUMBER.values()) == list(range(1, 12))


def test_the_real_catalogs_let_the_menu_offer_all_eleven_languages(c) -> None:
    for code in SUPPORTED_LOCALES[1:]:  # English is the source, always offered
        assert missing_for_offer(CONTENT, get_translator(code)) == [], code
    reply = c.Chat(channel="sms").send("Hi")
    for language in CONTENT.languages:
        assert f"{NUMBER[language.code]} {language.name}" in reply.splitlines()
    assert sms.segments(reply) <= 3


def test_required_ids_cover_onboarding_menu_keywords_and_categories() -> None:
    ids = set(required_ids(CONTENT))
    for msg_id in [
        "onboarding.language_menu",
        "privacy.notice",
        "onboarding.consent_prompt",
        "settlement.ask",
        "menu.main",
        "help.body",
        "optout.confirmed",
        "optin.confirmed",
        "mydata.intro",
        "delete.confirm",
        "more.hint",
        "category.a.body",
        "category.unassessed.body",
    ]:
        assert msg_id in ids
    assert "onboarding.language_line" not in ids  # "{number} {language}": nothing to translate
    assert "timeline.footer" not in ids  # falls back to English until translated


class PartialTranslator:
    """Translates (by tagging) only some ids, like a catalog that is still filling."""

    def __init__(self, locale: str, translated: set[str] | None) -> None:
        self.locale = locale
        self._translated = translated
        self._real = get_translator(locale)

    def text(self, msg_id: str, source: str) -> str:
        if self.locale == "en" or (self._translated is not None and msg_id not in self._translated):
            return source
        return f"[{self.locale}] {source}"

    def format_date(self, value: date, format: str = "medium") -> str:
        return self._real.format_date(value, format)

    def format_datetime(self, value: datetime, format: str = "medium") -> str:
        return self._real.format_datetime(value, format)

    def format_when(self, value: datetime) -> str:
        return self._real.format_when(value)


def test_a_language_is_offered_only_once_its_minimum_is_translated(c) -> None:
    required = set(required_ids(CONTENT))
    coverage: dict[str, set[str] | None] = {
        "xh": None,  # everything
        "zu": required,  # exactly the minimum
        "af": required - {"category.c.body"},  # one short
        "st": set(),
    }

    def translator_for(code: str) -> PartialTranslator:
        return PartialTranslator(code, coverage.get(code, set()))

    chat = c.Chat(channel="sms", translator_for=translator_for)
    lines = chat.send("Hello").splitlines()
    assert "1 English" in lines and "2 isiXhosa" in lines and "3 isiZulu" in lines
    assert not any(line.startswith(("4 ", "5 ", "6 ")) for line in lines)
    # Numbers are never reused: 4 (Afrikaans, not offered yet) is simply not a choice.
    reply = chat.send("4")
    assert "Please reply with one of the numbers in the list" in reply
    assert chat.effects == [] and chat.step == "language"
    assert chat.send("Afrikaans").startswith("Please reply with one of the numbers")
    chat.send("3")
    assert chat.effects == [SetLanguage("zu")]


# --- greetings on first contact ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("greeting", "codes"),
    [
        ("Molo", ["xh"]),
        ("Molweni!", ["xh"]),
        ("Sawubona", ["zu", "ss"]),
        ("Goeie môre", ["af"]),
        ("Hallo", ["af"]),
        ("Dumela", ["st", "tn", "nso"]),
        ("Thobela", ["nso"]),
        ("Avuxeni", ["ts"]),
        ("Ndaa", ["ve"]),
        ("Lotjhani", ["nr"]),
        ("sawubona, ngicela usizo", ["zu", "ss"]),
        ("Hello", []),
        ("Masakhane", []),
        ("Molokoi", []),  # a greeting must be a whole word
    ],
)
def test_greetings_hint_at_languages(greeting: str, codes: list[str]) -> None:
    assert greeted_languages(CONTENT, greeting) == codes


def test_a_greeting_puts_that_language_first_and_the_resident_still_chooses(c) -> None:
    chat = c.Chat(channel="sms")
    reply = chat.send("Sawubona")
    zu = render("onboarding.language_suggest", get_translator("zu"), number=3, language="isiZulu")
    ss = render("onboarding.language_suggest", get_translator("ss"), number=10, language="siSwati")
    assert reply.startswith(f"{zu}\n{ss}\n\n")
    assert "3 isiZulu" in reply and "10 siSwati" in reply and "1 English" in reply
    assert chat.effects == [] and chat.step == "language"  # nothing chosen for them
    assert sms.segments(reply) <= 3
    chat.send("1")
    assert chat.effects == [SetLanguage("en")]  # a Zulu greeting, an English choice


def test_afrikaans_greeting_with_accent_and_the_menu_is_still_complete(c) -> None:
    reply = c.Chat().send("Goeie Môre!")
    af = render("onboarding.language_suggest", get_translator("af"), number=4, language="Afrikaans")
    assert reply.startswith(af + "\n\n")
    assert "11 isiNdebele" in reply


def test_a_newcomers_more_is_a_greeting_not_the_more_keyword(c) -> None:
    reply = c.Chat().send("Môre")  # Afrikaans "morning", spelled like the keyword MORE
    assert "1 English" in reply and "4 Afrikaans" in reply
    assert render("more.none", get_translator("en")) not in reply


def test_no_hint_for_a_resident_who_already_chose(c) -> None:
    chat = c.Chat().onboarded(language="xh")
    reply = chat.send("ulwimi")  # LANGUAGE in isiXhosa
    assert reply.startswith(render("onboarding.language_menu", get_translator("xh")))


# --- keywords in any language, whatever the resident chose ------------------------------------

ACTIONS = ["menu", "help", "language", "stop", "start", "my_data", "delete", "more"]


@pytest.mark.parametrize("code", SUPPORTED_LOCALES)
def test_every_offered_language_has_words_for_every_keyword_answer_and_option(code) -> None:
    for action in ACTIONS:
        assert CONTENT.keywords_by_action[action].get(code), (code, action)
    for answer in ("yes", "no"):
        assert any(CONTENT.answers.get(normalise(w)) == answer for w in _answers(code, answer))
    words = _menu_words(code)
    options = {n for w, n in CONTENT.menu_words.items() if w in words}
    assert options == set(range(1, 8)), code
    assert CONTENT.fact("status_words").get(code), code
    assert _attend_words().get(code), code  # named by reminders, meeting lists and HELP
    assert _keywords_file()["thanks_words"].get(code), code
    assert CONTENT.fact("urgent_words").get(code), code  # a fire is urgent in every language


# The words HELP names: capitals, one word or several ("MY DATA", "KE TLA TLA").
HELP_WORD = re.compile(r"\b[A-Z]{2,}(?: [A-Z]{2,})*\b")


@pytest.mark.parametrize("code", SUPPORTED_LOCALES)
def test_help_names_only_words_that_work_and_the_language_s_own_status_and_attend(code) -> None:
    text = render("help.body", get_translator(code))
    named = set(HELP_WORD.findall(text))
    status = {normalise(w) for ws in CONTENT.fact("status_words").values() for w in ws}
    for word in named:
        folded = normalise(word)
        assert CONTENT.keyword(word) or folded in status or folded in CONTENT.attend_words, word
    assert {"STATUS", "ATTEND"} <= named
    # Where the language has a word of its own for them, HELP names it too (beside the
    # English one, which works for everyone).
    own_status = CONTENT.fact("status_words").get(code, [])
    own_attend = _attend_words().get(code, [])
    assert not own_status or any(w.upper() in named for w in own_status), code
    assert not own_attend or any(w.upper() in named for w in own_attend), code


@pytest.mark.parametrize("code", SUPPORTED_LOCALES)
@pytest.mark.parametrize("msg_id", ["broadcast.attend_prompt", "meetings.attend_hint"])
def test_reminders_and_meeting_lists_name_the_language_s_own_attend_word(code, msg_id) -> None:
    # As HELP does: the word in capitals is one the bot takes as ATTEND, and the language's
    # own where it has one (English ATTEND is for everyone, and HELP lists it).
    named = set(HELP_WORD.findall(render(msg_id, get_translator(code))))
    assert named and all(normalise(word) in CONTENT.attend_words for word in named), named
    own = _attend_words().get(code, [])
    assert not own or any(w.upper() in named for w in own), (code, named)


@cache
def _attend_words() -> dict[str, list[str]]:
    broadcasts = (CONTENT.directory / "broadcasts.yaml").read_text(encoding="utf-8")
    return dict(yaml.safe_load(broadcasts)["attend_words"])


@cache
def _keywords_file() -> dict[str, Any]:
    return dict(yaml.safe_load((CONTENT.directory / "keywords.yaml").read_text(encoding="utf-8")))


def _answers(code: str, answer: str) -> list[str]:
    return list(_keywords_file()["answers"][answer].get(code, []))


def _menu_words(code: str) -> set[str]:
    menu_words = _keywords_file()["menu_words"].values()
    return {normalise(w) for words in menu_words for w in words.get(code, [])}


@pytest.mark.parametrize(
    ("chosen", "word"),
    [
        ("zu", "STAAK"),  # Afrikaans STOP from an isiZulu resident
        ("af", "yima"),  # isiZulu STOP from an Afrikaans resident
        ("st", "Yeka"),  # isiXhosa
        ("en", "emisa"),  # Sesotho
        ("xh", "jamisa"),  # isiNdebele
        ("zu", "Yimisa"),  # Xitsonga
    ],
)
def test_stop_in_any_language_works_whatever_language_was_chosen(c, chosen, word) -> None:
    chat = c.Chat().onboarded(language=chosen)
    chat.send("4")
    reply = chat.send(word)
    assert chat.effects == [OptOut(channel="whatsapp")]
    assert reply == render("optout.confirmed", get_translator(chosen))


@pytest.mark.parametrize(
    ("chosen", "word", "msg_id"),
    [
        ("af", "USIZO", "help.body"),
        ("st", "hulp", "help.body"),
        ("zu", "Thuso!", "help.body"),
        ("af", "lulwimi", "onboarding.language_menu"),
        ("zu", "Taal", "onboarding.language_menu"),
        ("st", "ririmi", "onboarding.language_menu"),
        ("zu", "my inligting", "mydata.intro"),
        ("af", "dintlha tsa ka", "mydata.intro"),
        ("st", "Vuxokoxoko bya mina", "mydata.intro"),
        ("zu", "skrap", "delete.confirm"),
        ("af", "HLAKOLA", "delete.confirm"),
    ],
)
def test_keywords_mix_languages_ignoring_case_and_accents(c, chosen, word, msg_id) -> None:
    chat = c.Chat().onboarded(language=chosen)
    reply = chat.send(word)
    assert render(msg_id, get_translator(chosen)).replace("*", "") in reply.replace("*", "")


@pytest.mark.parametrize(
    ("chosen", "word"), [("zu", "meer"), ("af", "Okwengeziwe"), ("st", "MÉÉR")]
)
def test_more_in_another_language_pages_on(c, chosen, word) -> None:
    chat = c.Chat(channel="sms").onboarded(language=chosen)
    first = chat.send("1")
    assert chat.state and chat.state.get("more"), "category text should need paging on SMS"
    hint = render("more.hint", get_translator(chosen))
    assert first.endswith(hint)
    assert chat.send(word) != first


@pytest.mark.parametrize(
    ("chosen", "word", "option_msg"),
    [
        ("zu", "isigaba", "category.get_involved"),
        ("af", "vergaderings", "meetings.footer"),
        ("st", "matlo", "housing.ask"),
        ("af", "dikopano", "meetings.footer"),
        # As the catalogs now write nnḓu and š (nndu, tsha): the drafts' spellings work too.
        ("ve", "nndu", "housing.ask"),
        ("ve", "nnyu", "housing.ask"),
        ("nso", "dipego tsha ka", "my_reports.none"),
    ],
)
def test_menu_words_in_any_language(c, chosen, word, option_msg) -> None:
    chat = c.Chat(channel="whatsapp").onboarded(language=chosen)
    assert render(option_msg, get_translator(chosen)) in chat.send(word)


def test_yes_in_another_language_answers_the_consent_question(c) -> None:
    chat = c.Chat()
    chat.send("Dumela")
    chat.send("5")  # Sesotho
    chat.send("Yebo")  # isiZulu yes
    assert chat.record.consent is not None
    assert chat.step == "settlement"


# Prompts whose answer is one word: a resident may send the verb the prompt uses ("0 to
# cancel": "kanselleer"; "1 if you agree": "dumela") instead of the number.
ANSWERED_PROMPTS = [
    "onboarding.consent_prompt",
    "onboarding.consent_retry",
    "report.confirm",
    "report.confirm_retry",
    "report.change_retry",
]


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_prompts_do_not_tell_residents_to_send_a_keyword_verb(locale) -> None:
    """What follows each number ("0 to ...") may be sent instead of it, so it must not be a
    keyword: Sesotho "hlakola" is DELETE, "dumela" MENU; English "cancel" is one of
    Twilio's opt-out words on SMS."""
    t = get_translator(locale)
    for msg_id in ANSWERED_PROMPTS:
        for instruction in re.split(r"\b\d+\b", render(msg_id, t))[1:]:
            for word in instruction.split():
                assert normalise(word) not in CONTENT.keywords, (msg_id, word)


def test_sesotho_consent_answered_with_the_greeting_is_not_taken_as_agreeing(c) -> None:
    """ "Dumela" is hello (and the MENU word): it asks again and records nothing."""
    chat = c.Chat()
    chat.send("Dumela")
    chat.send("5")  # Sesotho
    reply = chat.send("Dumela")
    assert chat.record.consent is None and chat.step == "consent"
    assert render("onboarding.consent_prompt", get_translator("st")) in reply
    assert "dumela" not in normalise(render("onboarding.consent_prompt", get_translator("st")))
    chat.send("1")
    assert chat.record.consent is not None


# --- scripts in isiZulu, Afrikaans and Sesotho ------------------------------------------------

MEETING = datetime(2025, 6, 14, 8, 0, tzinfo=UTC)  # Saturday 10:00 in Johannesburg
SCRIPTS = [
    # (greeting, code, yes-word, Saturday, a month name of the timeline dates)
    ("Sawubona", "zu", "yebo", "UMgqibelo", "Agasti"),
    ("Goeie more", "af", "ja", "Saterdag", "Augustus"),
    ("Dumela", "st", "ee", "Moqebelo", "Phato"),
]


@pytest.mark.parametrize(("greeting", "code", "yes", "saturday", "august"), SCRIPTS)
@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_whole_conversation_in_the_language(
    c, channel, greeting, code, yes, saturday, august
) -> None:
    t = get_translator(code)
    chat = c.Chat(channel=channel)

    hint = render("more.hint", t)

    def whole(first: str) -> str:
        """Return the reply with every page fetched by MORE, as one flat text."""
        pages = [first]
        while chat.state and chat.state.get("more"):
            pages.append(chat.send("MORE"))
        for page in pages:
            assert channel == "whatsapp" or sms.segments(page) <= 3, page
        text = " ".join(p.removesuffix(hint) for p in pages)
        return " ".join(text.replace("*", "").split())

    def plain(msg_id: str, **params: object) -> str:
        return " ".join(render(msg_id, t, **params).replace("*", "").split())

    reply = chat.send(greeting)
    assert reply.startswith(
        render(
            "onboarding.language_suggest",
            t,
            number=NUMBER[code],
            language=CONTENT.language(code).name,  # type: ignore[union-attr]
        )
    )
    reply = whole(chat.send(str(NUMBER[code])))
    assert chat.record.language == code
    assert plain("privacy.notice") in reply and plain("onboarding.consent_prompt") in reply
    reply = chat.send(yes)
    assert plain("settlement.ask") in reply
    reply = whole(chat.send("Masakhane"))
    assert plain("settlement.saved", settlement="Masakhane") in reply
    assert plain("menu.main") in reply

    text = whole(chat.send("1"))
    assert plain("category.b1.body", settlement="Masakhane") in text

    text = whole(chat.send("2"))
    assert t.format_date(date(2025, 8, 31), "long") in text
    assert august in text
    assert plain("timeline.footer") in text

    text = whole(chat.send("3"))
    assert plain("housing.ask") in text

    text = whole(chat.send("4"))
    when = t.format_when(MEETING)
    assert when in text and when.startswith(saturday) and "10:00" in when
    assert plain("meetings.footer") in text

    text = whole(chat.send("5"))
    assert plain("report.kind").split("\n")[0] in text

    chat.send("0")
    text = whole(chat.send("my data"))
    assert plain("mydata.intro") in text
    assert plain("mydata.language", language=CONTENT.language(code).name) in text  # type: ignore[union-attr]
    text = whole(chat.send("8"))
    assert "11 isiNdebele" in text


# --- dates in the language of the sentence around them ---------------------------------------


def _walkabout(c) -> Any:
    return next(m for _, _, m in c._meetings() if m.title == "Layout walkabout")


@pytest.fixture
def setswana_without_dated_words(tmp_path, monkeypatch) -> Any:
    """Setswana's catalog without its words for the sentences that carry a date (meeting
    lines, timeline items, broadcasts), as a language partly translated has it: every
    catalog is complete now, so the fallback is made, not found."""
    with open(po_path("tn"), "rb") as fp:
        catalog = read_po(fp, locale="tn")
    for msg in list(catalog):
        if msg.context and msg.context.startswith(("meetings.item.", "timeline.", "broadcast.")):
            catalog.delete(msg.id, context=msg.context)
    (tmp_path / "tn" / "LC_MESSAGES").mkdir(parents=True)
    with open(tmp_path / "tn" / "LC_MESSAGES" / "messages.mo", "wb") as fp:
        write_mo(fp, catalog)
    monkeypatch.setenv("SIYAKHA_LOCALES_DIR", str(tmp_path))
    return get_translator("tn", tmp_path)


def test_a_sentence_that_falls_back_to_english_has_its_date_in_english(
    c, setswana_without_dated_words
) -> None:
    # With no words for the meeting lines: "CANCELLED: ... on Labobedi, 10 Seetebosigo 2025
    # ka 09:00 will not take place" was half one language, half the other.
    starts = _walkabout(c).starts_at
    reply = c.Chat(channel="sms").onboarded(language="tn").send("4")
    assert get_translator("en").format_when(starts) in reply
    assert get_translator("tn").format_when(starts) not in reply
    timeline = c.Chat(channel="sms").onboarded(language="tn").send("2")
    assert "expected by 31 August 2025" in timeline, timeline


def test_a_translated_sentence_keeps_its_own_date(c) -> None:
    starts = _walkabout(c).starts_at
    assert get_translator("xh").format_when(starts) in c.Chat().onboarded(language="xh").send("4")
    # MY DATA's consent line has Setswana words: its date is Setswana too.
    chat = c.Chat().onboarded(language="tn")
    day = (chat.now - timedelta(days=30)).date()
    assert get_translator("tn").format_date(day, "long") in chat.send("MY DATA")


def test_broadcast_templates_and_reminders_write_dates_as_their_sentence(
    c, setswana_without_dated_words
) -> None:
    content, english = load(), get_translator("en")
    values = broadcast_notices.TemplateValues(
        area="Block C",
        starts_at=datetime(2025, 6, 14, 8, 0, tzinfo=UTC),
        ends_at=datetime(2025, 6, 14, 14, 0, tzinfo=UTC),
    )
    for language in ("tn", "xh"):
        translator = (
            setswana_without_dated_words
            if language == "tn"
            else get_translator("xh", po_path("xh").parents[2])  # the real catalogs
        )
        text = broadcast_notices.template(
            content, translator, "water_interruption", values, english=english
        )
        writer = translator if language == "xh" else english  # xh has the words; tn not here
        assert writer.format_when(values.starts_at) in text, (language, text)
        reminder = broadcast_notices.reminder(
            content,
            translator,
            english=english,
            title="Water committee",
            starts_at=values.starts_at,
            venue="Hall",
            today=False,
            attending=False,
        )
        assert writer.format_when(values.starts_at) in reminder, (language, reminder)


@pytest.mark.parametrize(
    ("language", "greeting"),
    [
        ("ve", "Aa"),
        ("nr", "Lotjha"),
        ("ts", "Minjhani"),
        ("tn", "Dumela rra"),
        ("en", "Good morning"),
    ],
)
def test_a_greeting_is_no_settlement_name_and_at_the_menu_shows_it(c, language, greeting) -> None:
    # "Aa" after 7 was filed for officers as a settlement and cleared the resident's own.
    chat = c.Chat(channel="sms").onboarded(language=language)
    chat.send("7")
    reply = chat.send(greeting)
    assert chat.effects == [] and chat.record.settlement_id == c.MASAKHANE
    assert chat.step in ("settlement", "menu"), reply  # asked again, or MENU (a keyword)
    chat.send("0")
    menu_text = strip_markup(render("menu.main", get_translator(language)))  # SMS: no bold
    assert chat.send(greeting).endswith(menu_text)
