"""The bot's words: content/*.yaml loads, renders safely, and every message fits an SMS."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from bot import content, sms
from bot.content import (
    ContentError,
    PlaceholderError,
    UnknownMessageError,
    iter_messages,
    load,
    normalise,
    render,
)
from bot.engine.render import for_channel
from bot.i18n import SUPPORTED_LOCALES, get_translator

ROOT = Path(__file__).resolve().parents[1]
CONTENT = load()
ALL_IDS = sorted(CONTENT.messages)

# Realistic, longish values for every placeholder name used in content.
SAMPLES = {
    "settlement": "Masakhane Extension 2",
    "municipality": "Ubuntu Bay Metropolitan Municipality",
    "ward": "112",
    "note": "The contractor left the site in March; a new one is being appointed by the city.",
    "title": "Standpipes and flush toilets on every lane of block C",
    "date": "31 September 2025",
    "when": "Wednesday, 30 September 2025, 18:00",
    "venue": "Masakhane Community Hall, corner of Lane 4 and the main road",
    "phase": "Essential services and layout planning",
    "phone": "+27821234567",
    "language": "isiXhosa",
    "text": "Nowhere Heights near the old quarry",
    "number": "6",
    "count": "120",
    "name": "Nomvula Thandeka Mahlangu-Dlamini 🌻",  # a WhatsApp profile name
    # MY DATA: the settlement names a resident typed that matched none, quoted back.
    "names": '"Nowhere Heights near the old quarry", "Thandi Mokoena 14 Nkosi Street"',
    "category": "Stormwater and flooding",
    # Broadcasts (content/broadcasts.yaml).
    "area": "Masakhane Extension 2, blocks C to F along the main road",
    "start": "Wednesday, 30 September 2025, 08:00",
    "end": "Thursday, 1 October 2025, 17:00",
    "previous": "Wednesday, 23 September 2025, 18:00",
    "milestone": "Standpipes and flush toilets on every lane of block C",
    "time": "18:00",
    "choices": "\n".join(f"{n} Masakhane Extension {n} (ward 12)" for n in range(1, 6))
    + "\n6 None of these",
    # Meetings a resident already said they will come to: as many as menu 4 lists.
    "meetings": "\n".join(
        f"Standpipes and flush toilets on every lane of block C, Wednesday, {day} September "
        "2025, 18:00"
        for day in range(23, 28)
    ),
}


class English:
    locale = "en"

    def text(self, msg_id: str, source: str) -> str:
        return source


def _params(msg_id: str) -> dict[str, str]:
    return {name: SAMPLES[name] for name in CONTENT.message(msg_id).placeholders}


def test_there_are_messages_from_several_files() -> None:
    files = {m.source_file for m in CONTENT.messages.values()}
    assert {"messages.yaml", "categories.yaml", "housing.yaml", "meetings.yaml"} <= files
    assert len(ALL_IDS) > 80


def test_every_placeholder_has_a_sample() -> None:
    used = set().union(*(m.placeholders for m in CONTENT.messages.values()))
    assert used <= set(SAMPLES), used - set(SAMPLES)


@pytest.mark.parametrize("msg_id", ALL_IDS)
def test_message_follows_the_string_rules(msg_id: str) -> None:
    text = CONTENT.message(msg_id).text
    assert re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", msg_id)
    assert text == text.strip()
    first = text.lstrip("*")[0]
    assert first.isupper() or first.isdigit() or first == "{", "sentence case"
    assert sms.is_gsm7(text.replace("{", "").replace("}", "")), sms.non_gsm_chars(text)
    assert "  " not in text


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_message_fits_three_sms_segments_after_paging(locale: str) -> None:
    translator = get_translator(locale)
    hint = render("more.hint", translator)
    for msg_id in ALL_IDS:
        text = render(msg_id, translator, **_params(msg_id))
        pages = for_channel(text, "sms", more_hint=hint)
        assert pages and all(0 < sms.segments(page) <= 3 for page in pages), msg_id
        assert all(len(page) <= 1600 for page in for_channel(text, "whatsapp", more_hint=hint))


def test_unknown_id_is_a_clear_key_error() -> None:
    with pytest.raises(KeyError, match=r"no\.such\.message"):
        render("no.such.message", English())
    with pytest.raises(UnknownMessageError):
        render("no.such.message", English())


def test_missing_and_extra_placeholders_are_refused() -> None:
    with pytest.raises(PlaceholderError, match=r"missing placeholders \['settlement'\]"):
        render("settlement.saved", English())
    with pytest.raises(PlaceholderError, match=r"unexpected parameters \['colour'\]"):
        render("settlement.saved", English(), settlement="X", colour="red")


def test_values_are_not_interpreted_as_format_strings() -> None:
    assert render("settlement.saved", English(), settlement="{note} {0}") == (
        "Thank you. We have saved {note} {0} as your settlement."
    )


def test_translation_is_used_and_broken_translation_falls_back() -> None:
    class Xhosa:
        locale = "xh"

        def __init__(self, translation: str) -> None:
            self.translation = translation

        def text(self, msg_id: str, source: str) -> str:
            return self.translation

    good = Xhosa("Enkosi. Sigcine {settlement}.")
    assert render("settlement.saved", good, settlement="Langa") == "Enkosi. Sigcine Langa."
    broken = Xhosa("Enkosi. Sigcine {indawo}.")
    assert render("settlement.saved", broken, settlement="Langa").startswith("Thank you.")


def test_iter_messages_gives_id_text_file_and_line() -> None:
    rows = list(iter_messages())
    assert len(rows) == len(ALL_IDS)
    by_id = {row[0]: row for row in rows}
    _, text, source_file, line = by_id["menu.main"]
    assert source_file == "messages.yaml"
    lines = (ROOT / "content" / source_file).read_text(encoding="utf-8").splitlines()
    assert lines[line - 1].strip().startswith("menu.main:")
    assert text.startswith("*Main menu*")


def test_content_directory_can_be_overridden(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text('messages:\n  x.hello: "Hello, {name}."\n')
    loaded = load(tmp_path)
    assert loaded is load(str(tmp_path))  # cached
    assert loaded.render("x.hello", English(), name="Thandi") == "Hello, Thandi."
    assert [row[0] for row in iter_messages(tmp_path)] == ["x.hello"]


def test_duplicate_ids_and_ambiguous_keywords_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text('messages:\n  x.one: "One."\n')
    (tmp_path / "b.yaml").write_text('messages:\n  x.one: "Again."\n')
    with pytest.raises(ContentError, match="defined in both"):
        content._parse(tmp_path)
    other = tmp_path / "kw"
    other.mkdir()
    (other / "k.yaml").write_text("keywords:\n  stop:\n    en: [stop]\n  start:\n    xh: [STOP]\n")
    with pytest.raises(ContentError, match="means both"):
        content._parse(other)


@pytest.mark.parametrize(
    ("document", "error"),
    [
        (
            'messages:\n  x.one: "One."\n  x.two: "Two."\n  x.one: "Again."\n',
            "a.yaml: line 4: key 'x.one' is repeated (first on line 2)",
        ),
        (
            "codes: [A]\nmessages:\n  x.one: One.\ncodes: [B]\n",
            "a.yaml: line 4: key 'codes' is repeated (first on line 1)",
        ),
        (
            "keywords:\n  stop:\n    en: [stop]\n    en: [halt]\n",
            "a.yaml: line 4: key 'en' is repeated (first on line 3)",
        ),
    ],
    ids=["message id", "top-level key", "nested key"],
)
def test_a_key_repeated_in_one_file_is_refused(tmp_path: Path, document: str, error: str) -> None:
    # PyYAML kept the last one silently, and the extractor offered both to translators.
    (tmp_path / "a.yaml").write_text(document)
    with pytest.raises(ContentError) as refused:
        content._parse(tmp_path)
    assert str(refused.value) == error


def test_languages_yaml_lists_the_eleven_languages_in_menu_order() -> None:
    # The language menu numbers them in this order (bot/flows/onboarding.py).
    assert [language.code for language in CONTENT.languages] == list(SUPPORTED_LOCALES)
    assert CONTENT.message("onboarding.language_line").text == "{number} {language}"


def test_main_menu_numbers_one_to_eight() -> None:
    lines = CONTENT.message("menu.main").text.splitlines()
    numbered = [line.split(" ", 1)[0] for line in lines if line[:1].isdigit()]
    assert numbered == [str(n) for n in range(1, 9)]


def test_keywords_cover_every_action_in_the_five_languages() -> None:
    for action in ["menu", "help", "language", "stop", "start", "my_data", "delete", "more"]:
        assert set(CONTENT.keywords_by_action[action]) >= {"en", "xh", "zu", "af", "st"}, action
    assert CONTENT.keywords["stop"] == "stop"
    assert CONTENT.keywords[normalise("MY DATA")] == "my_data"
    assert CONTENT.keywords["0"] == "menu"


def test_menu_words_do_not_shadow_keywords() -> None:
    assert not set(CONTENT.menu_words) & set(CONTENT.keywords)
    assert set(CONTENT.menu_words.values()) == set(range(1, 8))


def test_thanks_words_are_no_keyword_answer_or_menu_word() -> None:
    taken = set(CONTENT.keywords) | set(CONTENT.answers) | set(CONTENT.menu_words)
    assert CONTENT.thanks_words and not CONTENT.thanks_words & taken
    assert CONTENT.is_thanks("Thank you!!") and CONTENT.is_thanks(" 👍🏾 🙏 ")
    assert not CONTENT.is_thanks("thanks for nothing") and not CONTENT.is_thanks("🤔")
    assert not CONTENT.is_thanks("") and not CONTENT.is_thanks("  ")


def _folded(fact: str) -> set[str]:
    return {normalise(w) for words in CONTENT.fact(fact).values() for w in words}


def test_attend_words_are_no_other_word_the_bot_answers_to() -> None:
    # An attend word alone is read as one at any step (bot/engine/engine.py, 4a): one that
    # were also a keyword, a yes or no, a menu option, STATUS, a cancel word or thanks would
    # be taken from that meaning (or take it).
    taken = (
        set(CONTENT.keywords)
        | set(CONTENT.answers)
        | set(CONTENT.menu_words)
        | CONTENT.thanks_words
        | _folded("status_words")
        | _folded("cancel_words")
    )
    assert CONTENT.attend_words and not CONTENT.attend_words & taken


def test_normalise_folds_case_accents_punctuation_and_emoji() -> None:
    assert normalise("  HÉLP!! ") == "help"
    assert normalise("My-Data") == "my data"
    assert normalise("👍🏽") == ""
    assert normalise("?") == "?"


def test_a_trailing_question_mark_asks_for_the_keyword_but_stop() -> None:
    assert normalise("Help ?") == "help"
    assert normalise("What? Menu??") == "what? menu"
    assert normalise("??") == "?"
    assert CONTENT.keyword("Uncedo?") == "help"
    assert CONTENT.keyword("? ") == "help"
    assert CONTENT.keyword("delete?") == "delete"
    assert CONTENT.keyword("Stop") == "stop"
    assert CONTENT.keyword("stop ?") is None  # opting out takes effect at once: never a guess


def _ids_in_code() -> tuple[set[str], set[str]]:
    """Return (literal message ids, f-string id prefixes) used in bot/engine and bot/flows."""
    literals: set[str] = set()
    prefixes: set[str] = set()
    for path in [*(ROOT / "bot" / "flows").glob("*.py"), *(ROOT / "bot" / "engine").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", node.value):
                    literals.add(node.value)
            elif isinstance(node, ast.JoinedStr) and node.values:
                head = node.values[0]
                if isinstance(head, ast.Constant) and re.fullmatch(r"[a-z_]+\.", str(head.value)):
                    prefixes.add(str(head.value))
    return literals, prefixes


def test_every_id_used_in_code_exists_and_every_message_is_used() -> None:
    literals, prefixes = _ids_in_code()
    module_names = {"bot.content", "bot.engine", "bot.flows", "bot.i18n", "bot.sms"}
    used = {i for i in literals if not i.startswith("bot.") and i not in module_names}
    assert used - set(ALL_IDS) == set()
    unused = {i for i in ALL_IDS if i not in used and not any(i.startswith(p) for p in prefixes)}
    assert unused == set()
