"""Option 2: the upgrading timeline, milestones grouped by strand with status and date."""

from __future__ import annotations

from bot.engine.ports import MilestoneInfo
from bot.engine.turn import Turn
from bot.flows import menu


def _item(turn: Turn, milestone: MilestoneInfo) -> list[str]:
    """Render one milestone as one or two lines (`Turn.text_of` writes the date out)."""
    date = milestone.target_date
    title = milestone.title
    if milestone.status == "done":
        return [turn.text_of("timeline.item.done", title=title)]
    if milestone.status == "delayed":
        lines = [
            turn.text_of("timeline.item.delayed", title=title, date=date)
            if date
            else turn.text_of("timeline.item.delayed_nodate", title=title)
        ]
        if milestone.note.strip():
            lines.append(turn.text_of("timeline.item.reason", note=milestone.note.strip()))
        return lines
    if milestone.status == "in_progress":
        return [
            turn.text_of("timeline.item.in_progress", title=title, date=date)
            if date
            else turn.text_of("timeline.item.in_progress_nodate", title=title)
        ]
    return [
        turn.text_of("timeline.item.planned", title=title, date=date)
        if date
        else turn.text_of("timeline.item.planned_nodate", title=title)
    ]


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
    for strand in strands:
        group = [m for m in milestones if m.strand == strand]
        if not group:
            continue
        lines = [turn.text_of(f"strand.{strand}.name")]
        for milestone in group:
            lines += _item(turn, milestone)
        turn.parts.append("\n".join(lines))
    turn.say("timeline.footer")
    menu.back_hint(turn)
