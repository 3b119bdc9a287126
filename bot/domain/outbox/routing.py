"""Decide, at send time, how a row may reach its resident: pure rules, no I/O.

Order of the checks:
1. Opted out (STOP on any channel) or no consent on record: the row is cancelled.
2. SMS rows go by SMS unless the number cannot take SMS (21610 opt-out at the
   provider, 21211/21614 bad number).
3. WhatsApp rows: an explicit template is always allowed; free-form text only inside
   24 hours of the resident's last WhatsApp message (less a safety margin, and never
   after the provider said 63016 for this row); outside it, the configured template
   for the purpose and language (then the English one), if the text fits in it (900
   characters); then SMS if the row allows it and the resident can take SMS: the text,
   written for WhatsApp and never measured for SMS, goes as one SMS within the SMS budget
   (3 segments), else as numbered parts of 3 segments each (`Split`, at most
   `budget.MAX_PARTS`); otherwise the row fails with the reason, which staff see beside it.
By SMS a row goes as its SMS version, else as its text without WhatsApp's markup
(`sms_text`).
A channel opt-out recorded from a provider error (21610, 63014) is lifted by a later
inbound message from the resident on that channel.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bot import sms
from bot.domain.outbox import budget
from bot.engine.render import strip_markup

WHATSAPP_WINDOW = dt.timedelta(hours=24)
# Free-form text queued just before the window closes may be sent after it: keep a margin.
WINDOW_MARGIN = dt.timedelta(minutes=10)
WINDOW_CLOSED_CODE = 63016
INVALID_NUMBER_CODE = 21211
NOT_SMS_CAPABLE_CODES = frozenset({21614, 30005, 30006})
DEFAULT_LANGUAGE = "en"
# A template's body with its values must stay within 1,024 characters (63021). Its own
# words (a greeting, a sign-off, "Reply STOP ...") take some: a value may take the rest.
TEMPLATE_BODY_LIMIT = 1024
TEMPLATE_OWN_WORDS = 124
TEMPLATE_VALUE_LIMIT = TEMPLATE_BODY_LIMIT - TEMPLATE_OWN_WORDS


@dataclass(frozen=True)
class Recipient:
    """What routing needs to know about a resident, read in the claiming transaction."""

    phone: str
    language: str | None = None
    consented_at: dt.datetime | None = None
    opted_out_at: dt.datetime | None = None
    sms_opted_out_at: dt.datetime | None = None
    whatsapp_opted_out_at: dt.datetime | None = None
    number_flag_code: int | None = None
    last_inbound_sms_at: dt.datetime | None = None
    last_inbound_whatsapp_at: dt.datetime | None = None


@dataclass(frozen=True)
class Draft:
    """The parts of an outbox row that routing reads."""

    channel: str
    purpose: str
    body: str | None = None
    sms_body: str | None = None
    content_sid: str | None = None
    content_variables: Mapping[str, Any] | None = None
    language: str | None = None
    allow_sms_fallback: bool = False
    error_code: int | None = None


@dataclass(frozen=True)
class Route:
    """Send this way."""

    channel: str
    to: str
    body: str | None = None
    content_sid: str | None = None
    content_variables: dict[str, str] | None = None


@dataclass(frozen=True)
class Split:
    """Send by SMS as these numbered parts, in order, each a message of its own."""

    to: str
    parts: tuple[str, ...]
    text: str
    """The SMS it would have gone as whole (for measuring)."""


@dataclass(frozen=True)
class Stop:
    """Do not send; end the row with this status and reason."""

    status: Literal["cancelled", "failed"]
    reason: str
    too_long: str | None = None
    """The SMS it would have gone as, when that passed the SMS budget (for measuring)."""


def _blocked(opted_out_at: dt.datetime | None, last_inbound_at: dt.datetime | None) -> bool:
    if opted_out_at is None:
        return False
    return last_inbound_at is None or last_inbound_at <= opted_out_at


def sms_block_reason(recipient: Recipient) -> str | None:
    """Return why SMS cannot reach `recipient`, or None when it can."""
    if _blocked(recipient.sms_opted_out_at, recipient.last_inbound_sms_at):
        return "resident opted out of SMS at the provider (21610)"
    if recipient.number_flag_code == INVALID_NUMBER_CODE:
        return "the number is not a valid phone number (21211)"
    if recipient.number_flag_code in NOT_SMS_CAPABLE_CODES:
        return f"the number cannot take SMS ({recipient.number_flag_code})"
    return None


def whatsapp_block(recipient: Recipient) -> Stop | None:
    """Return how a WhatsApp row for `recipient` ends because WhatsApp cannot reach them
    (blocked, or not a valid number), or None when it can."""
    if _blocked(recipient.whatsapp_opted_out_at, recipient.last_inbound_whatsapp_at):
        return Stop("cancelled", "resident blocked the business on WhatsApp (63014)")
    if recipient.number_flag_code == INVALID_NUMBER_CODE:
        return Stop("failed", "the number is not a valid phone number (21211)")
    return None


def in_whatsapp_window(recipient: Recipient, now: dt.datetime) -> bool:
    """Return whether free-form WhatsApp text may still reach `recipient` at `now`."""
    last = recipient.last_inbound_whatsapp_at
    return last is not None and now < last + WHATSAPP_WINDOW - WINDOW_MARGIN


def template_variable(text: str) -> str:
    """Flatten text for a template variable (no newlines, tabs or long runs of spaces)."""
    return re.sub(r"\s+", " ", text).strip()


def fits_a_template(text: str) -> bool:
    """Return whether `text` can be a template's variable (TEMPLATE_VALUE_LIMIT)."""
    return len(template_variable(text)) <= TEMPLATE_VALUE_LIMIT


