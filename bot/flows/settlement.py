"""Which settlement the resident lives in: fuzzy matching on names and aliases; and the
answer to the notice that a settlements import linked them to the name they had typed.

That notice (`linked_notice`, sent through the outbox) ends "Send 1 to learn its category,
or 7 if it is not your settlement". Like a meeting reminder or a report's "fixed?"
question, it is answered when it reached the resident since they last wrote and they are
between flows (the main menu, the list of reports, a report's view: the notice is the
newer question on the screen, so its 1 is no report in the list, no "yes, fixed" and no
"add more"), and at the settlement question, which the notice answered (a bare number is
no name there). 1 shows the category (menu option 1), 7 asks for the settlement again
(option 7). A 1 goes to the newest question: after a later reminder or "fixed?" question
it answers that. Inside other flows a number keeps its meaning (a report's draft is
never set aside by a notice): the resident sends 1 again from the menu.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from rapidfuzz import fuzz, process

from bot.content import Content
from bot.engine.effects import RecordUnknownSettlement, SetSettlement
from bot.engine.ports import SettlementRef, Translator
from bot.engine.turn import SETTLEMENT, SETTLEMENT_CHOICE, Turn
from bot.flows import menu
from bot.names import fold

# Text and names are folded (no case, accents or punctuation) and compared with
# rapidfuzz's ratio, never its partial scores: WRatio scores any fragment ("ok", "Park")
# about 90. The text *is* a name when it equals it (spaces aside), or is a clear typo of
# the whole name: the whole scores at least SURE and each word agrees with the name's word
# in the same place (equal; longer words without digits within WORD_TYPO). It is saved
# when no other settlement comes within MARGIN. A settlement is otherwise offered as a
# numbered choice when the text shares a real word with one of its names (the same number,
# the same word of at least MIN_WORD letters, the start of one from MIN_PREFIX letters, or
# a typo of one); it scores the share of letters in the shared words, and choices within
# CLOSE of the best are offered. Anything else matched nothing: the name is recorded for
# officers. Before all this, both sides are folded (`bot.names.fold`): "Ext" is
# "Extension", "Ext2" is "Ext 2", and "informal settlement" is left out; a number
# (NUMBER_LETTERS) weighs as a short word. A place word ("Park", "Camp": _PLACE_WORDS) is
# shared only when the text has no other word.
SURE = 85.0
MARGIN = 8.0
WORD_TYPO = 80.0
CLOSE = 15.0
MIN_WORD = 3
MIN_PREFIX = 4
NUMBER_LETTERS = 4
MAX_CHOICES = 5
MAX_QUERY = 100
# The kind of place a name ends in: shared alone ("Phola Park", "Lindokuhle Park") it
# makes no settlement a choice, unless the text has no other word. Unlike the generic words
# `fold` leaves out ("informal") they stay in the names, so "Sunrise Park" is not taken to
# be Sunrise Camp without asking.
_PLACE_WORDS = frozenset(
    {
        "park",
        "camp",
        "view",
        "heights",
        "gardens",
        "garden",
        "village",
        "valley",
        "farm",
        "hill",
        "hills",
        "flats",
        "kamp",
        "plaas",
        "dorp",
    }
)


@dataclass(frozen=True)
class Match:
    """A settlement and how closely the resident's text matched one of its names (0-100)."""

    ref: SettlementRef
    score: float
    whole: bool = False  # the text is that name, or a clear typo of the whole of it


def _agree(word: str, other: str) -> bool:
    """Return whether two words are the same, allowing a typo in a longer word."""
    if word == other:
        return True
    if min(len(word), len(other)) < MIN_PREFIX or not (word + other).isalpha():
        return False  # short words and numbers must be exact: "Ext 7" is not "Ext 2"
    return fuzz.ratio(word, other) >= WORD_TYPO


