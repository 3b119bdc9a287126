"""Which settlement the resident lives in: fuzzy matching on names and aliases."""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz

from bot.content import normalise
from bot.engine.effects import RecordUnknownSettlement, SetSettlement
from bot.engine.ports import SettlementRef
from bot.engine.turn import SETTLEMENT, SETTLEMENT_CHOICE, Turn
from bot.flows import menu

# Scores are rapidfuzz WRatio (0-100) on folded text. A best match at or above SURE wins
# outright when no other settlement comes within MARGIN; anything at or above POSSIBLE
# is offered as a numbered choice; below that, nothing matched.
SURE = 86.0
MARGIN = 8.0
POSSIBLE = 70.0
MAX_CHOICES = 5
MAX_QUERY = 100


@dataclass(frozen=True)
class Match:
    """A settlement and how closely the resident's text matched one of its names."""

    ref: SettlementRef
    score: float


def rank(query: str, candidates: list[SettlementRef]) -> list[Match]:
    """Return settlements that could be meant by the text, best first."""
    folded = normalise(query)
    if not folded:
        return []
    matches = []
    for ref in candidates:
        names = [normalise(name) for name in (ref.name, *ref.aliases)]
        if folded in names:
            score = 100.0
        else:
            score = max((fuzz.WRatio(folded, name) for name in names if name), default=0.0)
        if score >= POSSIBLE:
            matches.append(Match(ref, score))
    matches.sort(key=lambda m: (-m.score, m.ref.name))
    return matches


def resolve(
    query: str, candidates: list[SettlementRef]
) -> tuple[SettlementRef | None, list[Match]]:
    """Return (the settlement meant, None) or (None, the choices to offer; maybe none)."""
    matches = rank(query, candidates)
    if not matches:
        return None, []
    best = matches[0]
    exact = [m for m in matches if m.score == 100.0]
    if len(exact) == 1:
        return best.ref, []
    runner_up = matches[1].score if len(matches) > 1 else 0.0
    if best.score >= SURE and best.score - runner_up >= MARGIN:
        return best.ref, []
    close = [m for m in matches if m.score >= best.score - 15.0]
    return None, close[:MAX_CHOICES]


def ask(turn: Turn) -> None:
    """Ask which settlement the resident lives in."""
    turn.say("settlement.ask")
    turn.goto(SETTLEMENT)


def on_name(turn: Turn) -> None:
    """Match the settlement name the resident sent."""
    query = turn.text[:MAX_QUERY]
    if not turn.norm or turn.norm.isdecimal():
        # A bare number is a menu habit, not a name; 0 or MENU leaves this question.
        turn.say("settlement.empty")
        return
    found, choices = resolve(query, turn.ports.settlements.candidates())
    if found is not None:
        save(turn, found.id)
    elif choices:
        offer(turn, query, [m.ref for m in choices])
    else:
        not_found(turn, query)


def offer(turn: Turn, query: str, refs: list[SettlementRef]) -> None:
    """List close matches as numbered choices, with a last choice for none of them."""
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
    turn.say("settlement.choose", choices="\n".join(lines))
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
    if not turn.norm:
        turn.say("settlement.choice_retry")
        return
    on_name(turn)


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
