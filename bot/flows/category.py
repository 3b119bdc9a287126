"""Option 1: the settlement's category, what it means, and how residents take part."""

from __future__ import annotations

from bot.engine.turn import Turn
from bot.flows import menu

BODIES = {
    "A": "category.a.body",
    "B1": "category.b1.body",
    "B2": "category.b2.body",
    "C": "category.c.body",
}


def show(turn: Turn) -> None:
    """Explain the settlement's category, or the assessment when it has none yet."""
    info = turn.settlement()
    if info is None:
        turn.say("menu.no_settlement")
        menu.back_hint(turn)
        return
    body = BODIES.get(info.category or "", "category.unassessed.body")
    turn.say(body, settlement=info.name)
    if info.category_note.strip():
        turn.say("category.note", note=info.category_note.strip())
    turn.say("category.get_involved")
    menu.back_hint(turn)
