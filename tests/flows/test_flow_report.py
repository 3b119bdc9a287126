"""Menu 5 (report a problem or ask a question), menu 6 (my reports), STATUS and "fixed?".

Conversation scripts on the pure engine with a fake ticket desk: `ReportChat` applies
ticket effects the way the tickets domain would (open, add, answer "fixed?"), in memory.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

import pytest

from bot import sms
from bot.content import load, render
from bot.engine import EraseResident, OptOut
from bot.engine.effects import AddToTicket, AnswerResolution, AttendMeeting, Effect, OpenTicket
from bot.engine.messages import Location, Media
from bot.engine.ports import InvitationInfo, Ports, TicketInfo
from bot.flows import report as report_flow
from bot.i18n import get_translator


@dataclass
class FakeDesk:
    """An in-memory TicketDesk for one resident's reports."""

    tickets: dict[str, TicketInfo] = field(default_factory=dict)
    opened: list[OpenTicket] = field(default_factory=list)
    added: list[AddToTicket] = field(default_factory=list)
    answers: list[AnswerResolution] = field(default_factory=list)
    next_refs: list[str] = field(default_factory=lambda: ["4817263", "5302918", "6120394"])

    def new_reference(self) -> str:
        return self.next_refs[len(self.opened) % len(self.next_refs)]

    def open_for(self, phone: str) -> list[TicketInfo]:
        found = [t for t in self.tickets.values() if t.status != "closed"]
        return sorted(found, key=lambda t: t.created_at, reverse=True)

    def find(self, phone: str, reference: str) -> TicketInfo | None:
        return self.tickets.get(reference)

    def awaiting_answer(self, phone: str, *, since: datetime | None) -> TicketInfo | None:
        waiting = [
            t
            for t in self.tickets.values()
            if t.status == "resolved"
            and t.resolved_at is not None
            and (since is None or t.resolved_at > since)
        ]
        return max(waiting, key=lambda t: t.resolved_at or t.created_at, default=None)

    def resolve(self, reference: str, at: datetime, note: str = "") -> None:
        """Play staff resolving a report at `at`."""
        self.tickets[reference] = replace(
            self.tickets[reference], status="resolved", resolved_at=at, last_public_note=note
        )


def report_chat(c: ModuleType, **kwargs: Any):  # -> c.Chat subclass instance
    """Return a Chat whose ports include a FakeDesk, applying ticket effects to it."""

    class ReportChat(c.Chat):  # type: ignore[name-defined,misc]
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.desk = FakeDesk()
            self.ports = Ports(
                settlements=self.ports.settlements,
                residents=self.ports.residents,
                translator_for=self.ports.translator_for,
                tickets=self.desk,
            )

        def _apply(self, effects: list[Effect]) -> None:
            rest = []
            for effect in effects:
                if isinstance(effect, OpenTicket):
                    self.desk.opened.append(effect)
                    self.desk.tickets[effect.reference] = TicketInfo(
                        reference=effect.reference,
                        kind=effect.kind,  # type: ignore[arg-type]
                        category=effect.category,
                        status="new",
                        created_at=self.now,
                    )
                elif isinstance(effect, AddToTicket):
                    self.desk.added.append(effect)
                elif isinstance(effect, AttendMeeting):
                    pass  # the broadcasts domain records it; nothing here depends on it
                elif isinstance(effect, AnswerResolution):
                    self.desk.answers.append(effect)
                    t = self.desk.tickets[effect.reference]
                    status = "closed" if effect.fixed else "reopened"
                    self.desk.tickets[effect.reference] = replace(t, status=status)
                else:
                    rest.append(effect)
            super()._apply(rest)

    return ReportChat(**kwargs)


