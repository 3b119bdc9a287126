"""Option 5: report a problem or ask a question, ending in a report with a number.

Steps: problem or question -> category (the list in content/tickets.yaml) -> the
resident's own words (text; on WhatsApp also photos, voice notes and a location pin,
all kept) -> where exactly (problems only: section, structure number, landmark or a
pin) -> a one-screen summary to send (1), change (2) or cancel (0, the menu keyword).
A photo, voice note or pin sent at any step is kept with the draft (`_attach`).

The draft lives in the step data until it is sent. Sending reserves a report number
through `TicketDesk.new_reference` and emits `OpenTicket`; the domain writes the ticket
in the same transaction as the reply, so the number the resident reads is the one kept.
Urgent reports (an urgent category, or urgent words such as fire or burst pipe) get the
emergency numbers from content and are marked high priority by the domain.

The words that work at any time (MENU, HELP, LANGUAGE, START, MY DATA, DELETE; STATUS,
alone or with the number of one of the resident's reports, and an attend word alone:
bot/flows/reports.py, bot/flows/meetings.py) answer from any step. A report being
written is then kept aside, never sent and never dropped (`keep_draft`; the engine's
rule 3 names the exceptions: 0 or a cancel word, and STOP, drop it): the reply says so
once, as soon as 5 means menu option 5 again (`tell_kept_draft`), and 5 (or the report
word) carries on at the step it was at, its words, media and pin kept. A kept draft is
dropped without a word after STEP_KEPT_FOR (a day) since it was kept, or after a day of
silence, as any unanswered question is (bot/engine/engine.py); it is never sent without
the resident's 1 under its summary.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.content import Content, normalise
from bot.engine.effects import OpenTicket
from bot.engine.messages import Location, Media
from bot.engine.turn import (
    MENU,
    MY_REPORTS,
    REPORT_CATEGORY,
    REPORT_CHANGE,
    REPORT_CONFIRM,
    REPORT_DESCRIBE,
    REPORT_DRAFT_STEPS,
    REPORT_KIND,
    REPORT_WHERE,
    TICKET_VIEW,
    Turn,
)
from bot.flows import menu

# A resident's words are kept up to the tickets domain's limit (Open311's 4,000 characters,
# about a whole WhatsApp message), not cut at what one outbound message may carry.
MAX_TEXT = 4000
MAX_WHERE = 300
MAX_MEDIA = 10
SUMMARY_TEXT = 240
PROBLEM = "problem"
QUESTION = "question"


def keep_draft(turn: Turn) -> None:
    """Keep a report being written aside (a word that works at any time answered from
    inside it), to be carried on with 5; the turn's flow then moves on from its step."""
    if turn.step in REPORT_DRAFT_STEPS:
        turn.draft = {
            "step": turn.step,
            "data": dict(turn.data),
            "kept_at": turn.now.isoformat(),
            "told": False,
        }


def tell_kept_draft(turn: Turn) -> str | None:
    """End the reply, once, saying a kept draft is not sent and that 5 carries on with it:
    at the first step where 5 is menu option 5 (the menu, a report's view, a list of fewer
    than five reports), not under a list where 5 picks a report or a meeting. Return the
    line said, if it was."""
    draft = turn.draft
    if draft is None or draft.get("told") or turn.opted_out or turn.erased:
        return None
    if turn.step == MY_REPORTS:
        shown = len(turn.data.get("refs", []))
        reachable = "held" not in turn.data and shown < menu.REPORT
    else:
        reachable = turn.step in (MENU, TICKET_VIEW)
    if not reachable:
        return None
    turn.say("report.draft_kept")
    draft["told"] = True
    return turn.parts[-1]


def categories(content: Content) -> list[dict[str, Any]]:
    """Return the report categories from content, in menu order."""
    return list(content.fact("ticket_categories"))


def category_codes(content: Content) -> list[str]:
    """Return the category codes, in menu order."""
    return [str(c["code"]) for c in categories(content)]


def is_urgent(content: Content, *, category: str, texts: list[str]) -> bool:
    """Return whether a report is urgent: an urgent category or an urgent word or phrase."""
    if any(c["code"] == category and c.get("urgent") for c in categories(content)):
        return True
    words = {normalise(w) for ws in content.fact("urgent_words").values() for w in ws}
    folded = " " + " ".join(normalise(t) for t in texts) + " "
    return any(f" {word} " in folded for word in words if word)


