"""Option 3: how to get onto the housing list and keep one's details up to date."""

from __future__ import annotations

from bot.engine.turn import Turn
from bot.flows import menu


def show(turn: Turn) -> None:
    """Explain the housing list: where to go, what to bring, how to stay on it."""
    turn.say("housing.body")
    info = turn.settlement()
    if info is not None and info.municipality:
        turn.say("housing.where", municipality=info.municipality)
    else:
        turn.say("housing.where_unknown")
    turn.say("housing.bring")
    turn.say("housing.update")
    turn.say("housing.policy")
    turn.say("housing.ask")
    menu.back_hint(turn)
