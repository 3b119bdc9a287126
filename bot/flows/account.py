"""Words that work at any time: MENU, HELP, LANGUAGE, STOP, START, MY DATA, DELETE.

A report being written when one is sent is kept aside for 5 first, or dropped by 0 and
STOP (bot/engine/engine.py, rule 3), so these flows answer from outside it.

Opting out: STOP records an OptOut and confirms once. While opted out, the resident's
messages get only a one-line reminder (never a menu or anything proactive), except
START, which opts back in, and MY DATA and DELETE, because the right to see and erase
one's data does not lapse with opting out. The OptOut keeps whether a STOP came by SMS
(a later one by SMS too): only then does YES by SMS opt back in (bot/engine/engine.py).
"""

from __future__ import annotations

from typing import Any

from bot.engine.effects import EraseResident, OptIn, OptOut
from bot.engine.turn import (
    DELETE_CONFIRM,
    MENU,
    MY_REPORTS,
    SAST,
    SETTLEMENT_CHOICE,
    Turn,
)
from bot.flows import onboarding, report


def to_menu(turn: Turn) -> None:
    """Go to the main menu (or back into onboarding), cancelling a pending DELETE."""
    if turn.step == DELETE_CONFIRM:
        turn.say("delete.cancelled")
    onboarding.resume(turn)


def help_(turn: Turn) -> None:
    """Explain what Siyakha does and which words work at any time."""
    turn.say("help.body")


def language(turn: Turn) -> None:
    """Offer the language menu again."""
    onboarding.show_language_menu(turn)


def stop(turn: Turn) -> None:
    """Opt out of all messages and confirm it."""
    turn.emit(OptOut(channel=turn.inbound.channel))
    turn.say("optout.confirmed")
    turn.goto(MENU)


def stop_again(turn: Turn) -> None:
    """Remind an opted-out resident how to opt back in; a first STOP by SMS is recorded
    (Twilio now blocks the number, and unblocks it on YES)."""
    if turn.inbound.channel == "sms" and turn.resident.opted_out_channel != "sms":
        turn.emit(OptOut(channel="sms"))
    still_opted_out(turn)


def still_opted_out(turn: Turn) -> None:
    """Remind an opted-out resident how to opt back in."""
    turn.say("optout.still_out")
    turn.goto(MENU)


def start(turn: Turn) -> None:
    """Opt back in if opted out, then carry on where the resident is."""
    if turn.opted_out:
        turn.emit(OptIn())
        turn.say("optin.confirmed")
    onboarding.resume(turn)


def my_data(turn: Turn) -> None:
    """Show what is stored about the resident."""
    summary = turn.ports.residents.summary(turn.inbound)
    if summary is None:
        turn.say("mydata.nothing")
        return
    lines = [turn.text_of("mydata.intro"), turn.text_of("mydata.phone", phone=summary.phone)]
    if summary.language:
        known = turn.content.language(summary.language)
        name = known.name if known else summary.language
        lines.append(turn.text_of("mydata.language", language=name))
    else:
        lines.append(turn.text_of("mydata.language_none"))
    if summary.settlement_name:
        lines.append(turn.text_of("mydata.settlement", settlement=summary.settlement_name))
    else:
        lines.append(turn.text_of("mydata.settlement_none"))
    if summary.names_typed:
        names = ", ".join(f'"{name}"' for name in summary.names_typed)
        lines.append(turn.text_of("mydata.names_typed", names=names))
    if turn.step == SETTLEMENT_CHOICE and turn.data.get("query"):
        # Matched several settlements (or one not surely): kept until they choose.
        lines.append(turn.text_of("mydata.name_choosing", name=turn.data["query"]))
    if summary.consented_at is not None:
        day = summary.consented_at.astimezone(SAST).date()
        lines.append(turn.text_of("mydata.consent", date=day))
    else:
        lines.append(turn.text_of("mydata.consent_none"))
    if summary.opted_out:
        lines.append(turn.text_of("mydata.opted_out"))
    if summary.sms_blocked:
        lines.append(turn.text_of("mydata.sms_blocked"))
    if summary.whatsapp_blocked:
        lines.append(turn.text_of("mydata.whatsapp_blocked"))
    if summary.first_seen is not None:
        day = summary.first_seen.astimezone(SAST).date()
        lines.append(turn.text_of("mydata.first_seen", date=day))
    if summary.profile_name:
        lines.append(turn.text_of("mydata.name", name=summary.profile_name))
    lines.append(turn.text_of("mydata.messages", count=summary.messages))
    for key, count in (("media", summary.media), ("sent", summary.sent)):
        if count:
            lines.append(turn.text_of(f"mydata.{key}", count=count))
    lines.append(turn.text_of("mydata.reports", count=summary.reports))
    lines.extend(_unsent_lines(turn))
    if summary.meetings:
        lines.append(turn.text_of("mydata.meetings", count=summary.meetings))
    turn.say("mydata.heading")
    turn.parts.append("\n".join(lines))
    turn.say("mydata.footer")


