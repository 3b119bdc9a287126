"""The triage queue: tickets filtered (and counted per filter) within a user's scope.

Urgency order puts open tickets whose clocks run first, by the nearest clock still running
(the acknowledgement clock until acknowledged, and the resolve clock: tickets.next_due), so
breached tickets come first and then those due soonest; then those waiting on the
resident, whose clock stands still, even one that breached before the wait (staff can do
nothing until the resident answers); finished tickets follow, newest first.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlmodel import Session, col

from bot.config import Settings, get_settings
from bot.domain.settlements.models import Settlement
from bot.domain.staff.models import StaffUser
from bot.domain.staff.scope import EVERYTHING, Scope, ticket_condition
from bot.domain.tickets import service as tickets
from bot.domain.tickets.models import OPEN_STATUSES, Ticket
from bot.domain.tickets.service import TicketFilters

SLA_STATES = ("breached", "due_soon", "on_track", "met", "missed")
Order = Literal["urgency", "newest"]


@dataclass(frozen=True)
class QueueFilters(TicketFilters):
    """What the queue and the API may filter on (all optional): the ticket list's filters,
    and ward, language and channel."""

    ward: str | None = None
    language: str | None = None
    channel: str | None = None


def _conditions(
    filters: QueueFilters, scope: Scope, now: dt.datetime, settings: Settings
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if not scope.unrestricted:
        conditions.append(ticket_condition(scope))
    conditions += tickets.filter_conditions(filters, now=now, settings=settings)
    if filters.ward:
        in_ward = select(col(Settlement.id)).where(col(Settlement.ward) == filters.ward)
        conditions.append(col(Ticket.settlement_id).in_(in_ward.scalar_subquery()))
    if filters.language:
        conditions.append(col(Ticket.language) == filters.language)
    if filters.channel:
        conditions.append(col(Ticket.source) == filters.channel)
    return conditions


def _urgency() -> tuple[Any, ...]:
    open_ = col(Ticket.status).in_(sorted(OPEN_STATUSES))
    ack_first = and_(
        col(Ticket.acknowledged_at).is_(None), col(Ticket.ack_due_at) < col(Ticket.resolve_due_at)
    )
    next_due = case((ack_first, col(Ticket.ack_due_at)), else_=col(Ticket.resolve_due_at))
    # Open tickets whose clock runs first, nearest deadline first; then those whose clock
    # stands still while they wait on the resident; then the rest.
    paused = col(Ticket.waiting_since).is_not(None)
    return (
        case((and_(open_, ~paused), 0), (open_, 1), else_=2),
        case((open_, next_due), else_=None),
        col(Ticket.created_at).desc(),
        col(Ticket.id).desc(),
    )


def search(
    *,
    session: Session,
    filters: QueueFilters,
    now: dt.datetime,
    scope: Scope = EVERYTHING,
    settings: Settings | None = None,
    order: Order = "urgency",
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Ticket], int]:
    """Return one page of tickets in the scope matching the filters, and the total."""
    settings = settings or get_settings()
    conditions = _conditions(filters, scope, now, settings)
    total = session.execute(
        select(func.count()).select_from(Ticket).where(*conditions)
    ).scalar_one()
    ordering = (
        _urgency() if order == "urgency" else (col(Ticket.created_at).desc(), col(Ticket.id).desc())
    )
    rows = session.execute(
        select(Ticket).where(*conditions).order_by(*ordering).limit(limit).offset(offset)
    ).scalars()
    return list(rows), int(total)


_FACETS: dict[str, Any] = {
    "status": col(Ticket.status),
    "category": col(Ticket.category),
    "priority": col(Ticket.priority),
    "kind": col(Ticket.kind),
    "language": col(Ticket.language),
    "channel": col(Ticket.source),
    "settlement_id": col(Ticket.settlement_id),
}
_CLEARS: dict[str, dict[str, Any]] = {
    "status": {"status": ()},
    "category": {"category": ()},
    "priority": {"priority": ()},
    "kind": {"kind": ()},
    "language": {"language": None},
    "channel": {"channel": None},
    "settlement_id": {"settlement_id": None},
    "sla": {"sla": None},
    "assignee": {"assignee_email": None, "unassigned": False},
    "ward": {"ward": None},
}


def counts(
    *,
    session: Session,
    filters: QueueFilters,
    now: dt.datetime,
    scope: Scope = EVERYTHING,
    settings: Settings | None = None,
) -> dict[str, dict[str, int]]:
    """Return, for each filter, how many tickets each choice would show (other filters kept)."""
    settings = settings or get_settings()
    result: dict[str, dict[str, int]] = {}
    for facet, column in _FACETS.items():
        others = _conditions(dataclasses.replace(filters, **_CLEARS[facet]), scope, now, settings)
        rows = session.execute(select(column, func.count()).where(*others).group_by(column)).all()
        result[facet] = {str(value) if value is not None else "": n for value, n in rows}
    others = _conditions(dataclasses.replace(filters, **_CLEARS["sla"]), scope, now, settings)
    due_soon = dt.timedelta(hours=settings.sla_due_soon_hours)
    result["sla"] = {}
    for state in SLA_STATES:
        result["sla"][state] = int(
            session.execute(
                select(func.count())
                .select_from(Ticket)
                .where(*others, tickets.sla_condition(state, now, due_soon))
            ).scalar_one()
        )
    others = _conditions(dataclasses.replace(filters, **_CLEARS["assignee"]), scope, now, settings)
    rows = session.execute(
        select(col(StaffUser.email), func.count())
        .select_from(Ticket)
        .outerjoin(StaffUser, col(StaffUser.id) == col(Ticket.assignee_id))
        .where(*others)
        .group_by(col(StaffUser.email))
    ).all()
    result["assignee"] = {email or "": n for email, n in rows}
    others = _conditions(dataclasses.replace(filters, **_CLEARS["ward"]), scope, now, settings)
    rows = session.execute(
        select(col(Settlement.ward), func.count())
        .select_from(Ticket)
        .join(Settlement, col(Settlement.id) == col(Ticket.settlement_id))
        .where(*others)
        .group_by(col(Settlement.ward))
    ).all()
    result["ward"] = {ward or "": n for ward, n in rows}
    return result