PHOTO = Media("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "image/jpeg")
VOICE = Media("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2", "audio/ogg")
PIN = Location(latitude=-33.9761, longitude=18.6323, address="Lane 4, Masakhane")


def test_whatsapp_problem_with_photo_and_pin_opens_a_ticket(c) -> None:
    chat = report_chat(c).onboarded()
    assert "Reply 1 to report a problem" in chat.send("5")
    reply = chat.send("1")
    assert (
        "1 Water" in reply and "2 Toilets and sanitation" in reply and "12 Something else" in reply
    )
    assert "photos or a voice note" in chat.send("1")
    assert "share a location pin" in chat.send(
        "The standpipe on lane 4 leaks all day", media=(PHOTO,)
    )
    summary = chat.send("", location=PIN)
    assert "*Please check your report*" in summary
    assert "Problem: Water" in summary
    assert "What you said: The standpipe on lane 4 leaks all day" in summary
    assert "Photos and voice notes: 1" in summary
    assert "Where: Lane 4, Masakhane" in summary
    assert "A location pin is included." in summary
    assert "urgent" not in summary
    assert chat.desk.opened == []
    reply = chat.send("1")
    assert "Your report number is 4817263" in reply and "STATUS 4817263" in reply
    assert "112" not in reply
    [opened] = chat.desk.opened
    assert opened.reference == "4817263"
    assert (opened.kind, opened.category, opened.channel) == ("problem", "water", "whatsapp")
    assert opened.description == "The standpipe on lane 4 leaks all day"
    assert opened.media == (PHOTO,)
    assert opened.location == PIN and opened.where == "Lane 4, Masakhane"
    assert not opened.urgent
    assert chat.step == "menu"


def test_sms_problem_in_words_fits_three_segments(c) -> None:
    chat = report_chat(c, channel="sms").onboarded()
    replies = [
        chat.send("report"),
        chat.send("1"),
        chat.send("3"),
        chat.send("No electricity in section B since Friday, the box is broken"),
        chat.send("Section B, structure 112, next to the spaza"),
    ]
    assert "Problem: Electricity" in replies[-1]
    assert "Where: Section B, structure 112" in replies[-1]
    assert "voice" not in replies[2]
    replies.append(chat.send("yes"))
    assert "4817263" in replies[-1]
    assert all(sms.segments(r) <= 3 for r in replies)
    assert chat.desk.opened[0].channel == "sms"


def test_urgent_words_give_emergency_numbers(c) -> None:
    chat = report_chat(c).onboarded()
    for text in ["5", "1", "2"]:
        chat.send(text)
    chat.send("Burst pipe, water is flooding the houses")
    summary = chat.send("Behind the creche")
    assert "We will treat this as urgent." in summary
    reply = chat.send("1")
    assert "10177" in reply and "112" in reply and "10111" in reply
    assert chat.desk.opened[0].urgent


def test_fire_category_is_urgent_by_itself(c) -> None:
    assert report_flow.is_urgent(load(), category="fire", texts=[""])
    assert not report_flow.is_urgent(load(), category="water", texts=["The tap drips"])
    assert report_flow.is_urgent(
        load(), category="electricity", texts=["LIVE WIRES near the creche!"]
    )


def test_question_skips_where_and_change_goes_back_to_summary(c) -> None:
    chat = report_chat(c).onboarded()
    chat.send("5")
    chat.send("2")
    assert "send a voice note" in chat.send("8")  # housing list
    summary = chat.send("How do I check that I am still on the list?")
    assert "Question: Housing list" in summary
    assert "Where" not in summary
    assert "What do you want to change?" in chat.send("2")
    assert "1 Water" in chat.send("1")
    summary = chat.send("9")
    assert "Question: Relocation" in summary
    chat.send("2")
    chat.send("2")
    summary = chat.send("When do we move?")
    assert "What you said: When do we move?" in summary
    chat.send("1")
    assert chat.desk.opened[0].kind == "question"
    assert chat.desk.opened[0].category == "relocation"


def test_retries_and_cancel(c) -> None:
    chat = report_chat(c).onboarded()
    chat.send("5")
    assert "Please reply 1 to report a problem" in chat.send("maybe")
    chat.send("1")
    assert "one of the numbers" in chat.send("99")
    chat.send("1")
    assert "Please send your words" in chat.send("")
    assert "Thank you for the location" in chat.send("", location=PIN)
    summary = chat.send("", media=(VOICE,))  # a voice note is a description; the pin says where
    assert "no words, only a photo, voice note or location" in summary
    assert "Please reply 1 to send your report" in chat.send("what?")
    assert "*Main menu*" in chat.send("0")
    assert chat.desk.opened == []


def test_where_step_keeps_media_and_asks_again(c) -> None:
    chat = report_chat(c).onboarded()
    for text in ["5", "1", "7", "Nobody collected the rubbish for two weeks"]:
        chat.send(text)
    assert "we have kept that" in chat.send("", media=(PHOTO,))
    summary = chat.send("Corner of lane 2")
    assert "Photos and voice notes: 1" in summary


def test_photo_sent_at_the_summary_is_added_and_the_summary_shown_again(c) -> None:
    chat = report_chat(c).onboarded()
    for text in ["5", "1", "2"]:
        chat.send(text)
    chat.send("Toilet block C is overflowing", media=(PHOTO,))
    assert "Photos and voice notes: 1" in chat.send("Next to the creche")
    summary = chat.send("", media=(VOICE,))
    assert "*Please check your report*" in summary
    assert "Photos and voice notes: 2" in summary
    assert "Please reply 1 to send" not in summary
    assert chat.step == "report_confirm"
    chat.send("1")
    [opened] = chat.desk.opened
    assert opened.media == (PHOTO, VOICE)
    assert opened.description == "Toilet block C is overflowing"


def test_a_pin_sent_at_the_summary_joins_the_place_typed(c) -> None:
    # The landmark the resident typed stays: the pin's names come after it.
    chat = report_chat(c).onboarded()
    for text in ["5", "1", "1", "No water", "Near the big tree"]:
        chat.send(text)
    summary = chat.send("", location=PIN)
    assert "Where: Near the big tree (Lane 4, Masakhane)" in summary
    assert chat.step == "report_confirm"
    labelled = Location(-33.9, 18.6, address="Ubuhle Gardens", label="Standpipe 4")
    summary = chat.send("", location=labelled)  # a second pin replaces the first's names
    assert "Where: Near the big tree (Standpipe 4, Ubuhle Gardens)" in summary
    chat.send("1")
    [opened] = chat.desk.opened
    assert opened.location == labelled
    assert opened.where == "Near the big tree (Standpipe 4, Ubuhle Gardens)"


def test_media_at_the_summary_keeps_the_draft_limit(c) -> None:
    chat = report_chat(c).onboarded()
    for text in ["5", "1", "2"]:
        chat.send(text)
    chat.send("Blocked", media=(PHOTO,) * report_flow.MAX_MEDIA)
    chat.send("Lane 4")
    summary = chat.send("", media=(VOICE,))
    assert f"Photos and voice notes: {report_flow.MAX_MEDIA}" in summary
    chat.send("1")
    assert chat.desk.opened[0].media == (PHOTO,) * report_flow.MAX_MEDIA


def test_my_reports_status_and_adding_more(c) -> None:
    chat = report_chat(c).onboarded()
    assert "You have no open reports" in chat.send("6")
    for text in ["5", "1", "1", "No water at the standpipe", "Lane 4", "1"]:
        chat.send(text)
    reply = chat.send("6")
    assert "*My reports*" in reply
    assert "Report 4817263 (Water): received on 02 June 2025, waiting to be seen." in reply
    reply = chat.send("4817263")
    assert "Reply 1 to add more" in reply
    assert "Send what you want to add to report 4817263" in chat.send("1")
    assert "we have added that to report 4817263" in chat.send("It is still dry", media=(PHOTO,))
    assert chat.desk.added[-1].text == "It is still dry" and chat.desk.added[-1].media == (PHOTO,)
    chat.send("0")
    assert "Report 4817263 (Water)" in chat.send("STATUS 4817263")
    assert "Report 4817263" in chat.send("status 481 7263")
    assert "could not find report 1111111" in chat.send("Status 1111111")
    assert "*My reports*" in chat.send("status")


def test_resolved_then_no_reopens_with_the_residents_words(c) -> None:
    chat = report_chat(c).onboarded()
    for text in ["5", "1", "2", "The toilet in block C is blocked", "Block C", "1"]:
        chat.send(text)
    chat.wait(minutes=120)
    chat.desk.resolve("4817263", chat.now, note="The toilet was unblocked.")
    chat.wait(minutes=120)
    assert "We are sorry it is not fixed" in chat.send("2")
    reply = chat.send("It is blocked again")
    assert "opened report 4817263 again" in reply
    [answer] = chat.desk.answers
    assert answer == report_flow_answer("4817263", fixed=False, text="It is blocked again")
    assert chat.desk.tickets["4817263"].status == "reopened"


def resolved_report_chat(c: ModuleType):  # -> ReportChat
    """Return a chat whose report 4817263 staff resolved a few minutes ago."""
    chat = report_chat(c).onboarded()
    for text in ["5", "1", "2", "The toilet is blocked", "Block C", "1"]:
        chat.send(text)
    chat.desk.resolve("4817263", chat.now + timedelta(minutes=1))
    chat.wait(minutes=5)
    return chat


def resolved_question_chat(c: ModuleType, **kwargs: Any):  # -> ReportChat
    """Return a chat whose question 4817263 staff resolved a few minutes ago."""
    chat = report_chat(c, **kwargs).onboarded()
    for text in ["5", "2", "3", "When will we get electricity connections?", "1"]:
        chat.send(text)
    assert chat.desk.opened[0].kind == "question"
    chat.desk.resolve("4817263", chat.now + timedelta(minutes=1), note="In March.")
    chat.wait(minutes=5)
    return chat


def test_resolved_then_yes_closes(c) -> None:
    chat = report_chat(c, channel="sms").onboarded()
    for text in ["5", "1", "2", "The toilet is blocked", "Block C", "1"]:
        chat.send(text)
    chat.desk.resolve("4817263", chat.now + timedelta(minutes=1))
    chat.wait(minutes=60)
    assert "Report 4817263 is now closed" in chat.send("1")
    assert chat.desk.answers[0].fixed
    assert "Our category" not in chat.transcript[-1][1]
    # Once answered, 1 is the menu option again.
    assert "category" in chat.send("1").lower()


def test_yes_after_staff_took_the_report_back_closes_nothing(c) -> None:
    chat = resolved_report_chat(c)
    assert "Is it fixed now?" in chat.send("status 4817263")
    taken_back = replace(chat.desk.tickets["4817263"], status="in_progress", resolved_at=None)
    chat.desk.tickets["4817263"] = taken_back
    reply = chat.send("1")
    assert "working on report 4817263 again, so it stays open" in reply
    assert "now closed" not in reply
    assert chat.desk.answers == []


def test_two_with_words_reopens_at_once(c) -> None:
    chat = resolved_report_chat(c)
    assert "opened report 4817263 again" in chat.send("2, it still smells")
    assert chat.desk.answers[0].text == "it still smells"


def test_answer_only_counts_when_nothing_was_said_since(c) -> None:
    chat = resolved_report_chat(c)
    chat.send("3")
    chat.send("0")
    reply = chat.send("1")  # the category option, not an answer
    assert chat.desk.answers == []
    assert "Reply 1 for yes" not in reply
    # STATUS still offers the question.
    assert "Is it fixed now?" in chat.send("status 4817263")
    assert "now closed" in chat.send("1")


def test_a_number_inside_a_flow_is_not_an_answer(c) -> None:
    chat = report_chat(c).onboarded()
    for text in ["5", "1", "2", "The toilet is blocked", "Block C", "1"]:
        chat.send(text)
    chat.send("5")
    chat.desk.resolve("4817263", chat.now + timedelta(minutes=1))
    chat.wait(minutes=2)
    assert "1 Water" in chat.send("1")  # answers "problem or question?", not "fixed?"
    assert chat.desk.answers == []


@pytest.mark.parametrize("language", ["xh", "zu", "af", "st"])
def test_report_flow_in_every_language_renders(c, language) -> None:
    chat = report_chat(c, translator_for=c.MarkedTranslator).onboarded(language=language)
    for text in ["5", "1", "1", "Amanzi", "Lane 4"]:
        reply = chat.send(text)
        assert f"[{language}]" in reply
    assert f"[{language}]" in chat.send("1")


def test_idle_then_1_under_the_summary_sends_the_report(c) -> None:
    chat = report_chat(c, channel="sms").onboarded(language="zu")
    for text in ["5", "1", "3", "Ucingo lukagesi luvulekile eduze kwesikole", "Section B"]:
        chat.send(text)
    assert chat.step == "report_confirm"
    chat.wait(minutes=35)
    reply = chat.send("1")
    assert reply.startswith(render("menu.welcome_back", get_translator("zu")))
    assert "4817263" in reply
    [opened] = chat.desk.opened
    assert opened.description == "Ucingo lukagesi luvulekile eduze kwesikole"
    assert sms.segments(reply) <= 3


def test_idle_keeps_a_slow_description_and_what_is_still_wrong(c) -> None:
    chat = report_chat(c).onboarded()
    chat.desk.tickets["4817263"] = TicketInfo(
        "4817263", "problem", "water", "resolved", chat.now - timedelta(days=5)
    )
    chat.desk.resolve("4817263", chat.now + timedelta(seconds=5))
    chat.wait(minutes=1)
    assert "what is still wrong" in chat.send("2")
    chat.wait(minutes=35)  # typing a long explanation on a basic phone
    reply = chat.send("The tap still leaks at night and the water runs into our house")
    assert reply.startswith("Welcome back to Siyakha.")
    assert "opened report 4817263 again" in reply
    assert chat.desk.answers == [
        report_flow_answer(
            "4817263",
            fixed=False,
            text="The tap still leaks at night and the water runs into our house",
        )
    ]

    for text in ["5", "1", "1"]:
        chat.send(text)
    chat.wait(minutes=31)
    reply = chat.send("No water in lane 4 since Monday")
    assert reply.startswith("Welcome back to Siyakha.")
    assert chat.step == "report_where"
    summary = chat.send("Lane 4")
    assert "What you said: No water in lane 4 since Monday" in summary


class Reminders:
    """MeetingInvitations with one reminder round, sent at `sent_at`, for `meetings`
    (meeting ids 7, 8, ...), all still on."""

    def __init__(self, sent_at: datetime, *meetings: str) -> None:
        self.sent_at = sent_at
        self.infos = [
            InvitationInfo(meeting_id=7 + n, title=title, starts_at=sent_at + timedelta(days=2))
            for n, title in enumerate(meetings or ("Layout plan",))
        ]

    def pending(self, phone: str, *, since: datetime | None, now: datetime) -> list[InvitationInfo]:
        return list(self.infos) if since is None or self.sent_at > since else []

    def still_on(self, meeting_id: int, *, now: datetime) -> InvitationInfo | None:
        return next((i for i in self.infos if i.meeting_id == meeting_id), None)

    def attending(self, phone: str, meeting_ids: Collection[int]) -> set[int]:
        return set()  # no one said yes yet


@pytest.mark.parametrize("meetings", [("Layout plan",), ("Ward forum", "Walk")])
@pytest.mark.parametrize("reminder_first", [False, True])
def test_1_answers_the_newer_of_fixed_and_a_meeting_reminder(c, reminder_first, meetings) -> None:
    chat = report_chat(c).onboarded()
    chat.desk.tickets["4817263"] = TicketInfo(
        "4817263", "problem", "water", "new", chat.now - timedelta(days=5)
    )
    t0 = chat.now
    resolved_at, reminded_at = t0 + timedelta(hours=1), t0 + timedelta(days=2)
    if reminder_first:
        resolved_at, reminded_at = reminded_at, resolved_at
    chat.desk.resolve("4817263", resolved_at)  # "Is it fixed? 1 yes 2 no" goes out
    # "Reply 1 or ATTEND", for one meeting or (one round) for two.
    chat.ports = replace(chat.ports, invitations=Reminders(reminded_at, *meetings))
    chat.wait(minutes=3 * 24 * 60)
    reply = chat.send("1")
    if reminder_first:  # the "fixed?" question is the newer one
        assert "Report 4817263 is now closed" in reply
        assert chat.effects == [report_flow_answer("4817263", fixed=True)]
        return
    if len(meetings) == 1:
        assert "you will come to Layout plan" in reply
        assert c.attended(chat.effects) == [7]
    else:  # which meeting? Nothing is recorded until the resident says
        assert "1 Ward forum" in reply and "2 Walk" in reply
        assert chat.effects == [] and chat.step == "attend_which"
        assert chat.desk.tickets["4817263"].status == "resolved"
        chat.send("2")
        assert c.attended(chat.effects) == [8]
    assert chat.desk.tickets["4817263"].status == "resolved"
    # The report is still answered from its view.
    assert "Is it fixed now?" in chat.send("status 4817263")
    assert "now closed" in chat.send("1")


def linked_while_looking_at_a_report(c, *, resolved: bool, channel: str = "whatsapp"):
    """Return a chat of a resident with no settlement looking at their report (resolved: the
    "fixed? 1 yes 2 no" question), who is then linked to Masakhane by a settlements import
    and told so ("Send 1 to learn its category, or 7 if it is not your settlement") an hour
    later."""
    chat = report_chat(c, channel=channel).onboarded(settlement_id=None)
    chat.desk.tickets["4817263"] = TicketInfo(
        "4817263", "problem", "water", "new", chat.now - timedelta(days=5)
    )
    if resolved:
        chat.desk.resolve("4817263", chat.now - timedelta(days=1))
    chat.send("6")
    chat.send("1")
    assert chat.step == "ticket_view"
    chat.record.settlement_id = c.MASAKHANE
    chat.directory.linked_notices.append(chat.now + timedelta(hours=1))
    chat.wait(minutes=90)
    return chat


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
@pytest.mark.parametrize("resolved", [True, False])
def test_1_after_the_settlement_notice_at_a_reports_view_shows_the_category(
    c, resolved, channel
) -> None:
    chat = linked_while_looking_at_a_report(c, resolved=resolved, channel=channel)
    reply = chat.send("1")
    assert "Masakhane: category B1" in reply
    # Not "yes, it is fixed" (which closed the report), nor "add more to it".
    assert chat.effects == [] and chat.desk.answers == [] and chat.step == "menu"
    assert chat.desk.tickets["4817263"].status == ("resolved" if resolved else "new")


def test_a_fixed_question_after_the_settlement_notice_takes_the_1(c) -> None:
    chat = linked_while_looking_at_a_report(c, resolved=False)
    chat.desk.resolve("4817263", chat.now)  # "fixed?" comes after the notice: the newer
    chat.wait(minutes=5)
    assert "Report 4817263 is now closed" in chat.send("1")


def test_7_after_the_settlement_notice_at_the_list_of_reports_asks_for_the_settlement(c) -> None:
    chat = report_chat(c).onboarded(settlement_id=None)
    for reference in ("4817263", "4817264"):
        chat.desk.tickets[reference] = TicketInfo(
            reference, "problem", "water", "new", chat.now - timedelta(days=5)
        )
    chat.send("6")
    chat.record.settlement_id = c.MASAKHANE
    chat.directory.linked_notices.append(chat.now + timedelta(seconds=5))
    assert "Which informal settlement do you live in?" in chat.send("7")
    assert chat.step == "settlement"


@pytest.mark.parametrize("reminder_first", [False, True])
def test_1_answers_the_newer_of_the_settlement_notice_and_a_meeting_reminder(
    c, reminder_first
) -> None:
    chat = report_chat(c).onboarded(settlement_id=None)
    chat.record.settlement_id = c.MASAKHANE
    noticed, reminded = chat.now + timedelta(minutes=10), chat.now + timedelta(minutes=20)
    if reminder_first:
        noticed, reminded = reminded, noticed
    chat.directory.linked_notices.append(noticed)
    chat.ports = replace(chat.ports, invitations=Reminders(reminded))
    chat.wait(minutes=30)
    reply = chat.send("1")
    if reminder_first:  # the notice is the newer: its 1 is the category
        assert "Masakhane: category B1" in reply and chat.effects == []
    else:
        assert "you will come to Layout plan" in reply
        assert c.attended(chat.effects) == [7]


@pytest.mark.parametrize(
    ("language", "where"),
    [("en", "Stand 45"), ("af", "Stand 45"), ("en", "check 12"), ("af", "Status 7")],
)
def test_status_words_at_the_where_step_are_the_place(c, language, where) -> None:
    """ "Stand" is Afrikaans for STATUS and the usual word for a plot."""
    chat = report_chat(c, channel="sms").onboarded(language=language)
    for text in ["5", "1", "1", "The standpipe is broken and water runs into the houses"]:
        chat.send(text)
    assert chat.step == "report_where"
    chat.send(where)
    assert chat.step == "report_confirm"
    assert chat.state["data"]["where"] == where
    chat.send("1")
    assert chat.desk.opened[0].where == where


# --- one rule for STATUS and ATTEND inside a report (H1, 2026-12-08) ----------------------
# STATUS alone and ATTEND dropped a report being written; STATUS <number> was read only at
# the menu and the report screens, so a sent report's "Send STATUS {number} at any time"
# was untrue inside a report. Now both forms and ATTEND keep the draft for 5.

EN = get_translator("en")


def _reported(c: ModuleType, *, language: str = "en", channel: str = "whatsapp") -> Any:
    """Return a chat whose resident sent report 4817263 (water, Lane 4) just now."""
    chat = report_chat(c, channel=channel).onboarded(language=language)
    for text in ["5", "1", "1", "No water at the standpipe", "Lane 4", "1"]:
        chat.send(text)
    assert [o.reference for o in chat.desk.opened] == ["4817263"]
    return chat


@pytest.mark.parametrize(
    ("language", "channel", "status"),
    [
        ("en", "sms", "STATUS"),
        ("en", "whatsapp", "status"),
        ("xh", "sms", "Imeko"),
        ("xh", "whatsapp", "IMEKO"),
    ],
)
def test_status_alone_inside_a_report_keeps_it_and_5_carries_on_with_its_words(
    c, language, channel, status
) -> None:
    tr = get_translator(language)
    chat = _reported(c, language=language, channel=channel)
    sent = {"media": (PHOTO,)} if channel == "whatsapp" else {}
    for text in ["5", "1", "2"]:
        chat.send(text)
    chat.send("The toilets in block C are blocked", **sent)
    assert chat.step == "report_where"
    reply = chat.send(status)
    assert "4817263" in reply  # the list of their reports
    assert reply.endswith(render("report.draft_kept", tr))
    assert chat.step == "my_reports" and len(chat.desk.opened) == 1
    reply = chat.send("5")  # not a place in a list of one
    assert reply.startswith(render("report.draft_resumed", tr))
    assert chat.step == "report_where"
    summary = chat.send("Block C")
    assert "The toilets in block C are blocked" in summary
    chat.send("1")
    second = chat.desk.opened[1]
    assert (second.category, second.description, second.where) == (
        "sanitation",
        "The toilets in block C are blocked",
        "Block C",
    )
    assert second.media == sent.get("media", ())


# The messages that take a report to each of its steps, and the step.
STEPS_OF_A_REPORT = [
    (["5"], "report_kind"),
    (["5", "1"], "report_category"),
    (["5", "1", "1"], "report_describe"),
    (["5", "1", "1", "Pipe leaking"], "report_where"),
    (["5", "1", "1", "Pipe leaking", "Lane 4"], "report_confirm"),
    (["5", "1", "1", "Pipe leaking", "Lane 4", "2"], "report_change"),
]


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
@pytest.mark.parametrize(("steps", "step"), STEPS_OF_A_REPORT)
def test_status_with_their_report_number_inside_a_report_shows_it_and_keeps_the_report(
    c, channel, steps, step
) -> None:
    chat = _reported(c, channel=channel)
    for text in steps:
        question = chat.send(text)
    assert chat.step == step
    draft = dict(chat.state.get("data", {}))
    reply = chat.send("STATUS 4817263")
    assert "Report 4817263 (Water)" in reply and reply.endswith(render("report.draft_kept", EN))
    assert chat.step == "ticket_view"
    reply = chat.send("5")
    assert reply.startswith(render("report.draft_resumed", EN))
    assert question.splitlines()[0] in reply  # the question it was at, asked again
    assert chat.step == step and chat.state.get("data", {}) == draft
    assert len(chat.desk.opened) == 1  # nothing sent without its 1


def test_status_at_a_list_of_five_reports_leaves_5_to_the_list_and_tells_at_the_view(c) -> None:
    chat = report_chat(c).onboarded()
    chat.desk.next_refs = ["4817263", "5302918", "6120394", "7000008", "8000006"]
    for n in range(5):
        for text in ["5", "2", "12", f"Question number {n + 1}", "1"]:
            chat.send(text)
    assert len(chat.desk.tickets) == 5
    for text in ["5", "1", "1"]:
        chat.send(text)
    kept = render("report.draft_kept", EN)
    reply = chat.send("STATUS")
    assert kept not in reply and chat.step == "my_reports"  # here "5" is the fifth report
    reply = chat.send("5")
    assert chat.step == "ticket_view" and reply.endswith(kept)
    assert chat.send("5").startswith(render("report.draft_resumed", EN))
    assert chat.step == "report_describe"
    assert chat.send("STATUS 4817263").endswith(kept)  # kept aside again: said again
    assert kept not in chat.send("0")  # once each time it is kept aside
    assert chat.send("5").startswith(render("report.draft_resumed", EN))


@pytest.mark.parametrize("language", ["en", "ts"])
def test_status_under_a_long_sms_list_says_first_that_the_report_is_kept(c, language) -> None:
    """Four reports fill an SMS: the end of the reply is on the page MORE would send."""
    chat = report_chat(c, channel="sms").onboarded(language=language)
    chat.desk.next_refs = ["4817263", "5302918", "6120394", "7000008"]
    for n in range(4):
        for text in ["5", "1", "2", f"Toilets blocked again in block {n}", "Block C", "1"]:
            chat.send(text)
    for text in ["5", "1", "1", "No water"]:
        chat.send(text)
    reply = chat.send("STATUS")
    kept = render("report.draft_kept", get_translator(language))
    assert reply.startswith(kept) and "7000008" in reply and chat.step == "my_reports"
    assert kept not in chat.send("MORE")  # said once
    assert chat.send("5").startswith(render("report.draft_resumed", get_translator(language)))


def test_status_inside_a_report_keeps_the_draft_and_works_at_the_menu(c) -> None:
    chat = _reported(c)
    for text in ["5", "1", "2", "Toilet blocked", "Block C"]:
        chat.send(text)
    assert "Report 4817263 (Water)" in chat.send("STATUS 4817263")
    assert chat.step == "ticket_view"
    assert "Please check your report" in chat.send("5")
    chat.send("1")
    assert len(chat.desk.opened) == 2
    assert "Report 4817263 (Water)" in chat.send("STATUS 4817263")


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_stand_45_in_afrikaans_is_still_the_place_and_stand_with_their_number_is_status(
    c, channel
) -> None:
    chat = _reported(c, language="af", channel=channel)
    for text in ["5", "1", "1", "Die kraan lek"]:
        chat.send(text)
    assert chat.step == "report_where"
    chat.send("Stand 45")
    assert chat.step == "report_confirm" and chat.state["data"]["where"] == "Stand 45"
    chat.send("2")
    chat.send("3")  # change the place
    reply = chat.send("Stand 4817263")
    assert "4817263" in reply and chat.step == "ticket_view"
    assert reply.endswith(render("report.draft_kept", get_translator("af")))
    chat.send("5")
    assert chat.step == "report_where" and chat.state["data"]["where"] == "Stand 45"


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_status_with_a_number_not_theirs_inside_a_report_is_its_words_and_tells_nothing(
    c, channel
) -> None:
    chat = _reported(c, channel=channel)
    # 5302918 is a well-formed number, some other resident's report: the desk finds none
    # of this resident's by it, so nothing is told about it, and the words stay theirs.
    for text in ["5", "1", "1"]:
        chat.send(text)
    reply = chat.send("STATUS 5302918")
    assert "5302918" not in reply and chat.step == "report_where"
    assert chat.state["data"]["text"] == "STATUS 5302918"
    assert "draft" not in chat.state


def test_a_kept_report_is_carried_on_after_idle_and_dropped_unsent_a_day_after(c) -> None:
    chat = _reported(c)
    for text in ["5", "1", "1", "Burst pipe on lane 7"]:
        chat.send(text)
    chat.send("STATUS")
    chat.wait(minutes=45)  # idle: a welcome back, and the report is still there
    reply = chat.send("5")
    assert reply.startswith(render("menu.welcome_back", EN))
    assert render("report.draft_resumed", EN) in reply and chat.step == "report_where"
    chat.send("STATUS")
    chat.send("0")
    for _ in range(5):  # talking all day long keeps no report aside for ever
        chat.wait(minutes=5 * 60)
        chat.send("2")
    reply = chat.send("5")
    assert render("report.draft_resumed", EN) not in reply
    assert chat.step == "report_kind" and chat.state.get("data", {}) == {}
    assert len(chat.desk.opened) == 1  # dropped, never sent


def test_my_data_names_a_report_kept_aside(c) -> None:
    chat = _reported(c)
    for text in ["5", "2", "8", "When is the housing list updated?"]:
        chat.send(text)
    chat.send("STATUS 4817263")
    assert chat.step == "ticket_view"
    reply = chat.send("MY DATA")
    assert render("mydata.draft_question", EN) in reply
    assert render("mydata.draft_words", EN) in reply
    chat.send("5")
    assert chat.step == "report_confirm"


def test_adding_to_a_report_keeps_stand_45_and_reads_status_of_a_report(c) -> None:
    chat = report_chat(c).onboarded(language="af")
    for text in ["5", "1", "1", "Geen water nie", "Laan 4", "1", "STATUS 4817263", "1"]:
        chat.send(text)
    assert chat.step == "ticket_add"
    chat.send("Stand 45")
    assert chat.desk.added[-1].text == "Stand 45"
    assert chat.step == "ticket_add"
    chat.send("Status 4817263")
    assert chat.step == "ticket_view"
    assert len(chat.desk.added) == 1


@pytest.mark.parametrize(
    ("language", "channel", "word"),
    [
        ("af", "whatsapp", "kanselleer"),
        ("af", "sms", "Kanselleer!"),
        ("xh", "whatsapp", "Rhoxisa"),
        ("zu", "sms", "khansela"),
    ],
)
def test_a_cancel_word_inside_a_report_cancels_it_like_0(c, language, channel, word) -> None:
    chat = report_chat(c, channel=channel).onboarded(language=language)
    for text in ["5", "1", "1", "Pipe leaking", "Lane 4"]:
        chat.send(text)
    reply = chat.send(word)
    assert chat.effects == []  # no opt-out
    assert not chat.record.opted_out
    assert chat.step == "menu"
    assert render("menu.main", get_translator(language)).replace("*", "") in reply.replace("*", "")
    assert chat.desk.opened == []


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_cancel_is_an_opt_out_word_even_inside_a_flow(c, channel) -> None:
    chat = report_chat(c, channel=channel).onboarded()
    for text in ["5", "1", "1", "Pipe leaking", "Lane 4"]:
        chat.send(text)
    chat.send("CANCEL")
    assert chat.effects == [OptOut(channel=channel)]


def test_cancel_at_the_menu_still_opts_out(c) -> None:
    chat = report_chat(c).onboarded()
    chat.send("cancel")
    assert chat.effects == [OptOut(channel="whatsapp")]


def test_sesotho_summary_no_longer_says_delete_and_hlakola_keeps_everything(c) -> None:
    """It said "0 ho hlakola" (0 to delete); "hlakola" is DELETE, which must ask first."""
    chat = report_chat(c, channel="sms").onboarded(language="st")
    for text in ["5", "1", "1", "Phaephe e a dutla", "Lane 4"]:
        summary = chat.send(text)
    prompt = summary.splitlines()[-1]
    assert prompt == render("report.confirm", get_translator("st"))
    assert "hlakola" not in prompt
    assert chat.send("hlakola") == render("delete.confirm", get_translator("st"))
    assert chat.effects == [] and chat.record.exists


def report_flow_answer(reference: str, *, fixed: bool, text: str = ""):
    return AnswerResolution(reference=reference, fixed=fixed, text=text)


def test_a_day_later_the_question_on_the_screen_is_set_aside_for_the_menu(c) -> None:
    chat = report_chat(c).onboarded()
    for text in ["5", "1", "1", "No water", "Lane 4", "1", "STATUS 4817263", "1"]:
        chat.send(text)
    assert chat.step == "ticket_add"
    chat.wait(minutes=45)
    assert "added" in chat.send("The tap is still dry")  # what they were asked for
    assert [a.text for a in chat.desk.added] == ["The tap is still dry"]
    chat.wait(minutes=7 * 24 * 60)  # a week later, "3" means the housing list
    reply = chat.send("3")
    assert "housing list" in reply.lower() and "Welcome back" in reply
    assert len(chat.desk.added) == 1 and chat.step == "menu"


# --- photos and pins wherever a report is on the screen (the 2026-12-07 channel audit) --------


@pytest.mark.parametrize("sent", [{"media": (PHOTO,)}, {"location": PIN}])
def test_a_photo_or_pin_under_an_open_report_is_added_to_it(c, sent) -> None:
    # Following the menu's "send 5 first" here would make a second report of the same tap.
    chat = _reported(c)
    chat.send("6")
    assert "Reply 1 to add more" in chat.send("1")
    reply = chat.send("", **sent)
    assert "we have added that to report 4817263" in reply
    [added] = chat.desk.added
    assert added.media == sent.get("media", ()) and added.location == sent.get("location")
    assert chat.step == "ticket_add"


def test_a_photo_under_a_resolved_report_is_added_and_fixed_asked_again(c) -> None:
    chat = _reported(c)
    chat.desk.resolve("4817263", chat.now + timedelta(minutes=1))
    chat.wait(minutes=5)
    chat.send("STATUS 4817263")
    reply = chat.send("Look", media=(PHOTO,))
    assert "we have added that to report 4817263" in reply
    assert render("ticket.ask_fixed", get_translator("en")) in reply
    assert chat.desk.added[0].media == (PHOTO,) and chat.desk.added[0].text == "Look"
    assert "We are sorry it is not fixed" in chat.send("2")
    assert "opened report 4817263 again" in chat.send("Still dry")
    assert chat.desk.answers[0] == report_flow_answer("4817263", fixed=False, text="Still dry")


def test_a_captioned_photo_at_the_menu_is_pointed_to_5(c) -> None:
    reply = report_chat(c).onboarded().send("The tap is leaking", media=(PHOTO,))
    assert reply == render("menu.media_only", get_translator("en"))


@pytest.mark.parametrize("steps", [["5"], ["5", "1"]])
def test_a_photo_or_pin_before_the_description_stays_with_the_report(c, steps) -> None:
    chat = report_chat(c).onboarded()
    for text in steps:
        chat.send(text)
    chat.send("", media=(PHOTO,))  # at "problem or question?" or the category list
    chat.send("", location=PIN)
    for text in ["1", "1"][len(steps) - 1 :]:
        chat.send(text)
    summary = chat.send("No water at the standpipe")  # the pin came: no "where?"
    assert "Photos and voice notes: 1" in summary and "Where: Lane 4, Masakhane" in summary
    chat.send("1")
    [opened] = chat.desk.opened
    assert opened.media == (PHOTO,) and opened.location == PIN


def test_a_photo_at_what_to_change_is_added_and_the_summary_shown(c) -> None:
    chat = report_chat(c).onboarded()
    for text in ["5", "1", "1", "No water", "Lane 4", "2"]:
        chat.send(text)
    summary = chat.send("", media=(VOICE,))
    assert "Photos and voice notes: 1" in summary and chat.step == "report_confirm"


def test_a_pin_answers_what_is_still_wrong(c) -> None:
    chat = _reported(c)
    chat.desk.resolve("4817263", chat.now + timedelta(minutes=1))
    chat.wait(minutes=5)
    assert "We are sorry it is not fixed" in chat.send("2")
    assert "opened report 4817263 again" in chat.send("", location=PIN)
    assert chat.desk.answers[0].fixed is False
    assert chat.desk.added[0].location == PIN


def _two_reports(c: ModuleType) -> Any:
    chat = _reported(c)
    chat.wait(minutes=2)
    for text in ["5", "1", "2", "The toilet in block C is blocked", "Block C", "1"]:
        chat.send(text)
    assert chat.desk.opened[1].reference == "5302918"
    return chat


def test_a_photo_at_the_list_of_one_report_is_added_to_it(c) -> None:
    chat = _reported(c)
    chat.send("6")
    assert "we have added that to report 4817263" in chat.send("Still dry", media=(PHOTO,))
    assert chat.desk.added == [
        AddToTicket(reference="4817263", text="Still dry", media=(PHOTO,), location=None)
    ]
    assert chat.step == "ticket_add"


def test_a_photo_and_pin_at_a_list_of_several_wait_for_the_report_picked(c) -> None:
    # "Reply with a number" used to drop them: the resident had to find and send them again.
    chat = _two_reports(c)
    chat.send("6")  # newest first: 1 is 5302918 (toilets), 2 is 4817263 (water)
    which = render("my_reports.which_for", get_translator("en"))
    assert chat.send("Still blocked", media=(PHOTO,)) == which
    assert chat.send("", location=PIN) == which
    assert chat.send("9").startswith("Please reply with one of the report numbers")
    assert chat.desk.added == []
    assert "we have added that to report 5302918" in chat.send("1")
    assert chat.desk.added == [
        AddToTicket(reference="5302918", text="Still blocked", media=(PHOTO,), location=PIN)
    ]
    assert chat.step == "ticket_add"
    chat.send("0")
    chat.send("6")
    chat.send("Another one", media=(VOICE,))
    chat.send("4817263")  # by its number, not its place
    assert chat.desk.added[-1] == AddToTicket(
        reference="4817263", text="Another one", media=(VOICE,), location=None
    )


def test_my_data_mentions_what_waits_at_the_list_for_a_report_to_be_picked(c) -> None:
    chat = _two_reports(c)
    chat.send("6")
    waiting = "You sent something for one of your reports and have not said which one."
    assert waiting not in chat.send("MY DATA")
    chat.send("6")
    chat.send("Still blocked", media=(PHOTO,))
    chat.send("", location=PIN)
    reply = chat.send("MY DATA")
    assert waiting in reply
    assert "It holds your words." in reply and "It holds a location pin." in reply
    assert "Photos and voice notes in it: 1" in reply
    assert "Its category" not in reply and "You started a report" not in reply
    assert "we have added that to report 5302918" in chat.send("1")  # still waiting till now
    assert waiting not in chat.send("MY DATA")


def test_a_photo_captioned_with_its_place_in_the_list_goes_to_that_report(c) -> None:
    chat = _two_reports(c)
    chat.send("6")
    assert "we have added that to report 4817263" in chat.send("2", media=(PHOTO,))
    assert chat.desk.added == [
        AddToTicket(reference="4817263", text="", media=(PHOTO,), location=None)
    ]


def test_a_photo_held_for_a_resolved_report_asks_fixed_again(c) -> None:
    chat = _two_reports(c)
    chat.desk.resolve("4817263", chat.now + timedelta(minutes=1))
    chat.wait(minutes=5)
    chat.send("0")
    chat.send("6")
    chat.send("", media=(PHOTO,))
    reply = chat.send("2")
    assert "we have added that to report 4817263" in reply
    assert reply.endswith(render("ticket.ask_fixed", get_translator("en")))
    assert "We are sorry it is not fixed" in chat.send("2")
    assert "opened report 4817263 again" in chat.send("Still dry")
    assert chat.desk.answers[0] == report_flow_answer("4817263", fixed=False, text="Still dry")


def test_status_at_a_list_holding_a_photo_keeps_it_for_the_report_picked(c) -> None:
    # STATUS listed the reports again (and STATUS <number> showed one): the photo was lost.
    chat = _two_reports(c)
    chat.send("6")
    chat.send("Still blocked", media=(PHOTO,))
    assert chat.send("STATUS").startswith("Please reply with one of the report numbers")
    assert chat.step == "my_reports" and "held" in chat.state["data"]
    assert "we have added that to report 5302918" in chat.send("STATUS 5302918")
    assert chat.desk.added == [
        AddToTicket(reference="5302918", text="Still blocked", media=(PHOTO,), location=None)
    ]


def test_the_menu_key_at_the_list_drops_what_was_held(c) -> None:
    chat = _two_reports(c)
    chat.send("6")
    chat.send("", media=(PHOTO,))
    chat.send("0")
    chat.send("6")
    assert "Reply 1 to add more" in chat.send("1")  # the report is shown, nothing added
    assert chat.desk.added == [] and chat.step == "ticket_view"


def test_a_long_description_is_kept_whole(c) -> None:
    chat = report_chat(c).onboarded()
    words = "The standpipe on lane 4 has leaked since March and the lane floods. " * 45
    for text in ["5", "1", "1", words, "Lane 4"]:
        chat.send(text)
    chat.send("1")
    assert len(words) > 3000 and chat.desk.opened[0].description == words.strip()


@pytest.mark.parametrize("invisible", ["\u200b", "\u2060\u200b ", "\ufeff\u00ad"])
def test_invisible_characters_alone_are_no_description_or_place(c, invisible) -> None:
    chat = report_chat(c, channel="sms").onboarded()
    for text in ["5", "1", "1"]:
        chat.send(text)
    assert chat.send(invisible) == render("report.describe_empty", get_translator("en"))
    chat.send("No water")
    reply = chat.send(invisible)
    assert chat.step == "report_where" and "Please check your report" not in reply


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("tn", "Go na le molelo mo ntlong ya me"),
        ("tn", "Go na le morwalela"),
        ("ts", "Ku na ndzilo endlwini"),
        ("ve", "Hu na mulilo nnyuni"),
        ("nr", "Kunomlilo ngemva kwekhaya, umlilo omkhulu"),
    ],
)
def test_a_fire_or_flood_is_urgent_in_the_other_six_languages_too(c, language, words) -> None:
    chat = report_chat(c, channel="sms").onboarded(language=language)
    for text in ["5", "1", "1", words, "Lane 4"]:
        chat.send(text)
    assert "112" in chat.send("1")
    assert chat.desk.opened[-1].urgent


