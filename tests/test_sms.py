"""Tests for bot.sms: GSM-7 / UCS-2 detection, segment counting, splitting, paging."""

from __future__ import annotations

import random

import pytest

from bot import sms

MORE = "Reply MORE for the rest."


def part_units(part: str, enc: sms.Encoding) -> int:
    """Cost of one part under the whole message's encoding."""
    if enc == "GSM-7":
        return sum(2 if ch in sms.GSM7_EXTENSION else 1 for ch in part)
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in part)


def assert_reconstructs(original: str, pages: list[str], hint: str, joiner: str = "\n\n") -> None:
    """Pages without their hint are, in order, the original text with only whitespace dropped."""
    bodies = [p.removesuffix(joiner + hint) for p in pages[:-1]] + [pages[-1]]
    for p in pages[:-1]:
        assert p.endswith(joiner + hint)
    pos = 0
    for body in bodies:
        assert body, "empty page"
        while (
            pos < len(original) and original[pos].isspace() and not original.startswith(body, pos)
        ):
            pos += 1
        assert original.startswith(body, pos), (pos, body[:40])
        pos += len(body)
    assert original[pos:].strip() == ""


# --- encoding -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Molo! Ukhetha isiXhosa.",
        "Sawubona",
        "Café é è à ä ö ü Ä Ö Ü ñ",
        "Price: R10 {x} [y] ~ | ^ € \\",
        "line\nbreak\r\n",
        "",
    ],
)
def test_gsm7_text(text: str) -> None:
    assert sms.encoding(text) == "GSM-7"
    assert sms.is_gsm7(text)
    assert sms.non_gsm_chars(text) == []


@pytest.mark.parametrize(
    ("text", "culprit"),
    [
        ("Wat sê jy?", "ê"),
        ("Goeie môre", "ô"),
        ("Ḽavhuvhili", "Ḽ"),
        ("Mošupologo", "š"),
        ("It’s", "’"),
        ("ok 👍", "👍"),
        ("tab\there", "\t"),
        ("no\u00a0break", "\u00a0"),
        ("ç lower cedilla", "ç"),
    ],
)
def test_ucs2_text(text: str, culprit: str) -> None:
    assert sms.encoding(text) == "UCS-2"
    assert sms.non_gsm_chars(text) == [culprit]


def test_sendable_turns_word_processor_breaks_into_newlines_and_drops_what_xml_cannot_carry() -> (
    None
):
    pasted = "Water\x0bon Monday\x0cBlock C\x07\x00\x1b\ufffe\uffff"
    assert sms.sendable(pasted) == "Water\non Monday\nBlock C"
    kept = "Tab\there\nMolo! Ümbrella 🙂 é ß"
    assert sms.sendable(kept) == kept
    # A CR is one more character an SMS pays for: text stored with CR LF (typed in a browser
    # before 49bb9b7) goes with LF, as the dashboard and the API now store it.
    assert sms.sendable("Line one.\r\nLine two.\rThree.") == "Line one.\nLine two.\nThree."


def test_plain_punctuation_makes_smart_punctuation_gsm7() -> None:
    typed = "Meeting at 18:00 \u2013 bring your ID\u2019s\u2026 \u201cHall\u201d\u00a0B\u200b"
    assert sms.encoding(typed) == "UCS-2" and sms.segments(typed * 3) == 3
    plain = sms.plain_punctuation(typed)
    assert plain == 'Meeting at 18:00 - bring your ID\'s... "Hall" B'
    assert sms.encoding(plain) == "GSM-7" and sms.segments(plain * 3) == 1


@pytest.mark.parametrize(
    "text",
    [
        "Ons s\u00ea \u2018n vergadering",  # \u00ea keeps it UCS-2: the quote stays as typed
        "Thanks \U0001f44d \u201cok\u201d",
        "Already plain: 'quotes' - and dashes...",
    ],
)
def test_plain_punctuation_changes_nothing_it_cannot_make_gsm7(text: str) -> None:
    assert sms.plain_punctuation(text) == text


def test_non_gsm_chars_distinct_in_order() -> None:
    assert sms.non_gsm_chars("sê, môre, sê") == ["ê", "ô"]


def test_escape_character_itself_is_not_gsm_text() -> None:
    assert sms.encoding("\x1b") == "UCS-2"


