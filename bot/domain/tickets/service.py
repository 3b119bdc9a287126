"""Ticket queries and changes: open, add, change status, reply, note, link, de-identify.

Every change writes a `TicketEvent` (the audit trail). Changes on a parent ticket reach
its linked duplicates: status changes are applied to each open child (but for waiting on
the resident: that question is for the parent's reporter) and public replies are sent to
each child's resident but a closed child's, quoting the child's own number, once to each
resident. Linking a ticket as a duplicate acknowledges it (see `link`). Services flush and
never commit.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Subquery, and_, func, literal, or_, select, update
from sqlmodel import Session, col

from bot.config import Settings, get_settings
from bot.content import load
from bot.db import UTCDateTime
from bot.domain import meanwhile
from bot.domain.outbox import budget
from bot.domain.settlements.models import Settlement
from bot.domain.staff import scope as scopes
from bot.domain.staff.models import TICKET_WORKERS, StaffUser
from bot.domain.tickets import notify, references, sla
from bot.domain.tickets.models import (
    KINDS,
    OPEN_STATUSES,
    ReplySms,
    Ticket,
    TicketDetail,
    TicketEvent,
    TicketEventPublic,
    TicketPublic,
    TicketUpdate,
)
from bot.engine import effects as fx
from bot.engine.messages import Location, Media
from bot.flows import report as report_flow
from bot.flows import report_notices
from bot.i18n import get_translator

log = logging.getLogger(__name__)

# Which status may follow which (staff; the resident's "not fixed" reopens resolved ones).
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"acknowledged", "in_progress", "waiting_on_resident", "resolved", "closed"}),
    "acknowledged": frozenset({"in_progress", "waiting_on_resident", "resolved", "closed"}),
    "in_progress": frozenset({"acknowledged", "waiting_on_resident", "resolved", "closed"}),
    "waiting_on_resident": frozenset({"acknowledged", "in_progress", "resolved", "closed"}),
    "resolved": frozenset({"in_progress", "reopened", "closed"}),
    "reopened": frozenset(
        {"acknowledged", "in_progress", "waiting_on_resident", "resolved", "closed"}
    ),
    "closed": frozenset({"reopened"}),
}
# A ticket nobody has answered or taken up since it came in (or came back): a staff reply
# moves it on to acknowledged, as the resident already reads it (`ports.info`).
UNSEEN = ("new", "reopened")
MAX_DESCRIPTION = 4000
# A reply repeated within this is the same reply sent twice (a double click): see `reply`.
REPLY_REPEAT = dt.timedelta(seconds=30)


class TicketError(ValueError):
    """A ticket change that cannot be made (the API answers 4xx)."""


class OutsideScope(TicketError):
    """The change would reach a ticket outside the staff user's scope (the API answers 403)."""


class InvalidTransition(TicketError):
    """The ticket cannot move from its status to the one asked for."""


class ChangedMeanwhile(TicketError, meanwhile.ChangedMeanwhile):
    """Someone else changed a field since the page the change was made on was loaded."""


# What a staff change may set, and what its page shows of each (assignee: an email or "").
CHANGEABLE = ("status", "priority", "category", "kind", "assignee_email")
# The changeable fields a change sets as they are (with an event), and those of them the SLA
# clocks depend on (a change of kind leaves them be: a question is due as a problem is).
SET_AS_GIVEN = ("priority", "category", "kind")
TIMED_BY = frozenset({"priority", "category"})


def category_codes() -> list[str]:
    """Return the known category codes, in menu order."""
    return [str(c["code"]) for c in load().fact("ticket_categories")]


def _settings(settings: Settings | None) -> Settings:
    return settings or get_settings()


# --- reading ----------------------------------------------------------------------------


def get_by_reference(*, session: Session, reference: str) -> Ticket | None:
    """Return the ticket with this report number, or None."""
    return session.execute(
        select(Ticket).where(col(Ticket.reference) == reference.strip())
    ).scalar_one_or_none()


def get_for_resident(
    *, session: Session, resident_id: int, reference: str, for_update: bool = False
) -> Ticket | None:
    """Return one of a resident's tickets by report number, or None (`for_update`: its row
    locked, see `lock`)."""
    query = select(Ticket).where(
        col(Ticket.reference) == reference, col(Ticket.resident_id) == resident_id
    )
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.execute(query).scalar_one_or_none()


def lock(*, session: Session, ticket: Ticket) -> None:
    """Re-read `ticket` with its row locked until the transaction ends.

    Every change of a ticket starts here, so two at once (a double-clicked Save, two staff,
    a resident's answer) run one after the other and the second sees what the first did:
    PostgreSQL's SELECT ... FOR UPDATE; SQLite ignores it, its write gate serialises them.
    """
    session.flush()
    session.refresh(ticket, with_for_update=True)


def count_for_resident(*, session: Session, resident_id: int) -> int:
    """Return how many tickets a resident has opened."""
    return session.execute(
        select(func.count()).select_from(Ticket).where(col(Ticket.resident_id) == resident_id)
    ).scalar_one()


def children(*, session: Session, ticket: Ticket, for_update: bool = False) -> list[Ticket]:
    """Return the tickets linked to `ticket` as duplicates (`for_update`: their rows locked,
    see `lock`)."""
    query = select(Ticket).where(col(Ticket.parent_id) == ticket.id).order_by(col(Ticket.id))
    if for_update:
        query = query.with_for_update().execution_options(populate_existing=True)
    return list(session.execute(query).scalars())


def _linked(
    *, session: Session, ticket: Ticket, scope: scopes.Scope | None, for_update: bool = False
) -> list[Ticket]:
    """Return `ticket`'s duplicates within `scope` (None: all). An admin may link tickets of
    two wards; a user of one of them sees, changes and messages the residents of their own
    only."""
    linked = children(session=session, ticket=ticket, for_update=for_update)
    if scope is None:
        return linked
    return [t for t in linked if scopes.allows_ticket(session=session, scope=scope, ticket=t)]


def _reached(
    *, session: Session, ticket: Ticket, staff: StaffUser | None, for_update: bool = True
) -> list[Ticket]:
    """Return the duplicates a change of `ticket` by `staff` carries to, rows locked (unless
    only asked about: `for_update` False)."""
    scope = scopes.for_user(session=session, user=staff) if staff is not None else None
    return _linked(session=session, ticket=ticket, scope=scope, for_update=for_update)


