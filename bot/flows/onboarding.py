"""First contact: choose a language, agree to the privacy notice, name the settlement."""

from __future__ import annotations

from bot.content import normalise
from bot.engine.effects import EraseResident, RecordConsent, SetLanguage
from bot.engine.turn import CONSENT, LANGUAGE, Turn
from bot.flows import menu, settlement


def resume(turn: Turn) -> None:
    """Continue where the resident is: language, then consent, then the main menu."""
    if turn.language is None:
        show_language_menu(turn)
    elif not turn.consented:
        show_consent(turn)
    else:
        menu.show(turn)


def show_language_menu(turn: Turn) -> None:
    """Offer the languages, numbered and each named in itself."""
    turn.say("onboarding.language_menu")
    turn.goto(LANGUAGE)


def chosen_language(turn: Turn) -> str | None:
    """Return the language code the message picks, by number or by name."""
    languages = turn.content.languages
    if turn.norm.isdigit():
        number = int(turn.norm)
        return languages[number - 1].code if 1 <= number <= len(languages) else None
    for language in languages:
        names = (language.code, language.name, *language.words)
        if turn.norm in {normalise(name) for name in names}:
            return language.code
    return None


def on_language(turn: Turn) -> None:
    """Take the resident's choice of language."""
    code = chosen_language(turn)
    if code is None:
        turn.say("onboarding.language_retry")
        show_language_menu(turn)
        return
    turn.emit(SetLanguage(code))
    if not turn.consented:
        show_consent(turn)
        return
    language = turn.content.language(code)
    turn.say("language.changed", language=language.name if language else code)
    menu.show(turn)


def show_consent(turn: Turn) -> None:
    """Show the privacy notice and ask the resident to agree."""
    turn.say("privacy.notice")
    turn.say("onboarding.consent_prompt")
    turn.goto(CONSENT)


def on_consent(turn: Turn) -> None:
    """Record consent and ask for the settlement, or forget a resident who declines."""
    answer = {"1": "yes", "2": "no"}.get(turn.norm) or turn.content.answers.get(turn.norm)
    if answer == "yes":
        turn.emit(
            RecordConsent(
                channel=turn.inbound.channel,
                notice_version=str(turn.content.fact("notice_version")),
            )
        )
        turn.say("onboarding.consent_thanks")
        settlement.ask(turn)
    elif answer == "no":
        turn.emit(EraseResident())
        turn.say("onboarding.consent_declined")
    else:
        turn.say("onboarding.consent_retry")