# --- segments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("a", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("a" * 459, 3),
        ("a" * 460, 4),
        ("€" * 80, 1),  # 160 septets
        ("€" * 81, 2),
        ("a" * 159 + "€", 2),  # 161 septets
        ("ê" * 70, 1),
        ("ê" * 71, 2),
        ("ê" * 134, 2),
        ("ê" * 135, 3),
        ("😀" * 35, 1),  # 70 UTF-16 units
        ("😀" * 36, 2),
        ("a" * 159 + "ê", 3),  # one ê makes all 160 characters UCS-2
    ],
)
def test_segments(text: str, expected: int) -> None:
    assert sms.segments(text) == expected
    assert len(sms.split(text)) == expected


def test_units() -> None:
    assert sms.units("a{b") == 4
    assert sms.units("ê😀") == 3


def test_split_never_breaks_escape_pair() -> None:
    text = "a" * 152 + "€" + "b" * 10
    parts = sms.split(text)
    assert parts == ["a" * 152, "€" + "b" * 10]


def test_split_fills_part_when_escape_pair_fits() -> None:
    text = "a" * 151 + "€" + "b" * 10
    assert sms.split(text) == ["a" * 151 + "€", "b" * 10]


def test_split_never_breaks_surrogate_pair() -> None:
    text = "ê" * 66 + "😀" + "x" * 10
    parts = sms.split(text)
    assert parts == ["ê" * 66, "😀" + "x" * 10]


def test_split_ucs2_parts_of_67() -> None:
    text = "ê" * 140
    assert [len(p) for p in sms.split(text)] == [67, 67, 6]


def test_split_gsm_parts_of_153() -> None:
    text = "x" * 400
    assert [len(p) for p in sms.split(text)] == [153, 153, 94]


def test_split_random_invariants() -> None:
    rng = random.Random(7)
    alphabet = "abc ê€{😀\n"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        parts = sms.split(text)
        assert "".join(parts) == text
        enc = sms.encoding(text)
        single, part = (160, 153) if enc == "GSM-7" else (70, 67)
        limit = single if len(parts) == 1 else part
        assert all(part_units(p, enc) <= limit for p in parts)
        assert sms.segments(text) == len(parts)


# --- pages ----------------------------------------------------------------------------------


def test_paginate_short_text_unchanged() -> None:
    text = "Hello  \n\nthere  "
    assert list(sms.pages(text, more_hint=MORE)) == [text]