def events(*, session: Session, ticket: Ticket) -> list[TicketEvent]:
    """Return a ticket's events, oldest first."""
    return list(
        session.execute(
            select(TicketEvent)
            .where(col(TicketEvent.ticket_id) == ticket.id)
            .order_by(col(TicketEvent.at), col(TicketEvent.id))
        ).scalars()
    )


@dataclass(frozen=True)
class TicketFilters:
    """What the staff list may filter on (all optional)."""

    status: Sequence[str] = ()
    category: Sequence[str] = ()
    settlement_id: int | None = None
    priority: Sequence[str] = ()
    kind: Sequence[str] = ()
    assignee_email: str | None = None
    unassigned: bool = False
    sla: str | None = None
    created_from: dt.datetime | None = None
    created_to: dt.datetime | None = None
    references: Sequence[str] = ()


def last_reopening_sql() -> Subquery:
    """Return (ticket_id, at): when each ticket ever reopened was last reopened."""
    return (
        select(
            col(TicketEvent.ticket_id).label("ticket_id"), func.max(col(TicketEvent.at)).label("at")
        )
        .where(
            col(TicketEvent.kind) == "status",
            col(TicketEvent.data)["to"].as_string() == "reopened",
        )
        .group_by(col(TicketEvent.ticket_id))
        .subquery()
    )


def last_reopenings(*, session: Session, ticket_ids: Sequence[int]) -> dict[int, dt.datetime]:
    """Return when each of these tickets was last reopened (one never reopened is left out)."""
    if not ticket_ids:
        return {}
    last = last_reopening_sql()
    rows = session.execute(
        select(last.c.ticket_id, last.c.at).where(last.c.ticket_id.in_(list(ticket_ids)))
    )
    return {ticket_id: at for ticket_id, at in rows}


def clock_at(ticket: Ticket, now: dt.datetime) -> dt.datetime:
    """Return where a ticket's clocks stand at `now`: `now`, or, while it waits on the
    resident, where the wait began (see sla.py)."""
    return ticket.waiting_since or now


def clock_at_sql(now: dt.datetime) -> ColumnElement[dt.datetime]:
    """Return `clock_at` as a SQL expression over the ticket table."""
    return func.coalesce(col(Ticket.waiting_since), literal(now, UTCDateTime()))


def sla_condition(state: str, now: dt.datetime, due_soon: dt.timedelta) -> ColumnElement[bool]:
    """Return the SQL condition for an SLA state (see sla.state)."""
    open_ = col(Ticket.status).in_(sorted(OPEN_STATUSES))
    ack_pending = col(Ticket.acknowledged_at).is_(None)
    clock = clock_at_sql(now)
    breached = and_(
        open_,
        or_(and_(ack_pending, col(Ticket.ack_due_at) < clock), col(Ticket.resolve_due_at) < clock),
    )
    soon = and_(
        open_,
        ~breached,
        col(Ticket.waiting_since).is_(None),
        or_(
            and_(ack_pending, col(Ticket.ack_due_at) <= now + due_soon),
            col(Ticket.resolve_due_at) <= now + due_soon,
        ),
    )
    done = col(Ticket.status).in_(["resolved", "closed"])
    finished = func.coalesce(col(Ticket.resolved_at), col(Ticket.closed_at))  # `finished_at`
    conditions: dict[str, ColumnElement[bool]] = {
        "breached": breached,
        "due_soon": soon,
        "on_track": and_(open_, ~breached, ~soon),
        "met": and_(done, finished <= col(Ticket.resolve_due_at)),
        "missed": and_(done, or_(finished.is_(None), finished > col(Ticket.resolve_due_at))),
    }
    return conditions[state]


def filter_conditions(
    filters: TicketFilters, *, now: dt.datetime, settings: Settings
) -> list[ColumnElement[bool]]:
    """Return the SQL conditions for the filters (shared by the API and the triage queue)."""
    conditions: list[ColumnElement[bool]] = []
    if filters.status:
        conditions.append(col(Ticket.status).in_(list(filters.status)))
    if filters.category:
        conditions.append(col(Ticket.category).in_(list(filters.category)))
    if filters.priority:
        conditions.append(col(Ticket.priority).in_(list(filters.priority)))
    if filters.kind:
        conditions.append(col(Ticket.kind).in_(list(filters.kind)))
    if filters.settlement_id is not None:
        conditions.append(col(Ticket.settlement_id) == filters.settlement_id)
    if filters.unassigned:
        conditions.append(col(Ticket.assignee_id).is_(None))
    elif filters.assignee_email:
        assignee = select(col(StaffUser.id)).where(
            col(StaffUser.email) == filters.assignee_email.strip().lower()
        )
        conditions.append(col(Ticket.assignee_id).in_(assignee.scalar_subquery()))
    if filters.sla:
        due_soon = dt.timedelta(hours=settings.sla_due_soon_hours)
        conditions.append(sla_condition(filters.sla, now, due_soon))
    if filters.created_from is not None:
        conditions.append(col(Ticket.created_at) >= filters.created_from)
    if filters.created_to is not None:
        conditions.append(col(Ticket.created_at) <= filters.created_to)
    if filters.references:
        conditions.append(col(Ticket.reference).in_(list(filters.references)))
    return conditions


def search(
    *,
    session: Session,
    filters: TicketFilters,
    now: dt.datetime,
    settings: Settings | None = None,
    limit: int = 50,
    offset: int = 0,
    newest_first: bool = True,
) -> tuple[list[Ticket], int]:
    """Return one page of tickets matching the filters, and how many match in all."""
    conditions = filter_conditions(filters, now=now, settings=_settings(settings))
    total = session.execute(
        select(func.count()).select_from(Ticket).where(*conditions)
    ).scalar_one()
    order = (
        (col(Ticket.created_at).desc(), col(Ticket.id).desc())
        if newest_first
        else (col(Ticket.created_at), col(Ticket.id))
    )
    rows = session.execute(
        select(Ticket).where(*conditions).order_by(*order).limit(limit).offset(offset)
    ).scalars()
    return list(rows), total


