"""Fitting replies to SMS (3 segments) and WhatsApp (1,600 characters)."""

from __future__ import annotations

import pytest

from bot import sms
from bot.engine.render import first_page, for_channel, pages_chars, strip_markup

HINT = "Reply MORE for the rest."


def test_strip_markup_for_sms() -> None:
    assert strip_markup("*Main menu*\nReply *now*. 2 * 3") == "Main menu\nReply now. 2 * 3"
    assert strip_markup("_Note_: it is ~Monday~ *today*") == "Note: it is Monday today"


@pytest.mark.parametrize(
    "text",
    [
        "dial *120*4664# or *134*1#",  # USSD codes, how a basic phone reaches services
        "stand 5*6",
        "*a*b*",
        "* x *",
        "see stand_5_b or ~/tmp",
        "_ x _ and a ~ b ~",
    ],
)
def test_strip_markup_keeps_stars_that_are_not_bold(text) -> None:
    assert strip_markup(text) == text
    assert strip_markup(f"*Note* {text}") == f"Note {text}"


def test_sms_pages_fit_three_segments_and_hint_more() -> None:
    text = "\n\n".join(f"Paragraph {i}: " + "word " * 40 for i in range(6))
    pages = for_channel(text, "sms", more_hint=HINT)
    assert len(pages) > 1
    assert all(sms.segments(page) <= 3 for page in pages)
    assert all(page.endswith(HINT) for page in pages[:-1])
    assert not pages[-1].endswith(HINT)
    assert "*" not in "".join(pages)


def test_short_sms_is_one_page_without_hint() -> None:
    assert for_channel("*Hi*", "sms", more_hint=HINT) == ["Hi"]


def test_whatsapp_keeps_bold_and_pages_at_1600() -> None:
    text = "*Title*\n" + "\n".join("line " * 30 for _ in range(20))
    pages = for_channel(text, "whatsapp", more_hint=HINT)
    assert pages[0].startswith("*Title*")
    assert len(pages) == 2
    assert all(len(page) <= 1600 for page in pages)
    assert pages[0].endswith(HINT)


def test_whatsapp_pages_cut_an_unbroken_word() -> None:
    pages = list(pages_chars("x" * 250, max_chars=100, more_hint="MORE"))
    assert all(len(p) <= 100 for p in pages)
    assert "".join(p.removesuffix("\n\nMORE") for p in pages) == "x" * 250


def test_whatsapp_pages_count_an_emoji_as_twilio_does() -> None:
    """Twilio counts 1,600 characters in UTF-16 units: an emoji is two."""
    text = "Our street 🚰 has no water. " * 100  # 2,800 characters, 2,900 units
    pages = for_channel(text, "whatsapp", more_hint=HINT)
    assert all(len(page.encode("utf-16-le")) // 2 <= 1600 for page in pages)
    assert len(pages) == 2
    assert "".join(p.removesuffix("\n\n" + HINT) for p in pages).replace(" ", "") == text.replace(
        " ", ""
    )


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
@pytest.mark.parametrize(
    "text",
    [
        "*Title*\n" + "\n\n".join(f"Paragraph {i}: " + "word " * 60 for i in range(12)),
        "x" * 5000,
        "\n".join(f"*{i}* môre " * 9 for i in range(80)),
    ],
)
def test_first_page_then_the_rest_gives_the_same_pages(channel, text) -> None:
    """Paging the kept text page by page gives what cutting it all at once gives."""
    pages = []
    rest = text
    while rest:
        page, rest = first_page(rest, channel, more_hint=HINT)
        pages.append(page)
    assert pages == for_channel(text, channel, more_hint=HINT)
