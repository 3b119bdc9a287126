"""Option 2: the upgrading timeline, milestones grouped by strand with status and date."""

from __future__ import annotations

import datetime as dt

from bot.engine.ports import MilestoneInfo
from bot.engine.turn import Turn
from bot.flows import menu
from bot.i18n import TIMEZONE

# A milestone's line by status: with its target date still to come (or today), with it
# passed, and with no date. A status other than these reads as planned.
_LINES = {
    "planned": (
        "timeline.item.planned",
        "timeline.item.planned_passed",
        "timeline.item.planned_nodate",
    ),
    "in_progress": (
        "timeline.item.in_progress",
        "timeline.item.in_progress_passed",
        "timeline.item.in_progress_nodate",
    ),
    "delayed": (
        "timeline.item.delayed_ahead",
        "timeline.item.delayed",
        "timeline.item.delayed_nodate",
    ),
}


def _item(turn: Turn, milestone: MilestoneInfo, today: dt.date) -> list[str]:
    """Render one milestone as one or two lines (`Turn.text_of` writes the date out), in the
    tense its target date takes against `today`; a delayed one adds its reason."""
    title = milestone.title
    if milestone.status == "done":
        return [turn.text_of("timeline.item.done", title=title)]
    ahead, passed, undated = _LINES.get(milestone.status, _LINES["planned"])
    date = milestone.target_date
    if date is None:
        lines = [turn.text_of(undated, title=title)]
    else:
        lines = [turn.text_of(passed if date < today else ahead, title=title, date=date)]
    if milestone.status == "delayed" and milestone.note.strip():
        lines.append(turn.text_of("timeline.item.reason", note=milestone.note.strip()))
    return lines


def show(turn: Turn) -> None:
    """Show the settlement's milestones by strand, or explain the five strands."""
    info = turn.settlement()
    if info is None:
        turn.say("menu.no_settlement")
        menu.back_hint(turn)
        return
    strands: list[str] = list(turn.content.fact("strands"))
    milestones = turn.ports.settlements.milestones(info.id)
    turn.say("timeline.heading", settlement=info.name)
    if info.current_phase.strip():
        turn.say("timeline.current_phase", phase=info.current_phase.strip())
    if not milestones:
        turn.say("timeline.none", settlement=info.name)
        lines = [turn.text_of("timeline.process")]
        lines += [turn.text_of(f"strand.{strand}.about") for strand in strands]
        turn.parts.append("\n".join(lines))
    today = turn.now.astimezone(TIMEZONE).date()
    for strand in strands:
        group = [m for m in milestones if m.strand == strand]
        if not group:
            continue
        lines = [turn.text_of(f"strand.{strand}.name")]
        for milestone in group:
            lines += _item(turn, milestone, today)
        turn.parts.append("\n".join(lines))
    turn.say("timeline.footer")
    menu.back_hint(turn)