def test_a_fixed_question_that_came_to_the_list_takes_the_2(c) -> None:
    """The question arrived after the list: it is the last thing on the screen."""
    chat = _two_reports(c)
    chat.send("6")  # 1 is 5302918, 2 is 4817263
    chat.desk.resolve("5302918", chat.now + timedelta(minutes=1))  # "fixed? 1 yes 2 no"
    chat.wait(minutes=5)
    assert "we will open report 5302918 again" in chat.send("2")
    assert "opened report 5302918 again" in chat.send("The toilet is still blocked")
    assert chat.desk.answers == [
        report_flow_answer("5302918", fixed=False, text="The toilet is still blocked")
    ]


def test_a_fixed_question_leaves_a_photo_held_at_the_list_to_its_pick(c) -> None:
    chat = _two_reports(c)
    chat.send("6")
    chat.send("", media=(PHOTO,))  # held until a report is picked
    chat.desk.resolve("5302918", chat.now + timedelta(minutes=1))
    chat.wait(minutes=5)
    assert "we have added that to report 4817263" in chat.send("2")
    assert chat.desk.added == [
        AddToTicket(reference="4817263", text="", media=(PHOTO,), location=None)
    ]
    assert chat.desk.answers == []


def test_a_reminder_that_came_to_a_report_s_view_takes_the_1(c) -> None:
    chat = _two_reports(c)
    assert "Reply 1 to add more" in chat.send("status 4817263")
    chat.ports = replace(chat.ports, invitations=Reminders(chat.now + timedelta(minutes=1)))
    chat.wait(minutes=5)
    assert "you will come to Layout plan" in chat.send("1")
    assert c.attended(chat.effects) == [7]
    assert chat.step == "menu"