def next_due(ticket: Ticket) -> dt.datetime:
    """Return the deadline that decides an open ticket's SLA state: the nearer of its clocks
    still running (the acknowledge clock until it is acknowledged, and the resolve clock),
    the one the queue's urgency order sorts by."""
    if ticket.acknowledged_at is None:
        return min(ticket.ack_due_at, ticket.resolve_due_at)
    return ticket.resolve_due_at


def finished_at(ticket: Ticket) -> dt.datetime | None:
    """Return when a resolved or closed ticket was finished, for its SLA (met or missed): when
    it was resolved, or closed if it never was (None while it is open)."""
    if ticket.status not in ("resolved", "closed"):
        return None
    return ticket.resolved_at or ticket.closed_at


def sla_state(ticket: Ticket, *, now: dt.datetime, settings: Settings | None = None) -> str:
    """Return the ticket's SLA state now."""
    settings = _settings(settings)
    return sla.state(
        status=ticket.status,
        now=now,
        waiting_since=ticket.waiting_since,
        ack_due_at=ticket.ack_due_at,
        resolve_due_at=ticket.resolve_due_at,
        acknowledged_at=ticket.acknowledged_at,
        resolved_at=finished_at(ticket),
        due_soon=dt.timedelta(hours=settings.sla_due_soon_hours),
    )


def to_public(
    *,
    session: Session,
    ticket: Ticket,
    now: dt.datetime,
    settings: Settings | None = None,
    scope: scopes.Scope | None = None,
) -> TicketPublic:
    """Return the staff view of a ticket (never the resident's phone or name); with the
    viewer's `scope`, only the linked duplicates within it are listed, and a parent outside
    it is no number but `parent_outside_scope` (an admin may link tickets of two scopes)."""
    settlement = session.get(Settlement, ticket.settlement_id) if ticket.settlement_id else None
    assignee = session.get(StaffUser, ticket.assignee_id) if ticket.assignee_id else None
    parent = session.get(Ticket, ticket.parent_id) if ticket.parent_id else None
    hidden = (
        parent is not None
        and scope is not None
        and not scopes.allows_ticket(session=session, scope=scope, ticket=parent)
    )
    return TicketPublic(
        reference=ticket.reference,
        kind=ticket.kind,
        category=ticket.category,
        priority=ticket.priority,
        status=ticket.status,
        source=ticket.source,
        language=ticket.language,
        settlement_id=ticket.settlement_id,
        settlement=settlement.name if settlement else None,
        description=ticket.description,
        location_text=ticket.location_text,
        latitude=ticket.latitude,
        longitude=ticket.longitude,
        media=list(ticket.media),
        assignee_email=assignee.email if assignee else None,
        parent_reference=parent.reference if parent and not hidden else None,
        parent_outside_scope=hidden,
        linked_references=[
            t.reference for t in _linked(session=session, ticket=ticket, scope=scope)
        ],
        has_resident=ticket.resident_id is not None,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        acknowledged_at=ticket.acknowledged_at,
        resolved_at=ticket.resolved_at,
        closed_at=ticket.closed_at,
        ack_due_at=ticket.ack_due_at,
        resolve_due_at=ticket.resolve_due_at,
        sla_state=sla_state(ticket, now=now, settings=settings),
        last_public_note=ticket.last_public_note,
    )


def to_detail(
    *,
    session: Session,
    ticket: Ticket,
    now: dt.datetime,
    settings: Settings | None = None,
    scope: scopes.Scope | None = None,
) -> TicketDetail:
    """Return a ticket with its whole event history (`scope`: as in `to_public`; an event
    naming a ticket outside it, an admin's link of tickets of two scopes, keeps
    `<key>_outside_scope` instead of its number, see `_seen_data`)."""
    public = to_public(session=session, ticket=ticket, now=now, settings=settings, scope=scope)
    emails: dict[int, str] = {}
    history = []
    happened = events(session=session, ticket=ticket)
    unseen = _outside(
        session=session,
        scope=scope,
        references={str(e.data[k]) for e in happened for k in LINK_KEYS if e.data.get(k)},
    )
    for event in happened:
        email = None
        if event.staff_user_id is not None:
            if event.staff_user_id not in emails:
                user = session.get(StaffUser, event.staff_user_id)
                emails[event.staff_user_id] = user.email if user else ""
            email = emails[event.staff_user_id] or None
        assert event.id is not None
        history.append(
            TicketEventPublic(
                id=event.id,
                at=event.at,
                actor=event.actor,
                staff_email=email,
                kind=event.kind,
                public=event.public,
                body=event.body,
                media=list(event.media),
                data=_seen_data(event, unseen),
            )
        )
    return TicketDetail(**public.model_dump(), events=history)


def _outside(*, session: Session, scope: scopes.Scope | None, references: set[str]) -> set[str]:
    """Return those of `references` whose ticket `scope` does not allow (None: all allowed)."""
    if scope is None or not references:
        return set()
    outside = select(col(Ticket.reference)).where(
        col(Ticket.reference).in_(references), scopes.ticket_outside_condition(scope)
    )
    return set(session.execute(outside).scalars())


# The event data keys that name another ticket of the same duplicates: "duplicate_added"'s
# child, "linked" and "unlinked"'s parent, and the parent a status change or reply came via.
LINK_KEYS = ("child", "parent", "via")


def _seen_data(event: TicketEvent, unseen: set[str]) -> dict[str, Any]:
    """Return an event's data as its viewer may see it: no number of a ticket outside scope."""
    data = dict(event.data)
    for key in LINK_KEYS:
        if data.get(key) in unseen:
            data[key] = None
            data[f"{key}_outside_scope"] = True
    return data


# --- opening ----------------------------------------------------------------------------


def new_reference(*, session: Session) -> str:
    """Return a report number no ticket uses yet."""

    def taken(candidate: str) -> bool:
        return (
            session.execute(
                select(col(Ticket.id)).where(col(Ticket.reference) == candidate)
            ).first()
            is not None
        )

    return references.new_reference(taken=taken)


