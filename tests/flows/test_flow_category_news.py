"""What a category_changed broadcast tells residents to send does what it says."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from types import ModuleType

from bot.content import load
from tests.flows.test_flow_attend import one_reminder


def test_menu_then_1_shows_the_category_as_the_news_says_even_with_a_reminder_pending(
    c: ModuleType,
) -> None:
    # The news ends "Send MENU, then 1": a bare 1 would answer a meeting reminder that came
    # before it (engine 4a), and record a yes nobody gave.
    for code in ("a", "b1", "b2", "c"):
        text = load().message(f"broadcast.category_changed.{code}").text
        assert text.endswith("Send MENU, then 1, to see what this means for you.")
    told, bare = c.Chat().onboarded(), c.Chat().onboarded()
    for chat in (told, bare):
        reminded = one_reminder(chat.now, chat.now + timedelta(days=3))
        chat.ports = dataclasses.replace(chat.ports, invitations=reminded)
    assert "*Main menu*" in told.send("MENU")
    assert "*Masakhane: category B1, step-by-step upgrade*" in told.send("1")
    assert told.record.attending == []
    assert "you will come to Layout plan" in bare.send("1")