def _answer(turn: Turn) -> str | None:
    """Return "1", "2", ... for a number, or "yes"/"no" for a word answer."""
    if turn.norm.isdecimal():
        return turn.norm
    return turn.content.answers.get(turn.norm)


def media_data(turn: Turn) -> list[dict[str, str]]:
    """Return the message's media as step data (`media_of` reads it back)."""
    return [{"url": m.url, "content_type": m.content_type} for m in turn.inbound.media]


def media_of(data: Mapping[str, Any]) -> tuple[Media, ...]:
    """Return the media kept in step data under "media"."""
    return tuple(Media(m["url"], m["content_type"]) for m in data.get("media", []))


def pin_data(turn: Turn) -> dict[str, Any] | None:
    """Return the message's pin as step data (`pin_of` reads it back), or None."""
    loc = turn.inbound.location
    if loc is None:
        return None
    return {
        "latitude": loc.latitude,
        "longitude": loc.longitude,
        "address": loc.address,
        "label": loc.label,
    }


def pin_of(data: Mapping[str, Any]) -> Location | None:
    """Return the pin kept in step data under "pin", or None."""
    pin = data.get("pin")
    if not pin:
        return None
    return Location(
        latitude=float(pin["latitude"]),
        longitude=float(pin["longitude"]),
        address=pin.get("address"),
        label=pin.get("label"),
    )


def place_of(typed: str, *, label: str | None, address: str | None) -> str:
    """Return a place as the resident gave it: the words they typed for it with a pin's
    names (its Label, then its Address, once each) after them, or those alone: "Near the
    big tree (Standpipe 4, Ubuhle Gardens)"; at most MAX_WHERE characters."""
    named = ", ".join(dict.fromkeys(name for name in (label, address) if name))
    where = f"{typed} ({named})" if typed and named else typed or named
    return where[:MAX_WHERE]


def _attach(draft: dict[str, Any], media: list[dict[str, str]], pin: dict[str, Any] | None) -> None:
    """Add media (up to MAX_MEDIA) to a draft, and a pin. The place is the words the
    resident typed for it (`where_typed`) with the pin's label and address after them, or
    those alone: "Near the big tree (Standpipe 4, Ubuhle Gardens)". A later pin replaces
    an earlier one's names, never the resident's words."""
    if media:
        draft["media"] = (list(draft.get("media", [])) + media)[:MAX_MEDIA]
    if pin is None:
        return
    draft["pin"] = pin
    typed = str(draft.get("where_typed", ""))
    where = place_of(typed, label=pin.get("label"), address=pin.get("address"))
    if where:
        draft["where"] = where
    else:
        draft.pop("where", None)


def _with_attachments(turn: Turn) -> dict[str, Any]:
    """Return the draft with any media or pin this message brought, at a step that asks
    for neither (a photo sent while choosing the category still belongs to the report)."""
    draft = dict(turn.data)
    _attach(draft, media_data(turn), pin_data(turn))
    return draft


def _whatsapp(turn: Turn) -> bool:
    return turn.inbound.channel == "whatsapp"


def start(turn: Turn) -> None:
    """Ask whether the resident wants to report a problem or ask a question, or carry on
    with the report kept aside (`keep_draft`) at the step it was at."""
    kept = turn.draft
    if kept is None:
        _ask_kind(turn, {})
        return
    turn.draft = None
    turn.say("report.draft_resumed")
    step, draft = str(kept["step"]), dict(kept["data"])
    {
        REPORT_KIND: _ask_kind,
        REPORT_CATEGORY: ask_category,
        REPORT_DESCRIBE: ask_description,
        REPORT_WHERE: ask_where,
        REPORT_CONFIRM: show_summary,
        REPORT_CHANGE: _ask_change,
    }[step](turn, draft)


def _ask_kind(turn: Turn, draft: dict[str, Any]) -> None:
    turn.say("report.kind")
    turn.goto(REPORT_KIND, **draft)


def _ask_change(turn: Turn, draft: dict[str, Any]) -> None:
    turn.say("report.change")
    turn.goto(REPORT_CHANGE, **draft)


