"""Option 6 and STATUS: the resident's reports, adding to one, and saying whether it is fixed.

- Menu 6 (or the STATUS word alone) lists the open reports with their status; replying
  with a report number (or its place in the list) shows it.
- One rule for STATUS, as HELP and a sent report's "Send STATUS {number} at any time"
  promise: the word alone, and STATUS with the number of one of the resident's own
  reports, answer at any step. A report being written is kept, not sent and not dropped,
  and 5 carries on with it (bot/flows/report.py `keep_draft`); ATTEND alone does the
  same (bot/flows/meetings.py). At the main menu and while looking at reports, STATUS
  with a number that is not theirs says no such report of theirs was found. Inside
  other flows such a message answers the question on screen, so it tells nothing about
  anyone's report: "Stand 45" (Afrikaans STATUS, and the usual word for a plot) stays a
  place. Report numbers are seven digits or more with a check digit
  (bot/domain/tickets/references.py), so no plot number or description names one.
- A report's view offers 1 to add more (words; on WhatsApp media and a pin), or, when
  the municipality has resolved it, asks "fixed? 1 yes 2 no". A photo or pin sent while
  a report is on the screen is added to it at once; sent at the list, it is added to the
  report the resident then picks (by place, number, or STATUS and number: there STATUS
  answers "which report?", and STATUS alone asks again, keeping what is held).
- That question also arrives through the outbox. The resident's next message answers it
  when it is 1/2 (or yes/no) and nothing else was said since the question was asked; "no"
  asks what is still wrong and reopens the report with those words. While the resident is
  adding to that report, a 1 or 2 (yes or no) answers it too, not more words for it. A
  meeting reminder asks for a 1 too ("Reply 1 or ATTEND"), and the newer of the two is the
  one answered:
  after a later reminder (or a round of several, when the 1 asks which meeting:
  bot/flows/meetings.py), the report is answered from its view (menu 6, STATUS <number>).
- Staff waiting on the resident's answer (a report "waiting on resident") are answered by
  a plain reply: words, a photo or a pin that the menu (or a report's view) does not read
  as an option, thanks or a greeting are added to that report (with several waiting, held
  at a list of them for the one picked), not met with "we did not understand".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from bot.content import normalise
from bot.engine.effects import AddToTicket, AnswerResolution
from bot.engine.ports import TicketInfo
from bot.engine.turn import (
    MENU,
    MY_REPORTS,
    SAST,
    TICKET_ADD,
    TICKET_NOT_FIXED,
    TICKET_VIEW,
    Turn,
)
from bot.flows import menu, report, report_notices

LIST_LIMIT = 5
# Where STATUS <number> is read whatever the number: between flows and while looking at
# reports (elsewhere, only when it names one of the resident's reports: see above).
STATUS_STEPS = frozenset({MENU, MY_REPORTS, TICKET_VIEW})


def status_line(turn: Turn, info: TicketInfo) -> str:
    """Render one report as a line: number, category and status."""
    msg_id = report_notices.for_kind(f"report_status.{info.status}", info.kind)
    values: dict[str, object] = {
        "number": info.reference,
        "title": turn.text_of(f"report_category.{info.category}"),
        "date": info.created_at.astimezone(SAST).date(),
    }
    wanted = turn.content.message(msg_id).placeholders
    return turn.text_of(msg_id, **{k: v for k, v in values.items() if k in wanted})


def my_reports(turn: Turn) -> None:
    """List the resident's open reports, newest first."""
    open_ = turn.ports.tickets.open_for(turn.resident.phone)[:LIST_LIMIT]
    if not open_:
        turn.say("my_reports.none")
        menu.back_hint(turn)
        turn.goto(MENU)
        return
    turn.say("my_reports.heading")
    turn.parts.append("\n".join(status_line(turn, info) for info in open_))
    turn.say("my_reports.footer")
    turn.goto(MY_REPORTS, refs=[info.reference for info in open_])


