"""The notice that a settlements import linked a resident to the name they typed ("Send 1
to learn its category, or 7 if it is not your settlement"), answered mid-conversation."""

from __future__ import annotations

from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest

from bot.engine.effects import SetSettlement
from bot.i18n import get_translator


def linked(c: ModuleType, *steps: str, channel: str = "whatsapp", language: str = "en") -> Any:
    """Return a chat of a resident with no settlement who sent `steps`, then was linked to
    Masakhane by an import and told so, an hour later."""
    chat = c.Chat(channel=channel).onboarded(language=language, settlement_id=None)
    if language != "en":
        chat.ports = type(chat.ports)(
            settlements=chat.ports.settlements,
            residents=chat.ports.residents,
            translator_for=get_translator,
        )
    for text in steps:
        chat.send(text)
    chat.record.settlement_id = c.MASAKHANE
    chat.directory.linked_notices.append(chat.now + timedelta(hours=1))
    chat.wait(minutes=90)
    return chat


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_1_at_the_settlement_question_the_notice_answered_shows_the_category(
    c: ModuleType, channel: str
) -> None:
    chat = linked(c, "7", channel=channel)  # "Which informal settlement do you live in?"
    reply = chat.send("1")
    assert "Masakhane: category B1" in reply
    assert "name of your settlement" not in reply
    assert chat.effects == [] and chat.step == "menu"


def test_7_at_the_settlement_question_asks_for_it_again_and_a_name_still_answers(
    c: ModuleType,
) -> None:
    chat = linked(c, "7")
    assert "Which informal settlement do you live in?" in chat.send("7")
    assert chat.step == "settlement"
    assert "Phola Park" in chat.send("Phola Park")
    assert chat.effects == [SetSettlement(c.PHOLA_PARK)]


def test_1_at_numbered_settlements_after_the_notice_keeps_the_settlement_linked(
    c: ModuleType,
) -> None:
    chat = linked(c, "7", "Siya")  # "1 Siyahlala 2 Siyanqoba 3 None of these"
    assert chat.step == "settlement_choice"
    reply = chat.send("1")
    assert "Masakhane: category B1" in reply and "Siyahlala" not in reply
    assert chat.effects == [] and chat.record.settlement_id == c.MASAKHANE


def test_the_notice_is_answered_in_the_residents_language(c: ModuleType) -> None:
    chat = linked(c, "7", channel="sms", language="xh")
    assert chat.send("1").startswith("Masakhane: udidi B1")
    assert chat.effects == [] and chat.step == "menu"


def test_an_older_notice_leaves_the_settlement_question_as_it_was(c: ModuleType) -> None:
    chat = linked(c)
    chat.send("7")
    assert "Please send the name of your settlement as text." in chat.send("1")
    assert chat.step == "settlement"


def test_inside_a_report_a_1_after_the_notice_keeps_its_meaning(c: ModuleType) -> None:
    chat = linked(c, "5", "1", "1")  # a water problem: "describe it"
    assert "share a location pin" in chat.send("1")  # the description, as after any message
    assert chat.step == "report_where"
