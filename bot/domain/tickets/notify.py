"""What a resident is told about their report, queued in the outbox in their language.

Each message is keyed on the event that causes it (and the ticket it is about), so a
retried request never queues it twice. A de-identified ticket (resident erased) has no
one to tell; opted-out residents are skipped by the outbox's routing at send time.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping

from sqlmodel import Session

from bot.content import load
from bot.domain.outbox import service as outbox
from bot.domain.residents.models import Resident
from bot.domain.tickets.models import Ticket
from bot.engine.ports import Translator
from bot.flows import report_notices
from bot.i18n import get_translator

log = logging.getLogger(__name__)


def language_of(*, session: Session, ticket: Ticket) -> str:
    """Return the language the ticket's resident is told things in: theirs now (they may
    have changed it since reporting), else the report's, else English."""
    resident = session.get(Resident, ticket.resident_id) if ticket.resident_id else None
    return (resident.language if resident else None) or ticket.language or "en"


def tell(
    *,
    session: Session,
    ticket: Ticket,
    event_id: int,
    purpose: str,
    render: Callable[[Translator], str],
) -> bool:
    """Queue one message about `ticket` for its resident; return whether one was queued."""
    if ticket.resident_id is None:
        return False
    resident = session.get(Resident, ticket.resident_id)
    if resident is None:
        return False
    translator = get_translator(language_of(session=session, ticket=ticket))
    outbox.enqueue(
        session=session,
        resident=resident,
        purpose=purpose,
        dedupe_key=f"ticket:{ticket.id}:event:{event_id}",
        body=render(translator),
        ref=f"ticket:{ticket.reference}",
    )
    return True


def status_changed(*, session: Session, ticket: Ticket, event_id: int) -> bool:
    """Tell the resident their report moved to its current status, if that is news to them."""
    content = load()

    def render(translator: Translator) -> str:
        text = report_notices.status_notice(
            content,
            translator,
            status=ticket.status,
            reference=ticket.reference,
            category=ticket.category,
            kind=ticket.kind,
        )
        assert text is not None
        return text

    if ticket.status not in report_notices.STATUS_NOTICES:
        return False
    return tell(
        session=session, ticket=ticket, event_id=event_id, purpose="ticket_update", render=render
    )


def _reply_words(ticket: Ticket, body: str, canned: str | None) -> Callable[[Translator], str]:
    """Return how a public reply reads in a language: a canned response in it, else the
    words as written, framed with the report number."""
    content = load()

    def render(translator: Translator) -> str:
        note = report_notices.canned_text(content, translator, canned) if canned else body
        return report_notices.update_notice(
            content, translator, reference=ticket.reference, note=note
        )

    return render


def staff_reply(
    *, session: Session, ticket: Ticket, event_id: int, body: str, canned: str | None
) -> bool:
    """Send a public reply: a canned response in the resident's language, else as written."""
    return tell(
        session=session,
        ticket=ticket,
        event_id=event_id,
        purpose="staff_reply",
        render=_reply_words(ticket, body, canned),
    )


def staff_reply_sms(
    *,
    session: Session,
    ticket: Ticket,
    body: str,
    canned: str | None,
    now: dt.datetime,
    templates: Mapping[str, Mapping[str, str]],
) -> str | None:
    """Return the SMS a public reply would reach the ticket's resident as, sent now, or
    None when it would reach them by WhatsApp, or reach nobody."""
    resident = session.get(Resident, ticket.resident_id) if ticket.resident_id else None
    if resident is None:
        return None
    translator = get_translator(language_of(session=session, ticket=ticket))
    return outbox.sms_if_queued_now(
        session=session,
        resident=resident,
        purpose="staff_reply",
        body=_reply_words(ticket, body, canned)(translator),
        now=now,
        templates=templates,
    )