def test_a_problem_typed_at_the_category_is_kept_and_not_asked_for_again(c) -> None:
    chat = report_chat(c, channel="sms").onboarded()
    chat.send("5")
    chat.send("1")
    reply = chat.send("The tap on lane 3 has been leaking for 2 weeks 💧")
    assert "we have kept what you wrote" in reply
    assert "Reply with one of the numbers in the list" in reply
    assert "Where exactly is it?" in chat.send("1")  # not "Please describe the problem"
    summary = chat.send("Next to the church")
    assert "Problem: Water" in summary
    assert "What you said: The tap on lane 3 has been leaking for 2 weeks 💧" in summary
    chat.send("1")
    assert chat.desk.opened[0].description == "The tap on lane 3 has been leaking for 2 weeks 💧"
    assert chat.desk.opened[0].where == "Next to the church"


def test_words_typed_before_the_category_are_all_kept_in_order(c) -> None:
    chat = report_chat(c).onboarded()
    chat.send("5")
    reply = chat.send("No water since Monday")
    assert "Is it a problem (reply 1) or a question (reply 2)?" in reply
    assert "Please reply 1" not in reply
    chat.send("1")
    assert "we have kept what you wrote" in chat.send("the whole of section B")
    assert "Where exactly is it?" in chat.send("water")  # the category by its name
    chat.send("Section B")
    chat.send("1")
    opened = chat.desk.opened[0]
    assert (opened.category, opened.description) == (
        "water",
        "No water since Monday\nthe whole of section B",
    )


