"""A resident answers a meeting reminder: "1" (right after it) or ATTEND (any time)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from types import ModuleType

from bot.engine.effects import AttendMeeting
from bot.engine.engine import Outcome, handle
from bot.engine.messages import Inbound
from bot.engine.ports import InvitationInfo


class FakeInvitations:
    """One reminder, queued at `sent_at`, for a meeting at `starts_at`."""

    def __init__(self, sent_at: datetime, starts_at: datetime) -> None:
        self.sent_at = sent_at
        self.info = InvitationInfo(meeting_id=7, title="Layout plan", starts_at=starts_at)

    def pending(
        self, phone: str, *, since: datetime | None, now: datetime
    ) -> InvitationInfo | None:
        if since is not None and self.sent_at <= since:
            return None
        return self.info


def _turn(c: ModuleType, text: str, *, sent_after_last_seen: bool, language: str = "en") -> Outcome:
    chat = c.Chat().onboarded(language=language)
    last_seen = chat.now - timedelta(minutes=1)
    sent_at = (
        last_seen + timedelta(seconds=30)
        if sent_after_last_seen
        else last_seen - timedelta(hours=1)
    )
    invitations = FakeInvitations(sent_at, chat.now + timedelta(days=3))
    ports = dataclasses.replace(chat.ports, invitations=invitations)
    inbound = Inbound(
        message_id="SM" + "1" * 32,
        phone=chat.phone,
        channel="whatsapp",
        text=text,
        received_at=chat.now,
    )
    return handle(inbound, resident=chat.view, state=chat.state, now=chat.now, ports=ports)


def test_1_after_a_reminder_says_i_will_attend(c: ModuleType) -> None:
    outcome = _turn(c, "1", sent_after_last_seen=True)
    assert outcome.effects == [AttendMeeting(meeting_id=7)]
    assert "you will come to Layout plan" in outcome.replies[0]


def test_1_without_a_fresh_reminder_is_still_the_menu(c: ModuleType) -> None:
    outcome = _turn(c, "1", sent_after_last_seen=False)
    assert outcome.effects == []
    assert "Layout plan" not in outcome.replies[0]


def test_attend_word_works_after_any_reminder_in_the_residents_language(c: ModuleType) -> None:
    assert _turn(c, "ATTEND", sent_after_last_seen=False).effects == [AttendMeeting(meeting_id=7)]
    assert _turn(c, "Ndiza", sent_after_last_seen=False, language="xh").effects == [
        AttendMeeting(meeting_id=7)
    ]


def test_no_reminder_no_attendance(c: ModuleType) -> None:
    chat = c.Chat().onboarded()
    reply = chat.send("attend")
    assert chat.effects == []
    assert reply


def test_an_attend_word_inside_a_report_is_part_of_it(c: ModuleType) -> None:
    chat = c.Chat().onboarded()
    invitations = FakeInvitations(chat.now - timedelta(hours=1), chat.now + timedelta(days=3))
    chat.ports = dataclasses.replace(chat.ports, invitations=invitations)
    chat.send("5")
    chat.send("1")  # a problem
    assert "photos or a voice note" in chat.send("1")  # water: describe it
    assert "share a location pin" in chat.send("Kom")  # kept as the description
    assert chat.effects == []
    assert chat.step == "report_where"  # at the menu, "Kom" says I will come (above)


def test_after_idle_an_attend_word_inside_a_report_is_still_part_of_it(c: ModuleType) -> None:
    chat = c.Chat().onboarded()
    invitations = FakeInvitations(chat.now - timedelta(hours=1), chat.now + timedelta(days=3))
    chat.ports = dataclasses.replace(chat.ports, invitations=invitations)
    for text in ["5", "1", "1"]:
        chat.send(text)
    chat.wait(minutes=40)
    assert "share a location pin" in chat.send("Kom")
    assert chat.effects == [] and chat.step == "report_where"