def on_kind(turn: Turn) -> None:
    """Take the choice of problem (1) or question (2)."""
    answer = _answer(turn)
    kinds = {"1": PROBLEM, "2": QUESTION}
    draft = _with_attachments(turn)
    if answer not in kinds:
        turn.say("report.kind_words_kept" if _keep_words(turn, draft) else "report.kind_retry")
        turn.goto(REPORT_KIND, **draft)
        return
    ask_category(turn, {**draft, "kind": kinds[answer]})


def _keep_words(turn: Turn, draft: dict[str, Any]) -> bool:
    """Keep a message of two words or more, sent before the description is asked for, as
    the resident's own words (many type the problem straight away), added to any kept
    before; return whether it was kept. One word is taken for a mistyped answer; thanks, a
    greeting or a main menu option ("my reports") for no description."""
    if (
        len(turn.text.split()) < 2
        or turn.content.is_thanks(turn.text)
        or menu.is_greeting(turn)
        or menu.chosen_option(turn) is not None
    ):
        return False
    kept = draft.get("text", "")
    draft["text"] = f"{kept}\n{turn.text}"[:MAX_TEXT] if kept else turn.text[:MAX_TEXT]
    return True


def _category_named(turn: Turn, codes: list[str]) -> str | None:
    """Return the category the message names, in the resident's language or English: its
    whole title ("Toilets and sanitation"), or a word of four letters or more that is in
    one title only ("toilets")."""
    words = normalise(turn.text).split()
    if not words:
        return None
    titles = {
        code: {
            normalise(turn.content.render(f"report_category.{code}", translator))
            for translator in (turn.translator, turn.english)
        }
        for code in codes
    }
    whole = " ".join(words)
    for code, names in titles.items():
        if whole in names:
            return code
    if len(words) != 1 or len(whole) < 4:
        return None
    holding = [code for code, names in titles.items() if any(whole in n.split() for n in names)]
    return holding[0] if len(holding) == 1 else None


def ask_category(turn: Turn, draft: dict[str, Any]) -> None:
    """List the categories as numbered choices."""
    lines = [
        turn.text_of(
            "report.category_line", number=n, title=turn.text_of(f"report_category.{code}")
        )
        for n, code in enumerate(category_codes(turn.content), start=1)
    ]
    turn.say("report.category", choices="\n".join(lines))
    turn.goto(REPORT_CATEGORY, **draft)


def on_category(turn: Turn) -> None:
    """Take the category by number."""
    codes = category_codes(turn.content)
    draft = _with_attachments(turn)
    if turn.norm.isdecimal() and 1 <= int(turn.norm) <= len(codes):
        draft["category"] = codes[int(turn.norm) - 1]
    elif named := _category_named(turn, codes):
        draft["category"] = named
    else:
        editing = draft.get("editing", False)
        kept = not editing and _keep_words(turn, draft)
        turn.say("report.category_words_kept" if kept else "report.category_retry")
        turn.goto(REPORT_CATEGORY, **draft)
        return
    if draft.pop("editing", False):
        show_summary(turn, draft)
    elif "text" in draft:
        _described(turn, draft)
    else:
        ask_description(turn, draft)


def ask_description(turn: Turn, draft: dict[str, Any]) -> None:
    """Ask for the resident's own words (and, on WhatsApp, photos or a voice note)."""
    question = draft.get("kind") == QUESTION
    if _whatsapp(turn):
        turn.say(
            "report.describe_question_whatsapp" if question else "report.describe_problem_whatsapp"
        )
    else:
        turn.say("report.describe_question" if question else "report.describe_problem")
    turn.goto(REPORT_DESCRIBE, **draft)


def on_describe(turn: Turn) -> None:
    """Keep the words, media and pin; then ask where, or show the summary."""
    draft = _with_attachments(turn)
    if not turn.text and not turn.inbound.media:
        pin_only = turn.inbound.location is not None
        turn.say("report.describe_pin_only" if pin_only else "report.describe_empty")
        turn.goto(REPORT_DESCRIBE, **draft)
        return
    draft["text"] = turn.text[:MAX_TEXT]
    if draft.pop("editing", False):
        show_summary(turn, draft)
    else:
        _described(turn, draft)


def _described(turn: Turn, draft: dict[str, Any]) -> None:
    """With the words in hand: ask where a problem is, unless a pin says it already."""
    if draft.get("kind") == QUESTION or "pin" in draft:
        show_summary(turn, draft)
    else:
        ask_where(turn, draft)