def add_event(
    session: Session,
    ticket: Ticket,
    *,
    actor: str,
    kind: str,
    now: dt.datetime,
    staff: StaffUser | None = None,
    public: bool = False,
    body: str = "",
    media: list[dict[str, Any]] | None = None,
    data: dict[str, Any] | None = None,
) -> TicketEvent:
    assert ticket.id is not None
    event = TicketEvent(
        ticket_id=ticket.id,
        at=now,
        actor=actor,
        staff_user_id=staff.id if staff else None,
        kind=kind,
        public=public,
        body=body,
        media=media or [],
        data=data or {},
    )
    session.add(event)
    session.flush()
    ticket.updated_at = now
    return event


def _media(items: Sequence[Media]) -> list[dict[str, Any]]:
    return [{"url": m.url, "content_type": m.content_type} for m in items]


def open_ticket(
    *,
    session: Session,
    reference: str,
    kind: str,
    category: str,
    description: str,
    source: str,
    now: dt.datetime,
    resident_id: int | None = None,
    settlement_id: int | None = None,
    language: str | None = None,
    where: str = "",
    urgent: bool = False,
    media: Sequence[Media] = (),
    location: Location | None = None,
    staff: StaffUser | None = None,
    open311_token: str | None = None,
    settings: Settings | None = None,
) -> Ticket:
    """Open a ticket with its SLA clocks and a `created` event."""
    settings = _settings(settings)
    if category not in category_codes():
        category = "other"
    ack_due, resolve_due = sla.due_times(settings, start=now, category=category, urgent=urgent)
    ticket = Ticket(
        reference=reference,
        resident_id=resident_id,
        settlement_id=settlement_id,
        kind=kind if kind in KINDS else "problem",
        category=category,
        priority="high" if urgent else "normal",
        status="new",
        source=source,
        language=language,
        description=description[:MAX_DESCRIPTION],
        location_text=where[:300],
        latitude=location.latitude if location else None,
        longitude=location.longitude if location else None,
        media=_media(media),
        open311_token=open311_token,
        created_at=now,
        updated_at=now,
        ack_due_at=ack_due,
        resolve_due_at=resolve_due,
        clock_started_at=now,
    )
    session.add(ticket)
    session.flush()
    add_event(
        session,
        ticket,
        actor="staff" if staff else "resident",
        staff=staff,
        kind="created",
        now=now,
        public=True,
        body=ticket.description,
        media=list(ticket.media),
        data={"source": source, "priority": ticket.priority, "category": category},
    )
    log.info(
        "ticket opened",
        extra={"reference": reference, "category": category, "priority": ticket.priority},
    )
    return ticket


def open_from_chat(
    *, session: Session, resident: Mapping[Any, Any], effect: fx.OpenTicket, now: dt.datetime
) -> Ticket:
    """Open the ticket a resident (a row with id, settlement_id, language) confirmed."""
    return open_ticket(
        session=session,
        reference=effect.reference,
        kind=effect.kind,
        category=effect.category,
        description=effect.description,
        where=effect.where,
        source=effect.channel,
        now=now,
        resident_id=resident["id"],
        settlement_id=resident["settlement_id"],
        language=resident["language"],
        urgent=effect.urgent,
        media=effect.media,
        location=effect.location,
    )


def new_open311_token() -> str:
    """Return a fresh token for an Open311-created request."""
    return secrets.token_hex(16)


# --- the resident's changes -------------------------------------------------------------


def add_from_resident(
    *, session: Session, resident_id: int, effect: fx.AddToTicket, now: dt.datetime
) -> TicketEvent | None:
    """Add what the resident sent to their open ticket (None if it is closed or not theirs)."""
    ticket = get_for_resident(
        session=session, resident_id=resident_id, reference=effect.reference, for_update=True
    )
    if ticket is None or ticket.status == "closed":
        return None
    data: dict[str, Any] = {}
    if effect.location is not None:
        pin = effect.location
        data = {"latitude": pin.latitude, "longitude": pin.longitude}
        data.update({k: v for k, v in (("address", pin.address), ("label", pin.label)) if v})
        if ticket.latitude is None:  # its first pin: the report's place names it too
            ticket.latitude, ticket.longitude = pin.latitude, pin.longitude
            ticket.location_text = report_flow.place_of(
                ticket.location_text, label=pin.label, address=pin.address
            )
    return _resident_said(
        session, ticket, effect.text, now=now, media=_media(effect.media), data=data
    )


def _resident_said(
    session: Session,
    ticket: Ticket,
    text: str,
    *,
    now: dt.datetime,
    media: list[dict[str, Any]] | None = None,
    data: dict[str, Any] | None = None,
) -> TicketEvent:
    """Record what the resident sent about a ticket; a wait on them ends: the clock runs."""
    event = add_event(
        session,
        ticket,
        actor="resident",
        kind="resident_message",
        now=now,
        public=True,
        body=text,
        media=media,
        data=data,
    )
    if ticket.status == "waiting_on_resident":
        move_status(session, ticket, "in_progress", now=now, actor="resident")
    return event


def answer_resolution(
    *, session: Session, resident_id: int, effect: fx.AnswerResolution, now: dt.datetime
) -> Ticket | None:
    """Close the ticket when the resident says it is fixed; reopen it with their words if not
    (if staff took it back from resolved meanwhile, it stays as it is and gets the words).
    The answer holds for their other resolved reports linked with it too (one problem they
    reported twice, asked about once): left resolved, the job closed each with one more
    notice, or it stayed closed though they said it was not fixed."""
    ticket = get_for_resident(
        session=session, resident_id=resident_id, reference=effect.reference, for_update=True
    )
    if ticket is None:
        return None
    if ticket.status not in ("resolved", "closed"):
        if not effect.fixed and effect.text.strip():
            _resident_said(session, ticket, effect.text, now=now)
        return ticket
    for answered in [ticket, *_own_resolved_duplicates(session, ticket, resident_id)]:
        if effect.fixed:
            if answered.status == "resolved":
                add_event(
                    session,
                    answered,
                    actor="resident",
                    kind="confirmed_fixed",
                    now=now,
                    public=True,
                )
                move_status(session, answered, "closed", now=now, actor="resident")
        else:
            add_event(
                session,
                answered,
                actor="resident",
                kind="not_fixed",
                now=now,
                public=True,
                body=effect.text,
            )
            move_status(session, answered, "reopened", now=now, actor="resident")
    return ticket


