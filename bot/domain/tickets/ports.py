"""The engine's TicketDesk port, read from the database."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import bindparam, func, literal, select
from sqlmodel import Session, col

from bot.db import EPOCH
from bot.domain.outbox.models import SENT_STATUSES, Outbox
from bot.domain.residents.models import Resident
from bot.domain.tickets import service
from bot.domain.tickets.models import Ticket
from bot.engine.ports import TicketInfo

# What the conversation shows of a ticket, as columns: the desk's queries run on most
# messages a resident sends, so they are built once, with bound parameters, and skip the ORM.
_SHOWN = (
    col(Ticket.reference),
    col(Ticket.kind),
    col(Ticket.category),
    col(Ticket.status),
    col(Ticket.created_at),
    col(Ticket.last_public_note),
    col(Ticket.last_public_canned),
    col(Ticket.resolved_at),
    col(Ticket.acknowledged_at),
)
_OF_RESIDENT = (
    select(*_SHOWN)
    .join(Resident, col(Resident.id) == col(Ticket.resident_id))
    .where(col(Resident.phone) == bindparam("phone"))
)
_OPEN = _OF_RESIDENT.where(col(Ticket.status) != "closed").order_by(
    col(Ticket.created_at).desc(), col(Ticket.id).desc()
)
# When a resolved report's "fixed?" question reached the resident: its message (the status
# change's ticket_update) once it reached Twilio, as a meeting reminder or a settlement
# link's notice counts (`SqlMeetingInvitations.pending`, `links.notice_reached`). The newest
# question is the one that reached the resident last, all three on one clock: the
# resolution's time was not that, when the message waited behind a round of reminders.
_ASKED_AT = (
    select(func.max(col(Outbox.sent_at)))
    .where(
        col(Outbox.ref) == literal("ticket:") + col(Ticket.reference),
        col(Outbox.purpose) == "ticket_update",
        col(Outbox.status).in_(SENT_STATUSES),
        col(Outbox.created_at) >= col(Ticket.resolved_at),
    )
    .scalar_subquery()
)
_AWAITING = (
    _OF_RESIDENT.add_columns(_ASKED_AT.label("asked_at"))
    .where(col(Ticket.status) == "resolved", bindparam("since") < _ASKED_AT)
    .order_by(_ASKED_AT.desc())
    .limit(1)
)
_FIND = _OF_RESIDENT.where(col(Ticket.reference) == bindparam("reference"))


def info(ticket: Ticket | Any) -> TicketInfo:
    """Return a ticket (or a row of its `_SHOWN` columns) as the conversation shows it: one
    still new or reopened that staff acknowledged (a public reply does) as seen."""
    status = ticket.status
    if status in ("new", "reopened") and ticket.acknowledged_at is not None:
        status = "acknowledged"  # "waiting to be seen" would contradict the reply they got
    return TicketInfo(
        reference=ticket.reference,
        kind=ticket.kind,  # type: ignore[arg-type]
        category=ticket.category,
        status=status,  # type: ignore[arg-type]
        created_at=ticket.created_at,
        last_public_note=ticket.last_public_note,
        last_public_canned=ticket.last_public_canned,
        resolved_at=ticket.resolved_at if ticket.status == "resolved" else None,
        asked_at=getattr(ticket, "asked_at", None),  # `_AWAITING`'s rows only
    )


class SqlTicketDesk:
    """A resident's reports for the conversation engine."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def new_reference(self) -> str:
        """Return an unused report number."""
        return service.new_reference(session=self.session)

    def open_for(self, phone: str) -> list[TicketInfo]:
        """Return the resident's reports that are not closed, newest first."""
        rows = self.session.connection().execute(_OPEN, {"phone": phone})
        return [info(row) for row in rows]

    def find(self, phone: str, reference: str) -> TicketInfo | None:
        """Return one of the resident's reports by number."""
        row = (
            self.session.connection()
            .execute(_FIND, {"phone": phone, "reference": reference})
            .first()
        )
        return info(row) if row else None

    def awaiting_answer(self, phone: str, *, since: dt.datetime | None) -> TicketInfo | None:
        """Return the resolved report whose "fixed?" question reached the resident most
        recently after `since` (`_ASKED_AT`), awaiting the answer."""
        row = (
            self.session.connection()
            .execute(_AWAITING, {"phone": phone, "since": since or EPOCH})
            .first()
        )
        return info(row) if row else None