@pytest.mark.parametrize(
    ("language", "typed", "category"),
    [
        ("en", "Toilets and sanitation", "sanitation"),
        ("en", "TOILETS", "sanitation"),
        ("en", "safety", "safety"),  # a whole title before a word of "Fire safety"
        ("en", "rubbish", "refuse"),
        ("xh", "izindlu zangasese nococeko", "sanitation"),
        ("xh", "Electricity", "electricity"),  # English names work in every language
    ],
)
def test_a_category_can_be_named(c, language, typed, category) -> None:
    chat = report_chat(c).onboarded(language=language)
    chat.send("5")
    chat.send("1")
    chat.send(typed)
    assert chat.state["step"] == "report_describe"
    assert chat.state["data"]["category"] == category


@pytest.mark.parametrize(
    "typed", ["ok", "and", "watr", "the", "thank you", "yebo sawubona", "my reports"]
)
def test_one_word_that_names_no_category_is_asked_again_and_not_kept(c, typed) -> None:
    chat = report_chat(c).onboarded()
    chat.send("5")
    chat.send("1")
    assert "Please reply with one of the numbers in the list" in chat.send(typed)
    assert "text" not in chat.state["data"]
    assert "Please describe the problem" in chat.send("1")


def test_words_sent_while_changing_the_category_change_nothing(c) -> None:
    chat = report_chat(c).onboarded()
    chat.send("5")
    chat.send("1")
    chat.send("1")
    chat.send("The tap is leaking")
    chat.send("Lane 3")
    chat.send("2")  # change something
    chat.send("1")  # what it is about
    assert "Please reply with one of the numbers in the list" in chat.send("it is the tap really")
    summary = chat.send("2")
    assert "Problem: Toilets and sanitation" in summary
    assert "What you said: The tap is leaking" in summary