def _unsent_lines(turn: Turn) -> list[str]:
    """Return MY DATA's lines about what the resident gave for a report and has not sent:
    a report or question started (kept aside, as MY DATA sent inside it keeps it too:
    bot/flows/report.py `keep_draft`), or words, photos or a pin sent at their reports
    list, kept until they say which report it is for (bot/flows/reports.py). None when
    nothing of theirs waits; a draft that holds only the choice of problem or question is
    theirs too. What is read is what this turn keeps: a draft set aside after a day is not
    mentioned."""
    lines = []
    if turn.step == MY_REPORTS and isinstance(turn.data.get("held"), dict):
        lines += _kept_lines(turn, turn.data["held"], "mydata.draft_held", chosen=False)
    if turn.draft is not None:
        lines += _draft_lines(turn, turn.draft["data"])
    return lines


def _draft_lines(turn: Turn, kept: dict[str, Any]) -> list[str]:
    """Return MY DATA's lines about a report or question being written."""
    question = kept.get("kind") == report.QUESTION
    heading = "mydata.draft_question" if question else "mydata.draft_problem"
    chosen = kept.get("kind") in (report.PROBLEM, report.QUESTION)
    return _kept_lines(turn, kept, heading, chosen=chosen)


def _kept_lines(turn: Turn, kept: dict[str, Any], heading: str, *, chosen: bool) -> list[str]:
    """Return a heading and what `kept` holds, or nothing when it holds nothing of theirs
    (`chosen`: a report's kind chosen, theirs though it holds nothing else)."""
    lines = []
    if kept.get("category"):
        title = turn.text_of(f"report_category.{kept['category']}")
        lines.append(turn.text_of("mydata.draft_category", category=title))
    if kept.get("text"):
        lines.append(turn.text_of("mydata.draft_words"))
    if kept.get("where"):
        lines.append(turn.text_of("mydata.draft_place"))
    if kept.get("media"):
        lines.append(turn.text_of("mydata.draft_media", count=len(kept["media"])))
    if kept.get("pin"):
        lines.append(turn.text_of("mydata.draft_pin"))
    return [turn.text_of(heading), *lines] if lines or chosen else []


def delete(turn: Turn) -> None:
    """Ask the resident to confirm erasing everything kept about them."""
    turn.say("delete.confirm")
    turn.goto(DELETE_CONFIRM)


def on_delete_confirm(turn: Turn) -> None:
    """Erase the resident on 1 (or yes); anything else keeps everything."""
    answer = "yes" if turn.norm == "1" else turn.content.answers.get(turn.norm)
    if answer == "yes":
        turn.emit(EraseResident())
        turn.say("delete.done")
        return
    turn.say("delete.cancelled")
    if turn.opted_out:
        turn.goto(MENU)
    else:
        onboarding.resume(turn)