def test_paginate_prefers_paragraphs() -> None:
    paragraphs = [f"Paragraph {i}. " + "word " * 40 for i in range(6)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    pages = list(sms.pages(text, more_hint=MORE))
    assert len(pages) > 1
    for page in pages:
        assert sms.segments(page) <= 3
    # every page except the last ends with a whole paragraph before the hint
    for page in pages[:-1]:
        body = page.removesuffix("\n\n" + MORE)
        assert body.endswith("word")
        assert body.startswith("Paragraph")
    assert_reconstructs(text, pages, MORE)


def test_paginate_breaks_lines_when_no_paragraphs() -> None:
    text = "\n".join(f"{i}. Item number {i} on the list" for i in range(1, 60))
    pages = list(sms.pages(text, max_segments=1, more_hint="MORE"))
    for page in pages[:-1]:
        body = page.removesuffix("\n\nMORE")
        assert body.split("\n")[-1].endswith("on the list")
        assert sms.segments(page) == 1
    assert_reconstructs(text, pages, "MORE")


@pytest.mark.parametrize(
    ("limit", "min_fill", "expected"),
    [
        (10, 0.5, (9, 12)),  # a run starting before the limit is whole: two breaks, a paragraph
        (9, 0.5, (9, 12)),  # a run may start at the limit itself
        (8, 0.5, (4, 5)),  # only the space between the first two words starts in time
        (16, 0.9, (16, 17)),  # the paragraph leaves the page too empty: the last space
        (16, 0.5, (9, 12)),
    ],
)
def test_page_breaks_at_the_best_whitespace_run_starting_by_the_limit(
    limit: int, min_fill: float, expected: tuple[int, int]
) -> None:
    text = "aaaa bbbb\n \ncccc dddd eeee"
    assert sms._break_point(text, limit, min_fill) == expected


def test_page_break_never_at_leading_whitespace() -> None:
    assert sms._break_point("  aaaa bbbb", 3, 0.5) == (3, 3)  # a hard cut, not an empty page
    assert sms._break_point("  aaaa bbbb", 7, 0.5) == (6, 7)


@pytest.mark.parametrize(
    ("rest", "suffix", "max_segments", "expected"),
    [
        ("a" * 1000, "MORE", 3, 3 * 153 - 4),
        ("a" * 1000, "MORE", 1, 160 - 4),
        ("a" * 100, "MORE", 3, 100),  # all of it fits
        ("a" * 1000, "[MORE]", 3, 3 * 153 - 8),  # [ and ] cost two septets each
        # A page holding the ê is UCS-2: 3 x 67 units, too few for 201 characters and the
        # hint, so the page stops before it.
        ("a" * 200 + "ê" + "a" * 800, "MORE", 3, 200),
        ("a" * 1000, "MORE ê", 2, 2 * 67 - 6),  # a UCS-2 hint makes every page UCS-2
    ],
)
def test_longest_page_prefix(rest: str, suffix: str, max_segments: int, expected: int) -> None:
    assert sms._longest_prefix(rest, suffix, max_segments) == expected


def test_paginate_cuts_huge_word() -> None:
    text = "x" * 1000
    pages = list(sms.pages(text, max_segments=1, more_hint="MORE"))
    assert all(sms.segments(p) == 1 for p in pages)
    assert "".join(p.removesuffix("\n\nMORE") for p in pages) == text


def test_paginate_hint_on_all_but_last() -> None:
    pages = list(sms.pages("word " * 200, max_segments=1, more_hint="MORE"))
    assert all(p.endswith("\n\nMORE") for p in pages[:-1])
    assert not pages[-1].endswith("MORE")


def test_paginate_ucs2_hint_counts() -> None:
    # A GSM-7 body becomes UCS-2 once a non-GSM hint is appended: the budget must see that.
    hint = "Antwoord MEER om verder te lees, sê asseblief."
    pages = list(sms.pages("woord " * 300, max_segments=2, more_hint=hint))
    assert all(sms.segments(p) <= 2 for p in pages)
    assert sms.encoding(pages[0]) == "UCS-2"
    assert_reconstructs("woord " * 300, pages, hint)


def test_paginate_trailing_whitespace_does_not_leave_a_dangling_hint() -> None:
    text = "a" * 400 + " " * 100
    pages = list(sms.pages(text, max_segments=1, more_hint="MORE"))
    assert not pages[-1].endswith("MORE")
    assert pages[-1].strip()


def test_paginate_does_not_split_combining_mark() -> None:
    text = "e\u0302" * 200  # decomposed ê
    pages = list(sms.pages(text, max_segments=1, more_hint="M"))
    for page in pages:
        assert not page.startswith("\u0302")


def test_paginate_rejects_impossible_hint() -> None:
    with pytest.raises(ValueError, match="more_hint"):
        list(sms.pages("x" * 500, max_segments=1, more_hint="y" * 200))
    with pytest.raises(ValueError, match="max_segments"):
        list(sms.pages("x", max_segments=0, more_hint="MORE"))


@pytest.mark.parametrize("max_segments", [1, 2, 3])
def test_paginate_random_property(max_segments: int) -> None:
    rng = random.Random(1000 + max_segments)
    words = [
        "Molo",
        "indlu",
        "sê",
        "môre",
        "Dinsdag",
        "👍",
        "😀😀",
        "€10",
        "{name}",
        "[1]",
        "a|b",
        "~",
        "^",
        "x" * 180,
        "ê" * 90,
        "Ḽavhuvhili",
        "e\u0302",
    ]
    separators = [" ", " ", " ", "\n", "\n\n", "  ", " \n "]
    hints = ["Reply MORE", "Phendula u-MORE", "Antwoord MEER, sê dit 👇"]
    for _ in range(150):
        n = rng.randint(0, 120)
        text = "".join(rng.choice(words) + rng.choice(separators) for _ in range(n)).strip()
        hint = rng.choice(hints)
        pages = list(sms.pages(text, max_segments=max_segments, more_hint=hint))
        assert all(sms.segments(p) <= max_segments for p in pages), [sms.segments(p) for p in pages]
        if sms.segments(text) <= max_segments:
            assert pages == [text]
        else:
            assert_reconstructs(text, pages, hint)


def test_as_gsm7_keeps_the_length_gsm7_would_count() -> None:
    # Sepedi š, Tshivenda ṱ and ḓ, Afrikaans ê, an emoji: one GSM-7 character each.
    words = "Mošate, Muṱangano wa u ḓivhadza, sê 🚰 \u201cHall\u201d \u2026"
    folded = sms.as_gsm7(words)
    assert sms.is_gsm7(folded) and not sms.is_gsm7(words)
    assert folded == 'Mo?ate, Mu?angano wa u ?ivhadza, s? ? "Hall" ...'
    assert sms.as_gsm7("Civic centre {room 3}") == "Civic centre {room 3}"  # GSM-7 already