STAFF_ASKED = "Which toilet block: the one by the road or the one behind the creche?"


def _waiting(chat: Any, reference: str) -> None:
    """Play staff asking the resident something and marking the report waiting on them."""
    ticket = chat.desk.tickets[reference]
    chat.desk.tickets[reference] = replace(
        ticket, status="waiting_on_resident", last_public_note=STAFF_ASKED
    )


def _report_waiting(c: ModuleType, **kwargs: Any) -> Any:
    """Return a chat whose resident reported a blocked toilet (report 4817263) that staff
    then asked about and marked waiting on them."""
    chat = report_chat(c, **kwargs).onboarded()
    for text in ["5", "1", "2", "The toilet is blocked", "Section A", "1"]:
        chat.send(text)
    _waiting(chat, "4817263")
    return chat


@pytest.mark.parametrize("later", [2, 180, 60 * 30])
def test_an_answer_to_staff_s_question_is_added_to_the_report_waiting_for_it(c, later) -> None:
    # Staff asked and marked the report waiting; the resident simply replied, as anyone
    # would, and got "Sorry, we did not understand that": the answer reached nobody and
    # the report stayed paused until the wait ran out (SIYAKHA_TICKET_WAIT_DAYS).
    chat = _report_waiting(c, channel="sms")
    chat.wait(minutes=later)  # at once, hours later, or the next day
    reply = chat.send("The one behind the creche")
    assert "we have added that to report 4817263" in reply
    assert "did not understand" not in reply and "Main menu" not in reply
    assert chat.desk.added == [
        AddToTicket(reference="4817263", text="The one behind the creche", media=(), location=None)
    ]
    assert chat.step == "ticket_add"