def _own_resolved_duplicates(session: Session, ticket: Ticket, resident_id: int) -> list[Ticket]:
    """Return the resident's other resolved reports linked with `ticket` (its root and the
    root's duplicates), their rows locked."""
    root = session.get(Ticket, ticket.parent_id) if ticket.parent_id is not None else None
    if root is None:
        root = ticket
    else:
        lock(session=session, ticket=root)
    family = [root, *children(session=session, ticket=root, for_update=True)]
    return [
        t
        for t in family
        if t.id != ticket.id and t.resident_id == resident_id and t.status == "resolved"
    ]


def apply_effect(
    *, session: Session, resident: Mapping[Any, Any], effect: fx.Effect, now: dt.datetime
) -> None:
    """Apply a ticket effect from the conversation engine (`resident`: the resident's row)."""
    resident_id = int(resident["id"])
    match effect:
        case fx.OpenTicket():
            open_from_chat(session=session, resident=resident, effect=effect, now=now)
        case fx.AddToTicket():
            add_from_resident(session=session, resident_id=resident_id, effect=effect, now=now)
        case fx.AnswerResolution():
            answer_resolution(session=session, resident_id=resident_id, effect=effect, now=now)
        case _:
            raise TypeError(f"not a ticket effect: {effect!r}")


# --- staff changes ----------------------------------------------------------------------


def move_status(
    session: Session,
    ticket: Ticket,
    status: str,
    *,
    now: dt.datetime,
    actor: str,
    staff: StaffUser | None = None,
    data: dict[str, Any] | None = None,
    settings: Settings | None = None,
) -> TicketEvent:
    """Set a ticket's status and the timestamps and clocks that go with it."""
    before = ticket.status
    ticket.status = status
    if ticket.waiting_since is not None:  # the resident's turn is over: the clock runs again
        waited = max(now - ticket.waiting_since, dt.timedelta(0))
        ticket.clock_started_at = _clock_start(ticket) + waited
        ticket.resolve_due_at += waited
        ticket.waiting_since = None
    if status == "waiting_on_resident":
        ticket.waiting_since = now
    if status != "new" and status != "reopened" and ticket.acknowledged_at is None:
        ticket.acknowledged_at = now
    if status == "resolved":
        ticket.resolved_at = now
    elif status == "closed":
        ticket.closed_at = now
    elif status == "reopened":  # fresh clocks: to be acknowledged and resolved again
        ticket.resolved_at = None
        ticket.closed_at = None
        ticket.acknowledged_at = None
        ticket.clock_started_at = now
        _set_clocks(ticket, _settings(settings), now)
    else:  # back to work: if it was resolved, it was not after all
        ticket.resolved_at = None
    return add_event(
        session,
        ticket,
        actor=actor,
        staff=staff,
        kind="status",
        now=now,
        public=True,
        data={"from": before, "to": status, **(data or {})},
    )


def _clock_start(ticket: Ticket) -> dt.datetime:
    return ticket.clock_started_at or ticket.created_at


def _set_clocks(ticket: Ticket, settings: Settings, now: dt.datetime) -> None:
    """Set the clocks still running for the ticket's category and priority, from its clock
    start; a breach flagged on a clock whose new time has not passed is cleared, so the
    breach job flags it again if that time passes too. A resolved or closed ticket's
    clocks have stopped: a category put right afterwards moves no deadline met or missed."""
    if finished_at(ticket) is not None:
        return
    ack_due, resolve_due = sla.due_times(
        settings,
        start=_clock_start(ticket),
        category=ticket.category,
        urgent=ticket.priority == "high",
    )
    clock = clock_at(ticket, now)
    if ticket.acknowledged_at is None:
        ticket.ack_due_at = ack_due
        if ack_due >= clock:
            ticket.ack_breach_flagged_at = None
    if ticket.resolved_at is None:
        ticket.resolve_due_at = resolve_due
        if resolve_due >= clock:
            ticket.resolve_breach_flagged_at = None


def set_status(
    *,
    session: Session,
    ticket: Ticket,
    status: str,
    staff: StaffUser | None,
    now: dt.datetime,
    settings: Settings | None = None,
) -> None:
    """Move a ticket (and its open duplicates, unless to waiting on the resident) to `status`,
    telling each resident."""
    lock(session=session, ticket=ticket)
    _set_status(
        session=session, ticket=ticket, status=status, staff=staff, now=now, settings=settings
    )


def _set_status(
    *,
    session: Session,
    ticket: Ticket,
    status: str,
    staff: StaffUser | None,
    now: dt.datetime,
    settings: Settings | None,
) -> None:
    if status == ticket.status:
        return
    if status not in TRANSITIONS.get(ticket.status, frozenset()):
        raise InvalidTransition(f"a {ticket.status} ticket cannot become {status}")
    actor = "staff" if staff else "system"
    event = move_status(
        session, ticket, status, now=now, actor=actor, staff=staff, settings=settings
    )
    assert event.id is not None
    told: set[int] = set()
    if _news_to(told, ticket):
        notify.status_changed(session=session, ticket=ticket, event_id=event.id)
    if status == "waiting_on_resident":
        return  # the question is for the parent's reporter: the duplicates' clocks run on
    for child in _reached(session=session, ticket=ticket, staff=staff):
        if child.status == status or status not in TRANSITIONS.get(child.status, frozenset()):
            continue
        child_event = move_status(
            session,
            child,
            status,
            now=now,
            actor=actor,
            staff=staff,
            data={"via": ticket.reference},
            settings=settings,
        )
        assert child_event.id is not None
        if _news_to(told, child):
            notify.status_changed(session=session, ticket=child, event_id=child_event.id)


def _news_to(told: set[int], ticket: Ticket) -> bool:
    """Return whether `ticket`'s resident is yet to be told of a change that reaches several
    tickets (`told`: the residents told so far, this one added): a resident who reported one
    problem twice hears of it once, about the first ticket."""
    if ticket.resident_id in told:
        return False
    if ticket.resident_id is not None:
        told.add(ticket.resident_id)
    return True