def on_my_reports(turn: Turn) -> None:
    """Show the report picked by number (or by its place in the list). A photo, voice note
    or pin sent at the list is added to the report its caption picks, or to the only one
    listed; with several, it is kept (`held`) until the resident says which report it is
    about, and added to that one."""
    refs = [str(r) for r in turn.data.get("refs", [])]
    held = dict(turn.data.get("held", {}))
    reference = _picked(turn, refs)
    if turn.inbound.media or turn.inbound.location is not None:
        words = "" if reference else turn.text
        held = {
            "text": "\n".join(w for w in (str(held.get("text", "")), words) if w),
            "media": (list(held.get("media", [])) + report.media_data(turn))[: report.MAX_MEDIA],
            "pin": report.pin_data(turn) or held.get("pin"),
        }
        if reference is None and len(refs) == 1:
            reference = refs[0]
        if reference is None:
            turn.say("my_reports.which_for")
            turn.goto(MY_REPORTS, refs=refs, held=held)
            return
    info = turn.ports.tickets.find(turn.resident.phone, reference) if reference else None
    if info is None and not held and turn.draft and menu.chosen_option(turn) == menu.REPORT:
        report.start(turn)  # "send 5 to carry on" said under this list: 5 picks no report
        return
    if info is None:
        turn.say("my_reports.retry")
        turn.goto(MY_REPORTS, refs=refs, held=held)
        return
    if held:
        add(turn, info.reference, held=held)
        return
    view(turn, info)


def _picked(turn: Turn, refs: list[str]) -> str | None:
    """Return the report the message picks from the list: its number (STATUS and it, too)
    or its place."""
    digits = _status_request(turn) or turn.norm.replace(" ", "")
    if digits in refs:
        return digits
    if digits.isdecimal() and 1 <= int(digits) <= len(refs):
        return refs[int(digits) - 1]
    return None


def view(turn: Turn, info: TicketInfo) -> None:
    """Show one report: status, latest public news, and what the resident can do."""
    turn.parts.append(status_line(turn, info))
    note = info.last_public_note.strip()
    if info.last_public_canned in report_notices.canned_codes(turn.content):
        # Staff chose a canned response: in the resident's language, as it was sent.
        note = report_notices.canned_text(turn.content, turn.translator, info.last_public_canned)
    if note:
        turn.say("ticket.latest", note=note)
    if info.status == "resolved":
        turn.say(report_notices.for_kind("ticket.ask_fixed", info.kind))
    elif info.status != "closed":
        turn.say("ticket.add_hint")
    else:
        menu.back_hint(turn)
        turn.goto(MENU)
        return
    turn.goto(TICKET_VIEW, reference=info.reference, resolved=info.status == "resolved")


def on_view(turn: Turn) -> None:
    """Answer "fixed?" for a resolved report, or take 1 to add more to an open one."""
    reference = str(turn.data.get("reference", ""))
    answer = "yes" if turn.norm == "1" else turn.content.answers.get(turn.norm)
    if turn.inbound.media or turn.inbound.location is not None:
        # A photo, voice note or pin sent while a report is on the screen is about it: add
        # it, as after "1".
        add(turn, reference)
        return
    if turn.data.get("resolved"):
        if answer == "yes" or (turn.norm == "2" or answer == "no"):
            answer_fixed(turn, reference, fixed=answer == "yes")
            return
    elif turn.norm == "1":
        prompt_add(turn, reference)
        return
    menu.on_menu(turn)


def prompt_add(turn: Turn, reference: str) -> None:
    """Ask what the resident wants to add to a report."""
    msg = (
        "ticket.add_prompt_whatsapp" if turn.inbound.channel == "whatsapp" else "ticket.add_prompt"
    )
    turn.say(msg, number=reference)
    turn.goto(TICKET_ADD, reference=reference)


def on_add(turn: Turn) -> None:
    """Add the message (words, media, pin) to the report; the resident may send more. A 1
    or 2 (yes or no) after staff resolved it meanwhile answers "fixed?", which came after
    the prompt to add: it is the question on the screen, not more words for the report."""
    reference = str(turn.data.get("reference", ""))
    inbound = turn.inbound
    if not turn.text and not inbound.media and inbound.location is None:
        prompt_add(turn, reference)
        return
    answer = None if inbound.media or inbound.location else _fixed_answer(turn)
    if answer is not None:
        info = turn.ports.tickets.find(turn.resident.phone, reference)
        if info is not None and info.status == "resolved":
            fixed, words = answer
            answer_fixed(turn, reference, fixed=fixed, words=words)
            return
    add(turn, reference)