def test_an_answer_typed_under_the_waiting_report_s_view_is_added(c) -> None:
    chat = _report_waiting(c, channel="sms")
    view = chat.send("STATUS 4817263")
    assert "needs more information from you" in view and STAFF_ASKED in view
    assert "we have added that to report 4817263" in chat.send("Behind the creche")
    assert [a.text for a in chat.desk.added] == ["Behind the creche"]


def test_a_photo_sent_in_answer_is_added_to_the_waiting_report(c) -> None:
    chat = _report_waiting(c)
    chat.wait(minutes=10)
    assert "we have added that to report 4817263" in chat.send("", media=(PHOTO,))
    assert chat.desk.added == [
        AddToTicket(reference="4817263", text="", media=(PHOTO,), location=None)
    ]


@pytest.mark.parametrize("later", [10, 180])
def test_a_photo_captioned_thanks_is_added_to_the_waiting_report_even_hours_later(c, later) -> None:
    # Coming back after a while the engine answered "thanks" before looking for a report
    # waiting on the resident: the photo staff asked for was lost ("You are welcome").
    chat = _report_waiting(c)
    chat.wait(minutes=later)
    assert "we have added that to report 4817263" in chat.send("Thanks", media=(PHOTO,))
    assert chat.desk.added == [
        AddToTicket(reference="4817263", text="Thanks", media=(PHOTO,), location=None)
    ]


def test_an_answer_with_two_reports_waiting_is_kept_for_the_report_picked(c) -> None:
    chat = _two_reports(c)
    _waiting(chat, "4817263")
    _waiting(chat, "5302918")
    chat.wait(minutes=5)
    reply = chat.send("Behind the creche")
    assert "Report 5302918 (Toilets and sanitation)" in reply
    assert "Report 4817263 (Water)" in reply
    assert reply.endswith(render("my_reports.which_for", get_translator("en")))
    assert chat.desk.added == []
    assert "we have added that to report 4817263" in chat.send("2")
    assert chat.desk.added == [
        AddToTicket(reference="4817263", text="Behind the creche", media=(), location=None)
    ]


@pytest.mark.parametrize("later", [2, 180])
def test_thanks_a_greeting_or_an_option_is_no_answer_to_staff(c, later) -> None:
    chat = _report_waiting(c)
    chat.wait(minutes=later)
    assert chat.send("Thank you").startswith("You are welcome")
    chat.wait(minutes=later)
    assert "Main menu" in chat.send("Hello")
    assert "Upgrading timeline" in chat.send("2")
    assert chat.desk.added == []


def test_a_question_resolved_is_asked_whether_it_was_answered(c) -> None:
    chat = resolved_question_chat(c, channel="sms")
    view = chat.send("STATUS 4817263")
    assert "Report 4817263 (Electricity): the municipality says it has answered your question." in (
        view
    )
    assert "Is your question answered now? Reply 1 for yes or 2 for no." in view
    assert "fixed" not in view
    reply = chat.send("2")
    assert "your question is not answered yet" in reply and "what you still want to know" in reply
    assert "fixed" not in reply
    assert "opened report 4817263 again" in chat.send("Which month exactly?")
    assert chat.desk.answers[0] == report_flow_answer(
        "4817263", fixed=False, text="Which month exactly?"
    )


def test_yes_to_a_question_staff_took_back_says_it_will_be_answered_not_fixed(c) -> None:
    chat = resolved_question_chat(c)
    assert "Is your question answered now?" in chat.send("STATUS 4817263")
    taken_back = replace(chat.desk.tickets["4817263"], status="in_progress", resolved_at=None)
    chat.desk.tickets["4817263"] = taken_back
    reply = chat.send("1")
    assert "working on your question 4817263 again, so it stays open" in reply
    assert "when it is answered" in reply and "fixed" not in reply
    assert chat.desk.answers == []


def test_a_resolved_question_s_answer_at_the_menu_is_asked_about_in_its_words(c) -> None:
    chat = resolved_question_chat(c)
    reply = chat.send("2")  # answering the notice at the menu
    assert "your question is not answered yet" in reply and "fixed" not in reply
    chat.send("0")
    chat.send("STATUS 4817263")
    chat.send("1")  # fixed? yes: closed
    assert chat.desk.answers[-1].fixed


@pytest.mark.parametrize(
    ("answer", "told", "fixed", "words"),
    [
        ("2", "We are sorry it is not fixed", None, ""),
        ("2 the tap still drips", "opened report 4817263 again", False, "the tap still drips"),
        ("1", "Report 4817263 is now closed", True, ""),
        ("yes", "Report 4817263 is now closed", True, ""),
    ],
)
def test_fixed_is_answered_while_adding_to_the_report(c, answer, told, fixed, words) -> None:
    # A resident who had just added to their report (often the answer staff asked for) was
    # still "adding" when "Is it fixed? Reply 1 for yes or 2 for no" came: their "2" was
    # added to the report as words, "Thank you, we have added that", and asked again.
    chat = report_chat(c, channel="sms").onboarded()
    for text in ["5", "1", "1", "No water at the standpipe", "Lane 4", "1"]:
        chat.send(text)
    chat.send("STATUS 4817263")
    chat.send("1")
    assert "we have added that" in chat.send("No water comes out at all")
    chat.desk.resolve("4817263", chat.now + timedelta(minutes=1), note="New tap fitted.")
    chat.wait(minutes=20)
    reply = chat.send(answer)
    assert told in reply and "we have added that" not in reply
    assert [a.text for a in chat.desk.added] == ["No water comes out at all"]
    if fixed is None:
        assert chat.desk.answers == []
        assert "opened report 4817263 again" in chat.send("It still drips")
        fixed, words = False, "It still drips"
    assert chat.desk.answers == [report_flow_answer("4817263", fixed=fixed, text=words)]


def test_words_added_to_a_report_resolved_meanwhile_are_added_and_fixed_asked(c) -> None:
    chat = report_chat(c, channel="sms").onboarded()
    for text in ["5", "1", "1", "No water at the standpipe", "Lane 4", "1"]:
        chat.send(text)
    chat.send("STATUS 4817263")
    chat.send("1")
    chat.desk.resolve("4817263", chat.now + timedelta(minutes=1))
    chat.wait(minutes=5)
    reply = chat.send("The standpipe by the creche")
    assert "we have added that to report 4817263" in reply and "Is it fixed now?" in reply
    assert chat.desk.answers == []


