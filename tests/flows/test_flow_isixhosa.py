"""The same menu paths in isiXhosa, the second shipped language, with the real catalogs.

Assertions compare with what the isiXhosa translator renders for each id, so they hold
whether or not a given string is translated yet, and prove the resident's language is
used end to end (catalog text, Babel dates, keywords in any language).
"""

from __future__ import annotations

import pytest

from bot import sms
from bot.content import render
from bot.i18n import get_translator

XH = get_translator("xh")


def test_onboarding_in_isixhosa(c) -> None:
    chat = c.Chat(channel="sms")
    chat.send("Molo")
    reply = chat.send("2")
    assert render("onboarding.consent_prompt", XH) in reply
    reply = chat.send("Ewe")  # yes
    assert render("settlement.ask", XH) in reply
    reply = chat.send("masakhane")
    assert render("settlement.saved", XH, settlement="Masakhane") in reply
    assert sms.segments(reply) <= 3


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_every_menu_path_in_isixhosa(c, channel) -> None:
    chat = c.Chat(channel=channel).onboarded(language="xh")
    menu = chat.send("0")
    expected_menu = render("menu.main", XH)
    assert menu == (expected_menu.replace("*", "") if channel == "sms" else expected_menu)
    for number in range(1, 9):
        assert f"\n{number} " in menu

    def whole(first: str) -> str:
        pages = [first]
        while chat.state and chat.state.get("more"):
            pages.append(chat.send("MORE"))
        for page in pages:
            assert sms.segments(page) <= 3 or channel == "whatsapp"
        return "\n".join(pages).replace("*", "")

    text = whole(chat.send("1"))
    assert (
        render("category.note", XH, note=c.FakeDirectory().get(c.MASAKHANE).category_note) in text
    )

    text = whole(chat.send("2"))
    assert XH.format_date(c.date(2025, 8, 31), "long") in text

    text = whole(chat.send("3"))
    assert render("housing.ask", XH) in text

    text = whole(chat.send("4"))
    assert XH.format_when(c.datetime(2025, 6, 14, 8, 0, tzinfo=c.UTC)) in text
    assert "Masakhane Community Hall" in text

    assert render("report.kind", XH).replace("*", "") in whole(chat.send("5"))
    chat.send("0")
    assert render("my_reports.none", XH) in whole(chat.send("6"))
    assert render("settlement.ask", XH) in chat.send("7")
    chat.send("0")
    assert "5 Sesotho" in chat.send("8")


def test_english_keywords_work_for_an_isixhosa_resident(c) -> None:
    chat = c.Chat().onboarded(language="xh")
    assert render("help.body", XH) in chat.send("HELP")
    assert render("optout.confirmed", XH) in chat.send("stop")