def audit_detail(update_in: TicketUpdate) -> dict[str, Any]:
    """What the audit log keeps of a ticket change: the fields given, and of the public note
    only that there was one (it may quote the resident, and erasing them cannot reach the
    audit log; the note itself stays on the ticket, which erasure de-identifies)."""
    detail = update_in.model_dump(exclude_none=True)
    if "note" in detail:
        detail["note"] = True
    return detail


def _shown(session: Session, ticket: Ticket) -> dict[str, str]:
    """Return the changeable fields as a ticket page shows them."""
    assignee = session.get(StaffUser, ticket.assignee_id) if ticket.assignee_id else None
    return {
        "status": ticket.status,
        "priority": ticket.priority,
        "category": ticket.category,
        "kind": ticket.kind,
        "assignee_email": assignee.email if assignee else "",
    }


def _changed_since(
    session: Session, ticket: Ticket, update_in: TicketUpdate, loaded: TicketUpdate
) -> TicketUpdate:
    """Return `update_in` less the fields left as `loaded` showed them (None: not known);
    refuse one changed meanwhile by someone else to something other than what this change
    wants."""

    def key(field: str, value: str) -> str:
        return value.strip().lower() if field == "assignee_email" else value

    apply, clashes = meanwhile.changed_fields(
        wanted={field: getattr(update_in, field) for field in CHANGEABLE},
        shown={field: getattr(loaded, field) for field in CHANGEABLE},
        current=_shown(session, ticket),
        key=key,
    )
    if clashes:
        raise ChangedMeanwhile(
            meanwhile.refusal(
                f"ticket {ticket.reference}",
                {f.replace("_email", ""): now or "unassigned" for f, now in clashes.items()},
            )
        )
    if "assignee_email" in apply:
        apply["assignee_email"] = key("assignee_email", apply["assignee_email"])
    return TicketUpdate.model_validate({"note": update_in.note, **apply})


def may_work(*, session: Session, user: StaffUser, ticket: Ticket) -> bool:
    """Return whether `user` may be given `ticket` now: active, a ticket worker, and their
    scope includes it."""
    return (
        user.is_active
        and user.role in TICKET_WORKERS
        and scopes.allows_ticket(
            session=session, scope=scopes.for_user(session=session, user=user), ticket=ticket
        )
    )


def _urgent_category(category: str) -> bool:
    return report_flow.is_urgent(load(), category=category, texts=[])


def change(
    *,
    session: Session,
    ticket: Ticket,
    update_in: TicketUpdate,
    staff: StaffUser,
    now: dt.datetime,
    settings: Settings | None = None,
    loaded: TicketUpdate | None = None,
) -> TicketUpdate:
    """Apply a staff change (priority, category, kind, assignee, status, public note);
    return it.

    With `loaded` (what the page the change was made on showed; an assignee_email of ""
    is unassigned), only the fields changed from it are applied, and a field someone else
    changed meanwhile is refused (ChangedMeanwhile) rather than overwritten: that page was
    stale. The change returned is the one applied.

    A change of kind (a problem that was asked as a question, or the other way) is allowed
    whatever the status, as a category put right is: the resident's later notices are worded
    for the new kind, and no clock moves (the SLA does not depend on the kind)."""
    settings = _settings(settings)
    lock(session=session, ticket=ticket)
    if loaded is not None:
        update_in = _changed_since(session, ticket, update_in, loaded)
    if update_in.category is not None and update_in.category not in category_codes():
        known = ", ".join(category_codes())
        raise TicketError(f"no such category: {update_in.category} (known: {known})")
    assignee: StaffUser | None = None
    if update_in.assignee_email:
        assignee = session.execute(
            select(StaffUser).where(
                col(StaffUser.email) == update_in.assignee_email.strip().lower()
            )
        ).scalar_one_or_none()
        if assignee is None or not assignee.is_active:
            raise TicketError(f"no active staff user has the email {update_in.assignee_email}")
        # Only someone who works tickets, and may see this one, can be given it (a form that
        # sends the current assignee back unchanged is not giving it to anyone).
        if assignee.id != ticket.assignee_id and not may_work(
            session=session, user=assignee, ticket=ticket
        ):
            raise TicketError(
                f"{assignee.email} cannot be given this ticket: their role or scope excludes it"
            )
    allowed = TRANSITIONS.get(ticket.status, frozenset())
    if update_in.status not in (None, ticket.status) and update_in.status not in allowed:
        raise InvalidTransition(f"a {ticket.status} ticket cannot become {update_in.status}")
    changes = {
        field: value
        for field in SET_AS_GIVEN
        if (value := getattr(update_in, field)) is not None and value != getattr(ticket, field)
    }
    # As when a report is opened: an urgent category makes it high priority (unless this
    # change sets the priority itself).
    urgent = "category" in changes and _urgent_category(changes["category"])
    if urgent and update_in.priority is None and ticket.priority != "high":
        changes["priority"] = "high"
    for field, value in changes.items():
        before = getattr(ticket, field)
        setattr(ticket, field, value)
        add_event(
            session,
            ticket,
            actor="staff",
            staff=staff,
            kind=field,
            now=now,
            data={"from": before, "to": value},
        )
    if TIMED_BY & changes.keys():
        _set_clocks(ticket, settings, now)
    if update_in.assignee_email is not None:
        new_id = assignee.id if assignee else None
        if new_id != ticket.assignee_id:
            ticket.assignee_id = new_id
            add_event(
                session,
                ticket,
                actor="staff",
                staff=staff,
                kind="assignee",
                now=now,
                data={"to": assignee.email if assignee else None},
            )
    if update_in.note:
        note = _reply_text(body=update_in.note, canned=None)
        _reply(
            session=session,
            ticket=ticket,
            staff=staff,
            now=now,
            english=note,
            canned=None,
            settings=settings,
            field="note",
        )
    if update_in.status is not None:
        _set_status(
            session=session,
            ticket=ticket,
            status=update_in.status,
            staff=staff,
            now=now,
            settings=settings,
        )
    session.flush()
    return update_in


