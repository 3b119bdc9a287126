"""Options 5 and 6: reporting a problem and seeing one's reports (tickets arrive later)."""

from __future__ import annotations

from bot.engine.turn import Turn
from bot.flows import menu


def report(turn: Turn) -> None:
    """Say honestly that reporting is coming soon."""
    turn.say("report.coming_soon")
    menu.back_hint(turn)


def my_reports(turn: Turn) -> None:
    """Say honestly that seeing one's reports is coming soon."""
    turn.say("my_reports.coming_soon")
    menu.back_hint(turn)
