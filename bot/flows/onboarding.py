"""First contact: choose a language, agree to the privacy notice, name the settlement.

The language menu numbers the languages of `content/languages.yaml` in file order, so a
language's number never changes. It lists English and every language whose catalog
translates all the messages named by `language_offer_requires` (the menu grows as the
catalogs fill; a language not yet offered leaves its number unused). On first contact a
greeting ("Sawubona", "Dumela", "Goeie more"...) puts a line such as "Reply 3 for isiZulu",
written in that language, above the menu; the numbers stay the same and the resident
still chooses.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from pathlib import Path

from bot.content import Content, Language, normalise
from bot.engine.effects import EraseResident, RecordConsent, SetLanguage
from bot.engine.ports import Translator, has_translation
from bot.engine.turn import CONSENT, DEFAULT_LANGUAGE, LANGUAGE, Turn
from bot.flows import menu, settlement
from bot.i18n import offer_required_ids


def resume(turn: Turn) -> None:
    """Continue where the resident is: language, then consent, then the main menu."""
    if turn.language is None:
        show_language_menu(turn)
    elif not turn.consented:
        show_consent(turn)
    else:
        menu.show(turn)


_REQUIRED_IDS: dict[Path, list[str]] = {}


def required_ids(content: Content) -> list[str]:
    """Return the message ids a language must translate before the menu offers it."""
    # Content is parsed once per directory and never changes, so neither does this list;
    # working it out again on every language menu cost more than the rest of the turn.
    ids = _REQUIRED_IDS.get(content.directory)
    if ids is None:
        ids = _REQUIRED_IDS[content.directory] = offer_required_ids(
            {msg_id: message.text for msg_id, message in content.messages.items()},
            content.fact("language_offer_requires"),
        )
    return ids


# Per translator and content directory. Catalogs do not change under a translator (a
# reload makes new translators), so every language menu after the first is a lookup.
_MISSING: weakref.WeakKeyDictionary[Translator, dict[Path, list[str]]] = weakref.WeakKeyDictionary()


def missing_for_offer(content: Content, translator: Translator) -> list[str]:
    """Return the required message ids this translator does not translate yet."""
    known = _MISSING.setdefault(translator, {})
    if content.directory not in known:
        messages = content.messages
        known[content.directory] = [
            msg_id
            for msg_id in required_ids(content)
            if not has_translation(translator, msg_id, messages[msg_id].text)
        ]
    return list(known[content.directory])


def offered_languages(turn: Turn) -> list[tuple[int, Language]]:
    """Return the (number, language) pairs the language menu offers, in menu order."""
    offered = []
    for number, language in enumerate(turn.content.languages, 1):
        if language.code == DEFAULT_LANGUAGE or not missing_for_offer(
            turn.content, turn.ports.translator_for(language.code)
        ):
            offered.append((number, language))
    return offered


def greeted_languages(content: Content, text: str) -> list[str]:
    """Return the language codes a greeting such as "Sawubona!" hints at, in menu order."""
    norm = normalise(text)
    hinted = set()
    for code, words in menu.greetings(content).items():
        if any(norm == word or norm.startswith(word + " ") for word in words):
            hinted.add(code)
    return [language.code for language in content.languages if language.code in hinted]


def show_language_menu(turn: Turn) -> None:
    """Offer the languages, numbered and each named in itself, a greeted one first."""
    offered = offered_languages(turn)
    if turn.language is None:
        _suggest(turn, offered, greeted_languages(turn.content, turn.inbound.text))
    lines = [turn.text_of("onboarding.language_menu")]
    lines += [
        turn.text_of("onboarding.language_line", number=number, language=language.name)
        for number, language in offered
    ]
    turn.parts.append("\n".join(lines))
    turn.goto(LANGUAGE)


def _suggest(turn: Turn, offered: Iterable[tuple[int, Language]], codes: list[str]) -> None:
    """Put "Reply 3 for isiZulu", in isiZulu, above the menu for each greeted language."""
    lines = []
    for number, language in offered:
        if language.code in codes:
            translator = turn.ports.translator_for(language.code)
            lines.append(
                turn.content.render(
                    "onboarding.language_suggest", translator, number=number, language=language.name
                )
            )
    if lines:
        turn.parts.append("\n".join(lines))


def chosen_language(turn: Turn) -> str | None:
    """Return the offered language code the message picks, by number or by name."""
    offered = offered_languages(turn)
    if turn.norm.isdecimal():
        number = int(turn.norm)
        return next((language.code for n, language in offered if n == number), None)
    for _number, language in offered:
        names = (language.code, language.name, *language.words)
        if turn.norm in {normalise(name) for name in names}:
            return language.code
    return _named_among_words(turn.norm, offered)


def _named_among_words(norm: str, offered: Iterable[tuple[int, Language]]) -> str | None:
    """Return the one offered language a longer message names ("English please", "Ndifuna
    isiXhosa"); None when it names none or several. A name inside a longer one found too
    counts only as the longer ("Sesotho sa Leboa" is Sepedi, not Sesotho as well)."""
    padded = f" {norm} "
    found: dict[str, str] = {}
    for _number, language in offered:
        for name in {normalise(word) for word in (language.name, *language.words)}:
            if name and f" {name} " in padded:
                found[name] = language.code
    codes = {
        code
        for name, code in found.items()
        if not any(name != other and f" {name} " in f" {other} " for other in found)
    }
    return codes.pop() if len(codes) == 1 else None


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