def find_template(
    templates: Mapping[str, Mapping[str, str]], purpose: str, language: str | None
) -> str | None:
    """Return the ContentSid for `purpose` in `language`, else in English, else None."""
    by_language = templates.get(purpose) or {}
    return by_language.get(language or DEFAULT_LANGUAGE) or by_language.get(DEFAULT_LANGUAGE)


def sms_text(draft: Draft) -> str | None:
    """Return the text `draft` goes as by SMS: its SMS version, else its text without
    WhatsApp's *bold* and _italic_ markers (an SMS shows them as typed), with GSM-7's
    punctuation where that makes it GSM-7; None when it has no text (a template)."""
    text = draft.sms_body or (strip_markup(draft.body) if draft.body else None)
    # A staff reply typed with a phone's curly quotes costs half as many segments without.
    return sms.plain_punctuation(text) if text else None


def _by_sms(draft: Draft, recipient: Recipient) -> Route | Split | Stop:
    reason = sms_block_reason(recipient)
    if reason:
        return Stop("cancelled" if "opted out" in reason else "failed", reason)
    text = sms_text(draft)
    if not text:
        return Stop("failed", "a template-only message has no text to send by SMS")
    if draft.channel == "whatsapp" and draft.sms_body is None:
        # Words written for WhatsApp (a staff reply, a notice) were never held to the SMS
        # budget: sent as numbered SMS within it rather than long, or refused when that
        # takes too many, and staff see why.
        size = budget.measure(text)
        if not size.fits:
            parts = sms.numbered_parts(text, max_parts=budget.MAX_PARTS)
            if parts is not None:
                return Split(recipient.phone, tuple(parts), text)
            advice = (
                f" (cut into SMS of at most {budget.MAX_SEGMENTS} segments it would take more "
                f"than {budget.MAX_PARTS}, the most one message is sent as)"
            )
            problem = budget.Problem((), "its SMS", size, "it and send it again", advice)
            return Stop("failed", problem.message(), too_long=text)
    return Route("sms", recipient.phone, body=text)


def route(
    draft: Draft,
    recipient: Recipient,
    *,
    now: dt.datetime,
    templates: Mapping[str, Mapping[str, str]],
) -> Route | Split | Stop:
    """Return how `draft` may reach `recipient` now, or why it must not be sent."""
    if recipient.opted_out_at is not None:
        return Stop("cancelled", "resident opted out")
    if recipient.consented_at is None:
        return Stop("cancelled", "no consent on record")
    if draft.channel == "sms":
        return _by_sms(draft, recipient)

    blocked = whatsapp_block(recipient)
    if blocked is not None:
        return blocked
    to = f"whatsapp:{recipient.phone}"
    variables = {k: str(v) for k, v in (draft.content_variables or {}).items()}
    if draft.content_sid:
        return Route("whatsapp", to, content_sid=draft.content_sid, content_variables=variables)
    window_open = in_whatsapp_window(recipient, now) and draft.error_code != WINDOW_CLOSED_CODE
    if window_open and draft.body:
        return Route("whatsapp", to, body=draft.body)
    language = draft.language or recipient.language
    content_sid = find_template(templates, draft.purpose, language)
    no_template = f"no template for {draft.purpose}/{language or DEFAULT_LANGUAGE}"
    if content_sid and (variables or fits_a_template(draft.body or "")):
        variables = variables or {"1": template_variable(draft.body or "")}
        return Route("whatsapp", to, content_sid=content_sid, content_variables=variables)
    if content_sid:
        no_template = f"the text is too long for a template ({TEMPLATE_VALUE_LIMIT} characters)"
    if draft.allow_sms_fallback:
        fallback = _by_sms(draft, recipient)
        if not isinstance(fallback, Stop):
            return fallback
        return Stop(
            "failed",
            f"outside the WhatsApp 24-hour window, {no_template}, "
            f"and SMS fallback impossible: {fallback.reason}",
            too_long=fallback.too_long,
        )
    return Stop(
        "failed",
        f"outside the WhatsApp 24-hour window, {no_template}, "
        "and SMS fallback not allowed for this message",
    )
