"""A resident answers a meeting reminder: "1" (right after it) or ATTEND (any time)."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest

from bot.content import render
from bot.engine.effects import AttendMeeting, OptOut
from bot.engine.engine import Outcome, handle
from bot.engine.messages import Inbound
from bot.engine.ports import InvitationInfo, MeetingInfo
from bot.i18n import get_translator


class FakeInvitations:
    """Reminders, each sent at a time for a meeting; meetings in `cancelled` are off, and
    the resident said they will come to those in `said` (the chat's record of them)."""

    def __init__(
        self, *reminders: tuple[datetime, InvitationInfo], said: list[int] | None = None
    ) -> None:
        self.reminders = list(reminders)
        self.cancelled: set[int] = set()
        self.said = said if said is not None else []

    def pending(self, phone: str, *, since: datetime | None, now: datetime) -> list[InvitationInfo]:
        found: dict[int, InvitationInfo] = {}
        for sent_at, info in sorted(self.reminders, key=lambda r: r[0], reverse=True):
            if (since is None or sent_at > since) and self.still_on(info.meeting_id, now=now):
                found.setdefault(info.meeting_id, info)
        return list(found.values())

    def still_on(self, meeting_id: int, *, now: datetime) -> InvitationInfo | None:
        if meeting_id in self.cancelled:
            return None
        return next((i for _, i in self.reminders if i.meeting_id == meeting_id), None)

    def attending(self, phone: str, meeting_ids: Collection[int]) -> set[int]:
        return set(meeting_ids) & set(self.said)


def one_reminder(sent_at: datetime, starts_at: datetime) -> FakeInvitations:
    """One reminder, sent at `sent_at`, for Layout plan (meeting 7) at `starts_at`."""
    return FakeInvitations(
        (sent_at, InvitationInfo(meeting_id=7, title="Layout plan", starts_at=starts_at))
    )


def _turn(c: ModuleType, text: str, *, sent_after_last_seen: bool, language: str = "en") -> Outcome:
    chat = c.Chat().onboarded(language=language)
    last_seen = chat.now - timedelta(minutes=1)
    sent_at = (
        last_seen + timedelta(seconds=30)
        if sent_after_last_seen
        else last_seen - timedelta(hours=1)
    )
    invitations = one_reminder(sent_at, chat.now + timedelta(days=3))
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
    # The yes is to the start the thanks names: the meeting moved, it no longer counts.
    starts_at = c.Chat().onboarded().now + timedelta(days=3)
    assert outcome.effects == [AttendMeeting(meeting_id=7, starts_at=starts_at)]
    assert "you will come to Layout plan" in outcome.replies[0]


def test_1_without_a_fresh_reminder_is_still_the_menu(c: ModuleType) -> None:
    outcome = _turn(c, "1", sent_after_last_seen=False)
    assert outcome.effects == []
    assert "Layout plan" not in outcome.replies[0]


def test_attend_word_works_after_any_reminder_in_the_residents_language(c: ModuleType) -> None:
    assert c.attended(_turn(c, "ATTEND", sent_after_last_seen=False).effects) == [7]
    assert c.attended(_turn(c, "Ndiza", sent_after_last_seen=False, language="xh").effects) == [7]


def test_an_attend_word_in_a_sentence_inside_a_report_is_part_of_it(c: ModuleType) -> None:
    chat = c.Chat().onboarded()
    invitations = one_reminder(chat.now - timedelta(hours=1), chat.now + timedelta(days=3))
    chat.ports = dataclasses.replace(chat.ports, invitations=invitations)
    chat.send("5")
    chat.send("1")  # a problem
    assert "photos or a voice note" in chat.send("1")  # water: describe it
    assert "share a location pin" in chat.send("Kom kyk na die pyp")  # the description
    assert chat.effects == []
    assert chat.step == "report_where"


@pytest.mark.parametrize(
    ("idle", "channel"),
    [(False, "sms"), (True, "whatsapp")],
    ids=["at_once_sms", "after_idle_whatsapp"],
)
def test_an_attend_word_alone_inside_a_report_attends_and_keeps_the_report_for_5(
    c: ModuleType, idle: bool, channel: str
) -> None:
    # ATTEND inside a report dropped it ("was not sent. Send 5 to start it again").
    chat = c.Chat(channel=channel).onboarded(language="af")
    invitations = one_reminder(chat.now - timedelta(hours=1), chat.now + timedelta(days=3))
    chat.ports = dataclasses.replace(chat.ports, invitations=invitations)
    for text in ["5", "1", "1", "Die kraan by laan 4 lek heeldag"]:
        chat.send(text)
    assert chat.step == "report_where"
    if idle:
        chat.wait(minutes=40)
    reply = chat.send("Kom")
    af = get_translator("af")
    assert c.attended(chat.effects) == [7] and chat.step == "menu"
    assert "Layout plan" in reply and reply.endswith(render("report.draft_kept", af))
    reply = chat.send("5")
    assert reply.startswith(render("report.draft_resumed", af))
    assert chat.step == "report_where"
    assert chat.state["data"]["text"] == "Die kraan by laan 4 lek heeldag"
    assert "draft" not in chat.state  # carried on: no longer kept aside


def test_attend_with_two_meetings_inside_a_report_tells_of_the_report_after_the_pick(
    c: ModuleType,
) -> None:
    """Under "which meeting?" 5 may be a meeting (or all of them): the report is said to be
    kept once the pick is made."""
    chat = two_reminders(c, channel="sms")
    for text in ["5", "1"]:
        chat.send(text)
    assert chat.step == "report_category"
    kept = render("report.draft_kept", get_translator("en"))
    assert kept not in chat.send("ATTEND")
    assert chat.step == "attend_which"
    reply = chat.send("1")
    assert c.attended(chat.effects) == [FORUM] and reply.endswith(kept)
    assert render("report.draft_resumed", get_translator("en")) in chat.send("5")
    assert chat.step == "report_category" and chat.state["data"]["kind"] == "problem"


# One round brings two reminders: the ward forum's first, then Layout plan's, though
# Layout plan starts later. Meeting 11 is the forum, 12 Layout plan.
FORUM, PLAN = 11, 12


def two_reminders(
    c: ModuleType, *, language: str = "en", fresh: bool = True, channel: str = "whatsapp"
) -> Any:
    """Return an onboarded chat with two meetings pending: reminded since the resident last
    wrote (`fresh`), or an hour before."""
    chat = c.Chat(channel=channel).onboarded(language=language)
    sent = chat.now - (timedelta(seconds=30) if fresh else timedelta(hours=1))
    chat.ports = dataclasses.replace(
        chat.ports,
        invitations=FakeInvitations(
            (sent, InvitationInfo(FORUM, "Ward forum", chat.now + timedelta(days=1))),
            (
                sent + timedelta(seconds=1),
                InvitationInfo(PLAN, "Layout plan", chat.now + timedelta(days=2)),
            ),
            said=chat.record.attending,
        ),
    )
    return chat


def test_1_with_two_meetings_pending_asks_which_by_start_time_and_records_nothing(
    c: ModuleType,
) -> None:
    chat = two_reminders(c)
    reply = chat.send("1")
    assert "more than one meeting" in reply
    # By start time, not by reminder: the forum (reminded first, on first) is number 1.
    assert "1 Ward forum, Tuesday, 03 June 2025, 10:00" in reply
    assert "2 Layout plan, Wednesday, 04 June 2025, 10:00" in reply
    assert "3 All of them" in reply
    assert chat.effects == [] and chat.step == "attend_which"
    assert chat.state is not None and chat.state["data"] == {"choices": [FORUM, PLAN]}
    reply = chat.send("2")
    assert c.attended(chat.effects) == [PLAN]
    assert "you will come to Layout plan on Wednesday, 04 June 2025, 10:00" in reply
    assert "Ward forum" not in reply
    assert chat.record.attending == [PLAN] and chat.step == "menu"


def test_one_pending_meeting_is_recorded_at_once_however_often_it_was_reminded(
    c: ModuleType,
) -> None:
    chat = c.Chat().onboarded()
    info = InvitationInfo(7, "Layout plan", chat.now + timedelta(days=1))
    chat.ports = dataclasses.replace(
        chat.ports,
        invitations=FakeInvitations(
            (chat.now - timedelta(days=2), info), (chat.now - timedelta(seconds=5), info)
        ),
    )
    assert "you will come to Layout plan" in chat.send("ATTEND")
    assert c.attended(chat.effects) == [7] and chat.step == "menu"


def test_the_last_number_records_every_meeting_listed(c: ModuleType) -> None:
    chat = two_reminders(c)
    chat.send("1")
    reply = chat.send("3")
    assert c.attended(chat.effects) == [FORUM, PLAN]
    assert "you will come to Ward forum" in reply and "you will come to Layout plan" in reply
    assert chat.step == "menu"


@pytest.mark.parametrize("answer", ["4", "yes", "Layout plan", ""])
def test_an_answer_that_is_no_number_in_the_list_asks_again(c: ModuleType, answer: str) -> None:
    chat = two_reminders(c)
    chat.send("1")
    reply = chat.send(answer)
    assert reply == "Please reply with one of the numbers in the list, or 0 for the main menu."
    assert chat.effects == [] and chat.step == "attend_which"
    chat.send("1")
    assert c.attended(chat.effects) == [FORUM]


def test_keywords_still_win_over_the_question(c: ModuleType) -> None:
    chat = two_reminders(c)
    chat.send("1")
    assert "MENU" in chat.send("HELP")  # help, as anywhere; the question stays
    assert chat.effects == [] and chat.step == "attend_which"
    assert "Main menu" in chat.send("0")
    assert chat.effects == [] and chat.step == "menu"
    chat.send("1")  # the reminders are older than the last message now: menu option 1
    assert chat.effects == [] and chat.step == "menu"
    chat.send("ATTEND")  # any reminder: the question again
    assert chat.step == "attend_which"
    assert "no more messages" in chat.send("STOP")
    assert chat.effects == [OptOut(channel="whatsapp")] and chat.step == "menu"


def test_a_meeting_cancelled_since_the_question_is_not_recorded(c: ModuleType) -> None:
    chat = two_reminders(c)
    chat.send("1")
    chat.ports.invitations.cancelled.add(PLAN)
    reply = chat.send("2")
    assert chat.effects == []
    assert "meeting 2 in the list is no longer on" in reply and chat.step == "menu"


def test_all_of_them_records_only_the_meetings_still_on(c: ModuleType) -> None:
    chat = two_reminders(c)
    chat.send("1")
    chat.ports.invitations.cancelled.add(FORUM)
    reply = chat.send("3")
    assert c.attended(chat.effects) == [PLAN]
    assert "meeting 1 in the list is no longer on" in reply
    assert "you will come to Layout plan" in reply


def test_attend_word_with_two_meetings_pending_asks_which(c: ModuleType) -> None:
    chat = two_reminders(c, fresh=False)
    assert "category B1" in chat.send("1")  # no reminder since they last wrote: menu option 1
    chat.send("0")
    reply = chat.send("I will come")
    assert "1 Ward forum" in reply and "2 Layout plan" in reply and chat.effects == []
    chat.send("1")
    assert c.attended(chat.effects) == [FORUM]


def test_the_question_writes_dates_in_the_residents_language(c: ModuleType) -> None:
    chat = two_reminders(c, language="xh")
    chat.ports = dataclasses.replace(chat.ports, translator_for=get_translator)
    reply = chat.send("Ndiza")
    assert "1 Ward forum (Lwesibini, 3 Juni 2025 10:00)" in reply
    assert "3 Zonke" in reply


class MeetingsOn:
    """MeetingInvitations with no reminder sent: `still_on` reads the chat's meetings, and
    `said` is the chat's record of those the resident said they will come to."""

    def __init__(self, directory: Any, said: list[int]) -> None:
        self.directory = directory
        self.said = said

    def pending(self, phone: str, *, since: datetime | None, now: datetime) -> list[InvitationInfo]:
        return []

    def still_on(self, meeting_id: int, *, now: datetime) -> InvitationInfo | None:
        for _, _, m in self.directory.meeting_rows:
            if m.meeting_id == meeting_id and not m.cancelled and m.starts_at > now:
                return InvitationInfo(m.meeting_id, m.title, m.starts_at)
        return None

    def attending(self, phone: str, meeting_ids: Collection[int]) -> set[int]:
        return set(meeting_ids) & set(self.said)


def unreminded(
    c: ModuleType, *meetings: MeetingInfo, language: str = "en", channel: str = "whatsapp"
) -> Any:
    """Return an onboarded chat in Masakhane (ward 12) with these meetings and no reminder."""
    chat = c.Chat(channel=channel).onboarded(language=language)
    chat.directory.meeting_rows = [(c.MASAKHANE, "12", m) for m in meetings]
    invitations = MeetingsOn(chat.directory, chat.record.attending)
    chat.ports = dataclasses.replace(chat.ports, invitations=invitations)
    return chat


def _on(day: int, title: str, *, meeting_id: int, cancelled: bool = False) -> MeetingInfo:
    starts = datetime(2025, 6, day, 8, 0, tzinfo=UTC)  # 10:00 in Johannesburg
    return MeetingInfo(
        title, "neighbourhood", starts, "Hall", cancelled=cancelled, meeting_id=meeting_id
    )


def test_attend_with_no_reminder_asks_which_upcoming_meeting_and_records_the_one_picked(
    c: ModuleType,
) -> None:
    chat = unreminded(
        c,
        _on(5, "Layout plan", meeting_id=PLAN),
        _on(4, "Walkabout", meeting_id=13, cancelled=True),
        _on(3, "Ward forum", meeting_id=FORUM),
    )
    reply = chat.send("ATTEND")
    assert reply.startswith("Which meeting will you come to? Reply with its number:")
    assert "1 Ward forum, Tuesday, 03 June 2025, 10:00" in reply
    assert "2 Layout plan, Thursday, 05 June 2025, 10:00" in reply
    assert "3 All of them" in reply
    assert "Walkabout" not in reply  # cancelled: nothing to come to
    assert "reminded" not in reply
    assert chat.effects == [] and chat.step == "attend_which"
    reply = chat.send("2")
    assert c.attended(chat.effects) == [PLAN]
    assert "you will come to Layout plan on Thursday, 05 June 2025, 10:00" in reply
    assert chat.record.attending == [PLAN] and chat.step == "menu"


def test_attend_with_no_reminder_and_one_meeting_on_records_it_at_once(c: ModuleType) -> None:
    chat = unreminded(
        c,
        _on(3, "Ward forum", meeting_id=FORUM),
        _on(4, "Walkabout", meeting_id=13, cancelled=True),
    )
    reply = chat.send("I will come")
    assert "you will come to Ward forum on Tuesday, 03 June 2025, 10:00" in reply
    assert c.attended(chat.effects) == [FORUM] and chat.step == "menu"


@pytest.mark.parametrize("cancelled", [(), (_on(4, "Walkabout", meeting_id=13, cancelled=True),)])
def test_attend_with_no_reminder_and_no_meeting_on_says_none_are_scheduled(
    c: ModuleType, cancelled: tuple[MeetingInfo, ...]
) -> None:
    chat = unreminded(c, *cancelled)
    reply = chat.send("ATTEND")
    assert "No meetings are scheduled for Masakhane, its ward or the city" in reply
    assert reply.endswith("Send 0 for the main menu.")
    assert chat.effects == [] and chat.step == "menu"


def test_1_with_no_reminder_is_menu_option_1_even_with_meetings_on(c: ModuleType) -> None:
    chat = unreminded(c, _on(3, "Ward forum", meeting_id=FORUM))
    reply = chat.send("1")
    assert "category B1" in reply and "Ward forum" not in reply
    assert chat.effects == [] and chat.step == "menu"


def test_attend_with_no_reminder_asks_in_the_residents_language(c: ModuleType) -> None:
    chat = unreminded(
        c,
        _on(3, "Ward forum", meeting_id=FORUM),
        _on(5, "Layout plan", meeting_id=PLAN),
        language="xh",
    )
    chat.ports = dataclasses.replace(chat.ports, translator_for=get_translator)
    reply = chat.send("Ndiza")
    assert reply.startswith("Uza kuza kweyiphi intlanganiso?")
    assert "2 Layout plan (Lwesine, 5 Juni 2025 10:00)" in reply


def test_menu_4_ends_with_how_to_say_i_will_come_when_a_meeting_is_on(c: ModuleType) -> None:
    chat = unreminded(c, _on(3, "Ward forum", meeting_id=FORUM))
    reply = chat.send("4")
    assert "Ward forum" in reply
    assert "Reply ATTEND to tell us you will come to one of these meetings." in reply
    cancelled = unreminded(c, _on(4, "Walkabout", meeting_id=13, cancelled=True))
    reply = cancelled.send("4")
    assert "CANCELLED: Walkabout" in reply and "ATTEND" not in reply  # nothing to come to


# A meeting the resident already said they will come to is not offered again.
CHANNELS = ["sms", "whatsapp"]


def reminded(
    c: ModuleType, *meetings: MeetingInfo, channel: str, language: str = "en"
) -> tuple[Any, FakeInvitations]:
    """Return a chat in Masakhane with these meetings (option 4 lists them), each reminded
    of just before the resident writes, and the reminders."""
    chat = unreminded(c, *meetings, language=language, channel=channel)
    sent = chat.now - timedelta(seconds=30)
    invitations = FakeInvitations(
        *((sent, InvitationInfo(m.meeting_id, m.title, m.starts_at)) for m in meetings),
        said=chat.record.attending,
    )
    chat.ports = dataclasses.replace(chat.ports, invitations=invitations)
    return chat, invitations


@pytest.mark.parametrize("channel", CHANNELS)
def test_attend_again_after_saying_yes_to_the_one_meeting_says_it_is_noted(
    c: ModuleType, channel: str
) -> None:
    chat, invitations = reminded(c, _on(5, "Layout plan", meeting_id=PLAN), channel=channel)
    assert "you will come to Layout plan" in chat.send("1")
    assert c.attended(chat.effects) == [PLAN]
    reply = chat.send("ATTEND")
    assert reply == (
        "You have already told us that you will come to Layout plan on Thursday, "
        "05 June 2025, 10:00.\n\nSend 0 for the main menu."
    )
    assert chat.effects == [] and chat.step == "menu"
    # The next reminder of it reaches them, and its "1" is answered the same way.
    invitations.reminders.append((chat.now + timedelta(seconds=5), invitations.reminders[0][1]))
    assert chat.send("1").startswith("You have already told us that you will come to Layout")
    assert chat.effects == [] and chat.record.attending == [PLAN]


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_meeting_said_yes_to_is_not_offered_again_and_the_one_left_is_recorded(
    c: ModuleType, channel: str
) -> None:
    chat, _ = reminded(
        c,
        _on(3, "Ward forum", meeting_id=FORUM),
        _on(4, "Layout plan", meeting_id=PLAN),
        channel=channel,
    )
    assert "more than one meeting" in chat.send("1")
    assert "you will come to Layout plan" in chat.send("2")
    reply = chat.send("ATTEND")  # only the forum is left: recorded at once, as one meeting is
    assert "you will come to Ward forum on Tuesday, 03 June 2025, 10:00" in reply
    assert "Layout plan" not in reply
    assert c.attended(chat.effects) == [FORUM] and chat.step == "menu"
    reply = chat.send("I will come")
    assert reply == (
        "You have already told us that you will come to these meetings:\n"
        "Ward forum, Tuesday, 03 June 2025, 10:00\n"
        "Layout plan, Wednesday, 04 June 2025, 10:00\n\n"
        "Send 0 for the main menu."
    )
    assert chat.effects == [] and chat.step == "menu"


def test_attend_with_no_reminder_offers_only_the_meetings_not_said_yes_to(c: ModuleType) -> None:
    chat = unreminded(
        c,
        _on(3, "Ward forum", meeting_id=FORUM),
        _on(4, "Walkabout", meeting_id=13),
        _on(5, "Layout plan", meeting_id=PLAN),
    )
    chat.send("ATTEND")
    assert "you will come to Walkabout" in chat.send("2")
    reply = chat.send("ATTEND")
    assert reply.startswith("Which meeting will you come to? Reply with its number:")
    assert "1 Ward forum" in reply and "2 Layout plan" in reply and "3 All of them" in reply
    assert "Walkabout" not in reply
    chat.send("3")
    assert c.attended(chat.effects) == [FORUM, PLAN]
    reply = chat.send("ATTEND")
    assert reply.startswith(
        "You have already told us that you will come to these meetings:\n"
        "Ward forum, Tuesday, 03 June 2025, 10:00\n"
        "Walkabout, Wednesday, 04 June 2025, 10:00\n"
        "Layout plan, Thursday, 05 June 2025, 10:00\n"
    )
    assert "No meetings" not in reply
    assert chat.effects == [] and chat.step == "menu"
    assert "category B1" in chat.send("1")  # no reminder: "1" is still menu option 1


def test_an_attend_word_after_every_reminder_was_answered_takes_the_meetings_of_option_4(
    c: ModuleType,
) -> None:
    # Reminded of the forum, the resident said yes; at a meeting a facilitator says "send
    # ATTEND to say you will come to the layout plan meeting", which no reminder named yet.
    chat = unreminded(
        c, _on(3, "Ward forum", meeting_id=FORUM), _on(5, "Layout plan", meeting_id=PLAN)
    )
    forum = InvitationInfo(FORUM, "Ward forum", datetime(2025, 6, 3, 8, 0, tzinfo=UTC))
    chat.ports = dataclasses.replace(
        chat.ports,
        invitations=FakeInvitations(
            (chat.now - timedelta(seconds=30), forum), said=chat.record.attending
        ),
    )
    assert "you will come to Ward forum" in chat.send("1")
    reply = chat.send("ATTEND")
    assert "you will come to Layout plan on Thursday, 05 June 2025, 10:00" in reply
    assert c.attended(chat.effects) == [PLAN]
    assert "these meetings:\nWard forum" in chat.send("ATTEND")
    assert chat.effects == []


@pytest.mark.parametrize("channel", CHANNELS)
def test_said_yes_already_is_told_in_the_residents_language(c: ModuleType, channel: str) -> None:
    chat, _ = reminded(c, _on(5, "Layout plan", meeting_id=PLAN), channel=channel, language="xh")
    chat.ports = dataclasses.replace(chat.ports, translator_for=get_translator)
    assert chat.send("1").startswith("Enkosi.")
    assert chat.send("Ndiza").startswith(
        "Sele usixelele ukuba uza kuza kwi-Layout plan (Lwesine, 5 Juni 2025 10:00)."
    )
    assert chat.effects == []
    several = unreminded(
        c,
        _on(3, "Ward forum", meeting_id=FORUM),
        _on(4, "Walkabout", meeting_id=13),
        language="xh",
        channel=channel,
    )
    several.ports = dataclasses.replace(several.ports, translator_for=get_translator)
    several.send("Ndiza")
    several.send("3")  # both
    assert several.send("Ndiza").startswith(
        "Sele usixelele ukuba uza kuza kwezi ntlanganiso:\n"
        "Ward forum (Lwesibini, 3 Juni 2025 10:00)\n"
        "Walkabout (Lwesithathu, 4 Juni 2025 10:00)\n"
    )
    assert several.effects == []
