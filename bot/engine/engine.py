"""`handle`: one inbound message in, replies + next state + effects out.

Order of precedence for a message:
1. An opted-out resident: START (and YES on SMS after a STOP sent by SMS, as Twilio does,
   except as the answer to a pending DELETE) opts back in; MY DATA and DELETE (and its
   confirmation) still work; anything else gets a one-line reminder and nothing more (a
   STOP by SMS after one by WhatsApp is recorded too, since Twilio now blocks the number).
2. MORE sends the next page of the last reply. With nothing left to send (or after
   IDLE_AFTER, when unsent pages expire) the word is taken as the greeting it also is
   (Afrikaans "Môre", good morning): the main menu, with a welcome back after idle; only
   inside a flow does it say there is nothing more, so the flow's step is kept.
3. Keywords, in any supported language, whatever the resident chose: MENU/0, HELP,
   LANGUAGE, STOP, START, MY DATA, DELETE (and, leaving a pending DELETE the same way,
   the words of 4a). Inside a flow a cancel word ("kanselleer",
   "khansela"...: `cancel_words` in content/keywords.yaml) is MENU/0. An opt-out word
   wins over any flow: English CANCEL (one of Twilio's standard opt-out words) is STOP.
   A question mark at the end asks for the same keyword ("Help?"), except that "stop?"
   never opts out (`Content.keyword`). MENU after IDLE_AFTER (a greeting, mostly: "hi",
   "molo") gets the welcome back of 5 before the menu.
   One rule for a report being written, as HELP says these words work "at any time": every
   word that works at any time (these keywords, and STATUS and ATTEND of 4a) keeps it
   aside, never sent and never dropped. The reply ends saying, once, that it is not sent
   and that 5 carries on with it, where 5 is menu option 5 again (after the language
   chosen, the DELETE declined), and 5 (or the report word) resumes it at its step with
   its words, media and pin (`report.keep_draft`; kept in the state's "draft" for
   STEP_KEPT_FOR after it was kept, or until a day of silence sets everything pending
   aside; idle in between only adds a welcome back). HELP and MY DATA, which answer where
   they are sent, answer it at the menu, so that 5 then means the menu's 5 that HELP
   names, not a place or a category. The exceptions, and why:
   - 0 or a cancel word inside the report drops it: the report's own words for leaving it
     unsent ("0 if you do not want to send it"; "kanselleer" is what "0 to cancel" once
     said). MENU and greetings keep it: no report screen offers them as a way out.
   - STOP drops it, and one kept before: an opted-out resident gets no replies, so it could
     only come back on START, and privacy says keep less; English CANCEL, an opt-out word,
     was most likely meant for the report.
   - DELETE keeps it while the erase is asked; declined, it is still there, confirmed, it
     goes with everything else.
   - MORE is no such word: it sends the rest of the last reply, or says there is none and
     keeps the step (2).
4. A new resident (or one without a language or consent) continues onboarding.
4a. As HELP and a sent report's "Send STATUS {number} at any time" say: STATUS alone,
   STATUS with the number of one of the resident's own reports, and an attend word alone
   (the whole message: "Kom", not "Kom ons praat") answer at any step, keeping a report
   being written as the keywords of 3 do. STATUS with any other number
   is read only at the menu and while looking at reports (it says no such report of
   theirs); elsewhere it answers the question on the screen ("Stand 45" is a place).
   And, between flows, 1/2 (yes/no) answering a report's "fixed?" question or 1 (ATTEND)
   answering a meeting reminder received since the resident last wrote (one that asked:
   to a resident who already said they will come, it says so instead); a 1 goes to the
   one that reached the resident last (bot/flows/reports.py, bot/flows/meetings.py). With
   two or more meetings pending, the reply asks which (step ATTEND_WHICH) and records
   nothing yet; an attend word with none pending offers the meetings option 4 lists
   instead. Meetings the resident already said they will come to are not offered again
   (the reply says so when nothing else is left). The list of reports and a report's view
   count as between flows (`_between_flows`): the question that came after them is the
   newer one on the screen, so its 1 or 2 is no place in the list. So is the notice that
   a settlements import linked the resident to the name they typed: its 1 (category) or 7
   (change settlement), between flows and at the settlement question it answered, unless
   a newer question asks for the 1 (bot/flows/settlement.py).
5. After IDLE_AFTER without messages the next message gets a short welcome back. At the
   main menu it is followed by the menu, or by the option the message picks, and read as
   at the menu otherwise (`menu.on_menu`): words, a photo or a pin answer a staff question
   (added to the report waiting on the resident, `reports.wait_answer`), and thanks, for a
   staff reply that came meanwhile, gets "you are welcome" alone. Anywhere
   else the step is kept and the message answers it: the question is still the last
   thing on the resident's screen, so "1" under a report summary sends the report, "2"
   under numbered settlements picks the second, and a description or a settlement name
   typed slowly is kept, never read as a menu number. The exception is a pending DELETE:
   its "1" erases everything, so after idle the question is asked again, never answered.
   After STEP_KEPT_FOR (a day) the question is no longer on the screen: whatever was
   pending is set aside and the message is read at the main menu.
6. Otherwise the current step's flow answers.

State (JSON, kept by the domain per resident): `{"step": str, "last_seen": ISO-8601 UTC,
"more": str (the rest of the last reply, not yet sent, for MORE; paged for the channel
MORE arrives on), "data": {...} (step-specific: settlement `choices` and the `query`
typed), "draft": {"step", "data", "kept_at", "told"} (a report kept aside: 3, 4a)}`.
Missing or malformed state is treated as a fresh conversation; an erased
resident gets `{}`. States written before "more" kept a list of "pages" cut for one
channel; they are read back as text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from bot.content import Content, load, normalise
from bot.engine.effects import Effect
from bot.engine.messages import Inbound
from bot.engine.ports import Ports, ResidentView
from bot.engine.render import PAGE_JOINER, first_page, join_pages
from bot.engine.turn import (
    ATTEND_WHICH,
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
    REPORT_DRAFT_STEPS,
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
# How long after the last message the question on the screen is still answered (rule 5).
STEP_KEPT_FOR = timedelta(hours=24)


@cache
def _step_flows() -> dict[str, Callable[[Turn], None]]:
    """Return the flow that answers each step."""
    # Built on first use, not at import: the flows import `bot.engine` (turn, effects), so
    # a flow module imported first finds this module while it is itself half-loaded.
    return {
        LANGUAGE: onboarding.on_language,
        CONSENT: onboarding.on_consent,
        SETTLEMENT: settlement.on_name,
        SETTLEMENT_CHOICE: settlement.on_choice,
        MENU: menu.on_menu,
        DELETE_CONFIRM: account.on_delete_confirm,
        ATTEND_WHICH: meetings.on_which,
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


@cache
def _keyword_flows() -> dict[str, Callable[[Turn], None]]:
    """Return the flow that answers each keyword action (built on first use, as above)."""
    return {
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
) -> tuple[str | None, dict[str, Any], str, list[str], datetime | None]:
    """Return (step, data, more, old pages, last_seen) from stored state, tolerating junk."""
    if not isinstance(state, dict):
        return None, {}, "", [], None
    step = state.get("step")
    step = step if step in STEPS else None
    data = state.get("data")
    data = data if isinstance(data, dict) else {}
    more = state.get("more")
    more = more if isinstance(more, str) else ""
    pages = state.get("pages")
    pages = [p for p in pages if isinstance(p, str)] if isinstance(pages, list) else []
    return step, data, more, pages, _moment(state.get("last_seen"))


def _moment(raw: object) -> datetime | None:
    """Return a stored ISO-8601 moment, or None for junk or a time without a zone."""
    if not isinstance(raw, str):
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _kept_draft(state: dict[str, Any] | None, now: datetime) -> dict[str, Any] | None:
    """Return the report kept aside in stored state (bot/flows/report.py `keep_draft`), or
    None: none, junk, or kept longer than STEP_KEPT_FOR ago (dropped, never sent)."""
    raw = state.get("draft") if isinstance(state, dict) else None
    if not isinstance(raw, dict) or raw.get("step") not in REPORT_DRAFT_STEPS:
        return None
    kept_at = _moment(raw.get("kept_at"))
    if not isinstance(raw.get("data"), dict) or kept_at is None or now - kept_at > STEP_KEPT_FOR:
        return None
    return {**raw, "told": bool(raw.get("told"))}


def _state(
    step: str, data: dict[str, Any], more: str, now: datetime, draft: dict[str, Any] | None
) -> dict[str, Any]:
    """Build the state to store after a turn."""
    state: dict[str, Any] = {"step": step, "last_seen": now.isoformat()}
    if data:
        state["data"] = data
    if more:
        state["more"] = more
    if draft:
        state["draft"] = draft
    return state


def _cancels(turn: Turn, keyword: str | None) -> bool:
    """Return whether the message is a cancel word that, here, means MENU/0."""
    if turn.step in (MENU, LANGUAGE, CONSENT) or keyword == "stop":
        return False  # not inside a flow; an opt-out word wins over any flow
    words = turn.content.fact("cancel_words")
    return turn.norm in {normalise(w) for ws in words.values() for w in ws}


def _converse(
    inbound: Inbound,
    resident: ResidentView,
    state: dict[str, Any] | None,
    now: datetime,
    ports: Ports,
    content: Content,
) -> Outcome:
    """Run the flows for one message (see the module docstring for the precedence)."""
    step, data, more, old_pages, last_seen = _read_state(state)
    draft = _kept_draft(state, now)
    if (
        last_seen is not None
        and now - last_seen > STEP_KEPT_FOR
        and step not in (LANGUAGE, CONSENT)
    ):
        # Days later the question is no longer the last thing on the screen (updates and
        # broadcasts came since): what was pending is set aside, the main menu answers.
        step, data, draft = MENU, {}, None
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
        draft=draft,
        language=language,
        consented=resident.consented,
        opted_out=resident.opted_out,
        settlement_id=resident.settlement_id,
    )
    idle = last_seen is not None and now - last_seen > IDLE_AFTER
    if idle:
        more = ""  # unsent pages expire with the conversation: yesterday's page 2 is noise
    elif old_pages and not more:  # a state written before "more"
        more = join_pages(old_pages, more_hint=turn.text_of("more.hint"))
    keyword = content.keyword(inbound.text)
    # Twilio unblocks an SMS number on YES, so we opt in too, but only when the STOP came by
    # SMS: after a WhatsApp STOP Twilio blocked nothing, and a "Yes" texted to something
    # else is no request to start again. A YES to the DELETE question on the screen answers
    # it (once erased, there is nobody to opt in).
    sms_yes = (
        resident.opted_out
        and resident.opted_out_channel == "sms"
        and inbound.channel == "sms"
        and turn.norm == "yes"
    )
    if sms_yes and step != DELETE_CONFIRM:
        keyword = "start"
    if keyword == "more" and not more and (resident.is_new or language is None):
        keyword = None  # a newcomer's "Môre" (Afrikaans: morning) is a greeting, not MORE
    cancelled = _cancels(turn, keyword) or (keyword == "menu" and turn.norm == "0")
    if cancelled:
        keyword = "menu"

    if resident.opted_out and keyword not in OPTED_OUT_KEYWORDS:
        if step == DELETE_CONFIRM and keyword in (None, "menu"):  # "0" keeps everything
            _answer_delete(turn, idle=idle)
        elif keyword == "stop":
            account.stop_again(turn)
        else:
            account.still_opted_out(turn)
    elif keyword == "more":
        if more:
            hint = turn.text_of("more.hint")
            page, rest = first_page(more, inbound.channel, more_hint=hint)
            return Outcome(replies=[page], state=_state(turn.step, data, rest, now, draft))
        if idle or step in (None, MENU):  # "Môre!": good morning, a greeting like "hallo"
            if idle:
                turn.say("menu.welcome_back")
            account.to_menu(turn)
        else:
            turn.say("more.none")
    elif keyword is not None and keyword in _keyword_flows():
        if idle and keyword == "menu":  # "hi" after a while: the menu, with a welcome back
            turn.say("menu.welcome_back")
        if step == DELETE_CONFIRM and keyword not in ("delete", "menu"):  # MENU says so too
            turn.say("delete.cancelled")  # any other keyword abandons a pending DELETE
        _set_report_aside(turn, keyword, cancelled=cancelled)
        _keyword_flows()[keyword](turn)
        if turn.step == DELETE_CONFIRM and keyword != "delete":
            turn.goto(MENU)
    elif step == DELETE_CONFIRM:
        if turn.consented and (asked := _anytime_word(turn, last_seen)) is not None:
            turn.say("delete.cancelled")  # as any other keyword: see rule 3
            turn.goto(MENU)
            asked(turn)
        else:
            _answer_delete(turn, idle=idle)
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
    # A 1 (or 1/2, 7) between flows answers the question that reached the resident last: a
    # settlement link's notice, a report's "fixed?", a meeting reminder, each timed by when
    # its message reached Twilio (outbox sent_at, the ports' one clock). Each answerer
    # below yields to a newer question of the others, in this order.
    elif (
        linked := settlement.linked_reply(
            turn, last_seen=last_seen, between_flows=_between_flows(turn)
        )
    ) is not None:
        linked(turn)
    elif (
        anytime := reports.anytime(
            turn, last_seen=last_seen, between_flows=_between_flows(turn), alone=_alone(turn)
        )
    ) is not None:
        anytime(turn)
    elif (
        attend := meetings.attend_reply(
            turn, last_seen=last_seen, between_flows=_between_flows(turn), alone=_alone(turn)
        )
    ) is not None:
        attend(turn)
    elif step is None or (idle and step == MENU):
        menu.on_menu(turn, welcome_back=True)
    else:
        if idle:
            turn.say("menu.welcome_back")  # and the step answers: see the module docstring
        _step_flows()[turn.step](turn)

    kept = report.tell_kept_draft(turn)
    reply, rest = _render(turn, inbound)
    if kept is not None and kept not in reply:
        # The end of a long SMS (four reports listed) is on the page MORE sends: say it
        # first instead, where it is read.
        turn.parts.insert(0, turn.parts.pop())
        reply, rest = _render(turn, inbound)
    if turn.erased:
        return Outcome(replies=[reply], state={}, effects=list(turn.effects))
    return Outcome(
        replies=[reply],
        state=_state(turn.step, turn.data, rest, now, turn.draft),
        effects=list(turn.effects),
    )


def _set_report_aside(turn: Turn, keyword: str, *, cancelled: bool) -> None:
    """Keep a report being written aside before a keyword answers (rule 3), as STATUS and
    ATTEND do (rule 4a): 5 carries on with it. Two words drop it instead: 0 or a cancel
    word (`cancelled`), the report's own "0 if you do not want to send it"; and STOP, which
    also drops one kept before, since nothing unsent is kept for a resident who opted out."""
    if keyword == "stop":
        turn.draft = None
    elif turn.step in REPORT_DRAFT_STEPS and not cancelled:
        report.keep_draft(turn)
        turn.goto(MENU)  # HELP and MY DATA stay at the step they answer at: the menu's


def _between_flows(turn: Turn) -> bool:
    """Return whether a 1 or 2 may answer a question that came since the resident last wrote
    (a report's "fixed?", a meeting reminder, a settlement link's notice): at the main
    menu, and at the list of reports or a report's view, which wait for nothing (the newer
    question is the last thing on the screen), unless a photo or pin is held at the list
    for the report the resident picks."""
    if turn.step in (MY_REPORTS, TICKET_VIEW):
        return "held" not in turn.data
    return turn.step == MENU


def _alone(turn: Turn) -> bool:
    """Return whether STATUS or an attend word sent alone is read as the keyword here, as
    HELP says ("at any time"): everywhere but at the list of reports holding a photo or pin
    for the report the resident picks (its answer says which)."""
    return not (turn.step == MY_REPORTS and "held" in turn.data)


def _anytime_word(turn: Turn, last_seen: datetime | None) -> Callable[[Turn], None] | None:
    """Return the handler for STATUS (alone or with a number of theirs) or an attend word
    alone, as read inside a flow (rule 4a), or None."""
    return reports.anytime(turn, last_seen=last_seen, between_flows=False) or (
        meetings.attend_reply(turn, last_seen=last_seen, between_flows=False)
    )


def _answer_delete(turn: Turn, *, idle: bool) -> None:
    """Answer the DELETE confirmation; after idle ask it again, since "1" erases everything."""
    if idle:
        turn.say("menu.welcome_back")
        account.delete(turn)
    else:
        account.on_delete_confirm(turn)


def _render(turn: Turn, inbound: Inbound) -> tuple[str, str]:
    """Join the turn's parts into one reply; return its first page for the channel and the
    text left for MORE."""
    if not turn.parts:  # never silence
        turn.say("menu.not_understood")
    hint = turn.text_of("more.hint")  # in the language the turn ended in
    return first_page(PAGE_JOINER.join(turn.parts), inbound.channel, more_hint=hint)


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
            state=_state(MENU, {}, "", now, None) if resident.consented else {},
            effects=[],
        )