def _shared_words(words: list[str], vocabulary: list[str]) -> dict[str, dict[str, float]]:
    """Map each word of the text to the name words it shares letters with, and how many."""
    # Shared: the same word, a word it starts, or a typo of it. The vocabulary is sorted,
    # so the words a word starts follow it.
    found: dict[str, dict[str, float]] = {}
    telling = [word for word in words if word not in _PLACE_WORDS]
    for word in set(telling or words):
        if len(word) < MIN_WORD and not word.isdecimal():  # "2" tells "Ext 2" from "Ext 7"
            continue
        letters: dict[str, float] = {}
        at = bisect_left(vocabulary, word)
        for other in islice(vocabulary, at, None):
            if other != word and (len(word) < MIN_PREFIX or not other.startswith(word)):
                break
            letters[other] = float(_letters(word))
        hits = process.extract_iter(word, vocabulary, scorer=fuzz.ratio, score_cutoff=WORD_TYPO)
        for other, score, _ in hits:
            if _agree(word, other):
                # ratio is 2 * matching letters / both lengths.
                letters.setdefault(other, score * (len(word) + len(other)) / 200)
        if letters:
            found[word] = letters
    return found


def _compare(
    words: list[str], name: str, shared: dict[str, dict[str, float]]
) -> tuple[float, bool]:
    """Return how closely the text's words match one name (0-100), and whether it is it."""
    name_words = name.split()
    text, joined = "".join(words), "".join(name_words)
    if text == joined:
        return 100.0, True
    whole = fuzz.ratio(text, joined, score_cutoff=SURE)  # 0 below SURE
    if whole and len(words) == len(name_words) and all(map(_agree, words, name_words)):
        return whole, True
    letters = sum(
        max(shared[word].get(other, 0.0) for other in name_words)
        for word in words
        if word in shared
    )
    score = 200 * letters / (sum(map(_letters, words)) + sum(map(_letters, name_words)))
    if len(text) >= MIN_PREFIX and _numbers(words) == _numbers(name_words):
        score = max(score, whole)  # the words run together: "ubuhlegardns"
    return score, False


def _letters(word: str) -> int:
    """Return how much a word weighs in a match: its letters; a number, which tells
    "Ext 2" from "Ext 7", weighs as much as a short word."""
    return max(len(word), NUMBER_LETTERS) if word.isdecimal() else len(word)


def _numbers(words: list[str]) -> set[str]:
    return {word for word in words if word.isdecimal()}


def rank(query: str, candidates: list[SettlementRef]) -> list[Match]:
    """Return settlements that could be meant by the text, best first."""
    words = fold(query).split()
    if not words:
        return []
    named = [
        (ref, [folded for folded in map(fold, (ref.name, *ref.aliases)) if folded])
        for ref in candidates
    ]
    vocabulary = sorted({word for _, names in named for name in names for word in name.split()})
    shared = _shared_words(words, vocabulary)
    matches = []
    for ref, names in named:
        compared = (_compare(words, name, shared) for name in names)
        score, whole = max(compared, default=(0.0, False))
        if score > 0:
            matches.append(Match(ref, score, whole))
    matches.sort(key=lambda m: (-m.score, m.ref.name))
    return matches


def resolve(
    query: str, candidates: list[SettlementRef]
) -> tuple[SettlementRef | None, list[Match]]:
    """Return (the settlement meant, None) or (None, the choices to offer; maybe none)."""
    matches = rank(query, candidates)
    if not matches:
        return None, []
    exact = [m for m in matches if m.whole and m.score == 100.0]
    if len(exact) == 1:
        return exact[0].ref, []
    best = matches[0]
    runner_up = matches[1].score if len(matches) > 1 else 0.0
    if best.whole and best.score - runner_up >= MARGIN:
        return best.ref, []
    close = [m for m in matches if m.score >= best.score - CLOSE]
    return None, close[:MAX_CHOICES]


def ask(turn: Turn) -> None:
    """Ask which settlement the resident lives in."""
    turn.say("settlement.ask")
    turn.goto(SETTLEMENT)


def on_name(turn: Turn) -> None:
    """Match the settlement name the resident sent."""
    query = turn.text[:MAX_QUERY]
    if _not_a_name(turn) or turn.norm.isdecimal():
        # A bare number is a menu habit, and "ok", "yes", "thanks" or "Aa" (hello) an
        # answer or a greeting, not a name; 0 or MENU leaves this question.
        turn.say("settlement.empty")
        return
    found, choices = resolve(query, turn.ports.settlements.candidates())
    if found is not None:
        save(turn, found.id)
    elif choices:
        offer(turn, query, [m.ref for m in choices])
    elif (option := menu.chosen_option(turn)) is not None:
        # No settlement is called that, but a menu option is ("meetings"): the resident
        # has moved on, keeping the settlement they had; nothing is recorded for officers.
        menu.open_option(turn, option)
    else:
        not_found(turn, query)