def reply(
    *,
    session: Session,
    ticket: Ticket,
    staff: StaffUser,
    now: dt.datetime,
    body: str | None = None,
    canned: str | None = None,
    settings: Settings | None = None,
) -> TicketEvent:
    """Send a public reply to the resident (and to the residents of linked duplicates).

    The same reply by the same user within REPLY_REPEAT of the last is that reply sent
    again by a double click or a retried request: it is returned, not sent twice. One
    whose SMS to any of them would pass the SMS budget is refused (TooManySegments)."""
    lock(session=session, ticket=ticket)
    english = _reply_text(body=body, canned=canned)
    last = session.execute(
        select(TicketEvent)
        .where(col(TicketEvent.ticket_id) == ticket.id, col(TicketEvent.kind) == "reply")
        .order_by(col(TicketEvent.id).desc())
        .limit(1)
    ).scalar_one_or_none()
    if (
        last is not None
        and last.staff_user_id == staff.id
        and last.body == english
        and last.data.get("canned") == canned
        and now - last.at < REPLY_REPEAT
    ):
        return last
    return _reply(
        session=session,
        ticket=ticket,
        staff=staff,
        now=now,
        english=english,
        canned=canned,
        settings=_settings(settings),
        field="body",
    )


def _reply_text(*, body: str | None, canned: str | None) -> str:
    """Return the English words of a reply: the canned response's, or the body's."""
    if canned is not None and body and body.strip():
        raise TicketError("a reply is a canned response or your own words, not both")
    if canned is not None:
        if canned not in report_notices.canned_codes(load()):
            known = ", ".join(report_notices.canned_codes(load()))
            raise TicketError(f"no such canned response: {canned} (known: {known})")
        return report_notices.canned_text(load(), get_translator("en"), canned)
    if body and body.strip():
        return body.strip()
    raise TicketError("a reply needs a body or a canned response")


def _reply_targets(
    session: Session, ticket: Ticket, staff: StaffUser, *, for_update: bool
) -> list[Ticket]:
    """Return the tickets a public reply to `ticket` reaches: it, and the linked duplicates
    the user may reach and not closed. A closed duplicate is finished for its reporter (the
    parent's later work does not concern them); the ticket itself may be closed: staff
    chose to answer its reporter."""
    duplicates = _reached(session=session, ticket=ticket, staff=staff, for_update=for_update)
    return [ticket, *(t for t in duplicates if t.status != "closed")]


def _largest_sms(
    session: Session,
    targets: Sequence[Ticket],
    *,
    english: str,
    canned: str | None,
    now: dt.datetime,
    settings: Settings,
) -> tuple[Ticket, budget.SmsSize] | None:
    """Return the largest SMS a reply would go as to the residents of `targets` (once to
    each), with the ticket whose resident would get it; None when it reaches none by SMS."""
    largest: tuple[Ticket, budget.SmsSize] | None = None
    told: set[int] = set()
    for target in targets:
        if not _news_to(told, target):
            continue
        text = notify.staff_reply_sms(
            session=session,
            ticket=target,
            body=english,
            canned=canned,
            now=now,
            templates=settings.whatsapp_templates,
        )
        if text is not None:
            size = budget.measure(text)
            if largest is None or size.segments > largest[1].segments:
                largest = (target, size)
    return largest


def reply_problem(field: str, ticket: Ticket, size: budget.SmsSize) -> budget.Problem:
    """Return the problem of a reply whose SMS to the resident of `ticket` is `size`."""
    return budget.Problem(
        (field,), f"the SMS of this reply to the resident of report {ticket.reference}", size
    )


def reply_sms(
    *,
    session: Session,
    ticket: Ticket,
    staff: StaffUser,
    now: dt.datetime,
    body: str | None = None,
    canned: str | None = None,
    settings: Settings | None = None,
    field: str = "body",
) -> ReplySms:
    """Say how a public reply (its words given in `field`) would reach its residents if
    sent now: the largest SMS it would go as, and the refusal it would get. Words not yet
    written reach nobody. Changes nothing."""
    largest = None
    if (body and body.strip()) or canned is not None:
        english = _reply_text(body=body, canned=canned)
        targets = _reply_targets(session, ticket, staff, for_update=False)
        largest = _largest_sms(
            session, targets, english=english, canned=canned, now=now, settings=_settings(settings)
        )
    if largest is None:
        return ReplySms(by_sms=False, max_segments=budget.MAX_SEGMENTS)
    target, size = largest
    refusal = None if size.fits else budget.TooManySegments([reply_problem(field, target, size)])
    return ReplySms(
        by_sms=True,
        segments=size.segments,
        encoding=size.encoding,
        characters=size.characters,
        max_segments=budget.MAX_SEGMENTS,
        fits=size.fits,
        detail=str(refusal) if refusal else None,
    )


def _reply(
    *,
    session: Session,
    ticket: Ticket,
    staff: StaffUser,
    now: dt.datetime,
    english: str,
    canned: str | None,
    settings: Settings,
    field: str,
) -> TicketEvent:
    """Send `english` (`_reply_text`: the words, or the canned response's, given in
    `field`) to the resident and to those of the linked duplicates (`_reply_targets`),
    once to each resident, unless its SMS to any of them would pass the SMS budget
    (TooManySegments). Each ticket answered is acknowledged, if it was not yet: its
    reporter heard from staff. One still new or reopened becomes acknowledged (a status
    event, no notice: the reply is the news); any other keeps its status. An internal note
    acknowledges nothing."""
    targets = _reply_targets(session, ticket, staff, for_update=True)
    largest = _largest_sms(
        session, targets, english=english, canned=canned, now=now, settings=settings
    )
    if largest is not None and not largest[1].fits:
        raise budget.TooManySegments([reply_problem(field, *largest)])
    event = None
    told: set[int] = set()
    for target in targets:
        target_event = add_event(
            session,
            target,
            actor="staff",
            staff=staff,
            kind="reply",
            now=now,
            public=True,
            body=english,
            data={"canned": canned}
            if canned
            else ({"via": ticket.reference} if target is not ticket else {}),
        )
        target.last_public_note = english
        target.last_public_canned = canned or ""
        if target.status in UNSEEN:  # answered, so seen: the queue's "new" no longer holds it
            move_status(session, target, "acknowledged", now=now, actor="staff", staff=staff)
        elif target.acknowledged_at is None:
            target.acknowledged_at = now
        assert target_event.id is not None
        if _news_to(told, target):
            notify.staff_reply(
                session=session,
                ticket=target,
                event_id=target_event.id,
                body=english,
                canned=canned,
            )
        event = event or target_event
    assert event is not None
    return event


