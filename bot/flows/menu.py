"""The main menu: the same numbers in every language and channel, and words for each."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from bot.content import Content, normalise
from bot.engine.turn import MENU, Turn

# Option numbers are a public promise ("send 4 for meetings"): never renumber them.
CATEGORY = 1
TIMELINE = 2
HOUSING = 3
MEETINGS = 4
REPORT = 5
MY_REPORTS = 6
CHANGE_SETTLEMENT = 7
LANGUAGE = 8
OPTIONS = (CATEGORY, TIMELINE, HOUSING, MEETINGS, REPORT, MY_REPORTS, CHANGE_SETTLEMENT, LANGUAGE)


def show(turn: Turn, *, welcome_back: bool = False) -> None:
    """Show the main menu."""
    if welcome_back:
        turn.say("menu.welcome_back")
    turn.say("menu.main")
    turn.goto(MENU)


def chosen_option(turn: Turn) -> int | None:
    """Return the main menu option the message picks: by number, by word, or by its label
    as the menu shows it in the resident's language ("Uluhlu lwezindlu")."""
    if turn.norm.isdecimal():
        number = int(turn.norm)
        return number if number in OPTIONS else None
    option = turn.content.menu_words.get(turn.norm)
    if option is None:
        option = _labels(turn.text_of("menu.main")).get(turn.norm)
    return option


@lru_cache(maxsize=32)
def _labels(menu: str) -> dict[str, int]:
    """Map each option's label in a rendered main menu ("3 Housing list") to its number."""
    labels = {}
    for line in menu.splitlines():
        number, _, label = line.partition(" ")
        if number.isdecimal() and int(number) in OPTIONS and normalise(label):
            labels[normalise(label)] = int(number)
    return labels


def _handlers() -> dict[int, Callable[[Turn], None]]:
    # Imported here because the option flows import this module for `show`.
    from bot.flows import (
        category,
        housing,
        meetings,
        onboarding,
        report,
        reports,
        settlement,
        timeline,
    )

    return {
        CATEGORY: category.show,
        TIMELINE: timeline.show,
        HOUSING: housing.show,
        MEETINGS: meetings.show,
        REPORT: report.start,
        MY_REPORTS: reports.my_reports,
        CHANGE_SETTLEMENT: settlement.ask,
        LANGUAGE: onboarding.show_language_menu,
    }


def open_option(turn: Turn, option: int) -> None:
    """Answer one main menu option."""
    turn.goto(MENU)
    _handlers()[option](turn)


def on_menu(turn: Turn, *, welcome_back: bool = False) -> None:
    """Answer a message sent while the main menu is current (words, a photo or a pin that
    pick no option answer staff, when a report waits on the resident: `reports.wait_answer`).
    `welcome_back`: the resident comes back after a while (or to no conversation at all): an
    option is answered after a welcome back, and what picks none shows the menu with one
    instead of a pointer to it."""
    from bot.flows import reports  # here: reports imports this module for `back_hint`

    option = chosen_option(turn)
    if option is not None:
        if welcome_back:
            turn.say("menu.welcome_back")
        open_option(turn, option)
    elif (answer := reports.wait_answer(turn)) is not None:
        answer(turn)  # the answer staff asked for (perhaps while they were away)
    elif (turn.inbound.media or turn.inbound.location) and not welcome_back:
        turn.say("menu.media_only")  # a captioned photo too
    elif turn.content.is_thanks(turn.text):
        turn.say("menu.thanks")  # to a staff reply, mostly
    elif welcome_back or is_greeting(turn):
        show(turn, welcome_back=welcome_back)
    else:
        turn.say("menu.not_understood")


def greetings(content: Content) -> dict[str, tuple[str, ...]]:
    """Return each language's greetings (`language_greetings` in content/languages.yaml),
    folded as messages are."""
    return {
        str(code): tuple(word for word in (normalise(str(g)) for g in words) if word)
        for code, words in dict(content.fact("language_greetings")).items()
    }


def is_greeting(turn: Turn) -> bool:
    """Return whether the message is only a greeting, in any language ("Aa", "Lotjha",
    "Goeie more"); the commonest are MENU keywords as well. Asked only of messages nothing
    else understood."""
    return any(turn.norm in words for words in greetings(turn.content).values())


def back_hint(turn: Turn) -> None:
    """End a section with the way back to the main menu."""
    turn.say("menu.back_hint")
