"""`handle`: one inbound message in, replies + next state + effects out.

Order of precedence for a message:
1. An opted-out resident: START (and YES on SMS, as Twilio does) opts back in; MY DATA
   and DELETE (and its confirmation) still work; anything else gets a one-line reminder
   and nothing more.
2. Keywords, in any supported language, whatever the resident chose: MENU/0, HELP,
   LANGUAGE, STOP, START, MY DATA, DELETE, MORE.
3. A new resident (or one without a language or consent) continues onboarding.
3a. STATUS <report number> (or STATUS alone); and, between flows, 1/2 (yes/no) answering a
   report's "fixed?" question asked since the resident last wrote (bot/flows/reports.py).
4. After IDLE_AFTER without messages an onboarded resident lands on the main menu with a
   short welcome back; a main menu option sent as that first message is answered at once.
5. Otherwise the current step's flow answers.

State (JSON, kept by the domain per resident): `{"step": str, "last_seen": ISO-8601 UTC,
"pages": [str, ...] (replies not yet sent, for MORE), "data": {...} (step-specific:
settlement `choices` and the `query` typed)}`. Missing or malformed state is treated as a
fresh conversation; an erased resident gets `{}`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.content import Content, load
from bot.engine.effects import Effect
from bot.engine.messages import Inbound
from bot.engine.ports import Ports, ResidentView
from bot.engine.render import for_channel
from bot.engine.turn import (
    CONSENT,
    DEFAULT_LANGUAGE,
    DELETE_CONFIRM,
    LANGUAGE,
    MENU,
    MY_REPORTS,
    REPORT_CATEGORY,
    REPORT_CHANGE,
    REPORT_CONFIRM,
    REPORT_DESCRIBE,
    REPORT_KIND,
    REPORT_WHERE,
    SETTLEMENT,
    SETTLEMENT_CHOICE,
    STEPS,
    TICKET_ADD,
    TICKET_NOT_FIXED,
    TICKET_VIEW,
    Turn,
)
from bot.flows import account, meetings, menu, onboarding, report, reports, settlement

log = logging.getLogger(__name__)

IDLE_AFTER = timedelta(minutes=30)
PAGE_JOINER = "\n\n"

STEP_FLOWS: dict[str, Callable[[Turn], None]] = {
    LANGUAGE: onboarding.on_language,
    CONSENT: onboarding.on_consent,
    SETTLEMENT: settlement.on_name,
    SETTLEMENT_CHOICE: settlement.on_choice,
    MENU: menu.on_menu,
    DELETE_CONFIRM: account.on_delete_confirm,
    REPORT_KIND: report.on_kind,
    REPORT_CATEGORY: report.on_category,
    REPORT_DESCRIBE: report.on_describe,
    REPORT_WHERE: report.on_where,
    REPORT_CONFIRM: report.on_confirm,
    REPORT_CHANGE: report.on_change,
    MY_REPORTS: reports.on_my_reports,
    TICKET_VIEW: reports.on_view,
    TICKET_ADD: reports.on_add,
    TICKET_NOT_FIXED: reports.on_not_fixed,
}

KEYWORD_FLOWS: dict[str, Callable[[Turn], None]] = {
    "menu": account.to_menu,
    "help": account.help_,
    "language": account.language,
    "stop": account.stop,
    "start": account.start,
    "my_data": account.my_data,
    "delete": account.delete,
}

# What an opted-out resident can still do.
OPTED_OUT_KEYWORDS = frozenset({"start", "my_data", "delete"})


@dataclass(frozen=True)
class Outcome:
    """What one inbound message leads to."""

    replies: list[str]
    state: dict[str, Any]
    effects: list[Effect] = field(default_factory=list)


def _read_state(
    state: dict[str, Any] | None,
) -> tuple[str | None, dict[str, Any], list[str], datetime | None]:
    """Return (step, data, pages, last_seen) from stored state, tolerating junk."""
    if not isinstance(state, dict):
        return None, {}, [], None
    step = state.get("step")
    step = step if step in STEPS else None
    data = state.get("data")
    data = data if isinstance(data, dict) else {}
    pages = state.get("pages")
    pages = [p for p in pages if isinstance(p, str)] if isinstance(pages, list) else []
    last_seen = None
    raw = state.get("last_seen")
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            last_seen = parsed
    return step, data, pages, last_seen


def _state(step: str, data: dict[str, Any], pages: list[str], now: datetime) -> dict[str, Any]:
    """Build the state to store after a turn."""
    state: dict[str, Any] = {"step": step, "last_seen": now.isoformat()}
    if data:
        state["data"] = data
    if pages:
        state["pages"] = pages
    return state


def _converse(
    inbound: Inbound,
    resident: ResidentView,
    state: dict[str, Any] | None,
    now: datetime,
    ports: Ports,
    content: Content,
) -> Outcome:
    """Run the flows for one message (see the module docstring for the precedence)."""
    step, data, pages, last_seen = _read_state(state)
    language = resident.language
    turn = Turn(
        inbound=inbound,
        resident=resident,
        now=now,
        ports=ports,
        content=content,
        translator=ports.translator_for(language or DEFAULT_LANGUAGE),
        step=step or MENU,
        data=data,
        language=language,
        consented=resident.consented,
        opted_out=resident.opted_out,
        settlement_id=resident.settlement_id,
    )
    keyword = content.keywords.get(turn.norm)
    if resident.opted_out and inbound.channel == "sms" and turn.norm == "yes":
        keyword = "start"  # Twilio unblocks an SMS number on YES, so we opt in too
    if keyword == "more" and not pages and (resident.is_new or language is None):
        keyword = None  # a newcomer's "Môre" (Afrikaans: morning) is a greeting, not MORE
    idle = last_seen is not None and now - last_seen > IDLE_AFTER

    if keyword == "more" and not resident.opted_out:
        if pages:
            return Outcome(replies=[pages[0]], state=_state(turn.step, data, pages[1:], now))
        turn.say("more.none")
    elif resident.opted_out and keyword not in OPTED_OUT_KEYWORDS:
        if step == DELETE_CONFIRM and keyword is None:
            account.on_delete_confirm(turn)
        else:
            account.still_opted_out(turn)
    elif keyword is not None and keyword in KEYWORD_FLOWS:
        KEYWORD_FLOWS[keyword](turn)
        if turn.step == DELETE_CONFIRM and keyword != "delete":
            turn.goto(MENU)  # any other keyword abandons a pending DELETE
    elif step == DELETE_CONFIRM:
        account.on_delete_confirm(turn)
    elif resident.is_new or turn.language is None:
        if step == LANGUAGE and not resident.is_new:
            onboarding.on_language(turn)
        else:
            onboarding.show_language_menu(turn)
    elif not turn.consented:
        if step == CONSENT:
            onboarding.on_consent(turn)
        else:
            onboarding.show_consent(turn)
    elif (
        anytime := reports.anytime(
            turn, last_seen=last_seen, between_flows=idle or step in (None, MENU)
        )
    ) is not None:
        anytime(turn)
    elif (
        attend := meetings.attend_reply(
            turn, last_seen=last_seen, between_flows=idle or step in (None, MENU)
        )
    ) is not None:
        attend(turn)
    elif idle or step is None:
        option = menu.chosen_option(turn)
        if option is None:
            menu.show(turn, welcome_back=True)
        else:
            turn.say("menu.welcome_back")
            menu.open_option(turn, option)
    else:
        STEP_FLOWS[turn.step](turn)

    replies = _render(turn, inbound)
    if turn.erased:
        return Outcome(replies=replies[:1], state={}, effects=list(turn.effects))
    return Outcome(
        replies=replies[:1],
        state=_state(turn.step, turn.data, replies[1:], now),
        effects=list(turn.effects),
    )


def _render(turn: Turn, inbound: Inbound) -> list[str]:
    """Join the turn's parts into one reply and page it for the channel."""
    if not turn.parts:  # never silence
        turn.say("menu.not_understood")
    text = PAGE_JOINER.join(turn.parts)
    hint = turn.text_of("more.hint")
    return for_channel(text, inbound.channel, more_hint=hint)


def handle(
    inbound: Inbound,
    *,
    resident: ResidentView,
    state: dict[str, Any] | None,
    now: datetime,
    ports: Ports,
) -> Outcome:
    """Answer one inbound message: the replies to send, the next state, the effects."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    content = load()
    try:
        return _converse(inbound, resident, state, now, ports, content)
    except Exception:
        # Never leave a resident without an answer; the error is logged for us to fix.
        log.exception("conversation failed for message %s", inbound.message_id)
        translator = ports.translator_for(DEFAULT_LANGUAGE)
        try:
            translator = ports.translator_for(resident.language or DEFAULT_LANGUAGE)
        except Exception:  # fall back to English
            log.exception("no translator for %s", resident.language)
        text = content.render("error.sorry", translator)
        return Outcome(
            replies=[text],
            state=_state(MENU, {}, [], now) if resident.consented else {},
            effects=[],
        )
