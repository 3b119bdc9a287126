"""The real catalogs: template fresh, catalogs consistent, complete languages render in budget."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import content, i18n, i18n_tools, sms
from bot.flows import broadcast_notices

ROOT = i18n_tools.REPO_ROOT
SMS_BUDGET = 3


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Compile the repository's catalogs into a temporary directory (the repo stays untouched)."""
    out = tmp_path_factory.mktemp("locales")
    results = i18n_tools.compile_catalogs(ROOT, out)
    assert [r.errors for r in results if r.errors] == []
    i18n.clear_cache()
    yield out
    i18n.clear_cache()
    shutil.rmtree(out, ignore_errors=True)


SAMPLE_VALUES = {
    # Long-ish, realistic values so the budget check is not flattered.
    "settlement": "Kwa-Langa Extension 4",
    "municipality": "Umzimkhulu Local Municipality",
    "note": "The contractor is back on site after the rains.",
    "title": "Taps and toilets for the lower section",
    "when": "Lwesibini, Matshi 4, 2025 18:00",
    "date": "04 Mar 2025",
    "venue": "Community hall, Main Road",
    "ward": "57",
    "phone": "+27821234567",
    "language": "isiXhosa",
    "count": "12",
    "number": "3",
    "phase": "Planning",
    "text": "Kwa Langa ext",
    "choices": "1 Kwa-Langa\n2 Langa Ext 2\n3 None of these",
}


def render(t: i18n.Translator, msg_id: str, source: str) -> str:
    """Render a message as the bot would: translation (or English) with placeholders filled."""
    names = {name.strip("{}") for name in i18n_tools.placeholders(source)}
    translated = t.text(msg_id, source)
    assert i18n_tools.placeholders(translated) == i18n_tools.placeholders(source), msg_id
    return translated.format_map({name: SAMPLE_VALUES.get(name, "x" * 20) for name in names})


def has_words(text: str) -> bool:
    """Return True when text has letters outside its placeholders (so it needs translating)."""
    return any(ch.isalpha() for ch in re.sub(r"\{\w+\}", "", text))


def test_template_is_fresh() -> None:
    assert i18n_tools.template_drift(ROOT) == [], "run: python -m bot.i18n_tools all"


def test_catalogs_pass_the_check() -> None:
    assert i18n_tools.check(ROOT) == []


def test_template_holds_exactly_the_content_messages() -> None:
    template = i18n_tools._read_catalog(i18n_tools.pot_path(ROOT))
    from_content = {
        (m.context, m.id)
        for m in template
        if m.id and any(loc.startswith("content/") for loc, _ in m.locations)
    }
    assert from_content == {(msg_id, text) for msg_id, text, _, _ in content.iter_messages()}


def test_every_supported_locale_has_a_catalog() -> None:
    for locale in i18n.SUPPORTED_LOCALES:
        assert i18n_tools.po_path(locale, ROOT).exists(), locale


@pytest.mark.parametrize("locale", [loc for loc in i18n.COMPLETE_LOCALES if loc != "en"])
def test_complete_language_translates_every_message(locale: str, compiled: Path) -> None:
    t = i18n.get_translator(locale, compiled)
    # Some words are the same in both languages (Afrikaans "Water"): the catalog says so.
    same_on_purpose = {
        m.context
        for m in i18n_tools._read_catalog(i18n_tools.po_path(locale, ROOT), locale)
        if m.id and m.string == m.id and i18n_tools._used(m)
    }
    untranslated = [
        msg_id
        for msg_id, text, _, _ in content.iter_messages()
        if t.text(msg_id, text) == text and has_words(text) and msg_id not in same_on_purpose
    ]
    assert untranslated == []


@pytest.mark.parametrize("locale", i18n.SUPPORTED_LOCALES)
def test_every_catalog_is_gsm7(locale: str, compiled: Path) -> None:
    """Every message in every language is GSM-7: one letter outside it (Afrikaans "gesê")
    makes the whole SMS UCS-2, 70 characters a segment instead of 160."""
    t = i18n.get_translator(locale, compiled)
    for msg_id, text, _, _ in content.iter_messages():
        translated = t.text(msg_id, text)
        assert sms.encoding(translated) == "GSM-7", (msg_id, sms.non_gsm_chars(translated))


@pytest.mark.parametrize("locale", i18n.SUPPORTED_LOCALES)
def test_every_message_renders_and_pages_within_the_sms_budget(locale: str, compiled: Path) -> None:
    t = i18n.get_translator(locale, compiled)
    messages = {msg_id: text for msg_id, text, _, _ in content.iter_messages()}
    more = i18n_tools.sms_text(render(t, "more.hint", messages["more.hint"]))
    for msg_id, text in messages.items():
        out = i18n_tools.sms_text(render(t, msg_id, text))
        pages = list(sms.pages(out, max_segments=SMS_BUDGET, more_hint=more))
        assert all(sms.segments(p) <= SMS_BUDGET for p in pages), msg_id
        assert len(pages) <= 3, (msg_id, len(pages))