def note(
    *, session: Session, ticket: Ticket, staff: StaffUser, body: str, now: dt.datetime
) -> TicketEvent:
    """Add an internal note, never shown to the resident."""
    return add_event(
        session, ticket, actor="staff", staff=staff, kind="note", now=now, body=body.strip()
    )


def no_parent(reference: str) -> str:
    """Say that `reference`, typed as the ticket to link a duplicate to, is no ticket the
    user may see: the dashboard (422) and the API (404) say it alike, naming that number,
    not the ticket being worked on."""
    return f"there is no ticket {reference} to link to: check the number"


def link(
    *,
    session: Session,
    ticket: Ticket,
    parent: Ticket,
    staff: StaffUser,
    now: dt.datetime,
    scope: scopes.Scope | None,
    told: set[int] | None = None,
) -> Ticket:
    """Mark `ticket` (and its own duplicates) a duplicate of `parent`; return the parent used.

    With the user's `scope` (None only for the system and tests), refuse when the link would
    reach a ticket outside it: the root `parent` is a duplicate of, or a duplicate of `ticket`
    that would move with it. Refuse a resolved or closed `ticket` or root too. Linking is
    triage: each ticket linked is acknowledged, see `_triaged_by_link`. One action linking
    several tickets passes the same `told` set to each call, so it tells each resident once."""
    for each in sorted({ticket.id: ticket, parent.id: parent}.values(), key=lambda t: t.id or 0):
        lock(session=session, ticket=each)
    while parent.parent_id is not None:  # always link to the root, so there are no chains
        root = session.get(Ticket, parent.parent_id)
        if root is None:
            break
        lock(session=session, ticket=root)
        parent = root
    if parent.id == ticket.id:
        raise TicketError("a ticket cannot be a duplicate of itself")
    if ticket.status in ("resolved", "closed"):
        # Its reporter was told it is done: the parent's later changes would take it up again
        # without them (work started, reopened) or pass it by.
        raise TicketError(
            f"ticket {ticket.reference} is {ticket.status}: reopen it first to link it as a "
            "duplicate"
        )
    if parent.status in ("resolved", "closed"):
        # Its changes are over, so none would reach the duplicate (which would stay new, its
        # reporter told nothing); and a new report of a fixed problem says it may not be.
        raise TicketError(
            f"ticket {parent.reference} is {parent.status}: reopen it to link duplicates to it, "
            "or work this report on its own"
        )
    moving = [ticket, *children(session=session, ticket=ticket, for_update=True)]
    if scope is not None and not all(
        scopes.allows_ticket(session=session, scope=scope, ticket=t) for t in [parent, *moving]
    ):
        raise OutsideScope("linking these would reach a ticket outside your scope")
    told = set() if told is None else told
    if parent.resident_id is not None:
        told.add(parent.resident_id)
    for child in moving:
        child.parent_id = parent.id
        add_event(
            session,
            child,
            actor="staff",
            staff=staff,
            kind="linked",
            now=now,
            data={"parent": parent.reference},
        )
        _triaged_by_link(session, child, parent, staff=staff, now=now, told=told)
    add_event(
        session,
        parent,
        actor="staff",
        staff=staff,
        kind="duplicate_added",
        now=now,
        data={"child": ticket.reference},
    )
    session.flush()
    return parent


def _triaged_by_link(
    session: Session,
    child: Ticket,
    parent: Ticket,
    *,
    staff: StaffUser,
    now: dt.datetime,
    told: set[int],
) -> None:
    """Acknowledge a ticket just linked as a duplicate of `parent`. One still waiting to be
    seen (new, reopened) takes the parent's working status (acknowledged, in progress), as it
    would have had it been linked before the parent moved on, and its reporter is told so as
    then (`told`: as in `_news_to`, starting with the parent's reporter, who heard it of the
    parent). A parent waiting on its resident gives no status: that question is not theirs."""
    if child.acknowledged_at is None:
        child.acknowledged_at = now
    if child.status not in ("new", "reopened") or parent.status not in (
        "acknowledged",
        "in_progress",
    ):
        return
    event = move_status(
        session,
        child,
        parent.status,
        now=now,
        actor="staff",
        staff=staff,
        data={"via": parent.reference},
    )
    assert event.id is not None
    if _news_to(told, child):
        notify.status_changed(session=session, ticket=child, event_id=event.id)


def unlink(*, session: Session, ticket: Ticket, staff: StaffUser, now: dt.datetime) -> None:
    """Stop treating `ticket` as a duplicate."""
    if ticket.parent_id is None:
        return
    parent = session.get(Ticket, ticket.parent_id)
    ticket.parent_id = None
    add_event(
        session,
        ticket,
        actor="staff",
        staff=staff,
        kind="unlinked",
        now=now,
        data={"parent": parent.reference if parent else None},
    )


# --- POPIA ------------------------------------------------------------------------------


def deidentify_for_resident(*, session: Session, resident_id: int, now: dt.datetime) -> int:
    """Strip a resident's tickets of everything personal; keep them for statistics.

    Kept: number, category, kind, priority, status, settlement, channel, language and
    every timestamp and SLA clock. Removed: the link to the resident, their words, where
    they live (text and pin), media links, and the text of every event (staff replies and
    notes may quote the resident).
    """
    ids = list(
        session.execute(
            select(col(Ticket.id)).where(col(Ticket.resident_id) == resident_id)
        ).scalars()
    )
    if not ids:
        return 0
    session.execute(
        update(Ticket)
        .where(col(Ticket.id).in_(ids))
        .values(
            resident_id=None,
            description="",
            location_text="",
            latitude=None,
            longitude=None,
            media=[],
            last_public_note="",
            last_public_canned="",
            deidentified_at=now,
        )
    )
    session.execute(
        update(TicketEvent).where(col(TicketEvent.ticket_id).in_(ids)).values(body="", media=[])
    )
    session.execute(  # a resident's events may carry their pin
        update(TicketEvent)
        .where(col(TicketEvent.ticket_id).in_(ids), col(TicketEvent.actor) == "resident")
        .values(data={})
    )
    session.flush()
    return len(ids)