def ask_where(turn: Turn, draft: dict[str, Any]) -> None:
    """Ask where exactly the problem is."""
    turn.say("report.where_whatsapp" if _whatsapp(turn) else "report.where")
    turn.goto(REPORT_WHERE, **draft)


def on_where(turn: Turn) -> None:
    """Take the place in words or as a pin (media sent here is kept too)."""
    draft = dict(turn.data)
    if turn.text:
        draft["where"] = draft["where_typed"] = turn.text[:MAX_WHERE]
    _attach(draft, media_data(turn), pin_data(turn))
    if not turn.text and turn.inbound.location is None:
        if turn.inbound.media:
            turn.say("report.where_media")
            turn.goto(REPORT_WHERE, **draft)
        else:
            ask_where(turn, draft)
        return
    draft.pop("editing", None)
    show_summary(turn, draft)


def _urgent(turn: Turn, draft: dict[str, Any]) -> bool:
    return is_urgent(
        turn.content,
        category=str(draft.get("category", "")),
        texts=[str(draft.get("text", "")), str(draft.get("where", ""))],
    )


def show_summary(turn: Turn, draft: dict[str, Any]) -> None:
    """Show the report on one screen and ask to send, change or cancel it."""
    title = turn.text_of(f"report_category.{draft.get('category', 'other')}")
    summary_kind = (
        "report.summary_question" if draft.get("kind") == QUESTION else "report.summary_problem"
    )
    lines = [turn.text_of(summary_kind, title=title)]
    text = str(draft.get("text", ""))
    if text:
        short = text if len(text) <= SUMMARY_TEXT else text[: SUMMARY_TEXT - 3].rstrip() + "..."
        lines.append(turn.text_of("report.summary_text", text=short))
    else:
        lines.append(turn.text_of("report.summary_no_text"))
    if draft.get("media"):
        lines.append(turn.text_of("report.summary_media", count=len(draft["media"])))
    if draft.get("where"):
        lines.append(turn.text_of("report.summary_where", text=draft["where"]))
    if draft.get("pin"):
        lines.append(turn.text_of("report.summary_pin"))
    if _urgent(turn, draft):
        lines.append(turn.text_of("report.summary_urgent"))
    turn.say("report.summary_heading")
    turn.parts.append("\n".join(lines))
    turn.say("report.confirm")
    turn.goto(REPORT_CONFIRM, **draft)


def on_confirm(turn: Turn) -> None:
    """Send the report (1 or yes), or offer to change it (2); keep media or a pin sent here."""
    media, pin = media_data(turn), pin_data(turn)
    if media or pin is not None:
        # A photo, voice note or pin sent after the summary belongs to the report: keep it
        # and show the summary again, so "1" sends what the resident sees.
        show_summary(turn, _with_attachments(turn))
        return
    answer = _answer(turn)
    if answer in ("1", "yes"):
        submit(turn, dict(turn.data))
    elif answer in ("2", "no"):
        _ask_change(turn, dict(turn.data))
    else:
        turn.say("report.confirm_retry")


def on_change(turn: Turn) -> None:
    """Go back to the part the resident wants to change, then to the summary again."""
    if turn.inbound.media or turn.inbound.location is not None:  # as after the summary
        show_summary(turn, _with_attachments(turn))
        return
    draft = {**turn.data, "editing": True}
    if turn.norm == "1":
        ask_category(turn, draft)
    elif turn.norm == "2":
        ask_description(turn, draft)
    elif turn.norm == "3":
        ask_where(turn, draft)
    else:
        turn.say("report.change_retry")


def submit(turn: Turn, draft: dict[str, Any]) -> None:
    """Reserve a report number, ask the domain to open the ticket, and give the number."""
    reference = turn.ports.tickets.new_reference()
    urgent = _urgent(turn, draft)
    turn.emit(
        OpenTicket(
            reference=reference,
            kind=str(draft.get("kind", PROBLEM)),
            category=str(draft.get("category", "other")),
            description=str(draft.get("text", "")),
            where=str(draft.get("where", "")),
            channel=turn.inbound.channel,
            urgent=urgent,
            media=media_of(draft),
            location=pin_of(draft),
        )
    )
    turn.say("report.sent", number=reference)
    if urgent:
        turn.say("report.urgent")
    menu.back_hint(turn)
    turn.goto(MENU)