# Placeholders filled with a meeting time written out in full (`Translator.format_when`, as
# content/broadcasts.yaml says): it starts with the weekday, a noun in the Nguni languages
# ("ULwesine"), so a prefix glued to the placeholder reads "ka-ULwesine" or "ngo-Lwesine"
# instead of the language's own form.
WEEKDAY_FIRST = ("when", "previous", "start", "end")


@pytest.mark.parametrize("locale", i18n.SUPPORTED_LOCALES)
def test_no_prefix_is_glued_to_a_meeting_time(locale: str, compiled: Path) -> None:
    t = i18n.get_translator(locale, compiled)
    when = t.format_when(dt.datetime(2026, 12, 10, 15, 0, tzinfo=dt.UTC))
    glued = []
    for msg_id, text, _, _ in content.iter_messages():
        names = {name.strip("{}") for name in i18n_tools.placeholders(text)}
        if not names & set(WEEKDAY_FIRST):
            continue
        values = {
            name: when if name in WEEKDAY_FIRST else SAMPLE_VALUES.get(name, "x") for name in names
        }
        filled = t.text(msg_id, text).format_map(values)
        if re.search(rf"\w-{re.escape(when)}", filled):
            glued.append((msg_id, filled))
    assert glued == []


# A meeting's SMS (`broadcast_notices`, as the broadcasts domain sends them): the reminder
# of either round, to a resident who said they will come or not, and each template that
# quotes a meeting's date, title or venue (a moved one: its time, its venue, or both).
MEETING_TEMPLATES = [
    ("meeting_announced", False, False),
    ("meeting_cancelled", False, False),
    ("meeting_moved", False, True),
    ("meeting_moved", True, True),
    ("meeting_moved", True, False),
]


def _meeting_sms(t: i18n.Translator, starts_at: dt.datetime) -> dict[str, int]:
    """Return the length (SMS units) of each of a meeting's SMS in t's language, with a
    one-letter title and venue, or no venue ("to be announced"): the words and dates
    around what officers write."""
    words, english = content.load(), i18n.get_translator("en")
    before = starts_at - dt.timedelta(days=40)
    notices = {
        **{
            f"reminder {today=} {attending=} {venue=}": broadcast_notices.reminder(
                words,
                t,
                english=english,
                title="T",
                starts_at=starts_at,
                venue=venue,
                today=today,
                attending=attending,
            )
            for today in (False, True)
            for attending in (False, True)
            for venue in ("V", "")
        },
        **{
            f"{name} {venue_changed=} {moved=} {venue=}": broadcast_notices.template(
                words,
                t,
                name,
                broadcast_notices.TemplateValues(
                    title="T",
                    starts_at=starts_at,
                    previous_starts_at=before if moved else None,
                    venue=venue,
                    venue_changed=venue_changed,
                ),
                english=english,
            )
            for name, venue_changed, moved in MEETING_TEMPLATES
            for venue in ("V", "")
        },
    }
    return {k: sms.units(broadcast_notices.sms_version(words, t, v)) for k, v in notices.items()}


# The words of a meeting's SMS (`_meeting_sms`): each language translates every one.
MEETING_WORDS = (
    "broadcast.meeting_reminder",
    "broadcast.meeting_reminder_today",
    "broadcast.attend_prompt",
    "broadcast.attend_noted",
    "broadcast.meeting_announced",
    "broadcast.meeting_cancelled",
    "broadcast.meeting_moved",
    "broadcast.meeting_moved_venue",
    "broadcast.meeting_moved_both",
    "meetings.venue",
    "meetings.venue_unknown",
    "broadcast.stop_hint",
)