def add(turn: Turn, reference: str, *, held: Mapping[str, Any] | None = None) -> None:
    """Add the message, or what was `held` for the report at the list, to the report,
    unless it was closed meanwhile. A resolved report is asked "fixed?" again."""
    info = turn.ports.tickets.find(turn.resident.phone, reference)
    if info is None or info.status == "closed":
        turn.say("ticket.closed_now", number=reference)
        turn.goto(MENU)
        return
    if held is None:
        text, media, pin = turn.text, turn.inbound.media, turn.inbound.location
    else:
        text, media, pin = str(held.get("text", "")), report.media_of(held), report.pin_of(held)
    turn.emit(
        AddToTicket(
            reference=reference,
            text=text[: report.MAX_TEXT],
            media=media[: report.MAX_MEDIA],
            location=pin,
        )
    )
    turn.say("ticket.added", number=reference)
    if info.status == "resolved":  # the municipality says it is fixed: is it?
        turn.say(report_notices.for_kind("ticket.ask_fixed", info.kind))
        turn.goto(TICKET_VIEW, reference=reference, resolved=True)
    else:
        turn.goto(TICKET_ADD, reference=reference)


def wait_answer(turn: Turn) -> Callable[[Turn], None] | None:
    """Return the handler that takes a message nothing else understood (words, media or a
    pin; not thanks or a greeting) as the answer staff asked for, when a report waits on
    the resident's answer; else None. Residents reply to the question, not with STATUS and
    1 as the notice says: with one report waiting it is added to that one, with several it
    is held at a list of them for the report the resident picks, as a photo at the list is."""
    inbound = turn.inbound
    sent = bool(inbound.media) or inbound.location is not None
    if not (turn.text or sent):
        return None
    if not sent and (turn.content.is_thanks(turn.text) or menu.is_greeting(turn)):
        return None
    waiting = [
        info
        for info in turn.ports.tickets.open_for(turn.resident.phone)
        if info.status == "waiting_on_resident"
    ][:LIST_LIMIT]
    if not waiting:
        return None
    if len(waiting) == 1:
        return lambda t: add(t, waiting[0].reference)
    return lambda t: _hold_for_one_of(t, waiting)


def _hold_for_one_of(turn: Turn, waiting: list[TicketInfo]) -> None:
    """List the reports waiting on the resident and keep the message for the one picked."""
    turn.say("my_reports.heading")
    turn.parts.append("\n".join(status_line(turn, info) for info in waiting))
    turn.say("my_reports.which_for")
    held = {"text": turn.text, "media": report.media_data(turn), "pin": report.pin_data(turn)}
    turn.goto(MY_REPORTS, refs=[info.reference for info in waiting], held=held)


def answer_fixed(turn: Turn, reference: str, *, fixed: bool, words: str = "") -> None:
    """Close a resolved report (fixed), or reopen it with the resident's words. A "yes" to a
    report that staff took back from resolved meanwhile closes nothing: say so."""
    if fixed:
        info = turn.ports.tickets.find(turn.resident.phone, reference)
        if info is not None and info.status not in ("resolved", "closed"):
            turn.say(report_notices.for_kind("ticket.worked_on_again", info.kind), number=reference)
        else:
            turn.emit(AnswerResolution(reference=reference, fixed=True))
            turn.say("ticket.fixed_thanks", number=reference)
        menu.back_hint(turn)
        turn.goto(MENU)
    elif words:
        turn.emit(AnswerResolution(reference=reference, fixed=False, text=words[: report.MAX_TEXT]))
        turn.say("ticket.reopened", number=reference)
        menu.back_hint(turn)
        turn.goto(MENU)
    else:
        info = turn.ports.tickets.find(turn.resident.phone, reference)
        kind = info.kind if info is not None else report.PROBLEM
        _ask_what_is_wrong(turn, reference, kind)


def _ask_what_is_wrong(turn: Turn, reference: str, kind: str) -> None:
    """Ask what is still wrong (for a question: what the resident still wants to know)."""
    msg_id = report_notices.for_kind("ticket.ask_what_is_wrong", kind)
    turn.say(msg_id, number=reference)
    turn.goto(TICKET_NOT_FIXED, reference=reference, kind=kind)


