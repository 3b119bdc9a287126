"""The engine's TicketDesk port, read from the database."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import bindparam, select
from sqlmodel import Session, col

from bot.db import EPOCH
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
_AWAITING = (
    _OF_RESIDENT.where(
        col(Ticket.status) == "resolved", col(Ticket.resolved_at) > bindparam("since")
    )
    .order_by(col(Ticket.resolved_at).desc())
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
        """Return the report resolved most recently after `since`, awaiting "fixed?"."""
        row = (
            self.session.connection()
            .execute(_AWAITING, {"phone": phone, "since": since or EPOCH})
            .first()
        )
        return info(row) if row else None