def test_every_language_s_meeting_sms_are_its_own_and_leave_titles_and_venues_their_room(
    compiled: Path,
) -> None:
    # The room a meeting's title and venue have (`reminder_sms_problem`, and the boundary
    # tests of the meeting form, the API and the import) is what the longest language's
    # words and dates leave: a newer language's longer drafts would cut it. So, on no day
    # of a year does a language the menu offers say a meeting's SMS in more SMS units than
    # the longest of the five complete languages (Tshivenda's drafts were held, English
    # going instead, until its reminder and moved announcement were shortened: c491403).
    words = content.load()
    complete = [i18n.get_translator(code, compiled) for code in i18n.COMPLETE_LOCALES]
    newer = {
        language.code: i18n.get_translator(language.code, compiled)
        for language in words.languages
        if language.code not in i18n.COMPLETE_LOCALES
    }
    assert sorted(newer) == sorted(set(i18n.SUPPORTED_LOCALES) - set(i18n.COMPLETE_LOCALES))
    english = [
        (code, msg_id)
        for code, t in newer.items()
        for msg_id in MEETING_WORDS
        if t.text(msg_id, words.message(msg_id).text) == words.message(msg_id).text
    ]
    assert english == []
    day = dt.datetime(2026, 1, 1, 16, 0, tzinfo=dt.UTC)
    # (language, message): the most SMS units it takes beyond the longest complete
    # language's, and the first day it takes that many.
    longer: dict[tuple[str, str], tuple[int, dt.date]] = {}
    for starts_at in (day + dt.timedelta(days=n) for n in range(365)):
        theirs = [_meeting_sms(t, starts_at) for t in complete]
        for code, t in newer.items():
            for kind, units in _meeting_sms(t, starts_at).items():
                over = units - max(their[kind] for their in theirs)
                if over > longer.get((code, kind), (0, starts_at.date()))[0]:
                    longer[(code, kind)] = (over, starts_at.date())
    assert longer == {}


# Setswana and Sepedi spell "list" differently (lenaane, lenaaneng; lenaneo, lenaneong): a
# draft written from the other language's catalog read "mo lenaneong" in Setswana.
OTHER_SPELLING = {"tn": r"\blenane(o|ong|ng)?\b", "nso": r"\blenaa\w*"}


@pytest.mark.parametrize("locale", sorted(OTHER_SPELLING))
def test_setswana_and_sepedi_each_write_list_their_own_way(locale: str) -> None:
    catalog = i18n_tools._read_catalog(i18n_tools.po_path(locale, ROOT), locale)
    found = [
        (m.context, hit.group())
        for m in catalog
        if m.id
        for text in i18n_tools._strings(m.string)
        for hit in re.finditer(OTHER_SPELLING[locale], text, re.IGNORECASE)
    ]
    assert found == []


# Sepedi's š and Tshivenda's ḓ ḽ ṅ ṋ ṱ, which GSM-7 lacks, are written as `bot.i18n` writes
# their day and month names (`_PLAIN_LETTERS`, "as on a phone"): š as "sh", or "s" before
# an h (mošomo: moshomo, tšhelete: tshelete), the others without their dot or circumflex
# (nnḓu: nndu). Drafts wrote most of Sepedi's š as "s" ("eupsa", "mesomo", "tsa", "molaetsa"
# beside "shomishwa") and Tshivenda's nnḓu (house) as "nnyu": these are those words.
WRITTEN_OTHERWISE = {
    "nso": frozenset(
        re.findall(
            r"\w+",
            """
        akaretsa amogetse amogetswe baagisane beakantswe beakantswego bitsa bitswago
        boditse boledisana boletse boletsego bontsi botsa botse botsisa botsise butse
        butswe dikgopotso dipotsiso ditsebiso ditshepiso dumetse dutse dutsego emetse
        emisa emisitse eupsa feletsego fetiseditse fetotswe fosagetse gatisitswego
        gopotswe hlalosa hlalosago hlalosetsa holofeditse holofeditswe hweditse hwetsa
        hwetsago hwetswa kaonafatsa kaonafatso kaonafatswa kaonafatswe keletso
        kgapeletse kgoboketsa kgopotso khanseletswe kwesisa leletsa lentsu letetswe
        letsatsi lokishitswe lokishitswego mantsu matsatsi melaetsa mesomo mmuso
        molaetsa nyetse nyetswe okeditse oketsa phatlalatsa phethagatsa phumotswe
        phumotswego potsiso romeletse romeletsego rometse rometsego setse setsego
        sireletsago swanetse swanetsego thusa thuse thuso thwetswe tiiswa tlosa tlositse
        tsa tse tsea tsebisa tsebise tsebisitse tsebisong tsebiswa tsentse tsentswe tseo
        tshireletso tshoganetsa tshoganetsago tshoganetso tshupetso tsohle tsona tswa
        tswaletswe tswela
        """,
        )
    ),
    "ve": frozenset({"nnyu"}),
}


@pytest.mark.parametrize("locale", sorted(WRITTEN_OTHERWISE))
def test_sepedi_and_tshivenda_write_their_letters_as_their_dates_do(locale: str) -> None:
    catalog = i18n_tools._read_catalog(i18n_tools.po_path(locale, ROOT), locale)
    texts = [(m.context, text) for m in catalog if m.id for text in i18n_tools._strings(m.string)]
    assert [
        (msg_id, sms.non_gsm_chars(text)) for msg_id, text in texts if sms.non_gsm_chars(text)
    ] == []
    found = [
        (msg_id, word)
        for msg_id, text in texts
        for word in re.findall(r"[^\W\d_]+", text.lower())
        if word in WRITTEN_OTHERWISE[locale]
    ]
    assert found == []