def on_not_fixed(turn: Turn) -> None:
    """Reopen the report with what the resident says is still wrong (media and pin kept too)."""
    reference = str(turn.data.get("reference", ""))
    media, pin = turn.inbound.media, turn.inbound.location
    if not turn.text and not media and pin is None:
        _ask_what_is_wrong(turn, reference, str(turn.data.get("kind", report.PROBLEM)))
        return
    turn.emit(AnswerResolution(reference=reference, fixed=False, text=turn.text[: report.MAX_TEXT]))
    if media or pin is not None:
        turn.emit(
            AddToTicket(reference=reference, text="", media=media[: report.MAX_MEDIA], location=pin)
        )
    turn.say("ticket.reopened", number=reference)
    menu.back_hint(turn)
    turn.goto(MENU)


def _status_request(turn: Turn) -> str | None:
    """Return "" for the STATUS word alone, the digits for STATUS <number>, else None."""
    tokens = turn.norm.split()
    if not tokens:
        return None
    words = {normalise(w) for ws in turn.content.fact("status_words").values() for w in ws}
    if tokens[0] not in words:
        return None
    rest = "".join(tokens[1:])
    return rest if rest.isdecimal() or not rest else None


def status(turn: Turn, reference: str) -> None:
    """Show one report by number (STATUS <number>), or list them (STATUS alone); a report
    being written is kept aside for 5 (`report.keep_draft`)."""
    report.keep_draft(turn)
    if not reference:
        my_reports(turn)
        return
    info = turn.ports.tickets.find(turn.resident.phone, reference)
    if info is None:
        turn.say("ticket.not_found", number=reference)
        menu.back_hint(turn)
        turn.goto(MENU)
        return
    view(turn, info)


def _reads_status(turn: Turn, reference: str) -> bool:
    """Return whether STATUS <reference> is read here, rather than taken as the answer:
    between flows and at reports whatever the number, elsewhere when it names one of the
    resident's reports ("Stand 45" answering "where?" is a place). Only a message of the
    STATUS word and digits costs the lookup."""
    if turn.step == MY_REPORTS and "held" in turn.data:
        return False  # it picks the report for what is held (`on_my_reports`)
    if turn.step in STATUS_STEPS:
        return True
    return turn.ports.tickets.find(turn.resident.phone, reference) is not None


def anytime(
    turn: Turn, *, last_seen: datetime | None, between_flows: bool, alone: bool = True
) -> Callable[[Turn], None] | None:
    """Return the handler for STATUS, or for an answer to "fixed?" asked since the resident
    last wrote (only between flows, so a number typed inside a flow keeps its meaning).
    The STATUS word alone is read at any step where `alone`, STATUS <number> as
    `_reads_status` says (a report being written is kept: `report.keep_draft`)."""
    reference = _status_request(turn)
    if reference is not None and (
        (alone and not reference) or (bool(reference) and _reads_status(turn, reference))
    ):
        return lambda t: status(t, reference)
    if not between_flows:
        return None
    answer = _fixed_answer(turn)
    if answer is None:
        return None
    info = turn.ports.tickets.awaiting_answer(turn.resident.phone, since=last_seen)
    if info is None:
        return None
    asked = info.asked_at or info.resolved_at
    if turn.ports.invitations.pending(turn.resident.phone, since=asked, now=turn.now):
        return None  # meeting reminders came after the question: the newer are answered
    fixed, words = answer
    return lambda t: answer_fixed(t, info.reference, fixed=fixed, words=words)


def _fixed_answer(turn: Turn) -> tuple[bool, str] | None:
    """Return (fixed, words) if the message answers "fixed? 1 yes 2 no": 1 or yes; 2 or no,
    "2" followed by what is still wrong ("2, it still smells"); else None."""
    answer = "yes" if turn.norm == "1" else turn.content.answers.get(turn.norm)
    if answer == "yes":
        return True, ""
    tokens = turn.norm.split(maxsplit=1)
    if answer != "no" and not (tokens and tokens[0] == "2"):
        return None
    words = turn.text[1:].strip(" .,:-") if len(tokens) > 1 and tokens[0] == "2" else ""
    return False, words
