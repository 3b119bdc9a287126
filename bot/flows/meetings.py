"""Option 4: the next meetings of the settlement, its ward forum and the city forum."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.engine.effects import AttendMeeting
from bot.engine.ports import InvitationInfo, MeetingInfo
from bot.engine.turn import MENU, Turn
from bot.flows import menu

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


def show(turn: Turn) -> None:
    """List the next meetings, cancelled ones flagged, or say none are scheduled."""
    info = turn.settlement()
    meetings = turn.ports.settlements.upcoming_meetings(
        settlement_id=info.id if info else None,
        ward=(info.ward or None) if info else None,
        now=turn.now,
        limit=LIMIT,
    )
    meetings = sorted(meetings, key=lambda m: m.starts_at)[:LIMIT]
    if info is not None:
        turn.say("meetings.heading", settlement=info.name)
    else:
        turn.say("meetings.heading_general")
    if not meetings:
        if info is not None:
            turn.say("meetings.none", settlement=info.name)
        else:
            turn.say("meetings.none_general")
    for meeting in meetings:
        turn.parts.append(_meeting(turn, meeting))
    if meetings:
        turn.say("meetings.footer")
    menu.back_hint(turn)


def attend(turn: Turn, invitation: InvitationInfo) -> None:
    """Record that the resident will come to the meeting, and thank them."""
    turn.emit(AttendMeeting(meeting_id=invitation.meeting_id))
    turn.say(
        "broadcast.attend_thanks",
        title=invitation.title,
        when=invitation.starts_at,
    )
    menu.back_hint(turn)
    turn.goto(MENU)


def attend_reply(
    turn: Turn, *, last_seen: datetime | None, between_flows: bool
) -> Callable[[Turn], None] | None:
    """Return the handler for "I will attend", between flows: an attend word after any
    reminder of an upcoming meeting, or "1" after a reminder received since the resident
    last wrote (so a menu choice keeps its meaning otherwise). Inside a flow the words
    answer its question ("Kom" may be a report's description)."""
    if not between_flows:
        return None
    word = turn.norm in turn.content.attend_words
    if not word and turn.norm != "1":
        return None
    since = None if word else last_seen
    invitation = turn.ports.invitations.pending(turn.resident.phone, since=since, now=turn.now)
    if invitation is None:
        return None
    return lambda t: attend(t, invitation)