# --- one rule for every word that works at any time (H7, 2026-12-08) ---------------------
# HELP, MY DATA, MENU (and greetings), START, LANGUAGE and DELETE inside a report dropped it
# (or, HELP and MY DATA, left its step waiting, so HELP's "send 5" became the place). Now
# they keep it aside as STATUS and ATTEND do; 0, a cancel word and STOP drop it.

KEEPING_WORDS = {
    "en": ["HELP", "my data", "MENU", "Hi", "START"],
    "xh": ["Uncedo", "iinkcukacha zam", "imenyu", "Molo", "qala"],
}


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
@pytest.mark.parametrize(
    ("language", "word"), [(code, word) for code, words in KEEPING_WORDS.items() for word in words]
)
def test_a_word_that_works_at_any_time_keeps_a_report_and_5_carries_on_with_it(
    c, language, word, channel
) -> None:
    tr = get_translator(language)
    kept = render("report.draft_kept", tr)
    chat = report_chat(c, channel=channel).onboarded(language=language)
    sent = {"media": (PHOTO,), "location": PIN} if channel == "whatsapp" else {}
    for text in ["5", "1", "1"]:
        chat.send(text)
    chat.send("The tap at the standpipe is broken", **sent)
    if channel == "whatsapp":  # the pin said where: at the summary
        assert chat.step == "report_confirm"
    else:
        assert chat.step == "report_where"
    step, draft = chat.step, dict(chat.state["data"])
    reply = chat.send(word)
    assert reply.count(kept) == 1 and chat.effects == []
    assert chat.step == "menu" and chat.state["draft"]["data"] == draft
    assert kept not in chat.send(KEEPING_WORDS[language][0])  # told once
    reply = chat.send("5")
    assert reply.startswith(render("report.draft_resumed", tr))
    assert chat.step == step and chat.state["data"] == draft
    if channel == "sms":
        chat.send("Lane 4")
    chat.send("1")
    [opened] = chat.desk.opened
    assert (opened.category, opened.description) == ("water", "The tap at the standpipe is broken")
    assert opened.media == sent.get("media", ()) and (opened.location == sent.get("location"))
    assert opened.where == ("Lane 4" if channel == "sms" else PIN.address)


@pytest.mark.parametrize(
    "word", ["HELP", "MY DATA", "MENU", "hello", "START", "LANGUAGE", "DELETE"]
)
@pytest.mark.parametrize(("steps", "step"), STEPS_OF_A_REPORT)
def test_a_report_is_kept_at_every_step_and_resumed_there(c, word, steps, step) -> None:
    chat = report_chat(c, channel="sms").onboarded()
    for text in steps:
        question = chat.send(text)
    assert chat.step == step
    draft = dict(chat.state.get("data", {}))
    chat.send(word)
    if word == "LANGUAGE":
        chat.send("1")  # English again
    elif word == "DELETE":
        chat.send("0")  # keep everything
    reply = chat.send("5")
    assert reply.startswith(render("report.draft_resumed", EN))
    assert question.splitlines()[-1] in reply  # the question it was at, asked again
    assert chat.step == step and chat.state.get("data", {}) == draft
    assert chat.desk.opened == []


@pytest.mark.parametrize(
    ("language", "channel", "word", "choice", "chosen"),
    [
        ("en", "sms", "LANGUAGE", "2", "xh"),
        ("en", "whatsapp", "language", "isiXhosa", "xh"),
        ("xh", "sms", "Ulwimi", "1", "en"),
        ("xh", "whatsapp", "ULWIMI", "4", "af"),
    ],
)
def test_language_inside_a_report_keeps_it_and_5_carries_on_in_the_new_language(
    c, language, channel, word, choice, chosen
) -> None:
    new = get_translator(chosen)
    chat = report_chat(c, channel=channel).onboarded(language=language)
    for text in ["5", "1", "1", "Amanzi awekho kwitephu"]:
        chat.send(text)
    assert chat.step == "report_where"
    reply = chat.send(word)
    assert chat.step == "language"
    assert render("report.draft_kept", get_translator(language)) not in reply  # 5 is a language
    reply = chat.send(choice)
    assert chat.record.language == chosen and chat.step == "menu"
    assert render("report.draft_kept", new) in reply
    reply = chat.send("5")
    assert reply.startswith(render("report.draft_resumed", new))
    where = "report.where_whatsapp" if channel == "whatsapp" else "report.where"
    assert reply.endswith(render(where, new)) and chat.step == "report_where"
    assert render("report.confirm", new) in chat.send("Lane 4")
    chat.send("1")
    [opened] = chat.desk.opened
    assert (opened.description, opened.where) == ("Amanzi awekho kwitephu", "Lane 4")


@pytest.mark.parametrize(
    ("language", "channel", "word", "no"),
    [("en", "sms", "DELETE", "0"), ("en", "whatsapp", "delete", "2"), ("xh", "sms", "Cima", "0")],
)
def test_delete_inside_a_report_declined_keeps_it_confirmed_erases_it(
    c, language, channel, word, no
) -> None:
    tr = get_translator(language)
    chat = report_chat(c, channel=channel).onboarded(language=language)
    for text in ["5", "2", "8", "When is the housing list updated?"]:
        chat.send(text)
    assert chat.step == "report_confirm"
    assert chat.send(word) == render("delete.confirm", tr)
    reply = chat.send(no)
    assert reply.startswith(render("delete.cancelled", tr))
    assert render("report.draft_kept", tr) in reply and chat.record.exists
    assert chat.send("5").startswith(render("report.draft_resumed", tr))
    assert chat.step == "report_confirm"
    chat.send(word)
    reply = chat.send("HELP")  # another word leaves the DELETE question: the report stays
    assert render("delete.cancelled", tr) in reply and render("report.draft_kept", tr) in reply
    chat.send("5")
    chat.send(word)
    assert chat.send("1") == render("delete.done", tr)
    assert chat.outcome.state == {} and chat.effects == [EraseResident()]
    assert chat.desk.opened == []
    chat.send("Hi")
    assert chat.step == "language"  # afresh: nothing of theirs, no report kept


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
@pytest.mark.parametrize("kept_first", [False, True])
def test_stop_inside_a_report_drops_it_and_one_kept_before(c, channel, kept_first) -> None:
    chat = report_chat(c, channel=channel).onboarded(language="xh")
    tr = get_translator("xh")
    for text in ["5", "1", "1", "Itephu yaphukile"]:
        chat.send(text)
    if kept_first:  # kept aside by STATUS, then STOP at the menu
        assert render("report.draft_kept", tr) in chat.send("Imeko")
    chat.send("Yeka")
    assert chat.effects == [OptOut(channel=channel)]
    assert "draft" not in chat.state and "data" not in chat.state
    reply = chat.send("qala")
    assert render("optin.confirmed", tr) in reply
    assert render("report.draft_kept", tr) not in reply
    reply = chat.send("5")
    assert render("report.draft_resumed", tr) not in reply and chat.step == "report_kind"
    assert chat.state.get("data", {}) == {}


@pytest.mark.parametrize(("language", "word"), [("en", "0"), ("xh", "0"), ("af", "Kanselleer")])
def test_0_or_a_cancel_word_inside_a_report_drops_it_unkept(c, language, word) -> None:
    chat = report_chat(c).onboarded(language=language)
    for text in ["5", "1", "1", "Pipe leaking"]:
        chat.send(text)
    reply = chat.send(word)
    assert render("report.draft_kept", get_translator(language)) not in reply
    assert chat.step == "menu" and "draft" not in chat.state
    chat.send("5")
    assert chat.step == "report_kind" and chat.state.get("data", {}) == {}


@pytest.mark.parametrize(("language", "greeting"), [("en", "hello"), ("xh", "Molweni")])
def test_a_greeting_after_idle_inside_a_report_keeps_it(c, language, greeting) -> None:
    tr = get_translator(language)
    chat = report_chat(c, channel="sms").onboarded(language=language)
    for text in ["5", "1", "1", "Pipe leaking"]:
        chat.send(text)
    chat.wait(minutes=45)
    reply = chat.send(greeting)
    assert reply.startswith(render("menu.welcome_back", tr))
    assert render("report.draft_kept", tr) in reply
    assert chat.send("5").startswith(render("report.draft_resumed", tr))
    assert chat.step == "report_where" and chat.state["data"]["text"] == "Pipe leaking"