def offer(turn: Turn, query: str, refs: list[SettlementRef]) -> None:
    """List close matches as numbered choices (maybe only one), then a choice for none."""
    lines = []
    for number, ref in enumerate(refs, start=1):
        info = turn.ports.settlements.get(ref.id)
        if info is not None and info.ward:
            lines.append(
                turn.text_of(
                    "settlement.choice_line_ward",
                    number=number,
                    settlement=ref.name,
                    ward=info.ward,
                )
            )
        else:
            lines.append(turn.text_of("settlement.choice_line", number=number, settlement=ref.name))
    lines.append(turn.text_of("settlement.choice_none", number=len(refs) + 1))
    prompt = "settlement.choose" if len(refs) > 1 else "settlement.choose_one"
    turn.say(prompt, choices="\n".join(lines))
    turn.goto(SETTLEMENT_CHOICE, choices=[ref.id for ref in refs], query=query)


def on_choice(turn: Turn) -> None:
    """Take a numbered choice, or treat other text as a new settlement name."""
    choices = [int(c) for c in turn.data.get("choices", [])]
    query = str(turn.data.get("query", ""))
    if turn.norm.isdecimal():
        number = int(turn.norm)
        if 1 <= number <= len(choices):
            save(turn, choices[number - 1])
            return
        if number == len(choices) + 1:
            not_found(turn, query)
            return
        turn.say("settlement.choice_retry")
        return
    if _not_a_name(turn):  # "ok": which one?
        turn.say("settlement.choice_retry")
        return
    on_name(turn)


def _not_a_name(turn: Turn) -> bool:
    """Return whether the message is no settlement's name: empty (an emoji, a sticker), a
    yes or no, thanks, or a greeting ("Aa", "Lotjha")."""
    return (
        not turn.norm
        or turn.norm in turn.content.answers
        or turn.norm in turn.content.thanks_words
        or menu.is_greeting(turn)
    )


def save(turn: Turn, settlement_id: int) -> None:
    """Remember the settlement and show the main menu."""
    turn.emit(SetSettlement(settlement_id))
    info = turn.settlement()
    if info is not None:
        turn.say("settlement.saved", settlement=info.name)
    menu.show(turn)


def not_found(turn: Turn, query: str) -> None:
    """Say the name matched nothing, keep it for officers, and carry on without one."""
    if query:
        turn.emit(RecordUnknownSettlement(query))
    if turn.settlement_id is not None:
        turn.emit(SetSettlement(None))
    turn.say("settlement.not_found", text=query)
    menu.show(turn)


def linked_notice(content: Content, translator: Translator, *, settlement: str) -> str:
    """Render what a resident is told, through the outbox, when the name they typed (which
    `not_found` passed on) becomes `settlement`'s and they are linked to it."""
    return content.render("settlement.linked", translator, settlement=settlement)


def linked_reply(
    turn: Turn, *, last_seen: datetime | None, between_flows: bool
) -> Callable[[Turn], None] | None:
    """Return the handler for 1 or 7 answering the notice that the resident was linked to a
    settlement, when it reached them since they last wrote (see the module docstring)."""
    if turn.norm not in ("1", "7") or turn.settlement_id is None:
        return None
    if not between_flows and turn.step not in (SETTLEMENT, SETTLEMENT_CHOICE):
        return None
    phone = turn.resident.phone
    told_at = turn.ports.settlements.linked_notice_at(phone, since=last_seen)
    if told_at is None:
        return None
    if turn.norm == "1" and (
        turn.ports.tickets.awaiting_answer(phone, since=told_at) is not None
        or turn.ports.invitations.pending(phone, since=told_at, now=turn.now)
    ):
        return None  # a question that came after the notice asks for a 1 too: it is answered
    option = menu.CATEGORY if turn.norm == "1" else menu.CHANGE_SETTLEMENT
    return lambda t: menu.open_option(t, option)
