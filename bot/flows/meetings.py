"""Option 4: the next meetings of the settlement, its ward forum and the city forum."""

from __future__ import annotations

from bot.engine.ports import MeetingInfo
from bot.engine.turn import Turn
from bot.flows import menu

LIMIT = 5


def _meeting(turn: Turn, meeting: MeetingInfo) -> str:
    """Render one meeting: what, when (South African time, resident's language), where."""
    when = turn.translator.format_when(meeting.starts_at)
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
