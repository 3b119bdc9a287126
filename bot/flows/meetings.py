"""Option 4: the next meetings of the settlement, its ward forum and the city forum; and
"I will attend", the answer to a meeting reminder or to a facilitator's "send ATTEND".

A reminder ends "Reply 1 or ATTEND" (to a resident who already said they will come, it
says so instead and asks nothing, so it is no reminder here). Between flows, "1" answers
the reminders that reached the resident since they last wrote (otherwise it is menu
option 1); an attend word alone, at any step (as HELP says), answers any reminder of a
meeting neither cancelled nor over. The rule is STATUS's (bot/flows/reports.py): a
report being written is kept, not sent and not dropped, the reply ends saying so once 5
means menu option 5 again (after the answer to "which meeting?", when one is asked), and
5 carries on with it (bot/flows/report.py `keep_draft`).
With one such meeting the answer is recorded and the thanks names it. With two or more (a
round may bring the ward forum and the settlement's meeting together) nothing is recorded
yet: the reply lists them by start time, the order of a calendar (reminders of one round
go in no order a resident could tell), with a last number for all of them, and the number
then chosen is recorded. A meeting cancelled or over by then is not: the reply says it is
no longer on.

An attend word with no such reminder (a facilitator at a meeting says "send ATTEND to say
you will come to the next forum"; option 4's list ends saying so) takes the meetings
option 4 lists, cancelled ones left out, the same way: one is recorded at once, as one
reminded meeting is (the resident typed the word on purpose and the thanks names the
meeting, so asking "will you come to X?" would only add a message to pay for), two or
more are asked about, and none gets option 4's "no meetings" and the way back to the menu.

A meeting the resident already said they will come to is not offered again: the others
are (one left is recorded at once, as above). A reminder answered that way no longer
waits for an answer, so an attend word with only such reminders takes option 4's
meetings. When every meeting it could answer was said yes to already, the reply says so,
naming them with their times, instead of a list or "no meetings".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.engine.effects import AttendMeeting
from bot.engine.ports import InvitationInfo, MeetingInfo, SettlementInfo
from bot.engine.turn import ATTEND_WHICH, MENU, Turn
from bot.flows import menu, report

LIMIT = 5


def _meeting(turn: Turn, meeting: MeetingInfo) -> str:
    """Render one meeting: what, when (South African time, written out by `Turn.text_of`
    in the language of its sentence), where."""
    when = meeting.starts_at
    if meeting.cancelled:
        return turn.text_of("meetings.item.cancelled", title=meeting.title, when=when)
    if meeting.level == "ward" and meeting.ward:
        head = turn.text_of("meetings.item.ward", title=meeting.title, when=when, ward=meeting.ward)
    elif meeting.level == "ward":
        head = turn.text_of("meetings.item.ward_unknown", title=meeting.title, when=when)
    elif meeting.level == "city":
        head = turn.text_of("meetings.item.city", title=meeting.title, when=when)
    else:
        head = turn.text_of("meetings.item.neighbourhood", title=meeting.title, when=when)
    venue = (
        turn.text_of("meetings.venue", venue=meeting.venue.strip())
        if meeting.venue.strip()
        else turn.text_of("meetings.venue_unknown")
    )
    return f"{head}\n{venue}"


def _upcoming(turn: Turn) -> tuple[SettlementInfo | None, list[MeetingInfo]]:
    """Return the resident's settlement (None if not chosen) and the next meetings of it,
    its ward forum and the city forum, cancelled ones included, soonest first."""
    info = turn.settlement()
    meetings = turn.ports.settlements.upcoming_meetings(
        settlement_id=info.id if info else None,
        ward=(info.ward or None) if info else None,
        now=turn.now,
        limit=LIMIT,
    )
    return info, sorted(meetings, key=lambda m: m.starts_at)[:LIMIT]


def _say_none(turn: Turn, info: SettlementInfo | None) -> None:
    if info is not None:
        turn.say("meetings.none", settlement=info.name)
    else:
        turn.say("meetings.none_general")


def show(turn: Turn) -> None:
    """List the next meetings, cancelled ones flagged, or say none are scheduled; end a
    list with a meeting still on with how to say "I will come"."""
    info, meetings = _upcoming(turn)
    if info is not None:
        turn.say("meetings.heading", settlement=info.name)
    else:
        turn.say("meetings.heading_general")
    if not meetings:
        _say_none(turn, info)
    for meeting in meetings:
        turn.parts.append(_meeting(turn, meeting))
    if meetings:
        turn.say("meetings.footer")
    if any(not meeting.cancelled for meeting in meetings):
        turn.say("meetings.attend_hint")
    menu.back_hint(turn)


def _on(turn: Turn) -> tuple[SettlementInfo | None, list[InvitationInfo]]:
    """Return the resident's settlement and the meetings option 4 lists that are on
    (cancelled ones left out)."""
    info, meetings = _upcoming(turn)
    return info, [
        InvitationInfo(meeting_id=m.meeting_id, title=m.title, starts_at=m.starts_at)
        for m in meetings
        if not m.cancelled
    ]


def _split(
    turn: Turn, invitations: list[InvitationInfo]
) -> tuple[list[InvitationInfo], list[InvitationInfo]]:
    """Return (the meetings the resident already said they will come to, the others)."""
    ids = [i.meeting_id for i in invitations]
    said = turn.ports.invitations.attending(turn.resident.phone, ids) if ids else set()
    return (
        [i for i in invitations if i.meeting_id in said],
        [i for i in invitations if i.meeting_id not in said],
    )


def _answer(turn: Turn, reminded: list[InvitationInfo], *, upcoming: bool) -> None:
    """Offer the meetings the resident has not said yes to yet: those reminded of, or, for
    an attend word (`upcoming`) with none of those left, the ones option 4 lists. One is
    recorded at once, two or more are asked about; with every one said yes to already,
    say so, naming them; with none at all, say none is scheduled."""
    said, offered = _split(turn, reminded)
    question = "broadcast.attend_which"
    if upcoming and not offered:
        info, on = _on(turn)
        said_too, offered = _split(turn, on)
        known = {i.meeting_id for i in said}
        said += [i for i in said_too if i.meeting_id not in known]
        question = "meetings.attend_which"
        if not said and not offered:
            _say_none(turn, info)
            menu.back_hint(turn)
            turn.goto(MENU)
            return
    if len(offered) == 1:
        attend(turn, offered[0])
    elif offered:
        ask_which(turn, offered, question=question)
    else:
        _already(turn, said)


def _already(turn: Turn, said: list[InvitationInfo]) -> None:
    """Tell the resident they already said they will come to these meetings."""
    ordered = _by_start(said)
    if len(ordered) == 1:
        turn.say("broadcast.attend_already", title=ordered[0].title, when=ordered[0].starts_at)
    else:
        lines = [
            turn.text_of("broadcast.attend_already_line", title=i.title, when=i.starts_at)
            for i in ordered
        ]
        turn.say("broadcast.attend_already_several", meetings="\n".join(lines))
    menu.back_hint(turn)
    turn.goto(MENU)


def attend(turn: Turn, invitation: InvitationInfo) -> None:
    """Record that the resident will come to the meeting, and thank them."""
    _record(turn, invitation)
    menu.back_hint(turn)
    turn.goto(MENU)


def _record(turn: Turn, invitation: InvitationInfo) -> None:
    turn.emit(AttendMeeting(meeting_id=invitation.meeting_id, starts_at=invitation.starts_at))
    turn.say(
        "broadcast.attend_thanks",
        title=invitation.title,
        when=invitation.starts_at,
    )


def _by_start(invitations: list[InvitationInfo]) -> list[InvitationInfo]:
    """Order meetings as a calendar does (reminders of one round go in no order a resident
    could tell)."""
    return sorted(invitations, key=lambda i: (i.starts_at, i.meeting_id))


def ask_which(
    turn: Turn, invitations: list[InvitationInfo], *, question: str = "broadcast.attend_which"
) -> None:
    """Ask which of several meetings the resident will come to (`question`, the message
    that heads the list): numbered by start time, then a number for all of them."""
    ordered = _by_start(invitations)
    lines = [
        turn.text_of("broadcast.attend_choice", number=n, title=i.title, when=i.starts_at)
        for n, i in enumerate(ordered, start=1)
    ]
    lines.append(turn.text_of("broadcast.attend_choice_all", number=len(ordered) + 1))
    turn.say(question, choices="\n".join(lines))
    turn.goto(ATTEND_WHICH, choices=[i.meeting_id for i in ordered])


def on_which(turn: Turn) -> None:
    """Record the meeting picked by number (or all of them, the last number), each only if
    it is still on; anything else asks again."""
    choices = [int(c) for c in turn.data.get("choices", [])]
    number = int(turn.norm) if turn.norm.isdecimal() else 0
    if 1 <= number <= len(choices):
        picked = [(number, choices[number - 1])]
    elif number == len(choices) + 1:
        picked = list(enumerate(choices, start=1))
    else:
        turn.say("broadcast.attend_which_retry")
        return
    for place, meeting_id in picked:
        invitation = turn.ports.invitations.still_on(meeting_id, now=turn.now)
        if invitation is None:
            turn.say("broadcast.attend_gone", number=place)
        else:
            _record(turn, invitation)
    menu.back_hint(turn)
    turn.goto(MENU)


def attend_reply(
    turn: Turn, *, last_seen: datetime | None, between_flows: bool, alone: bool = True
) -> Callable[[Turn], None] | None:
    """Return the handler for "I will attend": an attend word alone (the whole message) at
    any step where `alone`, as HELP says (a report being written is kept for 5:
    `report.keep_draft`); and between flows "1" after a reminder received since the
    resident last wrote (so a menu choice keeps its meaning otherwise). What is offered:
    see `_answer`."""
    word = turn.norm in turn.content.attend_words
    if not (between_flows or (word and alone)):
        return None
    if not word and turn.norm != "1":
        return None
    since = None if word else last_seen
    reminded = turn.ports.invitations.pending(turn.resident.phone, since=since, now=turn.now)
    if not reminded and not word:
        return None
    return lambda t: _keep_draft_and_answer(t, reminded, upcoming=word)


def _keep_draft_and_answer(turn: Turn, reminded: list[InvitationInfo], *, upcoming: bool) -> None:
    report.keep_draft(turn)
    _answer(turn, reminded, upcoming=upcoming)
