"""Conversation state, idle timeout, robustness and the outcome's shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.content import render
from bot.engine import EraseResident, Inbound, Outcome, ResidentView, SetSettlement, handle
from bot.i18n import get_translator


def test_idle_30_minutes_at_the_menu_lands_on_menu_with_welcome_back(c) -> None:
    chat = c.Chat().onboarded()
    chat.send("4")
    assert chat.step == "menu"
    chat.wait(minutes=31)
    reply = chat.send("Masakhane")
    assert reply.startswith("Welcome back to Siyakha.")
    assert "*Main menu*" in reply
    assert chat.effects == []
    assert chat.step == "menu"


def test_idle_keeps_the_question_on_screen_and_answers_it(c) -> None:
    """The question is still the last thing on the resident's phone: the answer counts."""
    chat = c.Chat().onboarded()
    chat.send("7")
    assert chat.step == "settlement"
    chat.wait(minutes=31)
    reply = chat.send("Zwelitsha")
    assert reply.startswith("Welcome back to Siyakha.")
    assert "We have saved Zwelitsha as your settlement." in reply
    assert chat.effects == [SetSettlement(c.ZWELITSHA)]


def test_idle_number_picks_from_the_numbered_settlements_not_the_main_menu(c) -> None:
    chat = c.Chat(channel="sms").onboarded()
    chat.send("7")
    assert "1 Siyahlala" in chat.send("siya")
    chat.wait(minutes=40)
    reply = chat.send("2")
    assert reply.startswith("Welcome back to Siyakha.")
    assert "We have saved Siyanqoba as your settlement." in reply
    assert chat.effects == [SetSettlement(c.SIYANQOBA)]


def test_idle_delete_confirmation_is_asked_again_never_answered(c) -> None:
    chat = c.Chat().onboarded()
    chat.send("DELETE")
    chat.wait(minutes=31)
    reply = chat.send("1")
    assert reply.startswith("Welcome back to Siyakha.")
    assert "Reply 1 to delete, or 0 to keep everything." in reply
    assert chat.effects == []
    assert chat.record.exists and chat.step == "delete_confirm"
    chat.send("1")  # answered while the question is fresh
    assert chat.effects == [EraseResident()]


def test_idle_delete_confirmation_of_an_opted_out_resident_is_asked_again(c) -> None:
    chat = c.Chat().onboarded()
    chat.send("STOP")
    chat.send("DELETE")
    chat.wait(minutes=60)
    assert "Reply 1 to delete" in chat.send("1")
    assert chat.effects == []
    chat.send("1")
    assert chat.effects == [EraseResident()]


def test_idle_then_a_menu_number_is_answered_after_the_welcome(c) -> None:
    chat = c.Chat().onboarded()
    chat.send("siya")
    chat.wait(minutes=45)
    reply = chat.send("4")
    assert reply.startswith("Welcome back to Siyakha.")
    assert "*Next meetings for Masakhane*" in reply


def test_not_idle_at_29_minutes(c) -> None:
    chat = c.Chat().onboarded()
    chat.send("7")
    chat.wait(minutes=29)
    chat.send("Masakhane")
    assert chat.effects  # the settlement answer was taken


@pytest.mark.parametrize(
    ("language", "greeting"),
    [
        ("en", "Hi"),
        ("en", "menu"),
        ("en", "0"),
        ("xh", "Molo"),
        ("zu", "Sawubona"),
        ("af", "Hallo"),
        ("st", "Dumela"),
    ],
)
def test_idle_then_a_greeting_is_a_welcome_back_to_the_menu(c, language, greeting) -> None:
    chat = c.Chat(channel="sms").onboarded(language=language)
    chat.wait(minutes=120)
    reply = chat.send(greeting)
    assert reply.startswith(render("menu.welcome_back", get_translator(language)))
    assert chat.step == "menu"
    chat.wait(minutes=5)
    assert not chat.send(greeting).startswith(render("menu.welcome_back", get_translator(language)))


def test_idle_keywords_still_win(c) -> None:
    chat = c.Chat().onboarded()
    chat.wait(minutes=120)
    assert "*Help*" in chat.send("help")


def test_lost_state_for_an_onboarded_resident_is_a_welcome_back(c) -> None:
    chat = c.Chat().onboarded()
    chat.state = None
    assert chat.send("hello again").startswith("Welcome back to Siyakha.")


@pytest.mark.parametrize(
    "junk",
    [
        {"step": "nonsense"},
        {"step": 5, "more": ["x"], "pages": "x", "data": [], "last_seen": "yesterday"},
        {"last_seen": "2025-06-01T10:00:00"},  # naive
        "not a dict",
    ],
)
def test_malformed_state_is_tolerated(c, junk) -> None:
    chat = c.Chat().onboarded()
    chat.state = junk
    reply = chat.send("4")
    assert "Next meetings" in reply or "*Main menu*" in reply


def test_state_is_small_json(c) -> None:
    chat = c.Chat(channel="sms").onboarded()
    chat.send("siya")
    chat.send("7")
    chat.send("siya")
    encoded = json.dumps(chat.state)
    assert json.loads(encoded) == chat.state
    assert chat.state["data"] == {"choices": [c.SIYAHLALA, c.SIYANQOBA], "query": "siya"}
    assert chat.state["last_seen"] == chat.now.isoformat()
    chat.send("1")
    assert set(chat.state) <= {"step", "last_seen", "more", "data"}
    assert len(json.dumps(chat.state)) < 4000


def test_handle_signature_and_outcome(c) -> None:
    ports = c.Chat().ports
    now = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
    inbound = Inbound(
        message_id="SM1", phone="+27821234567", channel="sms", text="hi", received_at=now
    )
    outcome = handle(
        inbound,
        resident=ResidentView(phone="+27821234567", is_new=True),
        state=None,
        now=now,
        ports=ports,
    )
    assert isinstance(outcome, Outcome)
    assert outcome.effects == []
    assert outcome.state["step"] == "language"
    assert "1 English" in outcome.replies[0]


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Inbound(
            message_id="SM1",
            phone="+27821234567",
            channel="sms",
            text="hi",
            received_at=datetime(2025, 6, 2, 8, 0),
        )


def test_a_failing_port_still_gets_an_answer(c) -> None:
    """The safety net: never an exception escaping, never silence."""

    class Broken(c.FakeDirectory):
        def milestones(self, settlement_id: int):
            raise RuntimeError("database down")

    chat = c.Chat(directory=Broken()).onboarded()
    reply = chat.send("2")
    assert reply == "Sorry, something went wrong on our side. Please try again, or send MENU."
    assert chat.effects == []
    assert "Next meetings" in chat.send("4")


def test_the_same_person_on_sms_and_whatsapp_shares_the_conversation(c) -> None:
    chat = c.Chat(channel="whatsapp").onboarded()
    chat.send("7")
    chat.channel = "sms"
    chat.send("Zwelitsha")
    assert chat.record.settlement_id == c.ZWELITSHA


def test_pages_stored_before_the_rest_was_kept_as_text_still_page_on(c) -> None:
    """States written by the previous release kept a list of pages cut for one channel."""
    chat = c.Chat(channel="sms").onboarded()
    pages = [chat.send("3")]
    while pages[-1].endswith("Reply MORE for the rest."):
        pages.append(chat.send("MORE"))
    chat.state = {"step": "menu", "last_seen": chat.now.isoformat(), "pages": pages[1:]}
    chat.channel = "whatsapp"
    reply = chat.send("MORE")
    assert reply == "\n\n".join(
        page.removesuffix("\n\nReply MORE for the rest.") for page in pages[1:]
    )
    assert "Reply MORE" not in reply
