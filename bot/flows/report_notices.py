"""The words of proactive report updates (sent through the outbox), rendered per language.

Pure like the other flows: the tickets domain decides when a resident is told something
and calls these to get the text in the resident's language. Staff replies are free text
(sent as written) or a canned response, which is translated where a translation exists.
"""

from __future__ import annotations

from bot.content import Content
from bot.engine.ports import Translator

# Status changes a resident is told about; other changes stay internal.
STATUS_NOTICES = {
    "acknowledged": "notice.acknowledged",
    "in_progress": "notice.in_progress",
    "waiting_on_resident": "notice.waiting_on_resident",
    "resolved": "notice.resolved",
    "closed": "notice.closed",
    "reopened": "notice.reopened",  # by staff; the resident's own "not fixed" is answered at once
}


def category_name(content: Content, translator: Translator, code: str) -> str:
    """Return a category's name in the translator's language."""
    if f"report_category.{code}" not in content.messages:
        code = "other"
    return content.render(f"report_category.{code}", translator)


# What is said of a question where a problem is "fixed" (it is answered) or worked on.
QUESTION_WORDING = {
    "notice.in_progress": "notice.in_progress_question",
    "notice.resolved": "notice.resolved_question",
    "report_status.resolved": "report_status.resolved_question",
    "ticket.ask_fixed": "ticket.ask_fixed_question",
    "ticket.ask_what_is_wrong": "ticket.ask_what_is_wrong_question",
    "ticket.worked_on_again": "ticket.worked_on_again_question",
}


def for_kind(msg_id: str, kind: str) -> str:
    """Return the message's wording for the kind of report (a problem or a question)."""
    return QUESTION_WORDING.get(msg_id, msg_id) if kind == "question" else msg_id


def status_notice(
    content: Content,
    translator: Translator,
    *,
    status: str,
    reference: str,
    category: str,
    kind: str = "problem",
) -> str | None:
    """Return what to tell the resident when their report (a problem or a question) moves
    to `status`, if anything."""
    msg_id = STATUS_NOTICES.get(status)
    if msg_id is None:
        return None
    msg_id = for_kind(msg_id, kind)
    values = {"number": reference, "title": category_name(content, translator, category)}
    wanted = content.message(msg_id).placeholders
    return content.render(msg_id, translator, **{k: v for k, v in values.items() if k in wanted})


def update_notice(content: Content, translator: Translator, *, reference: str, note: str) -> str:
    """Return a public update from staff, framed with the report number."""
    return content.render("notice.update", translator, number=reference, note=note)


def canned_codes(content: Content) -> list[str]:
    """Return the codes of the canned responses staff may send."""
    return [str(code) for code in content.fact("canned_responses")]


def canned_text(content: Content, translator: Translator, code: str) -> str:
    """Return a canned response in the translator's language (English if untranslated)."""
    if code not in canned_codes(content):
        raise KeyError(f"unknown canned response {code!r}")
    return content.render(f"canned.{code}", translator)
